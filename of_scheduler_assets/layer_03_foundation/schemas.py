"""pandera (polars backend) contracts of the foundation tables (20-warehouse §3). All blocking."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

PAGE_TYPES = ["free", "paid", "vip"]
CAPTION_ID_RE = r"^CAP_[0-9a-f]{16}$"
SHA256_RE = r"^[0-9a-f]{64}$"
CAPTION_SK_RE = r"^[0-9a-f]{16}$"
CATEGORIES = ["ppv", "renew", "tip", "link_drop", "bump", "drip"]
QUALITY_FLAGS = ["zero_sends", "view_anomaly", "purchase_anomaly", "revenue_anomaly", "valid"]

_UTC = pl.Datetime("us", "UTC")


class DimCaption(pa.DataFrameModel):
    """`dim_caption` (SCD2, natural key caption_id)."""

    caption_sk: pl.String = pa.Field(nullable=False, unique=True, str_matches=CAPTION_SK_RE)
    caption_id: pl.String = pa.Field(nullable=False, str_matches=CAPTION_ID_RE)
    caption_hash: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    caption_hash_raw: pl.String = pa.Field(nullable=True)
    caption_text: pl.String = pa.Field(nullable=True)
    caption_norm: pl.String = pa.Field(nullable=False)
    categories: pl.List(pl.String) = pa.Field(nullable=False)
    primary_category: pl.String = pa.Field(nullable=True, isin=CATEGORIES)
    source_category: pl.String = pa.Field(nullable=True)
    explicitness: pl.Int64 = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 3})
    content_tags: pl.List(pl.String) = pa.Field(nullable=False)
    tos_status: pl.String = pa.Field(nullable=False, isin=["clean", "flagged"])
    tos_rule_ids: pl.List(pl.String) = pa.Field(nullable=False)
    bank_ids: pl.List(pl.String) = pa.Field(nullable=False)
    source: pl.String = pa.Field(nullable=False, isin=["bank", "report", "both"])
    char_len: pl.Int64 = pa.Field(nullable=False, ge=0)
    word_count: pl.Int64 = pa.Field(nullable=False, ge=0)
    emoji_count: pl.Int64 = pa.Field(nullable=False, ge=0)
    has_link: pl.Boolean = pa.Field(nullable=False)
    has_hashtag: pl.Boolean = pa.Field(nullable=False)
    has_mention: pl.Boolean = pa.Field(nullable=False)
    has_price_mention: pl.Boolean = pa.Field(nullable=False)
    len_bin: pl.String = pa.Field(nullable=False, isin=["short", "med", "long"])
    emoji_bin: pl.String = pa.Field(nullable=False, isin=["none", "lite", "heavy"])
    has_cta: pl.Boolean = pa.Field(nullable=False)
    has_urgency: pl.Boolean = pa.Field(nullable=False)
    ends_with_question: pl.Boolean = pa.Field(nullable=False)
    family_key: pl.String = pa.Field(nullable=False, str_matches=SHA256_RE)
    first_seen_at: _UTC = pa.Field(nullable=False)
    is_active: pl.Boolean = pa.Field(nullable=False)
    valid_from: _UTC = pa.Field(nullable=False)
    valid_to: _UTC = pa.Field(nullable=False)
    is_current: pl.Boolean = pa.Field(nullable=False)
    change_reason: pl.String = pa.Field(nullable=False, isin=["initial", "changed", "removed"])

    class Config:
        strict = True
        ordered = True
        unique = ["caption_id", "valid_from"]

    @pa.dataframe_check(error="every caption_id has exactly one current row")
    def one_current_row(cls, data) -> pl.LazyFrame:
        n = pl.col("is_current").cast(pl.Int64).sum().over("caption_id")
        return data.lazyframe.select((n == 1).alias("ok"))

    @pa.dataframe_check(error="valid_from < valid_to")
    def interval_not_empty(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("valid_from") < pl.col("valid_to")).alias("ok"))

    @pa.dataframe_check(error="versions of a caption overlap or leave gaps (valid_to must equal the next valid_from)")
    def no_overlap(cls, data) -> pl.LazyFrame:
        nxt = pl.col("valid_from").shift(-1).over("caption_id", order_by="valid_from")
        return (
            data.lazyframe.select("caption_id", "valid_from", "valid_to", "is_current")
            .sort("caption_id", "valid_from")
            .select((nxt.is_null() | (pl.col("valid_to") == nxt)).alias("ok"))
        )

    @pa.dataframe_check(error="the current row is the open-ended, latest one")
    def current_is_open(cls, data) -> pl.LazyFrame:
        latest = pl.col("valid_from") == pl.col("valid_from").max().over("caption_id")
        return data.lazyframe.select((pl.col("is_current") == latest).alias("ok"))


class FactMessageSend(pa.DataFrameModel):
    """`fact_message_send` (grain message_send_key, partition send_date)."""

    message_send_key: pl.String = pa.Field(nullable=False, unique=True, str_matches=SHA256_RE)
    msg_key: pl.String = pa.Field(nullable=False)
    dup_ordinal: pl.Int64 = pa.Field(nullable=False, ge=1)
    username_page: pl.String = pa.Field(nullable=False)
    username_std: pl.String = pa.Field(nullable=False)
    page_type: pl.String = pa.Field(nullable=False, isin=PAGE_TYPES)
    caption_id: pl.String = pa.Field(nullable=False, str_matches=CAPTION_ID_RE)
    caption_hash: pl.String = pa.Field(nullable=False)
    caption_sk: pl.String = pa.Field(nullable=True)
    is_media_only: pl.Boolean = pa.Field(nullable=True)
    sender_std: pl.String = pa.Field(nullable=True)
    scheduler_code: pl.String = pa.Field(nullable=True)
    sending_ts_utc: _UTC = pa.Field(nullable=False)
    send_date: pl.Date = pa.Field(nullable=False)
    send_date_local: pl.Date = pa.Field(nullable=True)
    dow_local: pl.Int64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 6})
    hod_local: pl.Int64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 23})
    iso_year: pl.Int64 = pa.Field(nullable=True)
    iso_week: pl.Int64 = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 53})
    price_usd: pl.Decimal(10, 2) = pa.Field(nullable=False)
    price_cents: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 100_000})
    is_free: pl.Boolean = pa.Field(nullable=False)
    message_kind: pl.String = pa.Field(nullable=False, isin=["ppv", "free"])
    sent: pl.Int64 = pa.Field(nullable=False, ge=0)
    viewed: pl.Int64 = pa.Field(nullable=True, ge=0)
    purchased: pl.Int64 = pa.Field(nullable=True, ge=0)
    earnings_gross_usd: pl.Decimal(12, 2) = pa.Field(nullable=True)
    platform_fee_applied: pl.Float64 = pa.Field(nullable=False, in_range={"min_value": 0.0, "max_value": 1.0})
    earnings_net_usd: pl.Decimal(12, 2) = pa.Field(nullable=True)
    status: pl.String = pa.Field(nullable=True)
    is_unsent: pl.Boolean = pa.Field(nullable=False)
    withdrawn_by_std: pl.String = pa.Field(nullable=True)
    status_flips: pl.Int64 = pa.Field(nullable=False, ge=0)
    view_rate: pl.Float64 = pa.Field(nullable=True, ge=0)
    buy_rate: pl.Float64 = pa.Field(nullable=True, ge=0)
    conversion: pl.Float64 = pa.Field(nullable=True, ge=0)
    rps_gross: pl.Float64 = pa.Field(nullable=True)
    rps_net: pl.Float64 = pa.Field(nullable=True)
    revenue_per_purchase: pl.Float64 = pa.Field(nullable=True)
    quality_flag: pl.String = pa.Field(nullable=False, isin=QUALITY_FLAGS)
    is_model_eligible: pl.Boolean = pa.Field(nullable=False)
    dq_flags: pl.List(pl.String) = pa.Field(nullable=False)
    snapshot_count: pl.Int64 = pa.Field(nullable=False, ge=1)
    first_report_received_at: _UTC = pa.Field(nullable=False)
    latest_report_received_at: _UTC = pa.Field(nullable=False)
    metrics_age_hours: pl.Float64 = pa.Field(nullable=False)
    is_mature: pl.Boolean = pa.Field(nullable=False)
    latest_message_id: pl.String = pa.Field(nullable=False)
    archive_uri: pl.String = pa.Field(nullable=True)
    ingested_at: _UTC = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(error="earnings_net_usd must equal round(earnings_gross_usd × (1 − platform_fee_applied), 2)")
    def net_is_gross_times_fee(cls, data) -> pl.LazyFrame:
        gross = pl.col("earnings_gross_usd").cast(pl.Float64)
        net = pl.col("earnings_net_usd").cast(pl.Float64)
        diff = (net - gross * (1 - pl.col("platform_fee_applied"))).abs()
        return data.lazyframe.select(((diff <= 0.005 + 1e-9) | gross.is_null()).alias("ok"))

    @pa.dataframe_check(error="send_date must be the UTC date of sending_ts_utc")
    def send_date_is_utc_date(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("send_date") == pl.col("sending_ts_utc").dt.date()).alias("ok"))

    @pa.dataframe_check(error="is_model_eligible must be quality_flag in {valid, view_anomaly}")
    def eligibility(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("is_model_eligible") == pl.col("quality_flag").is_in(["valid", "view_anomaly"])).alias("ok")
        )

    @pa.dataframe_check(error="first_report_received_at <= latest_report_received_at")
    def report_order(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("first_report_received_at") <= pl.col("latest_report_received_at")).alias("ok")
        )


class DimPage(pa.DataFrameModel):
    """`dim_page` (one row per username_page)."""

    username_page: pl.String = pa.Field(nullable=False, unique=True)
    username_std: pl.String = pa.Field(nullable=False)
    page_type: pl.String = pa.Field(nullable=False, isin=PAGE_TYPES)
    display_name: pl.String = pa.Field(nullable=True)
    is_paid: pl.Boolean = pa.Field(nullable=False)
    tz: pl.String = pa.Field(nullable=False)
    report_tz: pl.String = pa.Field(nullable=True)
    local_min_hour: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 23})
    local_max_hour: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 23})
    max_explicitness: pl.Int64 = pa.Field(nullable=False, in_range={"min_value": 1, "max_value": 3})
    lifecycle_state: pl.String = pa.Field(nullable=False, isin=["new", "active", "inactive"])
    page_state: pl.String = pa.Field(nullable=True)
    tier: pl.String = pa.Field(nullable=True)
    tier_source: pl.String = pa.Field(nullable=False, isin=["engine", "override", "pending"])
    assigned_scheduler_code: pl.String = pa.Field(nullable=False)
    identity_source: pl.String = pa.Field(nullable=False, isin=["seed", "creator_stats", "auto"])
    merged_into: pl.String = pa.Field(nullable=True)
    first_seen_at: _UTC = pa.Field(nullable=True)
    last_report_at: _UTC = pa.Field(nullable=True)
    last_stats_at: _UTC = pa.Field(nullable=True)
    last_send_at: _UTC = pa.Field(nullable=True)
    new_until: _UTC = pa.Field(nullable=True)
    is_active: pl.Boolean = pa.Field(nullable=False)
    active_reason: pl.String = pa.Field(nullable=True, isin=["stats", "report", "override_in", "override_out"])
    config_name: pl.String = pa.Field(nullable=True)
    config_version: pl.String = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(error="local_min_hour <= local_max_hour")
    def window_ordered(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("local_min_hour") <= pl.col("local_max_hour")).alias("ok"))

    @pa.dataframe_check(error="is_paid must equal page_type in {paid, vip}")
    def is_paid_consistent(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("is_paid") == pl.col("page_type").is_in(["paid", "vip"])).alias("ok"))

    @pa.dataframe_check(error="username_page must be username_std__page_type")
    def key_composition(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("username_page") == pl.col("username_std") + "__" + pl.col("page_type")).alias("ok")
        )


class DimCreator(pa.DataFrameModel):
    """`dim_creator` (one row per username_std)."""

    username_std: pl.String = pa.Field(nullable=False, unique=True)
    display_name: pl.String = pa.Field(nullable=True)
    pages: pl.List(pl.String) = pa.Field(nullable=False)
    n_pages: pl.Int64 = pa.Field(nullable=False, ge=1)
    first_seen_at: _UTC = pa.Field(nullable=True)
    last_send_at: _UTC = pa.Field(nullable=True)
    days_since_last_send: pl.Int64 = pa.Field(nullable=True)
    account_status: pl.String = pa.Field(nullable=False, isin=["active", "dormant", "at_risk", "churned"])
    revenue_gross_90d: pl.Float64 = pa.Field(nullable=False)
    active_days_90d: pl.Int64 = pa.Field(nullable=False, ge=0, le=91)
    avg_daily_revenue: pl.Float64 = pa.Field(nullable=False)
    revenue_volatility: pl.Float64 = pa.Field(nullable=True, ge=0)
    performance_segment: pl.String = pa.Field(
        nullable=False, isin=["whale", "high_value", "regular", "casual", "inactive"]
    )

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(error="avg_daily_revenue must be revenue_gross_90d / active_days_90d (per active day)")
    def per_active_day(cls, data) -> pl.LazyFrame:
        expected = (
            pl.when(pl.col("active_days_90d") > 0)
            .then(pl.col("revenue_gross_90d") / pl.col("active_days_90d"))
            .otherwise(0.0)
        )
        return data.lazyframe.select(((pl.col("avg_daily_revenue") - expected).abs() < 1e-9).alias("ok"))

    @pa.dataframe_check(error="n_pages must equal the length of pages")
    def n_pages_consistent(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("n_pages") == pl.col("pages").list.len()).alias("ok"))


class DimScheduler(pa.DataFrameModel):
    """`dim_scheduler` (one row per scheduler_code): roster rows plus provisional codes seen in assignments."""

    scheduler_code: pl.String = pa.Field(nullable=False, unique=True)
    display_name: pl.String = pa.Field(nullable=True)
    email: pl.String = pa.Field(nullable=True)
    is_manager: pl.Boolean = pa.Field(nullable=False)
    is_active: pl.Boolean = pa.Field(nullable=False)
    can_view_all: pl.Boolean = pa.Field(nullable=False)
    pages: pl.List(pl.String) = pa.Field(nullable=False)
    n_pages: pl.Int64 = pa.Field(nullable=False, ge=0)
    sender_aliases: pl.List(pl.String) = pa.Field(nullable=False)
    is_provisional: pl.Boolean = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True


class CaptionBankLastUse(pa.DataFrameModel):
    """`caption_bank_last_use` (one row per username_page, caption_id): the caption bank's latest use of a caption on a
    page (10-ingestion §10.2), the fallback of the feature store's last use on the page."""

    username_page: pl.String = pa.Field(nullable=False)
    caption_id: pl.String = pa.Field(nullable=False, str_matches=CAPTION_ID_RE)
    bank_last_used_ts_utc: _UTC = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True
        unique = ["username_page", "caption_id"]
