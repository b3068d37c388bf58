"""pandera (polars) models of the semantic tables (`20-warehouse.md` §4): keys unique per grain, ranges."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

MONEY = pl.Decimal(12, 2)
PAGE_TYPES = ["free", "paid", "vip"]
TIERS = ["LOW", "MED", "HIGH", "POWER"]
CAPTION_RE = r"^CAP_[0-9a-f]{16}$"
HOURLY = pl.List(
    pl.Struct(
        {
            "hod_local": pl.Int8,
            "send_events": pl.Int64,
            "recipients": pl.Int64,
            "revenue_gross": pl.Float64,
            "rps_gross": pl.Float64,
        }
    )
)


def _frac(nullable: bool = True):
    return pa.Field(nullable=nullable, ge=0.0, le=1.0)


def _count():
    return pa.Field(nullable=False, ge=0)


class CaptionPerformanceDaily(pa.DataFrameModel):
    metric_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    caption_id: pl.String = pa.Field(nullable=False, str_matches=CAPTION_RE)
    primary_category: pl.String = pa.Field(nullable=True)
    send_events: pl.Int64 = pa.Field(nullable=False, ge=1)
    recipients: pl.Int64 = _count()
    views: pl.Int64 = _count()
    purchases: pl.Int64 = _count()
    revenue_gross: MONEY = pa.Field(nullable=False)
    revenue_net: MONEY = pa.Field(nullable=False)
    avg_price: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    view_rate: pl.Float64 = pa.Field(nullable=True, ge=0.0)  # view anomalies (viewed > sent) are model-eligible
    buy_rate: pl.Float64 = _frac()
    conversion: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_gross: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_net: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_event_p25: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_event_median: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_event_p75: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    hourly_performance: HOURLY = pa.Field(nullable=False)
    rps_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_30d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    buy_rate_7d: pl.Float64 = _frac()
    buy_rate_30d: pl.Float64 = _frac()
    rps_trend_slope: pl.Float64 = pa.Field(nullable=True, ge=-1.0)
    stability_score: pl.Float64 = _frac()
    rps_percentile_by_page: pl.Float64 = _frac()
    rps_percentile_by_category: pl.Float64 = _frac()
    performance_tier: pl.String = pa.Field(
        nullable=False, isin=["top_performer", "strong_performer", "average_performer", "under_performer"]
    )
    days_since_last_use: pl.Int32 = pa.Field(nullable=False, ge=0)

    class Config:
        strict = True
        unique = ["metric_date", "username_page", "caption_id"]

    @pa.dataframe_check(error="one hourly_performance element per hour, never per event (defect 17)")
    def one_element_per_hour(cls, data) -> pl.LazyFrame:
        h = pl.col("hourly_performance").list.eval(pl.element().struct.field("hod_local"))
        return data.lazyframe.select((h.list.n_unique() == h.list.len()).alias("ok"))


class PagePerformanceDaily(pa.DataFrameModel):
    metric_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    send_events: pl.Int64 = pa.Field(nullable=False, ge=1)
    ppv_events: pl.Int64 = _count()
    free_events: pl.Int64 = _count()
    recipients: pl.Int64 = _count()
    views: pl.Int64 = _count()
    purchases: pl.Int64 = _count()
    revenue_gross: MONEY = pa.Field(nullable=False)
    revenue_net: MONEY = pa.Field(nullable=False)
    rps_gross: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    buy_rate: pl.Float64 = _frac()
    open_rate: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    conversion: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    distinct_captions: pl.Int64 = _count()
    avg_ppv_price: pl.Float64 = pa.Field(nullable=True, gt=0.0)
    unsent_share: pl.Float64 = _frac()

    class Config:
        strict = True
        unique = ["metric_date", "username_page"]

    @pa.dataframe_check(error="ppv_events + free_events must equal send_events")
    def events_add_up(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("ppv_events") + pl.col("free_events") == pl.col("send_events")).alias("ok")
        )


class PageHealth7d(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    page_type: pl.String = pa.Field(nullable=True, isin=PAGE_TYPES)
    total_purchases_7d: pl.Int64 = _count()
    total_earnings_7d: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    message_net_7d: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    rev_7d: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    rev_28d: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    avg_spend_per_txn_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    active_fans: pl.Int64 = pa.Field(nullable=True, ge=0)
    new_fans: pl.Int64 = pa.Field(nullable=True)  # net change: negative in real exports (10-ingestion §11)
    renew_on_rate: pl.Float64 = _frac()
    expired_change: pl.Int64 = pa.Field(nullable=True)
    avg_earn_per_fan_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)

    class Config:
        strict = True
        unique = ["computed_date", "username_page"]


class TierThresholds(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False, unique=True)
    q40: pl.Float64 = pa.Field(nullable=True)
    q60: pl.Float64 = pa.Field(nullable=True)
    q90: pl.Float64 = pa.Field(nullable=True)
    af_p70: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    msg_p60: pl.Float64 = pa.Field(nullable=True)
    msg_p70: pl.Float64 = pa.Field(nullable=True)
    tot_p70: pl.Float64 = pa.Field(nullable=True)
    n_pages: pl.Int64 = _count()

    class Config:
        strict = True

    @pa.dataframe_check(error="q40 <= q60 <= q90")
    def ordered_quantiles(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            ((pl.col("q40") <= pl.col("q60")) & (pl.col("q60") <= pl.col("q90"))).fill_null(True).alias("ok")
        )


class PageTierAssignment(pa.DataFrameModel):
    username_page: pl.String = pa.Field(nullable=False)
    computed_date: pl.Date = pa.Field(nullable=False)
    z_active: pl.Float64 = pa.Field(nullable=False)
    z_msgnet: pl.Float64 = pa.Field(nullable=False)
    z_apf: pl.Float64 = pa.Field(nullable=False)
    z_spend: pl.Float64 = pa.Field(nullable=False)
    z_total: pl.Float64 = pa.Field(nullable=False)
    z_renew: pl.Float64 = pa.Field(nullable=False)
    z_churn: pl.Float64 = pa.Field(nullable=False)
    intensity: pl.Float64 = pa.Field(nullable=False)
    tier_engine: pl.String = pa.Field(nullable=False, isin=TIERS)
    tier: pl.String = pa.Field(nullable=False, isin=TIERS)
    tier_source: pl.String = pa.Field(nullable=False, isin=["engine", "override", "pending"])

    class Config:
        strict = True
        unique = ["computed_date", "username_page"]


class PageStateDaily(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    page_type: pl.String = pa.Field(nullable=True, isin=PAGE_TYPES)
    page_state: pl.String = pa.Field(nullable=False, isin=["grow", "retain", "monetize", "balance"])
    state_note: pl.String = pa.Field(nullable=False)
    new_fans: pl.Int64 = pa.Field(nullable=True)  # net change: negative in real exports (10-ingestion §11)
    renew_on_rate: pl.Float64 = _frac()
    rev_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rev_28d: pl.Float64 = pa.Field(nullable=True, ge=0.0)

    class Config:
        strict = True
        unique = ["computed_date", "username_page"]

    @pa.dataframe_check(error="renew-based states on a free page (defect 19)")
    def no_renew_states_on_free_pages(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            ~((pl.col("page_type") == "free") & pl.col("page_state").is_in(["grow", "retain"])).fill_null(False)
        )


class PageDowHodProfile(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    dow_local: pl.Int8 = pa.Field(nullable=True, ge=0, le=6)  # null = all days
    hod_local: pl.Int8 = pa.Field(nullable=False, ge=0, le=23)
    send_events: pl.Int64 = pa.Field(nullable=False, ge=1)
    recipients: pl.Int64 = _count()
    revenue: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    w_recipients: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    w_revenue: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    w_views: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    days_covered: pl.Int32 = pa.Field(nullable=False, ge=1)
    page_rps_mean: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    page_open_mean: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    prior_k: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    rps_smooth: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    temporal_multiplier: pl.Float64 = pa.Field(nullable=False, ge=0.5, le=1.5)
    open_smooth: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    temporal_multiplier_open: pl.Float64 = pa.Field(nullable=False, ge=0.5, le=1.5)
    hour_rank_in_day: pl.Int16 = pa.Field(nullable=False, ge=1, le=24)
    revenue_score: pl.Float64 = pa.Field(nullable=False, ge=0.0)

    class Config:
        strict = True
        unique = ["username_page", "dow_local", "hod_local"]


class PagePriceProfile(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False, unique=True)
    ppv_events: pl.Int64 = pa.Field(nullable=False, ge=1)
    p25: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    p30: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    p50: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    p60: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    p75: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    p85: pl.Float64 = pa.Field(nullable=False, gt=0.0)
    corr_price_earnings: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)
    price_mode: pl.String = pa.Field(nullable=False, isin=["premium", "value", "balanced"])

    class Config:
        strict = True

    @pa.dataframe_check(error="price cut points must be non-decreasing")
    def monotone(cls, data) -> pl.LazyFrame:
        cols = ["p25", "p30", "p50", "p60", "p75", "p85"]
        return data.lazyframe.select(
            pl.all_horizontal([pl.col(a) <= pl.col(b) for a, b in zip(cols, cols[1:], strict=False)])
        )


class PagePricePoints(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    price_dollars: pl.Int32 = pa.Field(nullable=False, ge=0)
    send_events: pl.Int64 = pa.Field(nullable=False, ge=1)
    recipients: pl.Int64 = _count()
    purchases: pl.Int64 = _count()
    w_recipients: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    w_purchases: pl.Float64 = pa.Field(nullable=False, ge=0.0)

    class Config:
        strict = True
        unique = ["username_page", "price_dollars"]


class PageVolumeProfile(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False, unique=True)
    avg_ppv_per_day: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    q90_ppv_per_day: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    slope_rev_per_ppv: pl.Float64 = pa.Field(nullable=True)
    fatigue_ratio: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    volume_boost: pl.Float64 = pa.Field(nullable=False, isin=[0.9, 1.0, 1.15, 1.3, 1.5])
    v7: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    v_ref: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    rps_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_prev_7d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_delta_7d: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)
    page_fatigue_risk: pl.Float64 = pa.Field(nullable=False, ge=0.0, le=100.0)

    class Config:
        strict = True


class LearningSignals28d(pa.DataFrameModel):
    computed_date: pl.Date = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False, unique=True)
    send_events_28d: pl.Int64 = pa.Field(nullable=False, ge=1)
    ppv_events_28d: pl.Int64 = _count()
    earnings_28d: pl.Float64 = pa.Field(nullable=False, ge=0.0)
    rps_28d: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    median_price: pl.Float64 = pa.Field(nullable=True, gt=0.0)
    sell_rate: pl.Float64 = _frac()
    rps_recent: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    rps_prev: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    earnings_lift: pl.Float64 = pa.Field(nullable=True, ge=-1.0)
    corr_price_earnings_90d: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)
    volume_boost: pl.Float64 = pa.Field(nullable=True)
    fatigue_ratio: pl.Float64 = pa.Field(nullable=True, ge=0.0)
    page_fatigue_risk: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=100.0)
    active_days_28d: pl.Int32 = pa.Field(nullable=False, ge=1, le=28)

    class Config:
        strict = True


SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "caption_performance_daily": CaptionPerformanceDaily,
    "page_performance_daily": PagePerformanceDaily,
    "page_health_7d": PageHealth7d,
    "tier_thresholds": TierThresholds,
    "page_tier_assignment": PageTierAssignment,
    "page_state_daily": PageStateDaily,
    "page_dow_hod_profile": PageDowHodProfile,
    "page_price_profile": PagePriceProfile,
    "page_price_points": PagePricePoints,
    "page_volume_profile": PageVolumeProfile,
    "learning_signals_28d": LearningSignals28d,
}
