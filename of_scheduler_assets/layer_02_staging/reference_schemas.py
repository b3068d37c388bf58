"""pandera (polars) contracts of the reference-data staging frames (10-ingestion §9-12, 20-warehouse §2.1)."""

from __future__ import annotations

from typing import Optional

import pandera.polars as pa
import polars as pl

from of_scheduler_assets.layer_02_staging import schemas as _staging_schemas

CAPTION_ID_RE = r"^CAP_[0-9a-f]{16}$"
SHA256_RE = r"^[0-9a-f]{64}$"
CATEGORIES = ["ppv", "renew", "tip", "link_drop", "bump", "drip"]
BANK_TYPES = ["ppv", "bump", "renew", "tip", "link", "link_drop", "drip"]
TOS_STATUSES = ["clean", "flagged"]
PAGE_TYPES = ["free", "paid", "vip"]
UTC_TS = pl.Datetime("us", "UTC")


class StgCaptionBank(pa.DataFrameModel):
    """One deduplicated bank caption per ``caption_hash``."""

    caption_hash: str = pa.Field(nullable=False, unique=True, str_matches=SHA256_RE)
    caption_id: str = pa.Field(nullable=False, unique=True, str_matches=CAPTION_ID_RE)
    caption_norm: str = pa.Field(nullable=False)
    caption_text: str = pa.Field(nullable=False)
    caption_hash_raw: str = pa.Field(nullable=False, str_matches=SHA256_RE)
    bank_caption_id: str = pa.Field(nullable=True)
    alias_ids: pl.List(pl.String) = pa.Field(nullable=False)
    categories: pl.List(pl.String) = pa.Field(nullable=False)
    primary_category: str = pa.Field(nullable=False, isin=CATEGORIES)
    source_category: str = pa.Field(nullable=True)
    has_link: bool = pa.Field(nullable=False)
    contains_renew: bool = pa.Field(nullable=False)
    mentions_tip: bool = pa.Field(nullable=False)
    tos_status: str = pa.Field(nullable=False, isin=TOS_STATUSES)
    tos_rule_ids: pl.List(pl.String) = pa.Field(nullable=False)
    explicitness_tag: str = pa.Field(nullable=True)
    bank_price_usd: float = pa.Field(nullable=True)
    created_ts: UTC_TS = pa.Field(nullable=True)
    bank_last_used_ts_utc: UTC_TS = pa.Field(nullable=True)
    bank_last_used_by_std: str = pa.Field(nullable=True)
    bank_last_used_page_raw: str = pa.Field(nullable=True)
    bank_last_used_page_alias_key: str = pa.Field(nullable=True)
    bank_last_used_page_compact_key: str = pa.Field(nullable=True)
    bank_last_used_page_type_token: str = pa.Field(nullable=True, isin=PAGE_TYPES)
    bank_last_used_page_both: bool = pa.Field(nullable=True)
    bank_times_used: int = pa.Field(nullable=True)
    first_seen_file_sha256: str = pa.Field(nullable=False)
    first_seen_file_name: str = pa.Field(nullable=False)
    first_seen_row_number: int = pa.Field(nullable=False, ge=1)
    n_source_rows: int = pa.Field(nullable=False, ge=1)
    rules_version: str = pa.Field(nullable=False)
    # when the caption's first-seen file arrived: attached by the staging asset (the pure builder has no file times)
    ingested_at: Optional[UTC_TS] = pa.Field(nullable=True)  # noqa: UP045 (a dtype instance has no `|`)

    @pa.dataframe_check
    def flagged_iff_rules(cls, data) -> pl.LazyFrame:
        lf = data.lazyframe
        return lf.select((pl.col("tos_status") == "flagged") == (pl.col("tos_rule_ids").list.len() > 0))

    @pa.dataframe_check
    def primary_in_categories(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("categories").list.contains(pl.col("primary_category")))

    class Config:
        strict = True


class TosAuditRows(pa.DataFrameModel):
    """``ops_audit.tos_audit`` rows: one per flagged input row (before dedup)."""

    caption_id: str = pa.Field(nullable=False, str_matches=CAPTION_ID_RE)
    source_kind: str = pa.Field(nullable=False, isin=["caption_bank", "report"])
    source_ref: str = pa.Field(nullable=False)
    row_number: int = pa.Field(nullable=True, ge=1)
    caption_text: str = pa.Field(nullable=False)
    price_usd: float = pa.Field(nullable=True)
    violation_rule_ids: str = pa.Field(nullable=False, str_length={"min_value": 1})
    violation_reasons: str = pa.Field(nullable=False, str_length={"min_value": 1})
    checked_at: UTC_TS = pa.Field(nullable=False)
    rules_version: str = pa.Field(nullable=False)

    class Config:
        strict = True


class ParsedCreatorStats(pa.DataFrameModel):
    """Parsed creator statistics before page resolution (``username_page`` is attached downstream)."""

    row_number: int = pa.Field(nullable=False, ge=1)
    period_raw: str = pa.Field(nullable=False)
    period_start: pl.Date = pa.Field(nullable=False)
    period_end: pl.Date = pa.Field(nullable=False)
    snapshot_ts_local: pl.Datetime("us") = pa.Field(nullable=False)
    snapshot_ts_utc: UTC_TS = pa.Field(nullable=False)
    snapshot_tz: str = pa.Field(nullable=False)
    creator_display: str = pa.Field(nullable=False)
    alias_key: str = pa.Field(nullable=False)
    compact_key: str = pa.Field(nullable=False)
    page_type_token: str = pa.Field(nullable=True, isin=PAGE_TYPES)
    both_marker: bool = pa.Field(nullable=False)
    several_page_types: bool = pa.Field(nullable=False)
    creator_group: str = pa.Field(nullable=True)
    subscription_net: float = pa.Field(nullable=True)
    new_subscriptions_net: float = pa.Field(nullable=True)
    recurring_subscriptions_net: float = pa.Field(nullable=True)
    tips_net: float = pa.Field(nullable=True)
    total_earnings_net: float = pa.Field(nullable=True)
    refund_net: float = pa.Field(nullable=True)
    contribution_rate: float = pa.Field(nullable=True)
    of_rank_percent: float = pa.Field(nullable=True)
    following_count: int = pa.Field(nullable=True)
    fans_with_renew_on: int = pa.Field(nullable=True)
    renew_on_rate: float = pa.Field(nullable=True)
    new_fans: int = pa.Field(nullable=True)
    active_fans: int = pa.Field(nullable=True)
    change_expired_fans_count: int = pa.Field(nullable=True)
    posts_net: float = pa.Field(nullable=True)
    message_net: float = pa.Field(nullable=True)
    streams_net: float = pa.Field(nullable=True)
    avg_spend_per_spender_net: float = pa.Field(nullable=True)
    avg_spend_per_transaction_net: float = pa.Field(nullable=True)
    avg_earnings_per_fan_net: float = pa.Field(nullable=True)
    avg_subscription_length_days: float = pa.Field(nullable=True, ge=0)
    is_paid_like: bool = pa.Field(nullable=False)
    reporting_currency: str = pa.Field(nullable=False, isin=["USD"])
    dq_flags: pl.List(pl.String) = pa.Field(nullable=False)
    source_file_sha256: str = pa.Field(nullable=False)
    ingested_at: UTC_TS = pa.Field(nullable=False)

    @pa.dataframe_check
    def period_ordered(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("period_start") <= pl.col("period_end"))

    class Config:
        strict = True
        unique = ["source_file_sha256", "row_number"]


class ParsedSchedulerAssignments(pa.DataFrameModel):
    """Parsed assignment rows before page / roster resolution."""

    row_number: int = pa.Field(nullable=False, ge=1)
    scheduler_label_raw: str = pa.Field(nullable=False)
    scheduler_label: str = pa.Field(nullable=False)
    is_lead: bool = pa.Field(nullable=False)
    scheduler_code: str = pa.Field(nullable=False, str_matches=r"^\S(.*\S)?$")
    page_name_raw: str = pa.Field(nullable=False)
    alias_key: str = pa.Field(nullable=False)
    compact_key: str = pa.Field(nullable=False)
    page_type_token: str = pa.Field(nullable=True, isin=PAGE_TYPES)
    both_marker: bool = pa.Field(nullable=False)
    several_page_types: bool = pa.Field(nullable=False)
    source_file_sha256: str = pa.Field(nullable=False)
    ingested_at: UTC_TS = pa.Field(nullable=False)

    @pa.dataframe_check
    def code_upper(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("scheduler_code") == pl.col("scheduler_code").str.to_uppercase())

    class Config:
        strict = True
        unique = ["source_file_sha256", "row_number"]


# One quarantine contract for every source (the reference parsers' rows included).
QuarantineRows = _staging_schemas.QuarantineRows


class _ResolvedPage(pa.DataFrameModel):
    username_std: str = pa.Field(nullable=False, str_matches=r"^[a-z0-9_]+$")
    page_type: str = pa.Field(nullable=False, isin=["free", "paid", "vip"])
    username_page: str = pa.Field(nullable=False, str_matches=r"^[a-z0-9_]+__(free|paid|vip)$")
    identity_source: str = pa.Field(nullable=False, isin=["alias", "dim_page", "auto"])
    resolution: str = pa.Field(nullable=False, isin=["resolved", "auto_registered"])


class StgCreatorStats(ParsedCreatorStats, _ResolvedPage):
    """`stg_creator_stats`: the parsed snapshot with its resolved page."""


class StgSchedulerAssignments(ParsedSchedulerAssignments, _ResolvedPage):
    """`stg_scheduler_assignments`: the parsed assignment with its resolved page and roster match."""

    scheduler_known: bool = pa.Field(nullable=False)
