"""The export tables of `layer_07_export` and `ops_monitor.top_captions` (50-operations §3.3, §7.1-§7.3). Pure polars.

* `schedule_recommendations` (§7.1): rank ≤ 5 of `caption_rank_next24` for the page-local today and tomorrow, in
  the column order of the contract; the rows of past hours of the page's current day survive from the previous export.
* `caption_lookup` (§7.2): one row per current caption, caption-level smoothed RPS across pages and its tier.
* `api_captions`, `api_system_health`, `api_top_captions` (§7.3): the tables the Apps Script calls answer from
  (`apps_script.py` is the executable statement of those calls).
* `top_captions` (§3.3): the top 100 (page, caption) rows of today's feature store by `base_score`.

Every function takes plain frames and ``now`` (UTC); nothing reads a clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

from of_scheduler_assets.identity import hash_uniform

UTC_US = pl.Datetime("us", "UTC")
STRATEGIES = ("explore", "balanced", "exploit")
TOP_CAPTIONS_LIMIT = 100
RECOMMENDATION_MAX_RANK = 5
PREVIEW_CHARS = 200

SCHEDULE_RECOMMENDATIONS_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "creator_username": pl.String(),
    "creator_page_type": pl.String(),
    "schedule_date": pl.Date(),
    "schedule_hour": pl.Int8(),
    "caption_id": pl.String(),
    "caption_preview": pl.String(),
    "caption_category": pl.String(),
    "recommendation_rank": pl.Int8(),
    "ml_score": pl.Float64(),
    "predicted_rps": pl.Float64(),
    "confidence_score": pl.Float64(),
    "days_since_last_send": pl.Float64(),
    "recommendation_tier": pl.String(),
    "is_exploration_pick": pl.Boolean(),
    "model_version": pl.String(),
    "generated_at": UTC_US,
    "config_name": pl.String(),
    "config_version": pl.String(),
    "slot_type": pl.String(),
    "price_usd": pl.Float64(),
    "schedule_date_local": pl.Date(),
    "schedule_hour_local": pl.Int8(),
    "tz": pl.String(),
    "predicted_revenue_per_1k": pl.Float64(),
}

CAPTION_LOOKUP_SCHEMA: dict[str, pl.DataType] = {
    "caption_id": pl.String(),
    "lookup_keys": pl.List(pl.String()),
    "caption_hash": pl.String(),
    "caption_text": pl.String(),
    "caption_category": pl.String(),
    "caption_length": pl.Int64(),
    "username_page": pl.String(),
    "creator_username": pl.String(),
    "creator_page_type": pl.String(),
    "performance_tier": pl.String(),
    "is_available": pl.Boolean(),
    "available_pages": pl.List(pl.String()),
    "last_used_timestamp": UTC_US,
    "days_since_use": pl.Int64(),
    "expected_rps": pl.Float64(),
    "confidence_score": pl.Float64(),
    "is_active": pl.Boolean(),
    "tos_status": pl.String(),
}

API_CAPTIONS_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "username_page_legacy": pl.String(),
    "schedule_date": pl.Date(),
    "caption_id": pl.String(),
    "caption_text": pl.String(),
    "final_score": pl.Float64(),
    "expected_rps": pl.Float64(),
    "confidence_score": pl.Float64(),
    "is_eligible": pl.Boolean(),
    "hours_since_use": pl.Float64(),
    "total_sends": pl.Int64(),
    "performance_tier": pl.String(),
    "exploration_bonus": pl.Float64(),
    "caption_category": pl.String(),
    "strategy_score_explore": pl.Float64(),
    "strategy_score_balanced": pl.Float64(),
    "strategy_score_exploit": pl.Float64(),
}

API_SYSTEM_HEALTH_SCHEMA: dict[str, pl.DataType] = {
    "health_score": pl.Int64(),
    "alert_status": pl.String(),
    "data_age_hours": pl.Float64(),
    "eligibility_rate": pl.Float64(),
    "daily_sends": pl.Int64(),
    "evaluated_at": UTC_US,
}

TOP_CAPTIONS_SCHEMA: dict[str, pl.DataType] = {
    "caption_id": pl.String(),
    "username_page": pl.String(),
    "rps": pl.Float64(),
    "confidence": pl.Float64(),
    "recent_sends": pl.Int64(),
    "rank": pl.Int64(),
    "status": pl.String(),
}


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def page_local_dates(pages: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """(username_page, tz, today_local): the page-local date at ``now`` ("today" for a page is its local date)."""
    now = _utc(now)
    rows = [
        {"username_page": r["username_page"], "tz": r["tz"], "today_local": now.astimezone(ZoneInfo(r["tz"])).date()}
        for r in pages.select("username_page", "tz").unique("username_page", keep="first").iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema={"username_page": pl.String(), "tz": pl.String(), "today_local": pl.Date()})


def current_caption_text(captions: pl.DataFrame) -> pl.DataFrame:
    """(caption_id, caption_text) of the current `dim_caption` versions."""
    frame = captions.filter(pl.col("is_current")) if "is_current" in captions.columns else captions
    return frame.select("caption_id", "caption_text").unique("caption_id", keep="first")


# ------------------------------------------------------------------------------------------------- §7.1


def schedule_recommendations(
    rank: pl.DataFrame, pages: pl.DataFrame, captions: pl.DataFrame, now: dt.datetime,
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """§7.1 rows (columns `SCHEDULE_RECOMMENDATIONS_SCHEMA`, in order), sorted by page, slot, slot type, rank.

    rank: `caption_rank_next24`; pages: `dim_page` (username_page, tz); captions: `dim_caption` (caption_id,
    caption_text, is_current); previous: the last export (its rows of hours before ``now`` on the page's local today
    are kept, unless this run ranked the same slot)."""
    now = _utc(now)
    local = page_local_dates(pages, now)
    texts = current_caption_text(captions)
    fresh = (
        rank.filter(pl.col("rank") <= RECOMMENDATION_MAX_RANK)
        .join(local, on="username_page", how="inner")
        .filter(pl.col("slot_date_local").is_between(pl.col("today_local"), pl.col("today_local") + pl.duration(days=1)))
        .join(texts, on="caption_id", how="left")
        .select(
            "username_page",
            pl.col("username_std").alias("creator_username"),
            pl.col("page_type").alias("creator_page_type"),
            pl.col("slot_ts_utc").dt.date().alias("schedule_date"),
            pl.col("slot_ts_utc").dt.hour().cast(pl.Int8).alias("schedule_hour"),
            "caption_id",
            pl.col("caption_text").str.slice(0, PREVIEW_CHARS).alias("caption_preview"),
            pl.col("category").alias("caption_category"),
            pl.col("rank").cast(pl.Int8).alias("recommendation_rank"),
            pl.col("score_normalized").round(3).alias("ml_score"),
            pl.col("expected_rps").round(6).alias("predicted_rps"),
            pl.col("confidence").round(2).alias("confidence_score"),
            pl.col("days_since_use_page").round(1).alias("days_since_last_send"),
            "recommendation_tier",
            pl.col("is_exploration").alias("is_exploration_pick"),
            "model_version",
            "generated_at",
            "config_name",
            "config_version",
            "slot_type",
            "price_usd",
            pl.col("slot_date_local").alias("schedule_date_local"),
            pl.col("hod_local").cast(pl.Int8).alias("schedule_hour_local"),
            "tz",
            (pl.col("expected_rps") * 1000.0).round(2).alias("predicted_revenue_per_1k"),
        )
        .cast(SCHEDULE_RECOMMENDATIONS_SCHEMA)  # type: ignore[arg-type]
    )
    parts = [fresh]
    if previous is not None and previous.height and set(SCHEDULE_RECOMMENDATIONS_SCHEMA) <= set(previous.columns):
        slot_ts = (pl.col("schedule_date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                   + pl.duration(hours=pl.col("schedule_hour").cast(pl.Int64)))
        key = ["username_page", "schedule_date", "schedule_hour", "slot_type", "recommendation_rank"]
        kept = (
            previous.select(list(SCHEDULE_RECOMMENDATIONS_SCHEMA)).cast(SCHEDULE_RECOMMENDATIONS_SCHEMA)  # type: ignore[arg-type]
            .join(local.select("username_page", "today_local"), on="username_page", how="inner")
            .filter((pl.col("schedule_date_local") == pl.col("today_local")) & (slot_ts < pl.lit(now, UTC_US)))
            .drop("today_local")
            .join(fresh.select(key), on=key, how="anti")
        )
        parts.append(kept)
    return pl.concat(parts).sort(
        "username_page", "schedule_date", "schedule_hour", "slot_type", "recommendation_rank", nulls_last=True)


# ------------------------------------------------------------------------------------------------- §7.2


def caption_level_rps(caption_priors: pl.DataFrame | None) -> tuple[pl.DataFrame, float, float]:
    """Caption-level smoothed RPS across pages from the decayed per-page sums of `caption_priors` (90 d, half-life
    of the ranker config): R = Σ r_cp, N = Σ n_open_cp over pages; g = ΣR / ΣN over every caption (the global prior);
    ν = the median caption prior strength `nu` over pages; expected_rps = (R + ν g) / (N + ν), confidence = N / (N + ν).
    Returns (caption_id, expected_rps, confidence_score) for captions with a prior row, g and ν."""
    empty = pl.DataFrame(schema={"caption_id": pl.String(), "expected_rps": pl.Float64(),
                                 "confidence_score": pl.Float64()})
    if caption_priors is None or caption_priors.is_empty():
        return empty, 0.0, 1.0
    rows = caption_priors.filter(pl.col("caption_id").is_not_null())
    if rows.is_empty():
        return empty, 0.0, 1.0
    sums = rows.group_by("caption_id").agg(R=pl.col("r_cp").fill_null(0.0).sum(),
                                            N=pl.col("n_open_cp").fill_null(0.0).sum())
    total_n = float(sums["N"].sum())
    g = float(sums["R"].sum()) / total_n if total_n > 0 else 0.0
    nus = caption_priors.select("username_page", "nu").unique("username_page")["nu"].drop_nulls()
    nu = float(nus.median()) if nus.len() and nus.median() and float(nus.median()) > 0 else 1.0
    out = sums.select(
        "caption_id",
        ((pl.col("R") + nu * g) / (pl.col("N") + nu)).alias("expected_rps"),
        (pl.col("N") / (pl.col("N") + nu)).alias("confidence_score"),
    )
    return out, g, nu


def performance_tier(events: pl.Expr, never_sent: pl.Expr, percentile: pl.Expr) -> pl.Expr:
    """§7.2: new (never sent), explore (< 10 events), else by percentile of expected_rps among captions with ≥ 10
    events: ≥ 0.9 top, ≥ 0.7 good, ≥ 0.3 average, else explore."""
    return (
        pl.when(never_sent).then(pl.lit("new"))
        .when(events < 10).then(pl.lit("explore"))
        .when(percentile >= 0.9).then(pl.lit("top"))
        .when(percentile >= 0.7).then(pl.lit("good"))
        .when(percentile >= 0.3).then(pl.lit("average"))
        .otherwise(pl.lit("explore"))
    )


def caption_lookup(
    captions: pl.DataFrame, features: pl.DataFrame | None, caption_priors: pl.DataFrame | None,
    pages: pl.DataFrame, now: dt.datetime,
) -> pl.DataFrame:
    """§7.2 rows (columns `CAPTION_LOOKUP_SCHEMA`), one per current caption of `dim_caption`, sorted by caption_id.

    features: the latest `feature_store` partition (username_page, caption_id, last_used_ts_page, last_used_ts_any,
    send_events_all_pages_365d, is_eligible); caption_priors: the latest `caption_priors` partition; pages: `dim_page`
    (username_page, username_std, page_type, is_active)."""
    now = _utc(now)
    current = captions.filter(pl.col("is_current")) if "is_current" in captions.columns else captions
    current = current.unique("caption_id", keep="first")
    active_pages = pages.filter(pl.col("is_active")).select("username_page")
    if features is not None and features.height:
        f = features.select("username_page", "caption_id", "last_used_ts_page", "last_used_ts_any",
                            "send_events_all_pages_365d", "is_eligible")
        usage = f.group_by("caption_id").agg(
            last_used_timestamp=pl.col("last_used_ts_any").max(),
            events=pl.col("send_events_all_pages_365d").max().cast(pl.Int64),
        )
        last_page = (
            f.filter(pl.col("last_used_ts_page").is_not_null())
            .sort(["caption_id", "last_used_ts_page", "username_page"], descending=[False, True, False])
            .unique("caption_id", keep="first")
            .select("caption_id", pl.col("username_page").alias("_last_page"))
        )
        available = (
            f.filter(pl.col("is_eligible")).join(active_pages, on="username_page", how="semi")
            .group_by("caption_id").agg(available_pages=pl.col("username_page").unique().sort())
        )
    else:
        usage = pl.DataFrame(schema={"caption_id": pl.String(), "last_used_timestamp": UTC_US, "events": pl.Int64()})
        last_page = pl.DataFrame(schema={"caption_id": pl.String(), "_last_page": pl.String()})
        available = pl.DataFrame(schema={"caption_id": pl.String(), "available_pages": pl.List(pl.String())})
    rps, g, _ = caption_level_rps(caption_priors)
    page_info = pages.select(pl.col("username_page").alias("_last_page"), pl.col("username_std").alias("creator_username"),
                             pl.col("page_type").alias("creator_page_type"))
    frame = (
        current.select("caption_id", "caption_hash", "caption_text", "primary_category", "char_len", "bank_ids",
                       "is_active", "tos_status")
        .join(usage, on="caption_id", how="left")
        .join(last_page, on="caption_id", how="left")
        .join(available, on="caption_id", how="left")
        .join(rps, on="caption_id", how="left")
        .join(page_info, on="_last_page", how="left")
        .with_columns(
            pl.col("events").fill_null(0),
            pl.col("available_pages").fill_null(pl.lit([], pl.List(pl.String()))),
            pl.col("expected_rps").fill_null(g),
            pl.col("confidence_score").fill_null(0.0),
        )
    )
    rated = (pl.col("events") >= 10) & pl.col("last_used_timestamp").is_not_null()
    frame = frame.with_columns(
        _pct=pl.when(rated).then(pl.col("expected_rps")).otherwise(None).rank("min")
    ).with_columns(
        _pct=pl.when(pl.col("_pct").is_null()).then(None)
        .when(rated.sum() <= 1).then(pl.lit(0.0))
        .otherwise((pl.col("_pct") - 1) / (rated.sum() - 1))
    )
    never = pl.col("last_used_timestamp").is_null() & (pl.col("events") == 0)
    out = frame.select(
        "caption_id",
        pl.concat_list(pl.col("caption_id"), pl.col("bank_ids").fill_null(pl.lit([], pl.List(pl.String()))))
        .list.unique(maintain_order=True).alias("lookup_keys"),
        "caption_hash",
        "caption_text",
        pl.col("primary_category").alias("caption_category"),
        pl.col("char_len").cast(pl.Int64).alias("caption_length"),
        pl.col("_last_page").alias("username_page"),
        "creator_username",
        "creator_page_type",
        performance_tier(pl.col("events"), never, pl.col("_pct")).alias("performance_tier"),
        (pl.col("is_active") & (pl.col("tos_status") == "clean") & (pl.col("available_pages").list.len() > 0))
        .alias("is_available"),
        "available_pages",
        "last_used_timestamp",
        ((pl.lit(now, UTC_US) - pl.col("last_used_timestamp")).dt.total_seconds() // 86400).cast(pl.Int64)
        .alias("days_since_use"),
        pl.col("expected_rps").round(6),
        pl.col("confidence_score").round(2),
        "is_active",
        "tos_status",
    )
    return out.cast(CAPTION_LOOKUP_SCHEMA).sort("caption_id")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- §7.3


def legacy_username_page(col: str = "username_page") -> pl.Expr:
    """`luna_example__paid` → `luna_example_paid` (the key the current script builds)."""
    return pl.col(col).str.replace(r"__(free|paid|vip)$", "_${1}")


def strategy_score(username_page: str, schedule_date: dt.date, caption_id: str, strategy: str, epsilon: float,
                   final_score: float | None) -> float | None:
    """§7.3: 100 × hash_uniform(k + "|x") when hash_uniform(k) < ε, else final_score; k = page|date|caption|s."""
    k = f"{username_page}|{schedule_date.isoformat()}|{caption_id}|{strategy}"
    if hash_uniform(k) < epsilon:
        return 100.0 * hash_uniform(k + "|x")
    return final_score


def api_captions(
    rank: pl.DataFrame, pages: pl.DataFrame, lookup: pl.DataFrame, features: pl.DataFrame | None,
    strategies: dict[str, float], now: dt.datetime,
) -> pl.DataFrame:
    """§7.3 `api_captions` (columns `API_CAPTIONS_SCHEMA`): one row per page, its local today and caption appearing in
    today's ranking; the best row per caption (non-fallback rows first, then `score_normalized`, then the earliest
    slot); `is_eligible` is false when only fallback rows exist. strategies: ε per strategy (ranker config)."""
    local = page_local_dates(pages, now)
    today = (
        rank.filter(pl.col("caption_id").is_not_null())
        .join(local.select("username_page", "today_local"), on="username_page", how="inner")
        .filter(pl.col("slot_date_local") == pl.col("today_local"))
        .sort(["username_page", "caption_id", "is_fallback", "score_normalized", "slot_ts_utc", "slot_type"],
              descending=[False, False, False, True, False, False], nulls_last=True)
        .unique(["username_page", "caption_id"], keep="first")
    )
    if features is not None and features.height:
        sends = features.select("username_page", "caption_id",
                                pl.col("send_events_all_pages_365d").cast(pl.Int64).alias("total_sends"))
        sends = sends.unique(["username_page", "caption_id"], keep="first")
    else:
        sends = pl.DataFrame(schema={"username_page": pl.String(), "caption_id": pl.String(), "total_sends": pl.Int64()})
    info = lookup.select("caption_id", "caption_text", "performance_tier")
    frame = (
        today.join(sends, on=["username_page", "caption_id"], how="left")
        .join(info, on="caption_id", how="left")
        .select(
            "username_page",
            legacy_username_page().alias("username_page_legacy"),
            pl.col("today_local").alias("schedule_date"),
            "caption_id",
            "caption_text",
            pl.col("score_normalized").alias("final_score"),
            "expected_rps",
            pl.col("confidence").alias("confidence_score"),
            (~pl.col("is_fallback")).alias("is_eligible"),
            pl.col("hours_since_use_any").alias("hours_since_use"),
            pl.col("total_sends").fill_null(0),
            pl.col("performance_tier").fill_null("new"),
            (pl.col("ucb_bonus").fill_null(0.0) + pl.col("novelty_bonus").fill_null(0.0)).alias("exploration_bonus"),
            pl.col("category").alias("caption_category"),
        )
        .sort("username_page", "caption_id")
    )
    scores: dict[str, list[float | None]] = {s: [] for s in STRATEGIES}
    for page, day, cid, final in frame.select("username_page", "schedule_date", "caption_id", "final_score").iter_rows():
        for s in STRATEGIES:
            scores[s].append(strategy_score(page, day, cid, s, float(strategies.get(s, 0.0)), final))
    frame = frame.with_columns(
        *[pl.Series(f"strategy_score_{s}", scores[s], dtype=pl.Float64()) for s in STRATEGIES])
    return frame.cast(API_CAPTIONS_SCHEMA)  # type: ignore[arg-type]


def api_system_health(system_health: pl.DataFrame | None) -> pl.DataFrame:
    """§7.3: the latest `ops_monitor.system_health` row, six columns (empty when there is none yet)."""
    if system_health is None or system_health.is_empty() or not set(API_SYSTEM_HEALTH_SCHEMA) <= set(system_health.columns):
        return pl.DataFrame(schema=API_SYSTEM_HEALTH_SCHEMA)
    latest = system_health.sort("evaluated_at", nulls_last=True).tail(1)
    return latest.select(list(API_SYSTEM_HEALTH_SCHEMA)).cast(API_SYSTEM_HEALTH_SCHEMA)  # type: ignore[arg-type]


def top_captions(features: pl.DataFrame | None, limit: int = TOP_CAPTIONS_LIMIT) -> pl.DataFrame:
    """§3.3: the top ``limit`` (page, caption) rows of today's store by `base_score` (ties: caption_id, page)."""
    if features is None or features.is_empty():
        return pl.DataFrame(schema=TOP_CAPTIONS_SCHEMA)
    top = features.filter(pl.col("caption_id").is_not_null()).sort(
        ["base_score", "caption_id", "username_page"], descending=[True, False, False], nulls_last=True).head(limit)
    return top.select(
        "caption_id",
        "username_page",
        pl.col("rps_smoothed_ref").alias("rps"),
        pl.col("confidence_score").alias("confidence"),
        pl.col("send_events_30d").cast(pl.Int64).alias("recent_sends"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"),
        pl.when(pl.col("is_eligible")).then(pl.lit("Eligible"))
        .when(pl.col("fatigue_score") > 0.8).then(pl.lit("Fatigued"))
        .otherwise(pl.lit("Cooling Down")).alias("status"),
    ).cast(TOP_CAPTIONS_SCHEMA)  # type: ignore[arg-type]


def api_top_captions(top: pl.DataFrame) -> pl.DataFrame:
    """§7.3: `top_captions` as the Apps Script reads it (same columns, by rank)."""
    return top.select(list(TOP_CAPTIONS_SCHEMA)).cast(TOP_CAPTIONS_SCHEMA).sort("rank")  # type: ignore[arg-type]


__all__ = [
    "API_CAPTIONS_SCHEMA", "API_SYSTEM_HEALTH_SCHEMA", "CAPTION_LOOKUP_SCHEMA", "SCHEDULE_RECOMMENDATIONS_SCHEMA",
    "STRATEGIES", "TOP_CAPTIONS_SCHEMA", "api_captions", "api_system_health", "api_top_captions", "caption_level_rps",
    "caption_lookup", "legacy_username_page", "page_local_dates", "schedule_recommendations", "strategy_score",
    "top_captions",
]  # fmt: skip
