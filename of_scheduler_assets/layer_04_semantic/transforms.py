"""Semantic-layer transforms (`20-warehouse.md` §4): pure, vectorised, deterministic polars.

Every function takes the fact frame (`fact_message_send`, columns of §3.5) plus the dimension inputs it needs and a
computation point ``as_of``. Conventions (`00-overview.md` §6, D1):

* every rate is a ratio of sums over the rows in scope; a zero (or null) denominator gives null, never 0 or inf;
* revenue is gross unless the column is named ``*_net``;
* windows are calendar windows of page-local dates (``send_date_local``) ending at the computation date, inclusive;
* local fields (``send_date_local``, ``dow_local`` Monday = 0, ``hod_local``) are read from the fact, where they were
  derived once in the page's time zone (defect 9); they are never re-derived from UTC here;
* only ``is_model_eligible`` rows enter; caption-level statistics also drop ``is_media_only`` rows;
* decayed weights ``w = 0.5 ** (age_days / half_life)``, age from ``sending_ts_utc`` to the computation time;
* quantiles use the lower order statistic (value at index ⌊q × (n − 1)⌋ of the sorted values);
* sample standard deviation (ddof = 1), null when n < 2.

``as_of`` may be a ``date`` or a ``datetime``. A date means the computation date itself and the computation *time*
is the end of that date (next midnight, UTC); a datetime gives the computation time and its UTC date is the
computation date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from of_scheduler_assets.layer_03_foundation.transforms import lifecycle_expr

__all__ = [
    "METRIC_DICTIONARY",
    "PAGE_STATE_NOTES",
    "dsum",
    "caption_performance_daily",
    "learning_signals_28d",
    "page_dow_hod_profile",
    "page_health_7d",
    "page_performance_daily",
    "page_price_points",
    "page_price_profile",
    "page_state_daily",
    "apply_tier_rules",
    "page_tier_assignment",
    "page_volume_profile",
    "pages_active_on",
    "tier_thresholds",
    "volume_boost_expr",
]


# ------------------------------------------------------------------------------- reproducible float sums

FIXED_SCALE = 2.0**64  # fixed-point unit of the reproducible sums: 2^-64


def _fixed(expr: pl.Expr) -> pl.Expr:
    """expr (null = 0) in fixed point: round(x × 2^64) as Int128 (exact for |x| < 2^63; larger values raise)."""
    return (expr.fill_null(0.0).cast(pl.Float64) * FIXED_SCALE).round().cast(pl.Int128)


def _unfixed(expr: pl.Expr) -> pl.Expr:
    """A fixed-point (Int128) value back as Float64 (rounded once, to nearest)."""
    return expr.cast(pl.Float64) * (1.0 / FIXED_SCALE)


def dsum(expr: pl.Expr) -> pl.Expr:
    """Σ expr (nulls = 0), bit-reproducible across runs, engines, thread counts and input row orders: every term is
    rounded to a multiple of 2^-64 and the terms are added as Int128 integers, which is exact and associative, so
    the order of the additions cannot matter. The result is the exact sum of the rounded terms, rounded once to
    Float64 (as accurate as or more accurate than any ordered float sum). Valid while the terms and the sum stay
    below 2^63 in absolute value (an overflowing term raises)."""
    return _unfixed(_fixed(expr).sum())


MONEY = pl.Decimal(12, 2)
KEY_PC = ["username_page", "caption_id"]

# --------------------------------------------------------------------------------------------------------- helpers


def _as_of(as_of: dt.date | dt.datetime) -> tuple[dt.date, dt.datetime]:
    """(computation date, computation time in UTC)."""
    if isinstance(as_of, dt.datetime):
        ts = as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=dt.UTC)
        ts = ts.astimezone(dt.UTC)
        return ts.date(), ts
    return as_of, dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)


def safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den as Float64, null when den is 0 or null."""
    den = den.cast(pl.Float64)
    return pl.when(den != 0).then(num.cast(pl.Float64) / den).otherwise(None)


def _f(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64)


def _money_sum(col: str) -> pl.Expr:
    return pl.col(col).sum().cast(MONEY)


def _eligible(fact: pl.DataFrame | pl.LazyFrame, *, caption_level: bool = False) -> pl.LazyFrame:
    lf = fact.lazy().filter(pl.col("is_model_eligible").fill_null(False))
    if caption_level:
        lf = lf.filter(~pl.col("is_media_only").fill_null(False) & pl.col("caption_id").is_not_null())
    return lf


def _in_window(as_of_date: dt.date, days: int, *, end_offset: int = 0) -> pl.Expr:
    """Local dates in [as_of − end_offset − days + 1, as_of − end_offset] (calendar window, inclusive)."""
    end = as_of_date - dt.timedelta(days=end_offset)
    start = end - dt.timedelta(days=days - 1)
    return pl.col("send_date_local").is_between(start, end, closed="both")


def _weight(as_of_ts: dt.datetime, half_life_days: float) -> pl.Expr:
    age_days = (pl.lit(as_of_ts).cast(pl.Datetime("us", "UTC")) - pl.col("sending_ts_utc")).dt.total_microseconds()
    age_days = (age_days.cast(pl.Float64) / 86_400_000_000.0).clip(lower_bound=0.0)
    return pl.lit(0.5) ** (age_days / half_life_days)


def _event_rps() -> pl.Expr:
    return safe_div(_f("earnings_gross_usd"), pl.col("sent"))


def _q(col: str | pl.Expr, q: float) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.quantile(q, "lower")


def _percent_rank(value: str, over: Sequence[str]) -> pl.Expr:
    """(rank − 1)/(n − 1) with min rank on ascending value, 0 for a single row, null for a null value."""
    r = pl.col(value).rank("min").over(list(over))
    n = pl.col(value).count().over(list(over))
    return (
        pl.when(pl.col(value).is_null())
        .then(None)
        .when(n <= 1)
        .then(pl.lit(0.0))
        .otherwise((r.cast(pl.Float64) - 1.0) / (n.cast(pl.Float64) - 1.0))
    )


def _zscore(col: str) -> pl.Expr:
    """Standardised across the frame's rows (sample sd); null (sd undefined, or zero up to float noise) -> 0."""
    x = pl.col(col).cast(pl.Float64)
    sd, mean = x.std(ddof=1), x.mean()
    return pl.when(sd > 1e-12 * pl.max_horizontal(mean.abs(), pl.lit(1.0))).then((x - mean) / sd).fill_null(0.0)


# ------------------------------------------------------------------------------------ 4.1 caption_performance_daily


def caption_performance_daily(
    fact: pl.DataFrame | pl.LazyFrame,
    as_of: dt.date | dt.datetime,
    *,
    captions: pl.DataFrame | None = None,
    start_date: dt.date | None = None,
) -> pl.DataFrame:
    """Grain ``metric_date`` × ``username_page`` × ``caption_id`` (the *sending* page, defect 3).

    ``captions``: optional ``dim_caption``-like frame (``caption_id``, ``primary_category``; current rows are used
    when ``is_current`` is present) for the category percentile; without it every caption is in one null category.
    Output rows have ``metric_date`` in [``start_date``, computation date] (default: every date up to it); trailing
    windows (7/30 days, trend) look back across the whole fact regardless of ``start_date``.
    """
    as_of_date, _ = _as_of(as_of)
    ev = (
        _eligible(fact, caption_level=True)
        .filter(pl.col("send_date_local") <= as_of_date)
        .with_columns(pl.col("send_date_local").alias("metric_date"), _event_rps().alias("_rps"))
    )
    daily = ev.group_by(["metric_date", *KEY_PC]).agg(
        pl.len().cast(pl.Int64).alias("send_events"),
        pl.col("sent").sum().cast(pl.Int64).alias("recipients"),
        pl.col("viewed").sum().cast(pl.Int64).alias("views"),
        pl.col("purchased").sum().cast(pl.Int64).alias("purchases"),
        _money_sum("earnings_gross_usd").alias("revenue_gross"),
        _money_sum("earnings_net_usd").alias("revenue_net"),
        _f("price_usd").mean().alias("avg_price"),
        _q("_rps", 0.25).alias("rps_event_p25"),
        _q("_rps", 0.50).alias("rps_event_median"),
        _q("_rps", 0.75).alias("rps_event_p75"),
    )
    hourly = (
        ev.group_by(["metric_date", *KEY_PC, "hod_local"])
        .agg(
            pl.len().cast(pl.Int64).alias("send_events"),
            pl.col("sent").sum().cast(pl.Int64).alias("recipients"),
            _f("earnings_gross_usd").sum().alias("revenue_gross"),
        )
        .with_columns(safe_div(pl.col("revenue_gross"), pl.col("recipients")).alias("rps_gross"))
        .sort(["metric_date", *KEY_PC, "hod_local"])
        .group_by(["metric_date", *KEY_PC], maintain_order=True)
        .agg(
            pl.struct(
                pl.col("hod_local").cast(pl.Int8), "send_events", "recipients", "revenue_gross", "rps_gross"
            ).alias("hourly_performance")
        )
    )
    df = daily.join(hourly, on=["metric_date", *KEY_PC], how="left").with_columns(
        safe_div(pl.col("views"), pl.col("recipients")).alias("view_rate"),
        safe_div(pl.col("purchases"), pl.col("recipients")).alias("buy_rate"),
        safe_div(pl.col("purchases"), pl.col("views")).alias("conversion"),
        safe_div(pl.col("revenue_gross"), pl.col("recipients")).alias("rps_gross"),
        safe_div(pl.col("revenue_net"), pl.col("recipients")).alias("rps_net"),
        _f("revenue_gross").alias("_rev"),
    )
    # Calendar windows over the daily sums (rolling on the date, not on a row count: defect 6).
    df = df.sort([*KEY_PC, "metric_date"])
    base = df
    for days in (7, 15, 30):
        roll = base.rolling(index_column="metric_date", period=f"{days}d", group_by=KEY_PC).agg(
            pl.col("_rev").sum().alias(f"_rev{days}"),
            pl.col("recipients").sum().alias(f"_rec{days}"),
            pl.col("purchases").sum().alias(f"_pur{days}"),
        )
        df = df.join(roll, on=[*KEY_PC, "metric_date"], how="left")
    # Per-event RPS in the 30-day window (every event of the same local date is inside each of its rows' windows).
    stab = (
        ev.select([*KEY_PC, "metric_date", "_rps"])
        .sort([*KEY_PC, "metric_date"])
        .rolling(index_column="metric_date", period="30d", group_by=KEY_PC)
        .agg(
            pl.col("_rps").drop_nulls().count().alias("_n30"),
            _q("_rps", 0.25).alias("_q25"),
            _q("_rps", 0.75).alias("_q75"),
        )
        .unique([*KEY_PC, "metric_date"], keep="first")
    )
    df = df.join(stab, on=[*KEY_PC, "metric_date"], how="left")
    r_recent = safe_div(pl.col("_rev15"), pl.col("_rec15"))
    r_prev = safe_div(pl.col("_rev30") - pl.col("_rev15"), pl.col("_rec30") - pl.col("_rec15"))
    df = df.with_columns(
        safe_div(pl.col("_rev7"), pl.col("_rec7")).alias("rps_7d"),
        safe_div(pl.col("_rev30"), pl.col("_rec30")).alias("rps_30d"),
        safe_div(pl.col("_pur7"), pl.col("_rec7")).alias("buy_rate_7d"),
        safe_div(pl.col("_pur30"), pl.col("_rec30")).alias("buy_rate_30d"),
        safe_div(r_recent - r_prev, r_prev).alias("rps_trend_slope"),
    ).with_columns(
        pl.when((pl.col("_n30") >= 3) & (pl.col("rps_30d") > 0))
        .then(1.0 - pl.min_horizontal(pl.lit(1.0), (pl.col("_q75") - pl.col("_q25")) / (2.0 * pl.col("rps_30d"))))
        .otherwise(None)
        .alias("stability_score")
    )
    if start_date is not None:
        df = df.filter(pl.col("metric_date") >= start_date)
    if captions is not None:
        cap = captions.lazy()
        if "is_current" in cap.collect_schema().names():
            cap = cap.filter(pl.col("is_current"))
        cap = cap.select("caption_id", pl.col("primary_category").cast(pl.String)).unique("caption_id", keep="first")
        df = df.join(cap, on="caption_id", how="left")
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("primary_category"))
    pct_cat = _percent_rank("rps_gross", ["metric_date", "primary_category"])
    df = df.with_columns(
        _percent_rank("rps_gross", ["metric_date", "username_page"]).alias("rps_percentile_by_page"),
        pct_cat.alias("rps_percentile_by_category"),
        (pl.lit(as_of_date) - pl.col("metric_date").max().over(KEY_PC))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("days_since_last_use"),
    ).with_columns(
        pl.when(pl.col("rps_percentile_by_category") >= 0.9)
        .then(pl.lit("top_performer"))
        .when(pl.col("rps_percentile_by_category") >= 0.7)
        .then(pl.lit("strong_performer"))
        .when(pl.col("rps_percentile_by_category") >= 0.3)
        .then(pl.lit("average_performer"))
        .otherwise(pl.lit("under_performer"))
        .alias("performance_tier")
    )
    return df.select(CAPTION_PERFORMANCE_COLUMNS).sort(["metric_date", *KEY_PC]).collect()


CAPTION_PERFORMANCE_COLUMNS = [
    "metric_date", "username_page", "caption_id", "primary_category", "send_events", "recipients", "views",
    "purchases", "revenue_gross", "revenue_net", "avg_price", "view_rate", "buy_rate", "conversion", "rps_gross",
    "rps_net", "rps_event_p25", "rps_event_median", "rps_event_p75", "hourly_performance", "rps_7d", "rps_30d",
    "buy_rate_7d", "buy_rate_30d", "rps_trend_slope", "stability_score", "rps_percentile_by_page",
    "rps_percentile_by_category", "performance_tier", "days_since_last_use",
]  # fmt: skip


# --------------------------------------------------------------------------------------- 4.2 page_performance_daily


def page_performance_daily(
    fact: pl.DataFrame | pl.LazyFrame, as_of: dt.date | dt.datetime, *, start_date: dt.date | None = None
) -> pl.DataFrame:
    """Grain ``metric_date`` × ``username_page``; page level, so media-only PPVs are included."""
    as_of_date, _ = _as_of(as_of)
    lf = _eligible(fact).filter(pl.col("send_date_local") <= as_of_date)
    if start_date is not None:
        lf = lf.filter(pl.col("send_date_local") >= start_date)
    is_ppv = pl.col("price_cents") > 0
    df = (
        lf.group_by([pl.col("send_date_local").alias("metric_date"), "username_page"])
        .agg(
            pl.len().cast(pl.Int64).alias("send_events"),
            is_ppv.sum().cast(pl.Int64).alias("ppv_events"),
            (~is_ppv).sum().cast(pl.Int64).alias("free_events"),
            pl.col("sent").sum().cast(pl.Int64).alias("recipients"),
            pl.col("viewed").sum().cast(pl.Int64).alias("views"),
            pl.col("purchased").sum().cast(pl.Int64).alias("purchases"),
            _money_sum("earnings_gross_usd").alias("revenue_gross"),
            _money_sum("earnings_net_usd").alias("revenue_net"),
            pl.col("caption_id").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_captions"),
            _f("price_usd").filter(is_ppv).mean().alias("avg_ppv_price"),
            pl.col("is_unsent").fill_null(False).sum().cast(pl.Int64).alias("_unsent"),
        )
        .with_columns(
            safe_div(pl.col("revenue_gross"), pl.col("recipients")).alias("rps_gross"),
            safe_div(pl.col("purchases"), pl.col("recipients")).alias("buy_rate"),
            safe_div(pl.col("views"), pl.col("recipients")).alias("open_rate"),
            safe_div(pl.col("purchases"), pl.col("views")).alias("conversion"),
            safe_div(pl.col("_unsent"), pl.col("send_events")).alias("unsent_share"),
        )
    )
    return df.select(PAGE_PERFORMANCE_COLUMNS).sort(["metric_date", "username_page"]).collect()


PAGE_PERFORMANCE_COLUMNS = [
    "metric_date", "username_page", "send_events", "ppv_events", "free_events", "recipients", "views", "purchases",
    "revenue_gross", "revenue_net", "rps_gross", "buy_rate", "open_rate", "conversion", "distinct_captions",
    "avg_ppv_price", "unsent_share",
]  # fmt: skip


# ------------------------------------------------------------------------------------ page activity on a past date


def pages_active_on(
    dim_page: pl.DataFrame,
    fact: pl.DataFrame | pl.LazyFrame,
    creator_stats: pl.DataFrame | None,
    as_of: dt.date | dt.datetime,
    *,
    window_days: int = 21,
) -> pl.DataFrame:
    """``dim_page`` rows with ``is_active`` and ``lifecycle_state`` re-evaluated as of a (possibly past) date, so a
    daily partition computed later shows the page set of its own day (20-warehouse §3.6): active when a send of the
    page falls in the ``window_days`` local days ending at the date (a loaded report lists its sends) or a
    creator-statistics period ends in that window; an ``override_in`` / ``override_out`` of dim_page wins. The
    lifecycle follows the foundation's one rule (``lifecycle_expr``) with the date as local today."""
    as_of_date, _ = _as_of(as_of)
    sends = (
        fact.lazy()
        .filter(_in_window(as_of_date, window_days))
        .select("username_page")
        .unique()
        .with_columns(_send=pl.lit(True))
        .collect()
    )
    stats = pl.DataFrame(schema={"username_page": pl.String, "_stats": pl.Boolean})
    if creator_stats is not None and creator_stats.height:
        lo = as_of_date - dt.timedelta(days=window_days - 1)
        stats = (
            creator_stats.filter(pl.col("period_end").is_between(lo, as_of_date))
            .select("username_page")
            .unique()
            .with_columns(_stats=pl.lit(True))
        )
    reason = pl.col("active_reason")
    evidence = pl.col("_send").fill_null(False) | pl.col("_stats").fill_null(False)
    return (
        dim_page.join(sends, on="username_page", how="left")
        .join(stats, on="username_page", how="left")
        .with_columns(
            is_active=pl.when(reason == "override_out")
            .then(pl.lit(False))
            .when(reason == "override_in")
            .then(pl.lit(True))
            .otherwise(evidence),
        )
        .with_columns(lifecycle_state=lifecycle_expr(pl.lit(as_of_date)))
        .drop("_send", "_stats")
    )


# --------------------------------------------------------------------------------------------- 4.3 page_health_7d


def latest_creator_stats_per_page(creator_stats: pl.DataFrame, as_of_date: dt.date) -> pl.DataFrame:
    """Latest snapshot per ``username_page`` with ``period_end`` ≤ the computation date (then latest
    ``ingested_at``, then lowest ``row_number``)."""
    cs = creator_stats.filter(pl.col("period_end") <= as_of_date)
    order = [c for c in ("period_end", "ingested_at", "row_number") if c in cs.columns]
    desc = [c != "row_number" for c in order]
    return cs.sort(order, descending=desc, nulls_last=True).unique("username_page", keep="first", maintain_order=True)


def page_health_7d(
    fact: pl.DataFrame | pl.LazyFrame,
    pages: pl.DataFrame,
    creator_stats: pl.DataFrame | None,
    as_of: dt.date | dt.datetime,
) -> pl.DataFrame:
    """One row per active page (``pages.is_active``) for the computation date.

    ``creator_stats``: staging creator statistics (``STG_CREATOR_STATS_SCHEMA``) resolved to ``username_page``.
    Missing facts give 0 sums (and null ratios); missing statistics give null fan columns.
    """
    as_of_date, _ = _as_of(as_of)
    lf = _eligible(fact).filter(_in_window(as_of_date, 28))
    w7 = _in_window(as_of_date, 7)
    agg = lf.group_by("username_page").agg(
        pl.col("purchased").filter(w7).sum().cast(pl.Int64).alias("total_purchases_7d"),
        _f("earnings_gross_usd").filter(w7).sum().alias("total_earnings_7d"),
        _f("earnings_net_usd").filter(w7).sum().alias("message_net_7d"),
        _f("earnings_gross_usd").filter(w7).sum().alias("rev_7d"),
        _f("earnings_gross_usd").sum().alias("rev_28d"),
    )
    active = pages.lazy().filter(pl.col("is_active").fill_null(False)).select("username_page", "page_type")
    df = active.join(agg, on="username_page", how="left").with_columns(
        pl.col("total_purchases_7d").fill_null(0),
        *[pl.col(c).fill_null(0.0) for c in ("total_earnings_7d", "message_net_7d", "rev_7d", "rev_28d")],
    )
    if creator_stats is not None and creator_stats.height:
        cs = latest_creator_stats_per_page(creator_stats, as_of_date).select(
            "username_page",
            pl.col("active_fans").cast(pl.Int64),
            pl.col("new_fans").cast(pl.Int64),
            pl.col("renew_on_rate").cast(pl.Float64),
            pl.col("change_expired_fans_count").cast(pl.Int64).alias("expired_change"),
        )
        df = df.join(cs.lazy(), on="username_page", how="left")
    else:
        df = df.with_columns(
            pl.lit(None, pl.Int64).alias("active_fans"),
            pl.lit(None, pl.Int64).alias("new_fans"),
            pl.lit(None, pl.Float64).alias("renew_on_rate"),
            pl.lit(None, pl.Int64).alias("expired_change"),
        )
    df = df.with_columns(
        pl.lit(as_of_date).alias("computed_date"),
        safe_div(pl.col("total_earnings_7d"), pl.col("total_purchases_7d")).alias("avg_spend_per_txn_7d"),
        safe_div(pl.col("total_earnings_7d"), pl.col("active_fans")).alias("avg_earn_per_fan_7d"),
    )
    return df.select(PAGE_HEALTH_COLUMNS).sort("username_page").collect()


PAGE_HEALTH_COLUMNS = [
    "computed_date", "username_page", "page_type", "total_purchases_7d", "total_earnings_7d", "message_net_7d",
    "rev_7d", "rev_28d", "avg_spend_per_txn_7d", "active_fans", "new_fans", "renew_on_rate", "expired_change",
    "avg_earn_per_fan_7d",
]  # fmt: skip


# ------------------------------------------------------------------------------------------------------ 4.4 tiers

Z_WEIGHTS = {
    "z_active": 0.30, "z_msgnet": 0.20, "z_apf": 0.15, "z_spend": 0.10, "z_total": 0.15, "z_renew": 0.05,
    "z_churn": 0.05,
}  # fmt: skip


def _intensity(health: pl.DataFrame) -> pl.DataFrame:
    df = health.with_columns(
        (pl.col("active_fans").cast(pl.Float64) + 1.0).log10().alias("_log_fans"),
        (-pl.col("expired_change").cast(pl.Float64)).alias("_neg_exp"),
    )
    df = df.with_columns(
        _zscore("_log_fans").alias("z_active"),
        _zscore("message_net_7d").alias("z_msgnet"),
        _zscore("avg_earn_per_fan_7d").alias("z_apf"),
        _zscore("avg_spend_per_txn_7d").alias("z_spend"),
        _zscore("total_earnings_7d").alias("z_total"),
        _zscore("renew_on_rate").alias("z_renew"),
        _zscore("_neg_exp").alias("z_churn"),
    )
    return df.with_columns(pl.sum_horizontal([pl.col(z) * w for z, w in Z_WEIGHTS.items()]).alias("intensity"))


def tier_thresholds(health: pl.DataFrame, as_of: dt.date | dt.datetime) -> pl.DataFrame:
    """One row per ``computed_date`` from ``page_health_7d`` (active pages); lower-order-statistic quantiles."""
    as_of_date, _ = _as_of(as_of)
    df = _intensity(health)
    return df.select(
        pl.lit(as_of_date).alias("computed_date"),
        _q("intensity", 0.40).alias("q40"),
        _q("intensity", 0.60).alias("q60"),
        _q("intensity", 0.90).alias("q90"),
        _q(pl.col("active_fans").cast(pl.Float64), 0.70).alias("af_p70"),
        _q("message_net_7d", 0.60).alias("msg_p60"),
        _q("message_net_7d", 0.70).alias("msg_p70"),
        _q("total_earnings_7d", 0.70).alias("tot_p70"),
        pl.len().cast(pl.Int64).alias("n_pages"),
    )


def apply_tier_rules(df: pl.DataFrame, t: dict) -> pl.DataFrame:
    """Adds ``tier_engine`` to a frame with ``intensity``, ``active_fans``, ``message_net_7d``,
    ``total_earnings_7d`` given one ``tier_thresholds`` row ``t``. First match: LOW (no money and < 100 fans),
    POWER, HIGH, MED, else LOW. Null fans / money count as 0; a null threshold never matches."""
    fans = pl.col("active_fans").cast(pl.Float64).fill_null(0.0)
    msg = pl.col("message_net_7d").cast(pl.Float64).fill_null(0.0)
    tot = pl.col("total_earnings_7d").cast(pl.Float64).fill_null(0.0)
    inten = pl.col("intensity")

    def lit(v):
        return pl.lit(v, dtype=pl.Float64)

    engine = (
        pl.when((msg == 0) & (tot == 0) & (fans < 100))
        .then(pl.lit("LOW"))
        .when(
            ((inten >= lit(t["q90"]))
             & (fans >= lit(t["af_p70"]))
             & ((msg >= lit(t["msg_p70"])) | (tot >= lit(t["tot_p70"])))).fill_null(False)
        )
        .then(pl.lit("POWER"))
        .when(((inten >= lit(t["q60"])) & ((msg >= lit(t["msg_p60"])) | (fans >= 0.8 * lit(t["af_p70"])))).fill_null(False))
        .then(pl.lit("HIGH"))
        .when((inten >= lit(t["q40"])).fill_null(False))
        .then(pl.lit("MED"))
        .otherwise(pl.lit("LOW"))
    )  # fmt: skip
    return df.with_columns(engine.alias("tier_engine"))


def page_tier_assignment(
    health: pl.DataFrame,
    as_of: dt.date | dt.datetime,
    *,
    thresholds: pl.DataFrame | None = None,
    overrides: pl.DataFrame | None = None,
    pages: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Engine tier by the first-match rules of §4.4 using the latest ``thresholds`` row (computed live when none).

    ``overrides``: ``page_overrides``-like (``username_page``, ``tier_override``; latest ``updated_at`` wins when
    present); an override wins with ``tier_source = override``. ``pages``: ``dim_page``-like with
    ``lifecycle_state`` and/or ``new_until``; a page in probation (``lifecycle_state = new`` or ``new_until`` ≥ the
    computation date) gets tier ``LOW`` with ``tier_source = pending`` unless overridden. Null fans count as 0.
    """
    as_of_date, _ = _as_of(as_of)
    if thresholds is not None and thresholds.height:
        th = thresholds.filter(pl.col("computed_date") <= as_of_date).sort("computed_date").tail(1)
        if th.height == 0:
            th = tier_thresholds(health, as_of_date)
    else:
        th = tier_thresholds(health, as_of_date)
    df = apply_tier_rules(_intensity(health), th.row(0, named=True))
    df = df.with_columns(pl.lit(as_of_date).alias("computed_date"))
    if overrides is not None and overrides.height:
        ov = overrides.filter(pl.col("tier_override").is_not_null())
        if "updated_at" in ov.columns:
            ov = ov.sort("updated_at", descending=True, nulls_last=True)
        ov = ov.unique("username_page", keep="first", maintain_order=True).select("username_page", "tier_override")
        df = df.join(ov, on="username_page", how="left")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("tier_override"))
    probation = pl.lit(False)
    if pages is not None:
        cols = ["username_page"] + [c for c in ("lifecycle_state", "new_until") if c in pages.columns]
        df = df.join(pages.select(cols), on="username_page", how="left")
        if "lifecycle_state" in cols:
            probation = probation | (pl.col("lifecycle_state") == "new").fill_null(False)
        if "new_until" in cols:
            probation = probation | (pl.col("new_until").cast(pl.Date) >= as_of_date).fill_null(False)
    df = df.with_columns(
        pl.when(pl.col("tier_override").is_not_null())
        .then(pl.col("tier_override"))
        .when(probation)
        .then(pl.lit("LOW"))
        .otherwise(pl.col("tier_engine"))
        .alias("tier"),
        pl.when(pl.col("tier_override").is_not_null())
        .then(pl.lit("override"))
        .when(probation)
        .then(pl.lit("pending"))
        .otherwise(pl.lit("engine"))
        .alias("tier_source"),
    )
    return df.select(TIER_ASSIGNMENT_COLUMNS).sort("username_page")


TIER_ASSIGNMENT_COLUMNS = [
    "username_page", "computed_date", *Z_WEIGHTS, "intensity", "tier_engine", "tier", "tier_source",
]  # fmt: skip


# --------------------------------------------------------------------------------------------- 4.5 page_state_daily

PAGE_STATE_NOTES = {
    "grow": "Audience growing with weak renewals: favour welcome and teaser captions, keep prices accessible",
    "retain": "Low renewals: favour relationship captions and prime hours",
    "monetize": "Revenue running at or above its monthly pace: push PPVs at premium hours and prices",
    "balance": "Steady state: keep the standard mix",
}


def page_state_daily(health: pl.DataFrame, as_of: dt.date | dt.datetime) -> pl.DataFrame:
    """First match: ``grow`` (new_fans ≥ 20 and renew_on_rate < 0.30), ``retain`` (renew_on_rate < 0.25),
    ``monetize`` (rev_7d ≥ rev_28d / 4, with rev_28d > 0), else ``balance``. Renew-on conditions are false on free
    pages (defect 19) and a missing input makes its condition false (so missing inputs end in ``balance``)."""
    as_of_date, _ = _as_of(as_of)
    paid_like = pl.col("page_type").is_in(["paid", "vip"]).fill_null(False)
    renew = pl.col("renew_on_rate")
    grow = paid_like & ((pl.col("new_fans") >= 20) & (renew < 0.30)).fill_null(False)
    retain = paid_like & (renew < 0.25).fill_null(False)
    monetize = ((pl.col("rev_28d") > 0) & (pl.col("rev_7d") >= pl.col("rev_28d") / 4.0)).fill_null(False)
    state = (
        pl.when(grow).then(pl.lit("grow")).when(retain).then(pl.lit("retain"))
        .when(monetize).then(pl.lit("monetize")).otherwise(pl.lit("balance"))
    )  # fmt: skip
    return (
        health.select("username_page", "page_type", "new_fans", "renew_on_rate", "rev_7d", "rev_28d")
        .with_columns(pl.lit(as_of_date).alias("computed_date"), state.alias("page_state"))
        .with_columns(pl.col("page_state").replace_strict(PAGE_STATE_NOTES, return_dtype=pl.String).alias("state_note"))
        .select(PAGE_STATE_COLUMNS)
        .sort("username_page")
    )


PAGE_STATE_COLUMNS = [
    "computed_date", "username_page", "page_type", "page_state", "state_note", "new_fans", "renew_on_rate", "rev_7d",
    "rev_28d",
]  # fmt: skip


# ------------------------------------------------------------------------------------------ 4.6 page_dow_hod_profile


def page_dow_hod_profile(
    fact: pl.DataFrame | pl.LazyFrame,
    as_of: dt.date | dt.datetime,
    *,
    window_days: int = 180,
    half_life_days: float = 45.0,
    prior_sends: float = 3.0,
    prior_window_days: int = 90,
) -> pl.DataFrame:
    """Grain ``username_page`` × ``dow_local`` × ``hod_local`` plus ``dow_local = null`` (all days) rows.

    ``dow_local``/``hod_local`` are the fact's page-local fields (Monday = 0). Prior strength
    ``k = prior_sends × median(sent per event over the last prior_window_days)`` (0 without events there).
    """
    as_of_date, as_of_ts = _as_of(as_of)
    lf = (
        _eligible(fact)
        .filter(_in_window(as_of_date, window_days))
        .with_columns(
            _weight(as_of_ts, half_life_days).alias("_w"),
            _f("earnings_gross_usd").alias("_rev"),
            _in_window(as_of_date, prior_window_days).alias("_in_prior"),
        )
    )

    def cells(keys: list[pl.Expr]) -> pl.LazyFrame:
        return lf.group_by(keys).agg(
            pl.len().cast(pl.Int64).alias("send_events"),
            pl.col("sent").sum().cast(pl.Int64).alias("recipients"),
            # reproducible sums: the temporal multiplier the ranker reads must not move from run to run
            dsum(pl.col("_rev")).alias("revenue"),
            dsum(pl.col("sent") * pl.col("_w")).alias("w_recipients"),
            dsum(pl.col("_rev") * pl.col("_w")).alias("w_revenue"),
            dsum(pl.col("viewed") * pl.col("_w")).alias("w_views"),
            pl.col("send_date_local").n_unique().cast(pl.Int32).alias("days_covered"),
        )

    by_dow = cells([pl.col("username_page"), pl.col("dow_local").cast(pl.Int8), pl.col("hod_local").cast(pl.Int8)])
    all_days = cells(
        [pl.col("username_page"), pl.lit(None, pl.Int8).alias("dow_local"), pl.col("hod_local").cast(pl.Int8)]
    )
    page = lf.group_by("username_page").agg(
        safe_div(dsum(pl.col("_rev") * pl.col("_w")), dsum(pl.col("sent") * pl.col("_w"))).alias("page_rps_mean"),
        safe_div(dsum(pl.col("viewed") * pl.col("_w")), dsum(pl.col("sent") * pl.col("_w"))).alias("page_open_mean"),
        (pl.lit(prior_sends) * pl.col("sent").filter(pl.col("_in_prior")).cast(pl.Float64).median())
        .fill_null(0.0)
        .alias("prior_k"),
    )
    df = pl.concat([by_dow, all_days.select(by_dow.collect_schema().names())]).join(page, on="username_page")
    k = pl.col("prior_k")
    rps_smooth = safe_div(pl.col("w_revenue") + k * pl.col("page_rps_mean").fill_null(0.0), pl.col("w_recipients") + k)
    open_smooth = safe_div(pl.col("w_views") + k * pl.col("page_open_mean").fill_null(0.0), pl.col("w_recipients") + k)
    df = df.with_columns(rps_smooth.alias("rps_smooth"), open_smooth.alias("open_smooth")).with_columns(
        safe_div(pl.col("rps_smooth"), pl.col("page_rps_mean"))
        .clip(0.5, 1.5)
        .fill_null(1.0)
        .alias("temporal_multiplier"),
        safe_div(pl.col("open_smooth"), pl.col("page_open_mean"))
        .clip(0.5, 1.5)
        .fill_null(1.0)
        .alias("temporal_multiplier_open"),
        pl.col("w_revenue").alias("revenue_score"),
    )
    # hour rank: rps_smooth desc, ties (and nulls, last) to the lower hour
    df = df.sort(
        ["username_page", "dow_local", "rps_smooth", "hod_local"],
        descending=[False, False, True, False],
        nulls_last=[False, False, True, False],
    ).with_columns(
        (pl.int_range(pl.len()).over(["username_page", "dow_local"]) + 1).cast(pl.Int16).alias("hour_rank_in_day")
    )
    return (
        df.with_columns(pl.lit(as_of_date).alias("computed_date"))
        .select(DOW_HOD_COLUMNS)
        .sort(["username_page", "dow_local", "hod_local"], nulls_last=True)
        .collect()
    )


DOW_HOD_COLUMNS = [
    "computed_date", "username_page", "dow_local", "hod_local", "send_events", "recipients", "revenue",
    "w_recipients", "w_revenue", "w_views", "days_covered", "page_rps_mean", "page_open_mean", "prior_k",
    "rps_smooth", "temporal_multiplier", "open_smooth", "temporal_multiplier_open", "hour_rank_in_day",
    "revenue_score",
]  # fmt: skip


# ---------------------------------------------------------------------------------------- 4.7 page_price_profile

PRICE_LEVELS = {"p25": 0.25, "p30": 0.30, "p50": 0.50, "p60": 0.60, "p75": 0.75, "p85": 0.85}


def _ppv(fact: pl.DataFrame | pl.LazyFrame, as_of_date: dt.date, days: int) -> pl.LazyFrame:
    return _eligible(fact).filter(_in_window(as_of_date, days) & (pl.col("price_cents") > 0))


def page_price_profile(
    fact: pl.DataFrame | pl.LazyFrame, as_of: dt.date | dt.datetime, *, window_days: int = 90
) -> pl.DataFrame:
    """One row per page with PPV events in the window: price cut points at levels 0.25/0.30/0.50/0.60/0.75/0.85
    (lower order statistic over events) and ``price_mode`` from corr(price, gross earnings)."""
    as_of_date, _ = _as_of(as_of)
    corr = pl.corr(_f("price_usd"), _f("earnings_gross_usd"), method="pearson")
    df = (
        _ppv(fact, as_of_date, window_days)
        .group_by("username_page")
        .agg(
            pl.len().cast(pl.Int64).alias("ppv_events"),
            *[_q(_f("price_usd"), q).alias(name) for name, q in PRICE_LEVELS.items()],
            pl.when(pl.len() >= 2).then(corr).otherwise(None).alias("corr_price_earnings"),
        )
        .with_columns(pl.col("corr_price_earnings").fill_nan(None))
        .with_columns(
            pl.when(pl.col("ppv_events") < 5)
            .then(pl.lit("balanced"))
            .when(pl.col("corr_price_earnings") >= 0.25)
            .then(pl.lit("premium"))
            .when(pl.col("corr_price_earnings") <= -0.15)
            .then(pl.lit("value"))
            .otherwise(pl.lit("balanced"))
            .alias("price_mode"),
            pl.lit(as_of_date).alias("computed_date"),
        )
    )
    return df.select(PRICE_PROFILE_COLUMNS).sort("username_page").collect()


PRICE_PROFILE_COLUMNS = ["computed_date", "username_page", "ppv_events", *PRICE_LEVELS, "corr_price_earnings",
                         "price_mode"]  # fmt: skip


def page_price_points(
    fact: pl.DataFrame | pl.LazyFrame,
    as_of: dt.date | dt.datetime,
    *,
    window_days: int = 90,
    half_life_days: float = 14.0,
) -> pl.DataFrame:
    """Grain ``username_page`` × ``price_dollars`` (price rounded half up to whole dollars) over PPV events."""
    as_of_date, as_of_ts = _as_of(as_of)
    df = (
        _ppv(fact, as_of_date, window_days)
        .with_columns(
            ((pl.col("price_cents") + 50) // 100).cast(pl.Int32).alias("price_dollars"),
            _weight(as_of_ts, half_life_days).alias("_w"),
        )
        .group_by("username_page", "price_dollars")
        .agg(
            pl.len().cast(pl.Int64).alias("send_events"),
            pl.col("sent").sum().cast(pl.Int64).alias("recipients"),
            pl.col("purchased").sum().cast(pl.Int64).alias("purchases"),
            dsum(pl.col("sent") * pl.col("_w")).alias("w_recipients"),  # reproducible: β_P is fitted on these
            dsum(pl.col("purchased") * pl.col("_w")).alias("w_purchases"),
        )
        .with_columns(pl.lit(as_of_date).alias("computed_date"))
    )
    return df.select(PRICE_POINT_COLUMNS).sort(["username_page", "price_dollars"]).collect()


PRICE_POINT_COLUMNS = ["computed_date", "username_page", "price_dollars", "send_events", "recipients", "purchases",
                       "w_recipients", "w_purchases"]  # fmt: skip


# --------------------------------------------------------------------------------------- 4.8 page_volume_profile


def _calendar(pages: pl.LazyFrame, as_of_date: dt.date, days: int) -> pl.LazyFrame:
    dates = pl.LazyFrame(
        {"send_date_local": pl.date_range(as_of_date - dt.timedelta(days=days - 1), as_of_date, "1d", eager=True)}
    )
    return pages.join(dates, how="cross")


def volume_boost_expr() -> pl.Expr:
    """First match on ``slope_rev_per_ppv`` and ``fatigue_ratio``; a null input makes its condition false."""
    slope, fr = pl.col("slope_rev_per_ppv"), pl.col("fatigue_ratio")
    return (
        pl.when(((slope >= 12) & (fr >= 0.70)).fill_null(False)).then(1.50)
        .when(((slope >= 8) & (fr >= 0.65)).fill_null(False)).then(1.30)
        .when((slope >= 4).fill_null(False)).then(1.15)
        .when(((slope <= 1).fill_null(False)) | ((fr < 0.50).fill_null(False))).then(0.90)
        .otherwise(1.00)
    )  # fmt: skip


def page_volume_profile(fact: pl.DataFrame | pl.LazyFrame, as_of: dt.date | dt.datetime) -> pl.DataFrame:
    """One row per page with any send event in the last 28 local days. Daily series are calendar days (days without
    sends count as 0 events / 0 revenue)."""
    as_of_date, _ = _as_of(as_of)
    lf = _eligible(fact).filter(_in_window(as_of_date, 28)).with_columns(_f("earnings_gross_usd").alias("_rev"))
    is_ppv = pl.col("price_cents") > 0
    per_day = lf.group_by("username_page", "send_date_local").agg(
        is_ppv.sum().cast(pl.Float64).alias("c"),
        pl.col("_rev").filter(is_ppv).sum().alias("r"),
        pl.len().cast(pl.Float64).alias("m"),
    )
    pages = lf.select("username_page").unique()
    daily = _calendar(pages, as_of_date, 28).join(per_day, on=["username_page", "send_date_local"], how="left")
    # calendar order: variances and covariances are float sums, so their terms need a fixed order (idempotence)
    daily = daily.with_columns(pl.col("c", "r", "m").fill_null(0.0)).sort("username_page", "send_date_local")
    last7 = _in_window(as_of_date, 7)
    vol = daily.group_by("username_page").agg(
        pl.col("c").mean().alias("avg_ppv_per_day"),
        _q("c", 0.90).alias("q90_ppv_per_day"),
        safe_div(pl.cov("c", "r", ddof=1), pl.col("c").var(ddof=1)).alias("slope_rev_per_ppv"),
        pl.col("m").filter(last7).mean().alias("v7"),
        pl.col("m").median().alias("v_ref"),
    )
    # fatigue: first and last PPV of each day with >= 2 PPVs, by send time then message_send_key
    fl = (
        lf.filter(is_ppv)
        .sort(["username_page", "send_date_local", "sending_ts_utc", "message_send_key"])
        .group_by("username_page", "send_date_local", maintain_order=True)
        .agg(pl.len().alias("n"), pl.col("_rev").first().alias("first"), pl.col("_rev").last().alias("last"))
        .filter(pl.col("n") >= 2)
        .group_by("username_page")
        .agg(safe_div(pl.col("last").mean(), pl.col("first").mean()).alias("fatigue_ratio"))
    )
    w = lf.group_by("username_page").agg(
        safe_div(pl.col("_rev").filter(last7).sum(), pl.col("sent").filter(last7).sum()).alias("rps_7d"),
        safe_div(
            pl.col("_rev").filter(_in_window(as_of_date, 7, end_offset=7)).sum(),
            pl.col("sent").filter(_in_window(as_of_date, 7, end_offset=7)).sum(),
        ).alias("rps_prev_7d"),
    )
    boost = volume_boost_expr()
    delta = (safe_div(pl.col("rps_7d"), pl.col("rps_prev_7d")) - 1.0).clip(-1.0, 1.0)
    df = (
        vol.join(fl, on="username_page", how="left")
        .join(w, on="username_page", how="left")
        .with_columns(
            boost.alias("volume_boost"),
            delta.alias("rps_delta_7d"),
            (50.0 + 10.0 * (pl.col("v7") - pl.col("v_ref")) - 20.0 * delta.fill_null(0.0))
            .clip(0.0, 100.0)
            .alias("page_fatigue_risk"),
            pl.lit(as_of_date).alias("computed_date"),
        )
    )
    return df.select(VOLUME_COLUMNS).sort("username_page").collect()


VOLUME_COLUMNS = [
    "computed_date", "username_page", "avg_ppv_per_day", "q90_ppv_per_day", "slope_rev_per_ppv", "fatigue_ratio",
    "volume_boost", "v7", "v_ref", "rps_7d", "rps_prev_7d", "rps_delta_7d", "page_fatigue_risk",
]  # fmt: skip


# ------------------------------------------------------------------------------------- 4.9 learning_signals_28d


def learning_signals_28d(fact: pl.DataFrame | pl.LazyFrame, as_of: dt.date | dt.datetime) -> pl.DataFrame:
    """One row per page with any send event in the last 28 local days. Day 1 = the computation date."""
    as_of_date, _ = _as_of(as_of)
    lf = _eligible(fact).filter(_in_window(as_of_date, 28)).with_columns(_f("earnings_gross_usd").alias("_rev"))
    is_ppv = pl.col("price_cents") > 0
    recent, prev = _in_window(as_of_date, 14), _in_window(as_of_date, 14, end_offset=14)
    df = lf.group_by("username_page").agg(
        pl.len().cast(pl.Int64).alias("send_events_28d"),
        is_ppv.sum().cast(pl.Int64).alias("ppv_events_28d"),
        pl.col("_rev").sum().alias("earnings_28d"),
        safe_div(pl.col("_rev").sum(), pl.col("sent").sum()).alias("rps_28d"),
        _f("price_usd").filter(is_ppv).median().alias("median_price"),
        safe_div((is_ppv & (pl.col("_rev") > 0)).sum(), is_ppv.sum()).alias("sell_rate"),
        safe_div(pl.col("_rev").filter(recent).sum(), pl.col("sent").filter(recent).sum()).alias("rps_recent"),
        safe_div(pl.col("_rev").filter(prev).sum(), pl.col("sent").filter(prev).sum()).alias("rps_prev"),
        pl.col("send_date_local").n_unique().cast(pl.Int32).alias("active_days_28d"),
    )
    df = df.with_columns((safe_div(pl.col("rps_recent"), pl.col("rps_prev")) - 1.0).alias("earnings_lift")).collect()
    price = page_price_profile(fact, as_of_date).select(
        "username_page", pl.col("corr_price_earnings").alias("corr_price_earnings_90d")
    )
    vol = page_volume_profile(fact, as_of_date).select(
        "username_page", "volume_boost", "fatigue_ratio", "page_fatigue_risk"
    )
    df = (
        df.join(price, on="username_page", how="left")
        .join(vol, on="username_page", how="left")
        .with_columns(pl.lit(as_of_date).alias("computed_date"))
    )
    return df.select(LEARNING_COLUMNS).sort("username_page")


LEARNING_COLUMNS = [
    "computed_date", "username_page", "send_events_28d", "ppv_events_28d", "earnings_28d", "rps_28d",
    "median_price", "sell_rate", "rps_recent", "rps_prev", "earnings_lift", "corr_price_earnings_90d",
    "volume_boost", "fatigue_ratio", "page_fatigue_risk", "active_days_28d",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------- 5. metric dictionary


def _m(name: str, table: str, formula: str, unit: str, grain: str) -> dict[str, str]:
    return {"name": name, "table": table, "formula": formula, "unit": unit, "grain": grain}


_CPD, _PPD = "caption_performance_daily", "page_performance_daily"
_G_CPD, _G_PPD = "metric_date × username_page × caption_id", "metric_date × username_page"

METRIC_DICTIONARY: list[dict[str, str]] = [
    _m("send_events", "*", "count of fact rows (send events)", "count", "any"),
    _m("recipients", "*", "Σ sent", "fans", "any"),
    _m("rps_gross", _CPD, "Σ earnings_gross_usd / Σ sent", "USD per recipient", _G_CPD),
    _m("rps_gross", _PPD, "Σ earnings_gross_usd / Σ sent", "USD per recipient", _G_PPD),
    _m("rps_net", _CPD, "Σ earnings_net_usd / Σ sent", "USD per recipient", _G_CPD),
    _m("buy_rate", _CPD, "Σ purchased / Σ sent", "fraction", _G_CPD),
    _m("buy_rate", _PPD, "Σ purchased / Σ sent", "fraction", _G_PPD),
    _m("view_rate", _CPD, "Σ viewed / Σ sent", "fraction", _G_CPD),
    _m("open_rate", _PPD, "Σ viewed / Σ sent", "fraction", _G_PPD),
    _m("conversion", _CPD, "Σ purchased / Σ viewed", "fraction", _G_CPD),
    _m("conversion", _PPD, "Σ purchased / Σ viewed", "fraction", _G_PPD),
    _m("revenue_per_event", "*", "Σ earnings_gross_usd / send events", "USD", "any"),
    _m("arppu", "*", "Σ earnings_gross_usd / Σ purchased", "USD", "any"),
    _m("revenue_per_1k", "*", "1000 × Σ earnings_gross_usd / Σ sent (display form of RPS)", "USD", "any"),
    _m("decayed_x", "*", "Σ X × 0.5^(age_days / half_life)", "as X", "any"),
    _m("smoothed_rate", "*", "(x + ν μ) / (n + ν)", "fraction", "any"),
    _m("rps_7d", _CPD, "Σ gross / Σ sent over the 7 calendar days ending at metric_date", "USD per recipient",
       _G_CPD),
    _m("rps_30d", _CPD, "Σ gross / Σ sent over the 30 calendar days ending at metric_date", "USD per recipient",
       _G_CPD),
    _m("rps_trend_slope", _CPD, "(R(-14..0) − R(-29..-15)) / R(-29..-15), R = Σ gross / Σ sent", "fraction", _G_CPD),
    _m("stability_score", _CPD, "1 − min(1, (q75 − q25) / (2 × rps_30d)) over per-event RPS, 30 days", "score 0..1",
       _G_CPD),
    _m("unsent_share", _PPD, "count(is_unsent) / send events", "fraction", _G_PPD),
    _m("avg_spend_per_txn_7d", "page_health_7d", "Σ gross (7d) / Σ purchased (7d)", "USD", "username_page × day"),
    _m("avg_earn_per_fan_7d", "page_health_7d", "Σ gross (7d) / active_fans", "USD per fan", "username_page × day"),
    _m("intensity", "page_tier_assignment", "0.30 z_active + 0.20 z_msgnet + 0.15 z_apf + 0.10 z_spend + "
       "0.15 z_total + 0.05 z_renew + 0.05 z_churn", "z units", "username_page × computed_date"),
    _m("rps_smooth", "page_dow_hod_profile", "(w_revenue + k r̄) / (w_recipients + k), half-life 45 d",
       "USD per recipient", "username_page × dow_local × hod_local"),
    _m("temporal_multiplier", "page_dow_hod_profile", "clamp(rps_smooth / r̄, 0.5, 1.5), 1.0 without data",
       "multiplier", "username_page × dow_local × hod_local"),
    _m("slope_rev_per_ppv", "page_volume_profile", "cov(c_d, r_d) / var(c_d) over 28 calendar days",
       "USD per PPV", "username_page × computed_date"),
    _m("page_fatigue_risk", "page_volume_profile", "clamp(50 + 10 (v7 − v_ref) − 20 Δ, 0, 100)", "score 0..100",
       "username_page × computed_date"),
    _m("earnings_lift", "learning_signals_28d", "rps(days 1–14) / rps(days 15–28) − 1", "fraction",
       "username_page × computed_date"),
    _m("sell_rate", "learning_signals_28d", "count(PPV events with earnings > 0) / PPV events", "fraction",
       "username_page × computed_date"),
]  # fmt: skip
