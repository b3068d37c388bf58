"""Dagster wiring of weekly planning (40-planning §2–§10): the scheduling-pack and learner seeds, the 7-day template
with its follow-ups and non-DM windows and the QA gates (§8) as asset checks, the QA violation log, the Monday
snapshot `weekly_plan`, and the performance learner. Pure logic: `planning.py`, `checks/planning.py`,
`ops_config/learning.py`; columns: `planning_schemas.py`."""


import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets.checks import planning as qa
from of_scheduler_assets.checks.contracts import check_spec, contract_result, contract_spec
from of_scheduler_assets.layer_06_rankings import allocation, planning, ranker
from of_scheduler_assets.layer_06_rankings.planning_schemas import (
    FOLLOWUP_KINDS,
    NON_DM_KINDS,
    PLAN_KEY,
    PLAN_SCHEMA,
    QA_SCHEMA,
    WeeklyPlanRows,
)
from of_scheduler_assets.ops_config import learning
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.seeds import SeedsResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_06_rankings"
CONFIG, OPS, AUDIT = "ops_config", "ops", "ops_audit"
ML, SEMANTIC, FOUNDATION = "layer_05_ml", "layer_04_semantic", "layer_03_foundation"
QA_RETENTION_DAYS = 90


def key(group: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([group, name])


TEMPLATE = key(GROUP, "weekly_template_7d")
FOLLOWUPS = key(GROUP, "followup_bumps")
NON_DM = key(GROUP, "non_dm_windows")
WEEKLY_PLAN = key(GROUP, "weekly_plan")
QA_VIOLATIONS = key(OPS, "qa_violations")
KNOBS = key(CONFIG, "page_knobs_learned")
CHANGELOG = key(AUDIT, "learning_changelog")
PACKS = key(CONFIG, "scheduling_packs")
LEARNER_CONFIG = key(CONFIG, "learner_config")


# --------------------------------------------------------------------------------------------------------- seeds


def _packs_frame(frame: pl.DataFrame) -> pl.DataFrame:
    packs = planning.parse_packs(frame)  # validates: every tier × dow present
    return pl.DataFrame(
        [{"tier": t, "dow": d, **{f: getattr(p, f) for f in p.__dataclass_fields__}} for (t, d), p in
         sorted(packs.items())],
        schema={"tier": pl.String(), "dow": pl.Int8(), "ppv_count": pl.Int16(), "bump_count": pl.Int16(),
                "story_count": pl.Int16(), "dripset_count": pl.Int16(), "tip_event_flag": pl.Boolean(),
                "wall_type": pl.String(), "theme_focus": pl.String(), "is_burst_dow": pl.Boolean(),
                "hour_pool": pl.Int16(), "price_mode_default": pl.String()},
    )


def _seed(name: str, transform, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, key_prefix=[CONFIG], group_name=CONFIG, description=description)
    def _asset(seeds: SeedsResource) -> dg.Output[pl.DataFrame]:
        seed = seeds.read(name)
        frame = transform(seed.frame)
        return dg.Output(frame, data_version=dg.DataVersion(seed.sha256),
                         metadata={"seed_source": seed.source, "seed_sha256": seed.sha256, "rows": frame.height})

    return _asset


scheduling_packs = _seed("scheduling_packs", _packs_frame,
                         "Tier × weekday scheduling packs: PPV, bump, story and dripset counts, tip events, wall "
                         "type, theme, burst days, hour pool, default price mode (40-planning §2).")
learner_config = _seed("learner_config", lambda f: f,
                       "Per-page learner settings with a `*` default row: auto-tune, freeze date, quota and hour-pool "
                       "bounds, minimum data, days between changes, lift thresholds (40-planning §10).")


# --------------------------------------------------------------------------------------------------------- helpers


def latest_partition(warehouse: WarehouseReader, schema: str, table: str, now: dt.datetime) -> pl.DataFrame | None:
    """The newest computed date of a daily table at or before ``now`` (today's when built, else yesterday's)."""
    for back in (0, 1):
        day = now.date() - dt.timedelta(days=back)
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        frame = warehouse.read_table(schema, table, window=("computed_date", start, start + dt.timedelta(days=1)))
        if frame is not None and frame.height:
            return frame
    return None


def stamp(findings: pl.DataFrame, run_at: dt.datetime, run_id: str) -> pl.DataFrame:
    return findings.with_columns(run_at=pl.lit(run_at, dtype=QA_SCHEMA["run_at"]), run_id=pl.lit(run_id)).select(
        list(QA_SCHEMA)).cast(QA_SCHEMA)


def append_violations(previous: pl.DataFrame | None, new: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """`ops/qa_violations` is append-only for `QA_RETENTION_DAYS`; a re-run of the same run id replaces its rows."""
    if previous is None or previous.is_empty() or set(previous.columns) != set(QA_SCHEMA):
        return new
    kept = previous.filter(~pl.col("run_id").is_in(new["run_id"].unique().implode())
                           & (pl.col("run_at") >= now - dt.timedelta(days=QA_RETENTION_DAYS)))
    return pl.concat([kept.select(list(QA_SCHEMA)).cast(QA_SCHEMA), new])


def _outcome_result(asset_key: dg.AssetKey, outcome: "qa.QaOutcome") -> dg.AssetCheckResult:
    meta = {k: v for k, v in outcome.metadata.items() if v is not None}
    meta["violations_sample"] = dg.MetadataValue.md(
        "\n".join(f"- {r}" for r in outcome.violations["details"].head(10).to_list()) or "none")
    severity = dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(asset_key=asset_key, check_name=outcome.name, passed=bool(outcome.passed),
                               metadata=meta, severity=severity)


# --------------------------------------------------------------------------------------------------------- template

PLANNING_CHECKS = [check_spec(TEMPLATE, name, text, blocking=name in qa.BLOCKING)
                   for name, text in qa.CHECK_DESCRIPTIONS.items()]


@dg.multi_asset(
    outs={
        "weekly_template_7d": dg.AssetOut(key=TEMPLATE, group_name=GROUP, description=(
            "Rolling 7-day plan per page (40-planning §4–§6): PPV hours from the decayed day-of-week × hour profile "
            "inside the page's window, 2–6 h gaps, at most 10 a day, price ladder, follow-ups, bumps and non-DM "
            "windows; tentative captions from the ranker. Replaced on each build. Columns: planning_schemas.")),
        "followup_bumps": dg.AssetOut(key=FOLLOWUPS, group_name=GROUP, description=(
            "The plan's pre-teasers, follow-ups and standalone bumps (40-planning §6.1–§6.2).")),
        "non_dm_windows": dg.AssetOut(key=NON_DM, group_name=GROUP, description=(
            "The plan's drip (MM / Wall), renewal and link-drop rows (40-planning §6.3).")),
        "qa_violations": dg.AssetOut(key=QA_VIOLATIONS, group_name=OPS, description=(
            "Append-only: every QA violation and planner finding with its run (40-planning §8); readers take the "
            "latest run_at.")),
    },
    ins={"dim_page": dg.AssetIn(key=key(FOUNDATION, "dim_page")),
         "page_dow_hod_profile": dg.AssetIn(key=key(SEMANTIC, "page_dow_hod_profile")),
         "page_price_profile": dg.AssetIn(key=key(SEMANTIC, "page_price_profile")),
         "page_price_points": dg.AssetIn(key=key(SEMANTIC, "page_price_points")),
         "scheduling_packs": dg.AssetIn(key=PACKS),
         "learner_config": dg.AssetIn(key=LEARNER_CONFIG),
         "page_overrides": dg.AssetIn(key=key(CONFIG, "page_overrides"))},
    deps=[key(ML, "feature_store"), key(ML, "page_priors"), key(ML, "caption_priors"),
          key(FOUNDATION, "fact_message_send")],
    check_specs=[*PLANNING_CHECKS, contract_spec(TEMPLATE, WeeklyPlanRows)],
)
def weekly_planning(context: dg.AssetExecutionContext, ranker_config: RankerConfigResource, clock: ClockResource,
                    ops_config_file: OpsConfigResource, warehouse: WarehouseReader, dim_page: pl.DataFrame,
                    page_dow_hod_profile: pl.DataFrame, page_price_profile: pl.DataFrame,
                    page_price_points: pl.DataFrame, scheduling_packs: pl.DataFrame, learner_config: pl.DataFrame,
                    page_overrides: pl.DataFrame):
    cfg = ranker_config.load()
    now = clock.now()
    run_id = context.run.run_id
    config_version = ops_config_file.load().config_version
    features = latest_partition(warehouse, ML, "feature_store", now)
    if features is None:
        raise dg.Failure("no feature_store partition for today or yesterday: run feature_refresh_job first")
    page_priors = latest_partition(warehouse, ML, "page_priors", now)
    caption_priors = latest_partition(warehouse, ML, "caption_priors", now)
    template = planning.build_weekly_template(
        dim_page, page_dow_hod_profile, page_price_profile, scheduling_packs, now=now, overrides=page_overrides,
        knobs=warehouse.read_table(CONFIG, "page_knobs_learned"), learner_config=learner_config,
        config_version=config_version, run_id=run_id)
    assignments = allocation.assign_configs(dim_page.select("username_page", "lifecycle_state"), cfg, now.date())
    recent = warehouse.read_table(FOUNDATION, "fact_message_send", ["caption_id", "sending_ts_utc"],
                                  window=("sending_ts_utc", now - dt.timedelta(hours=24), now))

    def rank_fn(feats: pl.DataFrame, slots: pl.DataFrame, recent_rows: pl.DataFrame) -> pl.DataFrame:
        return ranker.rank_next24(feats, slots, page_priors, page_price_profile, assignments, cfg, now=now,
                                  run_id=run_id, recent_primaries=recent_rows, caption_priors=caption_priors,
                                  price_points=page_price_points, generated_at=now)

    plan, plan_rank = planning.assign_captions(template.plan, page_dow_hod_profile, rank_fn, features, recent=recent)
    next24 = warehouse.read_table(GROUP, "caption_rank_next24")
    reuse_days = max((cfg.config(n).min_reuse_days for n in assignments["config_name"].unique().to_list()),
                     default=28)
    outcomes, next24_violations = qa.evaluate(plan, plan_rank, next24_rank=next24, features=features,
                                              min_reuse_days=reuse_days)
    findings = pl.concat([template.findings, *[o.violations for o in outcomes], next24_violations])
    violations = append_violations(warehouse.read_table(OPS, "qa_violations"), stamp(findings, now, run_id), now)

    followups = plan.filter(pl.col("slot_kind").is_in(list(FOLLOWUP_KINDS)))
    non_dm = plan.filter(pl.col("slot_kind").is_in(list(NON_DM_KINDS)))
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    yield dg.Output(plan, "weekly_template_7d", metadata={
        "rows": plan.height, "pages": plan["username_page"].n_unique(), "ppv_slots": ppv.height,
        "ppv_with_caption": int(ppv["rec_caption_id"].is_not_null().sum()), "config_version": config_version})
    yield dg.Output(followups, "followup_bumps", metadata={"rows": followups.height})
    yield dg.Output(non_dm, "non_dm_windows", metadata={"rows": non_dm.height})
    yield dg.Output(violations, "qa_violations", metadata={
        "rows": violations.height, "this_run": findings.height,
        "by_check": dg.MetadataValue.json({r[0]: r[1] for r in findings.group_by("check_name").len().iter_rows()})})
    for outcome in outcomes:
        yield _outcome_result(TEMPLATE, outcome)
    yield contract_result(TEMPLATE, WeeklyPlanRows, plan)


# --------------------------------------------------------------------------------------------------------- snapshot


def snapshot_week(previous: pl.DataFrame | None, template: pl.DataFrame, week_start: dt.date) -> pl.DataFrame:
    """§9: the previous snapshot plus every template row of `week_start` whose key is absent (re-running inserts
    nothing)."""
    current = template.filter(pl.col("week_start") == week_start).select(list(PLAN_SCHEMA)).cast(PLAN_SCHEMA)
    if previous is None or previous.is_empty():
        return current.sort(PLAN_KEY)
    prev = previous.select(list(PLAN_SCHEMA)).cast(PLAN_SCHEMA)
    new = current.join(prev.select(PLAN_KEY), on=PLAN_KEY, how="anti")
    return pl.concat([prev, new]).sort(PLAN_KEY)


@dg.asset(
    key=WEEKLY_PLAN, group_name=GROUP,
    ins={"weekly_template_7d": dg.AssetIn(key=TEMPLATE)},
    description="Monday snapshot (40-planning §9): the current week's template rows inserted when their key "
                "(week_start, username_page, date_local, slot_kind, slot_rank, slot_order) is absent; append-only "
                "and idempotent. Columns: planning_schemas (same as weekly_template_7d).",
    check_specs=[contract_spec(WEEKLY_PLAN, WeeklyPlanRows)],
)
def weekly_plan(clock: ClockResource, warehouse: WarehouseReader, weekly_template_7d: pl.DataFrame):
    today = clock.now().date()
    week_start = today - dt.timedelta(days=today.weekday())
    previous = warehouse.read_table(GROUP, "weekly_plan")
    snap = snapshot_week(previous, weekly_template_7d, week_start)
    inserted = snap.height - (0 if previous is None else previous.height)
    yield dg.Output(snap, metadata={"rows": snap.height, "inserted": inserted, "week_start": week_start.isoformat()})
    yield contract_result(WEEKLY_PLAN, WeeklyPlanRows, snap)


# --------------------------------------------------------------------------------------------------------- learner


@dg.multi_asset(
    outs={
        "page_knobs_learned": dg.AssetOut(key=KNOBS, group_name=CONFIG, description=(
            "Per-page learned knobs (quota_nudge, hour_pool_nudge, price_mode_bias, confidence) within the "
            "learner_config bounds (40-planning §10); the next weekly build uses them.")),
        "learning_changelog": dg.AssetOut(key=CHANGELOG, group_name=AUDIT, description=(
            "Append-only: every knob change with old and new value, reason, signals and versions (§10).")),
    },
    ins={"learning_signals_28d": dg.AssetIn(key=key(SEMANTIC, "learning_signals_28d")),
         "learner_config": dg.AssetIn(key=LEARNER_CONFIG)},
)
def learn_page_knobs(clock: ClockResource, ops_config_file: OpsConfigResource, warehouse: WarehouseReader,
                     learning_signals_28d: pl.DataFrame, learner_config: pl.DataFrame):
    now = clock.now()
    previous_log = warehouse.read_table(AUDIT, "learning_changelog")
    knobs, changes = learning.learn_page_knobs(
        learning_signals_28d, learner_config, warehouse.read_table(CONFIG, "page_knobs_learned"), previous_log,
        now=now, config_version=ops_config_file.load().config_version)
    log = changes if previous_log is None or previous_log.is_empty() else pl.concat(
        [previous_log.select(list(changes.columns)).cast(changes.schema), changes])
    yield dg.Output(knobs, "page_knobs_learned", metadata={"pages": knobs.height, "changes": changes.height})
    yield dg.Output(log, "learning_changelog", metadata={"rows": log.height, "this_run": changes.height})


ASSETS = [scheduling_packs, learner_config, weekly_planning, weekly_plan, learn_page_knobs]
