"""Dagster wiring of `layer_06_rankings` (30-ml-and-ranking §7): the next-24-hour slot grid and the caption ranking,
with the config assignment and recommendation logs (`ops_audit`). Replaced every run (hourly); the logs append."""


import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import check_result, check_spec
from of_scheduler_assets.layer_06_rankings import allocation, ranker, slots
from of_scheduler_assets.ops_config.overrides import cooldown_overrides_in_effect
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_06_rankings"
CONFIG = "ops_config"
ML, SEMANTIC, FOUNDATION, AUDIT = "layer_05_ml", "layer_04_semantic", "layer_03_foundation", "ops_audit"
LOG_RETENTION_DAYS = 90
RANK = dg.AssetKey([GROUP, "caption_rank_next24"])


def key(group: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([group, name])


def latest_partition(warehouse: WarehouseReader, schema: str, table: str, now: dt.datetime) -> pl.DataFrame | None:
    """The newest computed date of a daily table at or before ``now`` (today's when built, else yesterday's)."""
    for back in (0, 1):
        day = now.date() - dt.timedelta(days=back)
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        frame = warehouse.read_table(schema, table, window=("computed_date", start, start + dt.timedelta(days=1)))
        if frame is not None and frame.height:
            return frame
    return None


def append_log(previous: pl.DataFrame | None, new: pl.DataFrame, ts_column: str, now: dt.datetime) -> pl.DataFrame:
    """An append-only log kept for ``LOG_RETENTION_DAYS``: the previous rows plus this run's (a re-run of the same
    run id replaces its own rows)."""
    if previous is None or previous.is_empty():
        return new
    cutoff = now - dt.timedelta(days=LOG_RETENTION_DAYS)
    kept = previous.filter(~pl.col("run_id").is_in(new["run_id"].unique().implode()))
    if ts_column in kept.columns and kept.schema[ts_column] != pl.Date:
        kept = kept.filter(pl.col(ts_column) >= cutoff)
    return pl.concat([kept, new], how="diagonal_relaxed")


RANK_CHECKS = {
    "one_primary_per_slot": "Exactly one rank-1 row per (page, slot, slot type).",
    "no_caption_primary_twice_per_page_day": "No caption is the primary twice on a page's local date.",
    "no_ineligible_outside_fallback": "Ineligible (or TOS-flagged) captions appear only in fallback rows; a caption "
                                      "blocked by a cooldown override in effect never.",
    "score_normalized_in_range": "score_normalized in [0, 100].",
}


def rank_checks(rank: pl.DataFrame, features: pl.DataFrame,
                cooldown_overrides: pl.DataFrame | None = None) -> dict[str, tuple[bool, dict]]:
    primaries = rank.filter(pl.col("rank") == 1)
    per_slot = rank.group_by("username_page", "slot_ts_utc", "slot_type").agg(
        primaries=(pl.col("rank") == 1).sum())
    slots_bad = per_slot.filter(pl.col("primaries") != 1).height
    twice = (primaries.filter(pl.col("caption_id").is_not_null())
             .group_by("username_page", "slot_date_local", "caption_id").len().filter(pl.col("len") > 1))
    # Outside the universe (TOS-flagged, inactive, media-only, too explicit, wrong page) never; blocked by the
    # 28-day page rule or the cooldown at the run's time only in fallback rows. Judged at `generated_at`, not at the
    # feature store's computation time, so a cooldown ending in between is no violation.
    ranked = rank.filter(pl.col("caption_id").is_not_null())
    outside = ranked.join(features.select("username_page", "caption_id"), on=["username_page", "caption_id"],
                          how="anti")
    blocks = features.select("username_page", "caption_id", "reuse_block_until", "cooldown_until_ts")
    blocked = (ranked.filter(~pl.col("is_fallback")).join(blocks, on=["username_page", "caption_id"], how="inner")
               .filter((pl.col("reuse_block_until") > pl.col("generated_at"))
                       | (pl.col("cooldown_until_ts") > pl.col("generated_at"))))
    # cooldown overrides in effect at the run's time: never, fallback included (the fallback never relaxes them)
    gen = rank["generated_at"].max() if rank.height else None
    in_effect = cooldown_overrides_in_effect(cooldown_overrides, gen) if gen is not None else None
    overridden = ranked.head(0)
    if in_effect is not None and in_effect.height:
        last = features.select("username_page", "caption_id", "last_used_ts_page")
        overridden = (ranked.join(in_effect, on=["username_page", "caption_id"], how="inner")
                      .join(last, on=["username_page", "caption_id"], how="inner")
                      .filter((pl.col("generated_at") - pl.col("last_used_ts_page")).dt.total_microseconds()
                              < pl.col("override_min_hours") * 3_600_000_000.0))
    leaked = pl.concat([outside.select("caption_id"), blocked.select("caption_id"), overridden.select("caption_id")])
    norm = rank["score_normalized"].drop_nulls()
    out_of_range = int(((norm < 0) | (norm > 100)).sum())
    return {
        "one_primary_per_slot": (slots_bad == 0, {"slots": per_slot.height, "bad_slots": slots_bad}),
        "no_caption_primary_twice_per_page_day": (twice.is_empty(), {"repeats": twice.height}),
        "no_ineligible_outside_fallback": (leaked.is_empty(), {"rows": leaked.height,
                                                               "sample": leaked["caption_id"].head(20).to_list()}),
        "score_normalized_in_range": (out_of_range == 0, {"out_of_range": out_of_range}),
    }


@dg.multi_asset(
    outs={
        "slot_grid_next24": dg.AssetOut(key=key(GROUP, "slot_grid_next24"), group_name=GROUP, description=(
            "Per active page: the 24 local hours from the next full hour inside the page's window, with slot type "
            "and temporal multiplier (30-ml §7.1).")),
        "caption_rank_next24": dg.AssetOut(key=RANK, group_name=GROUP, freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=2)), description=(
            "Top 10 captions per slot with rank, tier, score components, reason codes, exploration flag, config "
            "name and version, and the selection probability of the primary (30-ml §7.4).")),
        "config_assignment_log": dg.AssetOut(key=key(AUDIT, "config_assignment_log"), group_name=AUDIT,
                                             description="Append-only: each page's config per day (30-ml §6.3)."),
        "recommendation_log": dg.AssetOut(key=key(AUDIT, "recommendation_log"), group_name=AUDIT, description=(
            "Append-only: every emitted ranking row with its config and probability (30-ml §8), 90 days.")),
    },
    ins={"dim_page": dg.AssetIn(key=key(FOUNDATION, "dim_page")),
         "page_dow_hod_profile": dg.AssetIn(key=key(SEMANTIC, "page_dow_hod_profile")),
         "page_price_profile": dg.AssetIn(key=key(SEMANTIC, "page_price_profile")),
         "page_price_points": dg.AssetIn(key=key(SEMANTIC, "page_price_points"))},
    deps=[key(ML, "feature_store"), key(ML, "page_priors"), key(ML, "caption_priors"),
          key(FOUNDATION, "fact_message_send"), key(CONFIG, "cooldown_overrides")],
    check_specs=[check_spec(RANK, name, text, blocking=True) for name, text in RANK_CHECKS.items()],
)
def caption_ranking(context: dg.AssetExecutionContext, ranker_config: RankerConfigResource, clock: ClockResource,
                    warehouse: WarehouseReader, dim_page: pl.DataFrame, page_dow_hod_profile: pl.DataFrame,
                    page_price_profile: pl.DataFrame, page_price_points: pl.DataFrame):
    cfg = ranker_config.load()
    now = clock.now()
    features = latest_partition(warehouse, ML, "feature_store", now)
    if features is None:
        raise dg.Failure("no feature_store partition for today or yesterday: run feature_refresh_job first")
    computed = features["computed_date"].max()
    page_priors = latest_partition(warehouse, ML, "page_priors", now)
    caption_priors = latest_partition(warehouse, ML, "caption_priors", now)
    active = dim_page.filter(pl.col("is_active"))
    assignments = allocation.assign_configs(dim_page.select("username_page", "lifecycle_state"), cfg, now.date())
    grid = slots.slot_grid_next24(active, page_dow_hod_profile, now=now)
    since = now - dt.timedelta(hours=24)
    overrides = warehouse.read_table(CONFIG, "cooldown_overrides")
    if overrides is None:
        context.log.warning("ops_config.cooldown_overrides is not materialized yet: no cooldown override applies "
                            "(run refresh_config_job)")
    recent = warehouse.read_table(FOUNDATION, "fact_message_send", ["caption_id", "sending_ts_utc"],
                                  window=("sending_ts_utc", since, now))
    rank = ranker.rank_next24(
        features, grid, page_priors, page_price_profile, assignments, cfg, now=now, run_id=context.run.run_id,
        recent_primaries=recent, caption_priors=caption_priors, price_points=page_price_points, generated_at=now,
        cooldown_overrides=overrides,
    )
    assignment_log = append_log(warehouse.read_table(AUDIT, "config_assignment_log"),
                                assignments.with_columns(run_id=pl.lit(context.run.run_id)), "assigned_date", now)
    rec_log = append_log(warehouse.read_table(AUDIT, "recommendation_log"), rank, "generated_at", now)
    primaries = rank.filter(pl.col("rank") == 1)
    yield dg.Output(grid, "slot_grid_next24", metadata={"slots": grid.height, "pages": grid["username_page"].n_unique()})
    yield dg.Output(rank, "caption_rank_next24", metadata={
        "rows": rank.height, "slots": primaries.height, "features_date": str(computed),
        "explored_slots": int(primaries["is_exploration"].sum()), "fallback_slots": int(primaries["is_fallback"].sum()),
        "config_version": cfg.config_version,
        "cooldown_overrides_in_effect": cooldown_overrides_in_effect(overrides, now).height})
    yield dg.Output(assignment_log, "config_assignment_log", metadata={"rows": assignment_log.height})
    yield dg.Output(rec_log, "recommendation_log", metadata={"rows": rec_log.height})
    for name, outcome in rank_checks(rank, features, overrides).items():
        yield check_result(RANK, name, outcome)


ASSETS = [caption_ranking]
