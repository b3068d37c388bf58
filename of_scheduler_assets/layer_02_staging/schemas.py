"""pandera (polars backend) contracts of the staging tables (20-warehouse §2.2, 10-ingestion §8.1 and §9.1)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

PAGE_TYPES = ["free", "paid", "vip"]
IDENTITY_SOURCES = ["alias", "dim_page", "auto"]
CAPTION_ID_RE = r"^CAP_[0-9a-f]{16}$"
SHA256_RE = r"^[0-9a-f]{64}$"
QUARANTINE_SOURCE_KINDS = ["report", "caption_bank", "creator_stats", "scheduler_assignments"]
QUARANTINE_REASON_CODES = [
    # report (all rows)
    "page_name_not_found",
    "ambiguous_page",
    "missing_required_column",
    "duplicate_required_column",
    "corrupt_workbook",
    "empty_first_sheet_with_data_elsewhere",
    # report row
    "unparsable_timestamp",
    "implausible_timestamp",
    "future_timestamp",
    "unparsable_price",
    "negative_amount",
    "implausible_price",
    "non_integer_count",
    "negative_count",
    "missing_sent",
    "empty_free_message",
    "summary_row",
    # caption bank row
    "empty_caption",
    "mojibake",
    "caption_length_out_of_range",
    "header_field_mismatch",
    # creator stats row
    "missing_period",
    "unparsable_period",
    # scheduler assignment row
    "missing_scheduler",
]

_UTC = pl.Datetime("us", "UTC")
_NAIVE = pl.Datetime("us")


class StgMessageEvents(pa.DataFrameModel):
    """`stg_message_events` (blocking contract). Column order and dtypes are those of 10-ingestion §8.1."""

    ingestion_run_id: pl.String = pa.Field(nullable=False)
    ingested_at: _UTC = pa.Field(nullable=False)
    message_id: pl.String = pa.Field(nullable=False)
    report_received_at: _UTC = pa.Field(nullable=False)
    archive_uri: pl.String = pa.Field(nullable=True)
    file_sha256: pl.String = pa.Field(nullable=True)
    row_number: pl.Int64 = pa.Field(nullable=False, ge=1)
    page_name_raw: pl.String = pa.Field(nullable=True)
    username_std: pl.String = pa.Field(nullable=False)
    page_type: pl.String = pa.Field(nullable=False, isin=PAGE_TYPES)
    username_page: pl.String = pa.Field(nullable=False)
    identity_source: pl.String = pa.Field(nullable=True, isin=IDENTITY_SOURCES)
    message_raw: pl.String = pa.Field(nullable=True)
    caption_text: pl.String = pa.Field(nullable=False)
    caption_norm: pl.String = pa.Field(nullable=False)
    caption_hash: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    caption_hash_raw: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    caption_id: pl.String = pa.Field(nullable=False, str_matches=CAPTION_ID_RE)
    is_media_only: pl.Boolean = pa.Field(nullable=False)
    sending_time_raw: pl.String = pa.Field(nullable=True)
    sending_time_trailing: pl.String = pa.Field(nullable=True)
    sending_ts_report_local: _NAIVE = pa.Field(nullable=False)
    report_timezone_used: pl.String = pa.Field(nullable=False)
    sending_ts_utc: _UTC = pa.Field(nullable=False)
    sending_ts_local: _NAIVE = pa.Field(nullable=False)
    sending_date_local: pl.Date = pa.Field(nullable=False)
    dow_local: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 6})
    hod_local: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 23})
    sender_raw: pl.String = pa.Field(nullable=True)
    sender_std: pl.String = pa.Field(nullable=True)
    scheduler_code: pl.String = pa.Field(nullable=True)
    status: pl.String = pa.Field(nullable=True)
    withdrawn_by_raw: pl.String = pa.Field(nullable=True)
    withdrawn_by_std: pl.String = pa.Field(nullable=True)
    price_raw: pl.String = pa.Field(nullable=True)
    price_usd: pl.Decimal(10, 2) = pa.Field(nullable=False)
    price_cents: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 100_000})
    is_free: pl.Boolean = pa.Field(nullable=False)
    sent: pl.Int64 = pa.Field(nullable=False, ge=0)
    viewed: pl.Int64 = pa.Field(nullable=True, ge=0)
    purchased: pl.Int64 = pa.Field(nullable=True, ge=0)
    earnings_raw: pl.String = pa.Field(nullable=True)
    earnings_usd: pl.Decimal(12, 2) = pa.Field(nullable=True)
    msg_key: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    dup_ordinal: pl.Int64 = pa.Field(nullable=False, ge=1)
    message_send_key: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    dq_flags: pl.List(pl.String) = pa.Field(nullable=False)
    extra_cols_json: pl.String = pa.Field(nullable=True)
    report_received_date: pl.Date = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True
        unique = ["message_id", "row_number"]

    @pa.dataframe_check(error="message_send_key is not unique per report")
    def message_send_key_unique_per_report(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("message_id", "message_send_key").is_duplicated().alias("ok"))

    @pa.dataframe_check(raise_warning=True, error="more than 5 % of rows carry dq_flags (non-blocking)")
    def dq_flag_share_warning(cls, data) -> bool:
        return dq_flag_share(data.lazyframe.select("dq_flags").collect()) <= DQ_FLAG_SHARE_WARNING

    @pa.dataframe_check(error="is_free must equal price_cents == 0")
    def is_free_consistent(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("is_free") == (pl.col("price_cents") == 0)).alias("ok"))

    @pa.dataframe_check(error="report_received_date must be the UTC date of report_received_at")
    def partition_date(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("report_received_date") == pl.col("report_received_at").dt.date()).alias("ok")
        )


DQ_FLAG_SHARE_WARNING = 0.05


def dq_flag_share(frame: pl.DataFrame) -> float:
    """Share of rows carrying any dq flag (0.0 for an empty frame)."""
    if frame.height == 0:
        return 0.0
    return frame.select((pl.col("dq_flags").list.len() > 0).mean()).item()


class QuarantineRows(pa.DataFrameModel):
    """`ops.quarantine_rows` (10-ingestion §9.1)."""

    quarantine_id: pl.String = pa.Field(nullable=False, unique=True, str_matches=SHA256_RE)
    source_kind: pl.String = pa.Field(nullable=False, isin=QUARANTINE_SOURCE_KINDS)
    source_ref: pl.String = pa.Field(nullable=False)
    archive_uri: pl.String = pa.Field(nullable=True)
    row_number: pl.Int64 = pa.Field(nullable=True, ge=1)
    reason_code: pl.String = pa.Field(nullable=False, isin=QUARANTINE_REASON_CODES)
    reason_detail: pl.String = pa.Field(nullable=True)
    raw_row_json: pl.String = pa.Field(nullable=True)
    ingestion_run_id: pl.String = pa.Field(nullable=True)  # reference files quarantined before a run id is known
    quarantined_at: _UTC = pa.Field(nullable=False)
    is_replayable: pl.Boolean = pa.Field(nullable=False)
    released_at: _UTC = pa.Field(nullable=True)
    released_by_run_id: pl.String = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
