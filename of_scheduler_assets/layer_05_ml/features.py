"""Feature store (`30-ml-and-ranking.md` §2, §4): one row per (``computed_date``, ``username_page``, ``caption_id``)
over the candidate universe of every active page, cold-start captions included. Pure, vectorised polars.

Conventions (in addition to the semantic layer's, `layer_04_semantic.transforms`):

* windows are calendar windows of page-local dates (``send_date_local``) ending at the computation date, inclusive;
  events after the computation time are ignored;
* performance, statistical and temporal-profile features use ``is_model_eligible`` rows that are not media-only;
  *use* features (last use, active days, uses today/7d, novelty counts, family and cross-page uses) count every send
  of the caption in the fact, eligible or not: a send with bad metrics is still a use;
* ``last_used_ts_page`` falls back on the caption bank's last use on the page (``bank_last_use``, the foundation's
  ``caption_bank_last_use``; 10-ingestion §10.2) for a (page, caption) pair without any send in the 365-day window
  ("used only where reports have no history for that page", read per pair); a bank use after the computation time
  or older than 365 days is ignored. Everything derived from it follows (hours since use on the page, exploration
  temperature, ``reuse_block_until`` and the reuse rule); nothing that counts sends (send events, active days, uses
  today, novelty, cross-page uses, cooldown) sees a bank use;
* money sums are exact (Decimal); RPS = Σ gross / Σ sent; ratios with a zero denominator are null before fills;
* views / purchases enter decayed rates capped at ``sent`` (see ``priors``); the plain windowed rates are the raw
  ratios of sums;
* float sums over events are fixed-point sums (``priors.dsum``: exact, order-free), so reruns and shuffled inputs
  are bit-identical;
* the prior chain comes from the compact ``caption_priors`` (page rows + captions with events on the page) and
  ``caption_lift`` (per caption): a candidate without own events takes its caption's lift (1 without history
  anywhere) and ``priors.prior_chain_exprs`` gives p, p_open, the decayed rates, the smoothing weight and q̄ per
  candidate; a full ``caption_priors`` frame (every page × caption) without ``caption_lift`` works as well;
* the per-(page, caption), per-caption, per-page and per-(page, family) inputs are merged at their own grain first
  and joined to the candidate universe once each, in the universe's (page, caption) order.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_04_semantic.transforms import _as_of, _in_window, _percent_rank, _q, _weight, safe_div
from of_scheduler_assets.layer_05_ml.priors import dsum, price_adjusted, prior_chain_exprs

__all__ = ["FEATURE_CATALOGUE", "FEATURE_COLUMNS", "FEATURE_NAMES", "ID_COLUMNS", "META_COLUMNS",
           "ELIGIBILITY_CODES", "candidate_universe", "feature_store"]  # fmt: skip

KEY_PC = ["username_page", "caption_id"]
UTC_US = pl.Datetime("us", "UTC")
MONEY = pl.Decimal(12, 2)
NIGHT_HOURS = [20, 21, 22, 23, 0, 1, 2]
ELIGIBILITY_CODES = [
    "tos_flagged", "inactive_caption", "media_only", "category_mismatch", "explicitness_above_page_max",
    "reused_within_min_reuse_days", "cooldown_active", "fatigued", "blocked_by_override", "max_daily_uses_reached",
    "already_primary_today",
]  # fmt: skip

# --------------------------------------------------------------------------------------------------- catalogue


def _entries(names, family, formula, unit, windows, fill):
    names = [names] if isinstance(names, str) else names
    windows = windows if isinstance(windows, list) else [windows] * len(names)
    return [
        {"name": n, "family": family, "formula": formula, "unit": unit, "window": w, "fill": fill}
        for n, w in zip(names, windows, strict=True)
    ]


_P, _S, _E, _T, _C, _X, _K = "performance", "statistical", "exploration", "temporal", "cooldown", "composite", "context"
_DEC = "decayed, half-life 14 d, 90 d"

FEATURE_CATALOGUE: list[dict[str, str]] = [
    *_entries(["send_events_7d", "send_events_30d", "send_events_90d"], _P, "count of events", "events",
              ["7d", "30d", "90d"], "0"),
    *_entries(["recipients_7d", "recipients_30d", "recipients_90d"], _P, "Σ sent", "fans", ["7d", "30d", "90d"], "0"),
    *_entries(["purchases_30d", "purchases_90d"], _P, "Σ purchased (PPV)", "count", ["30d", "90d"], "0"),
    *_entries(["revenue_gross_30d", "revenue_gross_90d"], _P, "Σ gross earnings", "USD", ["30d", "90d"], "0"),
    *_entries("revenue_net_30d", _P, "Σ net earnings", "USD", "30d", "0"),
    *_entries(["rps_7d", "rps_30d", "rps_90d"], _P, "Σ gross / Σ sent", "USD/recipient", ["7d", "30d", "90d"],
              "null"),
    *_entries(["buy_rate_30d", "buy_rate_90d"], _P, "Σ purchased / Σ sent (PPV)", "fraction", ["30d", "90d"], "null"),
    *_entries(["open_rate_30d", "open_rate_90d"], _P, "Σ viewed / Σ sent", "fraction", ["30d", "90d"], "null"),
    *_entries("rps_decayed", _P, "Σ(rev × w) / Σ(sent × w)", "USD/recipient", _DEC, "null"),
    *_entries("buy_rate_decayed", _P, "x_CP / n_CP", "fraction", _DEC, "null"),
    *_entries("open_rate_decayed", _P, "decayed views / decayed sent", "fraction", _DEC, "null"),
    *_entries("p_buy_smoothed", _P, "p of §3", "fraction", _DEC, "prior chain (never null)"),
    *_entries("p_open_smoothed", _P, "p_open of §3", "fraction", _DEC, "prior chain"),
    *_entries("rps_smoothed_ref", _P, "p50 × p(p50), page median PPV price", "USD/recipient", _DEC, "prior chain"),
    *_entries("trend_slope", _P, "(R(−14..0) − R(−29..−15)) / R(−29..−15)", "ratio", "30d", "0"),
    *_entries("stability_score", _P, "1 − min(1, (q75 − q25)/(2 × rps_30d)) on per-event RPS", "0–1", "30d", "0.5"),
    *_entries("confidence_score", _P, "smoothing_weight × stability_score (filled)", "0–1", _DEC, "0"),
    *_entries(["rps_event_median_90d", "rps_event_p25_90d", "rps_event_p75_90d"], _S,
              "lower-order-statistic quantiles of per-event RPS", "USD/recipient", "90d", "0"),
    *_entries("rps_event_stddev_90d", _S, "sample sd of per-event RPS", "USD/recipient", "90d", "0"),
    *_entries("rps_event_iqr_90d", _S, "p75 − p25", "USD/recipient", "90d", "0"),
    *_entries("rps_event_cv_90d", _S, "sd / median", "ratio", "90d", "null (median 0)"),
    *_entries("ucb_bonus_ref", _E, "§5.3 at q = p50", "USD/recipient", _DEC, "from prior"),
    *_entries("posterior_sd", _E, "sqrt(p(1 − p)/(n_CP + ν))", "fraction", _DEC, "from prior"),
    *_entries("novelty_level", _E, "all-pages events 365 d: < 10 → 1.0, < 50 → 0.5, < 100 → 0.2, else 0", "0–1",
              "365d", "1.0"),
    *_entries("exploration_temperature", _E, "σ(0.1 × (30 − min(30, d))), d = days since use on page",
              "0.5–0.953", "365d", "0.5"),
    *_entries("smoothing_weight", _E, "n_CP / (n_CP + ν)", "0–1", _DEC, "0"),
    *_entries("is_cold_start", _E, "all-pages events 365 d < min_samples_for_exploitation", "bool", "365d", "true"),
    *_entries("send_events_all_pages_365d", _E, "count of events on any page", "events", "365d", "0"),
    *_entries("best_hod_local", _T, "hour with max decayed RPS among the caption's hours on the page (ties → lower "
              "hour)", "hour", _DEC, "page best hour"),
    *_entries("best_hod_rps", _T, "that RPS", "USD/recipient", _DEC, "rps_decayed"),
    *_entries("best_dow_local", _T, "day (Monday = 0) with max decayed RPS", "0–6", _DEC, "page best day"),
    *_entries(["hours_since_use_page", "last_used_ts_page"], _T, "since last send on this page (the caption "
              "bank's last use on the page when no report send)", "hours, UTC ts", "365d", "null"),
    *_entries(["hours_since_use_any", "last_used_ts_any"], _T, "since last send on any page", "hours, UTC ts",
              "365d", "null"),
    *_entries(["active_days_7d", "active_days_30d", "active_days_90d"], _T, "distinct local send dates on the page",
              "days", ["7d", "30d", "90d"], "0"),
    *_entries("uses_today", _T, "sends on the page on the local date", "events", "1d", "0"),
    *_entries("uses_7d_all_pages", _C, "sends on any page in 7 d", "events", "7d", "0"),
    *_entries("cooldown_hours", _C, "max(min_h, min(base × factor^uses_7d, 24 × max_days)) (§5.6)", "hours", "7d",
              "min_cooldown_hours"),
    *_entries("cooldown_until_ts", _C, "last_used_ts_any + cooldown_hours", "UTC ts", "365d", "null"),
    *_entries("reuse_block_until", _C, "last_used_ts_page + min_reuse_days", "UTC ts", "365d", "null"),
    *_entries("fatigue_score", _C, "σ(0.5 × (active_days_30d − 15))", "0–1", "30d", "σ(−7.5)"),
    *_entries("is_eligible", _C, "slot-independent rules of §5.7 at computed_at", "bool", "at computed_at", "—"),
    *_entries("ineligible_reasons", _C, "list of §5.7 codes", "list", "at computed_at", "[]"),
    *_entries("base_score", _X, "0.4 × rps_smoothed_ref / (p50 × μ_P) + 0.3 × stability + 0.2 × (1 − fatigue) + "
              "0.1 × confidence", "score", "—", "—"),
    *_entries("exploration_score", _X, "base_score × (1 + 0.3 × ucb_bonus_ref / rps_smoothed_ref)", "score", "—",
              "—"),
    *_entries("rps_percentile", _X, "percent rank of rps_smoothed_ref within the page", "0–1", "—", "—"),
    *_entries("category_percentile", _X, "percent rank within page × primary_category", "0–1", "—", "—"),
    *_entries("rps_slump_pct", _K, "(rps_28d − rps_prev_28d) / rps_prev_28d, page level, days 29–56 as prev",
              "ratio", "56d", "0"),
    *_entries("slump_risk_score", _K, "clamp(−0.5 × rps_slump_pct, 0, 1)", "0–1", "56d", "0"),
    *_entries("night_owl_share", _K, "page revenue share of local hours 20–23 and 0–2", "fraction", "28d", "0"),
    *_entries("is_night_owl", _K, "night_owl_share > 0.35", "bool", "28d", "false"),
    *_entries("price_stance_bucket", _K, "avg_spend_per_txn_7d > 50 premium, > 20 standard, else budget", "label",
              "7d", "budget"),
    *_entries("family_recent_uses_28d", _K, "sends on the page of captions with the same family_key", "events",
              "28d", "0"),
    *_entries("cross_page_usage_7d", _K, "distinct other pages that sent the caption", "pages", "7d", "0"),
    *_entries("renew_on_rate", _K, "latest creator statistics", "fraction", "latest", "null"),
    *_entries("page_tier", _K, "page_tier_assignment.tier", "label", "latest", "LOW"),
    *_entries("page_state", _K, "page_state_daily.page_state", "label", "latest", "balance"),
    *_entries("page_fatigue_risk", _K, "20-warehouse §4.8", "0–100", "28d", "50"),
]  # fmt: skip

FEATURE_NAMES = [f["name"] for f in FEATURE_CATALOGUE]
ID_COLUMNS = ["username_page", "username_std", "page_type", "caption_id", "caption_sk", "primary_category"]
META_COLUMNS = ["computed_at", "config_name", "config_version", "data_watermark"]
FEATURE_COLUMNS = ["computed_date", *ID_COLUMNS, *FEATURE_NAMES, *META_COLUMNS]

# ----------------------------------------------------------------------------------------------------- helpers


def _sigmoid(x: pl.Expr) -> pl.Expr:
    return 1.0 / (1.0 + (-x).exp())


def _hours_between(later: pl.Expr | dt.datetime, earlier: pl.Expr) -> pl.Expr:
    later = pl.lit(later).cast(UTC_US) if isinstance(later, dt.datetime) else later
    return (later - earlier).dt.total_microseconds().cast(pl.Float64) / 3_600_000_000.0


def _media_only(dim_caption: pl.DataFrame) -> pl.Expr:
    if "is_media_only" in dim_caption.columns:
        return pl.col("is_media_only").fill_null(False)
    return pl.col("caption_norm").fill_null("").str.strip_chars().eq("") | (pl.col("char_len").fill_null(0) == 0)


def _universe_parts(dim_caption: pl.DataFrame, dim_page: pl.DataFrame) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.Expr]:
    """(pages, captions, filter) of ``candidate_universe``: both sides sorted by their key, the filter to apply to
    their cross join; helper columns start with ``_``."""
    pages = dim_page.lazy().filter(pl.col("is_active").fill_null(False))
    if "lifecycle_state" in dim_page.columns:
        pages = pages.filter((pl.col("lifecycle_state") != "inactive").fill_null(True))
    std = pl.col("username_std") if "username_std" in dim_page.columns else pl.col("username_page").str.split(
        "__").list.first()  # fmt: skip
    mx = pl.col("max_explicitness") if "max_explicitness" in dim_page.columns else pl.lit(3)
    pages = (
        pages.select(
            pl.col("username_page"),
            std.alias("username_std"),
            pl.col("page_type"),
            mx.fill_null(3).cast(pl.Int64).alias("_max_expl"),
        )
        .unique("username_page", keep="first")
        .sort("username_page")
    )
    cap = dim_caption.lazy()
    if "is_current" in dim_caption.columns:
        cap = cap.filter(pl.col("is_current").fill_null(False))
    cats = pl.col("categories").fill_null([])
    cap = (
        cap.filter(
            pl.col("is_active").fill_null(False)
            & (pl.col("tos_status") == "clean").fill_null(False)
            & ~_media_only(dim_caption)
        )
        .select(
            "caption_id",
            "caption_sk",
            "primary_category",
            pl.col("explicitness").fill_null(3).alias("_expl"),
            pl.col("family_key")
            if "family_key" in dim_caption.columns
            else pl.lit(None, pl.String).alias("family_key"),
            (cats.list.set_difference(pl.lit(["renew"])).list.len() > 0).alias("_non_renew"),
            cats.list.contains("renew").alias("_renew"),
        )  # fmt: skip
        .unique("caption_id", keep="first")
        .sort("caption_id")
    )
    paid_like = pl.col("page_type").is_in(["paid", "vip"]).fill_null(False)
    keep = (pl.col("_expl") <= pl.col("_max_expl")) & (pl.col("_non_renew") | (pl.col("_renew") & paid_like))
    return pages, cap, keep


def candidate_universe(dim_caption: pl.DataFrame, dim_page: pl.DataFrame) -> pl.DataFrame:
    """§2: every active page of ``dim_page`` (``is_active`` and, when present, ``lifecycle_state`` ≠ inactive) ×
    every current ``dim_caption`` row with ``is_active``, ``tos_status = clean``, not media-only (empty text),
    ``explicitness`` (null = 3) ≤ the page's ``max_explicitness`` (default 3), and a category plannable on the page
    (``renew`` only on paid/vip). Never-sent captions included. Sorted by (``username_page``, ``caption_id``)."""
    pages, cap, keep = _universe_parts(dim_caption, dim_page)
    # both sides sorted, the cross join in left-right order: the result is sorted by (page, caption) without a sort
    return (
        pages.join(cap, how="cross", maintain_order="left_right")
        .filter(keep)
        .drop("_expl", "_max_expl", "_non_renew", "_renew")
        .collect()
    )


def _dense_rows(keys: pl.Series, table_keys: pl.Series, size: int) -> pl.Series:
    """For each of ``keys`` (integers in [0, size), null allowed) the row of ``table_keys`` holding it, null when
    none: a dense lookup array instead of a hash join of millions of candidate rows."""
    import numpy as np

    dense = np.full(size + 1, -1, dtype=np.int64)
    dense[table_keys.cast(pl.Int64).to_numpy()] = np.arange(table_keys.len(), dtype=np.int64)
    rows = pl.Series("_row", dense[keys.cast(pl.Int64).fill_null(size).to_numpy()])
    return pl.select(pl.when(rows >= 0).then(rows).cast(pl.UInt32)).to_series()


# --------------------------------------------------------------------------------------------------- the store


def feature_store(
    fact: pl.DataFrame | pl.LazyFrame,
    dim_caption: pl.DataFrame,
    dim_page: pl.DataFrame,
    priors: pl.DataFrame,
    page_priors: pl.DataFrame,
    *,
    as_of: dt.date | dt.datetime,
    caption_lift: pl.DataFrame | None = None,
    page_health_7d: pl.DataFrame | None = None,
    page_tier_assignment: pl.DataFrame | None = None,
    page_state_daily: pl.DataFrame | None = None,
    page_volume_profile: pl.DataFrame | None = None,
    bank_last_use: pl.DataFrame | None = None,
    min_samples_for_exploitation: int = 10,
    min_reuse_days: int = 28,
    half_life_days: float = 14.0,
    window_days: int = 90,
    ucb_c: float = 2.0,
    ucb_cap_mult: float = 2.0,
    cooldown_base_hours: float = 6.0,
    cooldown_backoff_factor: float = 1.5,
    cooldown_min_hours: float = 6.0,
    max_cooldown_days: float = 21.0,
    fatigue_limit: float = 0.8,
    price_adjustment: str = "elasticity",
    config_name: str | None = None,
    config_version: str | None = None,
    computed_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """Columns ``FEATURE_COLUMNS`` (computed_date, id columns, the 73 catalogue features, metadata), sorted by
    (``username_page``, ``caption_id``). ``priors`` / ``caption_lift`` / ``page_priors``: the compact pair of
    ``priors.caption_prior_tables`` (or the full ``priors.caption_priors`` frame with ``caption_lift=None``) and
    ``priors.page_priors`` for the same date. Semantic inputs are optional (their features take the catalogue
    fill when missing). ``bank_last_use`` (``username_page``, ``caption_id``, ``bank_last_used_ts_utc``; optional):
    the fallback of ``last_used_ts_page`` for pairs without a report send in the window. ``computed_at`` defaults to
    the computation time of ``as_of``."""
    as_of_date, as_of_ts = _as_of(as_of)
    now = computed_at.astimezone(dt.UTC) if computed_at is not None else as_of_ts
    pages_u, caps_u, keep = _universe_parts(dim_caption, dim_page)
    pages_u, caps_u = pages_u.collect().with_row_index("_pi"), caps_u.collect().with_row_index("_ci")

    base = fact.lazy().filter(
        pl.col("caption_id").is_not_null()
        & ~pl.col("is_media_only").fill_null(False)
        & _in_window(as_of_date, 365)
        & (pl.col("sending_ts_utc") <= as_of_ts)
    )
    # ---------------------------------------------------------------- performance + statistical (eligible rows)
    ev = base.filter(pl.col("is_model_eligible").fill_null(False) & _in_window(as_of_date, 90)).with_columns(
        safe_div(pl.col("earnings_gross_usd").cast(pl.Float64), pl.col("sent")).alias("_rps"),
        (pl.col("price_cents") > 0).alias("_ppv"),
    )
    w7, w30, w90 = (_in_window(as_of_date, d) for d in (7, 30, 90))
    recent, prev = _in_window(as_of_date, 15), _in_window(as_of_date, 15, end_offset=15)
    gross, net = pl.col("earnings_gross_usd"), pl.col("earnings_net_usd")

    def money(expr: pl.Expr) -> pl.Expr:
        return expr.sum().cast(MONEY)

    perf = ev.group_by(KEY_PC).agg(
        *[w.sum().cast(pl.Int64).alias(f"send_events_{d}d")
          for w, d in ((w7, 7), (w30, 30), (w90, 90))],
        *[pl.col("sent").filter(w).sum().cast(pl.Int64).alias(f"recipients_{d}d")
          for w, d in ((w7, 7), (w30, 30), (w90, 90))],
        *[pl.col("purchased").filter(w & pl.col("_ppv")).sum().cast(pl.Int64).alias(f"purchases_{d}d")
          for w, d in ((w30, 30), (w90, 90))],
        *[pl.col("sent").filter(w & pl.col("_ppv")).sum().cast(pl.Int64).alias(f"_ppv_sent_{d}d")
          for w, d in ((w30, 30), (w90, 90))],
        *[pl.col("viewed").filter(w).sum().cast(pl.Int64).alias(f"_views_{d}d") for w, d in ((w30, 30), (w90, 90))],
        money(gross.filter(w7)).alias("_rev_7d"),
        money(gross.filter(w30)).alias("revenue_gross_30d"),
        money(gross.filter(w90)).alias("revenue_gross_90d"),
        money(net.filter(w30)).alias("revenue_net_30d"),
        money(gross.filter(recent)).alias("_rev_recent"),
        pl.col("sent").filter(recent).sum().alias("_sent_recent"),
        money(gross.filter(prev)).alias("_rev_prev"),
        pl.col("sent").filter(prev).sum().alias("_sent_prev"),
        pl.col("_rps").filter(w30).drop_nulls().count().alias("_n_rps30"),
        _q(pl.col("_rps").filter(w30), 0.25).alias("_q25_30"),
        _q(pl.col("_rps").filter(w30), 0.75).alias("_q75_30"),
        _q("_rps", 0.50).alias("rps_event_median_90d"),
        _q("_rps", 0.25).alias("rps_event_p25_90d"),
        _q("_rps", 0.75).alias("rps_event_p75_90d"),
        # sample sd from ordered sums (bit-reproducible): (Σx² − (Σx)²/n) / (n − 1), clipped at 0
        pl.col("_rps").drop_nulls().count().alias("_n_rps90"),
        dsum(pl.col("_rps")).alias("_s1"),
        dsum(pl.col("_rps") ** 2).alias("_s2"),
    )  # fmt: skip
    f = lambda c: pl.col(c).cast(pl.Float64)  # noqa: E731
    perf = perf.with_columns(
        *[safe_div(f(r), pl.col(f"recipients_{d}d")).alias(f"rps_{d}d")
          for r, d in (("_rev_7d", 7), ("revenue_gross_30d", 30), ("revenue_gross_90d", 90))],
        *[safe_div(pl.col(f"purchases_{d}d"), pl.col(f"_ppv_sent_{d}d")).alias(f"buy_rate_{d}d") for d in (30, 90)],
        *[safe_div(pl.col(f"_views_{d}d"), pl.col(f"recipients_{d}d")).alias(f"open_rate_{d}d") for d in (30, 90)],
        safe_div(f("_rev_recent"), pl.col("_sent_recent")).alias("_r_recent"),
        safe_div(f("_rev_prev"), pl.col("_sent_prev")).alias("_r_prev"),
        (pl.col("rps_event_p75_90d") - pl.col("rps_event_p25_90d")).alias("rps_event_iqr_90d"),
    ).with_columns(
        safe_div(pl.col("_r_recent") - pl.col("_r_prev"), pl.col("_r_prev")).alias("trend_slope"),
        pl.when((pl.col("_n_rps30") >= 3) & (pl.col("rps_30d") > 0))
        .then(1.0 - pl.min_horizontal(pl.lit(1.0), (pl.col("_q75_30") - pl.col("_q25_30")) / (2.0 * pl.col("rps_30d"))))
        .otherwise(None)
        .alias("stability_score"),
    ).with_columns(
        pl.when(pl.col("_n_rps90") >= 2)
        .then(((pl.col("_s2") - pl.col("_s1") ** 2 / pl.col("_n_rps90")) / (pl.col("_n_rps90") - 1)).clip(0.0).sqrt())
        .otherwise(None)
        .alias("rps_event_stddev_90d"),
    ).with_columns(
        safe_div(pl.col("rps_event_stddev_90d"), pl.col("rps_event_median_90d")).alias("rps_event_cv_90d"),
    ).select(pl.exclude("^_.*$"))  # intermediates stay at the (page, caption) grain  # fmt: skip

    # ------------------------------------------------------------------ temporal profile (decayed, 90 d window)
    dec = ev.filter(_in_window(as_of_date, window_days)).with_columns(_weight(as_of_ts, half_life_days).alias("_w"))
    dec = dec.with_columns(
        (pl.col("_w") * pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0.0)).alias("_wr"),
        (pl.col("_w") * pl.col("sent").cast(pl.Float64)).alias("_ws"),
    )

    def best(frame: pl.LazyFrame, keys: list[str], col: str, out: str, rps_out: str | None) -> pl.LazyFrame:
        cell = (
            frame.group_by([*keys, col])
            .agg(safe_div(dsum(pl.col("_wr")), dsum(pl.col("_ws"))).alias("_cell"))
            .filter(pl.col("_cell").is_not_null())
            .sort([*keys, "_cell", col], descending=[*([False] * len(keys)), True, False])
            .unique(keys, keep="first", maintain_order=True)
        )
        sel = [*keys, pl.col(col).cast(pl.Int8).alias(out)]
        if rps_out:
            sel.append(pl.col("_cell").alias(rps_out))
        return cell.select(sel)

    cap_hod = best(dec, KEY_PC, "hod_local", "best_hod_local", "best_hod_rps")
    cap_dow = best(dec, KEY_PC, "dow_local", "best_dow_local", None)
    # page level: every eligible event incl. media-only (page-level statistics)
    page_ev = fact.lazy().filter(
        pl.col("is_model_eligible").fill_null(False)
        & (pl.col("sending_ts_utc") <= as_of_ts)
        & _in_window(as_of_date, 56)
    )
    page_dec = (
        fact.lazy()
        .filter(
            pl.col("is_model_eligible").fill_null(False)
            & (pl.col("sending_ts_utc") <= as_of_ts)
            & _in_window(as_of_date, window_days)
        )
        .with_columns(_weight(as_of_ts, half_life_days).alias("_w"))
        .with_columns(
            (pl.col("_w") * pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0.0)).alias("_wr"),
            (pl.col("_w") * pl.col("sent").cast(pl.Float64)).alias("_ws"),
        )
    )
    page_hod = best(page_dec, ["username_page"], "hod_local", "_page_best_hod", None)
    page_dow = best(page_dec, ["username_page"], "dow_local", "_page_best_dow", None)

    # -------------------------------------------------------------------------------- use features (every send)
    use_pc = base.group_by(KEY_PC).agg(
        pl.col("sending_ts_utc").max().alias("last_used_ts_page"),
        *[pl.col("send_date_local").filter(_in_window(as_of_date, d)).n_unique().cast(pl.Int64).alias(
            f"active_days_{d}d") for d in (7, 30, 90)],
        (pl.col("send_date_local") == as_of_date).sum().cast(pl.Int64).alias("uses_today"),
        _in_window(as_of_date, 7).any().alias("_used_here_7d"),
    )  # fmt: skip
    # the bank's last use on the page, for pairs without a report send in the window (applied after the merge below)
    bank_cols = {"username_page": pl.String, "caption_id": pl.String, "bank_last_used_ts_utc": UTC_US}
    bank_pc = (
        (bank_last_use if bank_last_use is not None else pl.DataFrame(schema=bank_cols))
        .lazy()
        .select([pl.col(c).cast(t) for c, t in bank_cols.items()])
        .filter(
            (pl.col("bank_last_used_ts_utc") <= as_of_ts)
            & (pl.col("bank_last_used_ts_utc") > pl.lit(as_of_ts - dt.timedelta(days=365)).cast(UTC_US))
        )
        .group_by(KEY_PC)
        .agg(pl.col("bank_last_used_ts_utc").max().alias("_bank_last_used"))
    )
    use_c = base.group_by("caption_id").agg(
        pl.col("sending_ts_utc").max().alias("last_used_ts_any"),
        pl.len().cast(pl.Int64).alias("send_events_all_pages_365d"),
        _in_window(as_of_date, 7).sum().cast(pl.Int64).alias("uses_7d_all_pages"),
        pl.col("username_page").filter(_in_window(as_of_date, 7)).n_unique().cast(pl.Int64).alias("_pages_7d"),
    )
    fam_map = (
        caps_u.lazy().select("caption_id", "family_key")
        if "family_key" not in dim_caption.columns
        else dim_caption.lazy()
        .filter(pl.col("is_current").fill_null(False) if "is_current" in dim_caption.columns else pl.lit(True))
        .select("caption_id", "family_key")
        .unique("caption_id", keep="first")
    )
    fam = (
        base.filter(_in_window(as_of_date, 28))
        .join(fam_map, on="caption_id", how="inner")
        .filter(pl.col("family_key").is_not_null())
        .group_by("username_page", "family_key")
        .agg(pl.len().cast(pl.Int64).alias("family_recent_uses_28d"))
    )

    # ------------------------------------------------------------------------------------------ page context
    rev = pl.col("earnings_gross_usd")
    last28, prev28 = _in_window(as_of_date, 28), _in_window(as_of_date, 28, end_offset=28)
    ctx = page_ev.group_by("username_page").agg(
        rev.filter(last28).sum().cast(MONEY).alias("_rev28"),
        pl.col("sent").filter(last28).sum().alias("_sent28"),
        rev.filter(prev28).sum().cast(MONEY).alias("_revp"),
        pl.col("sent").filter(prev28).sum().alias("_sentp"),
        rev.filter(last28 & pl.col("hod_local").is_in(NIGHT_HOURS)).sum().cast(MONEY).alias("_rev_night"),
    )
    r28 = safe_div(pl.col("_rev28").cast(pl.Float64), pl.col("_sent28"))
    rp = safe_div(pl.col("_revp").cast(pl.Float64), pl.col("_sentp"))
    ctx = ctx.with_columns(
        safe_div(r28 - rp, rp).alias("rps_slump_pct"),
        safe_div(pl.col("_rev_night").cast(pl.Float64), pl.col("_rev28").cast(pl.Float64)).alias("night_owl_share"),
    ).select("username_page", "rps_slump_pct", "night_owl_share")

    def page_input(frame: pl.DataFrame | None, cols: dict[str, pl.DataType]) -> pl.LazyFrame:
        if frame is None or frame.height == 0:
            return pl.LazyFrame(schema={"username_page": pl.String, **cols})
        fr = frame.lazy()
        if "computed_date" in frame.columns:
            fr = fr.filter(pl.col("computed_date") <= as_of_date).sort("computed_date", descending=True)
        return fr.select("username_page", *[pl.col(c).cast(t) for c, t in cols.items()]).unique(
            "username_page", keep="first", maintain_order=True
        )

    health = page_input(page_health_7d, {"avg_spend_per_txn_7d": pl.Float64, "renew_on_rate": pl.Float64})
    tier = page_input(page_tier_assignment, {"tier": pl.String})
    state = page_input(page_state_daily, {"page_state": pl.String})
    vol = page_input(page_volume_profile, {"page_fatigue_risk": pl.Float64})

    # ----------------------------------------------------------------------------------------------- priors
    # own rows: the (page, caption) rows of `priors` (every row of a full `caption_priors` frame when caption_lift
    # is None); the other candidates take the caption's lift (caption_lift) or 1 and no own history; the prior
    # chain itself (p, rates, smoothing weight, q̄) is `priors.prior_chain_exprs`, evaluated per candidate.
    own = priors.lazy().filter(pl.col("caption_id").is_not_null()).select(
        *KEY_PC, "x_cp", "n_cp", "x_open_cp", "n_open_cp", "r_cp", pl.col("lift_buy").alias("_own_lift_buy"),
        pl.col("lift_open").alias("_own_lift_open"), pl.col("q_bar").alias("_qbar"),
    )  # fmt: skip
    if caption_lift is not None:
        lift_c = caption_lift.lazy().select(
            "caption_id", pl.col("lift_buy").alias("_c_lift_buy"), pl.col("lift_open").alias("_c_lift_open")
        )
    else:
        lift_c = pl.LazyFrame(schema={"caption_id": pl.String, "_c_lift_buy": pl.Float64, "_c_lift_open": pl.Float64})
    pp = page_priors.lazy().select("username_page", "mu_P", "mu_open_P", "nu", "beta_P", "ref_price")

    # Assembly without hash joins of the millions of candidate rows: per-page and per-caption inputs are joined to
    # the (sorted) pages and captions before their cross join; the (page, caption) and (page, family) inputs are
    # gathered by dense integer keys (page index × caption / family index). The result stays in universe order.
    per_pair = (
        use_pc.join(perf, on=KEY_PC, how="left")
        .join(cap_hod, on=KEY_PC, how="left")
        .join(cap_dow, on=KEY_PC, how="left")
        .join(own, on=KEY_PC, how="full", coalesce=True)
        .join(bank_pc, on=KEY_PC, how="full", coalesce=True)
        # a pair with a report send keeps the report's last use; the bank's only where there is none
        .with_columns(pl.coalesce("last_used_ts_page", "_bank_last_used").alias("last_used_ts_page"))
        .drop("_bank_last_used")
    )
    per_page = (
        pages_u.lazy()
        .join(page_hod, on="username_page", how="left", maintain_order="left")
        .join(page_dow, on="username_page", how="left", maintain_order="left")
        .join(ctx, on="username_page", how="left", maintain_order="left")
        .join(health, on="username_page", how="left", maintain_order="left")
        .join(tier, on="username_page", how="left", maintain_order="left")
        .join(state, on="username_page", how="left", maintain_order="left")
        .join(vol, on="username_page", how="left", maintain_order="left")
        .join(pp, on="username_page", how="left", maintain_order="left")
    )
    families = (
        caps_u.lazy().select("family_key").drop_nulls().unique().sort("family_key").with_row_index("_fi").collect()
    )
    per_caption = (
        caps_u.lazy()
        .join(families.lazy(), on="family_key", how="left", maintain_order="left")
        .join(use_c.join(lift_c, on="caption_id", how="full", coalesce=True), on="caption_id", how="left",
              maintain_order="left")
    )  # fmt: skip
    n_pages, n_caps, n_fams = pages_u.height, caps_u.height, families.height
    pi, ci, fi = (pl.col(c).cast(pl.Int64) for c in ("_pi", "_ci", "_fi"))
    uni = (
        per_page.join(per_caption, how="cross", maintain_order="left_right")
        .filter(keep)
        .with_columns((pi * n_caps + ci).alias("_k"), (pi * n_fams + fi).alias("_kf"))
        .collect()
    )
    pair = (
        per_pair.join(pages_u.lazy().select("username_page", "_pi"), on="username_page", how="inner")
        .join(caps_u.lazy().select("caption_id", "_ci"), on="caption_id", how="inner")
        .with_columns((pi * n_caps + ci).alias("_k"))
        .drop(*KEY_PC, "_pi", "_ci")
        .collect()
    )
    fam_k = (
        fam.join(pages_u.lazy().select("username_page", "_pi"), on="username_page", how="inner")
        .join(families.lazy(), on="family_key", how="inner")
        .select((pi * n_fams + fi).alias("_kf"), "family_recent_uses_28d")
        .collect()
    )
    rows = _dense_rows(uni["_k"], pair["_k"], n_pages * n_caps)
    fam_rows = _dense_rows(uni["_kf"], fam_k["_kf"], n_pages * n_fams)
    df = pl.concat(
        [
            uni,
            pair.drop("_k").select(pl.all().gather(rows)),
            fam_k.select(pl.col("family_recent_uses_28d").gather(fam_rows)),
        ],
        how="horizontal",
    ).lazy()
    df = df.with_columns(
        *[pl.col(c).fill_null(0.0) for c in ("x_cp", "n_cp", "x_open_cp", "n_open_cp", "r_cp")],
        pl.coalesce("_own_lift_buy", "_c_lift_buy", pl.lit(1.0)).alias("lift_buy"),
        pl.coalesce("_own_lift_open", "_c_lift_open", pl.lit(1.0)).alias("lift_open"),
    ).with_columns(*prior_chain_exprs())
    # a page missing from page_priors: μ_P, then 0
    df = df.with_columns(
        pl.coalesce("p_buy", "mu_P", pl.lit(0.0)).alias("p_buy_smoothed"),
        pl.coalesce("p_open", "mu_open_P", pl.lit(0.0)).alias("p_open_smoothed"),
        pl.col("nu").fill_null(0.0),
        pl.col("smoothing_weight").fill_null(0.0),
        pl.coalesce("ref_price", pl.lit(10.0)).alias("_ref"),
        pl.col("beta_P").fill_null(1.0),
    ).with_columns(pl.coalesce("q_bar", "_ref").alias("q_bar"))
    if price_adjustment == "none":
        p_ref = pl.col("p_buy_smoothed")
    else:
        p_ref = price_adjusted(pl.col("p_buy_smoothed"), pl.col("_ref"), pl.col("q_bar"), pl.col("beta_P"))
    df = df.with_columns(p_ref.clip(0.0, 1.0).alias("_p_ref"))
    n_nu = pl.col("n_cp") + pl.col("nu")
    q, p = pl.col("_ref"), pl.col("_p_ref")
    var = p * (1.0 - p)
    uncapped = q * ucb_c * (var / n_nu).sqrt()
    cap = ucb_cap_mult * q * p
    pb = pl.col("p_buy_smoothed")
    df = df.with_columns(
        (q * p).alias("rps_smoothed_ref"),
        pl.when(q <= 0).then(0.0).when(n_nu > 0).then(pl.min_horizontal(uncapped, cap)).otherwise(cap)
        .alias("ucb_bonus_ref"),
        pl.when(n_nu > 0).then((pb * (1.0 - pb) / n_nu).sqrt()).otherwise((pb * (1.0 - pb)).sqrt())
        .alias("posterior_sd"),
    )  # fmt: skip

    # ------------------------------------------------------------------------------------------------ fills
    zero_int = [f"send_events_{d}d" for d in (7, 30, 90)] + [f"recipients_{d}d" for d in (7, 30, 90)] + [
        "purchases_30d", "purchases_90d", "send_events_all_pages_365d", "active_days_7d", "active_days_30d",
        "active_days_90d", "uses_today", "uses_7d_all_pages", "family_recent_uses_28d"]  # fmt: skip
    zero_money = ["revenue_gross_30d", "revenue_gross_90d", "revenue_net_30d"]
    zero_float = ["trend_slope", "rps_event_median_90d", "rps_event_p25_90d", "rps_event_p75_90d",
                  "rps_event_stddev_90d", "rps_event_iqr_90d", "rps_slump_pct", "night_owl_share"]  # fmt: skip
    hsu_page = _hours_between(now, pl.col("last_used_ts_page"))
    hsu_any = _hours_between(now, pl.col("last_used_ts_any"))
    df = df.with_columns(
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in zero_int],
        *[pl.col(c).fill_null(0).cast(MONEY) for c in zero_money],
        *[pl.col(c).fill_null(0.0) for c in zero_float],
        pl.col("stability_score").fill_null(0.5),
        pl.coalesce("best_hod_local", "_page_best_hod").alias("best_hod_local"),
        pl.coalesce("best_hod_rps", "rps_decayed").alias("best_hod_rps"),
        pl.coalesce("best_dow_local", "_page_best_dow").alias("best_dow_local"),
        hsu_page.alias("hours_since_use_page"),
        hsu_any.alias("hours_since_use_any"),
        pl.col("tier").fill_null("LOW").alias("page_tier"),
        pl.col("page_state").fill_null("balance"),
        pl.col("page_fatigue_risk").fill_null(50.0),
        (pl.col("_pages_7d").fill_null(0) - pl.col("_used_here_7d").fill_null(False).cast(pl.Int64))
        .clip(lower_bound=0)
        .cast(pl.Int64)
        .alias("cross_page_usage_7d"),
    )
    ev365 = pl.col("send_events_all_pages_365d")
    cooldown = pl.max_horizontal(
        pl.lit(float(cooldown_min_hours)),
        pl.min_horizontal(
            cooldown_base_hours * pl.lit(float(cooldown_backoff_factor)) ** pl.col("uses_7d_all_pages").cast(
                pl.Float64), pl.lit(24.0 * max_cooldown_days)),
    )  # fmt: skip
    df = df.with_columns(
        (pl.col("smoothing_weight") * pl.col("stability_score")).alias("confidence_score"),
        pl.when(ev365 < 10).then(1.0).when(ev365 < 50).then(0.5).when(ev365 < 100).then(0.2).otherwise(0.0)
        .alias("novelty_level"),
        _sigmoid(0.1 * (30.0 - pl.min_horizontal(pl.lit(30.0), pl.col("hours_since_use_page") / 24.0)))
        .fill_null(0.5).alias("exploration_temperature"),
        (ev365 < min_samples_for_exploitation).alias("is_cold_start"),
        cooldown.alias("cooldown_hours"),
        (pl.col("last_used_ts_page") + pl.duration(days=min_reuse_days)).alias("reuse_block_until"),
        _sigmoid(0.5 * (pl.col("active_days_30d").cast(pl.Float64) - 15.0)).alias("fatigue_score"),
        pl.when(pl.col("avg_spend_per_txn_7d") > 50).then(pl.lit("premium"))
        .when(pl.col("avg_spend_per_txn_7d") > 20).then(pl.lit("standard")).otherwise(pl.lit("budget"))
        .alias("price_stance_bucket"),
        ((-0.5 * pl.col("rps_slump_pct")).clip(0.0, 1.0) + 0.0).alias("slump_risk_score"),
        (pl.col("night_owl_share") > 0.35).alias("is_night_owl"),
    ).with_columns(
        (pl.col("last_used_ts_any")
         + pl.duration(microseconds=(pl.col("cooldown_hours") * 3_600_000_000.0).round(0).cast(pl.Int64)))
        .alias("cooldown_until_ts"),
    )  # fmt: skip
    now_lit = pl.lit(now).cast(UTC_US)
    reasons = {
        "reused_within_min_reuse_days": (now_lit < pl.col("reuse_block_until")).fill_null(False),
        "cooldown_active": (now_lit < pl.col("cooldown_until_ts")).fill_null(False),
        "fatigued": (pl.col("fatigue_score") > fatigue_limit).fill_null(False),
    }
    # the reason list from a bit mask and a lookup of its 2^k lists (a per-row list concat is ~40x slower)
    codes = list(reasons)
    mask = pl.sum_horizontal(*[cond.cast(pl.UInt8) * (1 << i) for i, cond in enumerate(reasons.values())])
    masks = list(range(1 << len(codes)))
    lists = [[c for i, c in enumerate(codes) if m >> i & 1] for m in masks]
    ratio = safe_div(pl.col("rps_smoothed_ref"), pl.col("_ref") * pl.col("mu_P")).fill_null(1.0)
    df = df.with_columns(
        mask.cast(pl.Int64).replace_strict(masks, lists, return_dtype=pl.List(pl.String)).alias("ineligible_reasons"),
        (0.4 * ratio + 0.3 * pl.col("stability_score") + 0.2 * (1.0 - pl.col("fatigue_score"))
         + 0.1 * pl.col("confidence_score")).alias("base_score"),
    ).with_columns(
        (pl.col("ineligible_reasons").list.len() == 0).alias("is_eligible"),
        (pl.col("base_score")
         * (1.0 + 0.3 * safe_div(pl.col("ucb_bonus_ref"), pl.col("rps_smoothed_ref")).fill_null(0.0)))
        .alias("exploration_score"),
        _percent_rank("rps_smoothed_ref", ["username_page"]).alias("rps_percentile"),
        _percent_rank("rps_smoothed_ref", ["username_page", "primary_category"]).alias("category_percentile"),
    )  # fmt: skip

    watermark = fact.lazy().select(pl.col("ingested_at").max()).collect().item()
    df = df.with_columns(
        pl.lit(as_of_date).alias("computed_date"),
        now_lit.alias("computed_at"),
        pl.lit(config_name, pl.String).alias("config_name"),
        pl.lit(config_version, pl.String).alias("config_version"),
        pl.lit(watermark, UTC_US).alias("data_watermark"),
    )
    return df.select(FEATURE_COLUMNS).collect()  # universe order: sorted by (page, caption)
