"""Dagster wiring of `layer_07_export` (50-operations §7) and `ops_monitor/top_captions` (§3.3).

Every export is rebuilt from the current ranking; `export_job` runs them after each successful `rank_captions_job`
(`automation/exports.py`). Tables owned by other layers that may not exist yet (the weekly plan, system health) are
read through the warehouse reader, so an export never waits for them: the tab or row is then empty.
"""


import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import check_spec, contract_result, contract_spec
from of_scheduler_assets.layer_07_export import schemas, team_sheets, transforms
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.sheets import SheetsResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_07_export"
MONITOR, RANKINGS, FOUNDATION, ML, AUDIT = "ops_monitor", "layer_06_rankings", "layer_03_foundation", "layer_05_ml", "ops_audit"
PLAN_TABLES = ("weekly_plan", "weekly_template_7d")  # the Monday snapshot first, the rolling template otherwise
LOG_RETENTION_DAYS = 400


def key(group: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([group, name])


RANK = key(RANKINGS, "caption_rank_next24")
DIM_PAGE = key(FOUNDATION, "dim_page")
SCHEDULE_RECOMMENDATIONS = key(GROUP, "schedule_recommendations")
CAPTION_LOOKUP = key(GROUP, "caption_lookup")
API_CAPTIONS = key(GROUP, "api_captions")
API_SYSTEM_HEALTH = key(GROUP, "api_system_health")
API_TOP_CAPTIONS = key(GROUP, "api_top_captions")
TOP_CAPTIONS = key(MONITOR, "top_captions")
TEAM_SHEETS = key(GROUP, "team_sheets")
EXPORT_LOG = key(AUDIT, "export_log")
SCHEDULER_ACTIONS = key(AUDIT, "scheduler_actions")

EXPORT_LOG_SCHEMA: dict[str, pl.DataType] = {
    "export_id": pl.String(), "target_kind": pl.String(), "target": pl.String(), "rows": pl.Int64(),
    "content_sha256": pl.String(), "run_id": pl.String(), "written_at": pl.Datetime("us", "UTC"),
    "status": pl.String(), "error": pl.String(),
}  # fmt: skip
TEAM_SHEETS_SCHEMA: dict[str, pl.DataType] = {
    "workbook": pl.String(), "tab": pl.String(), "rows": pl.Int64(), "target_kind": pl.String(),
    "location": pl.String(), "status": pl.String(), "content_sha256": pl.String(),
    "generated_at": pl.Datetime("us", "UTC"),
}  # fmt: skip
FEATURE_COLUMNS = [
    "computed_date", "username_page", "caption_id", "last_used_ts_page", "last_used_ts_any",
    "send_events_all_pages_365d", "send_events_30d", "is_eligible", "base_score", "rps_smoothed_ref",
    "confidence_score", "fatigue_score",
]  # fmt: skip


def latest_partition(warehouse: WarehouseReader, schema: str, table: str, now: dt.datetime,
                     columns: list[str] | None = None) -> pl.DataFrame | None:
    """The newest `computed_date` of a daily table at or before ``now`` (today's, else yesterday's), ``columns``
    only."""
    for back in (0, 1):
        start = dt.datetime.combine(now.date() - dt.timedelta(days=back), dt.time(), tzinfo=dt.UTC)
        frame = warehouse.read_table(schema, table, columns,
                                     window=("computed_date", start, start + dt.timedelta(days=1)))
        if frame is not None and frame.height:
            return frame
    return None


def caption_texts(warehouse: WarehouseReader) -> pl.DataFrame:
    frame = warehouse.read_table(FOUNDATION, "dim_caption", ["caption_id", "caption_text", "is_current"])
    if frame is None:
        return pl.DataFrame(schema={"caption_id": pl.String(), "caption_text": pl.String(), "is_current": pl.Boolean()})
    return frame


def _contract_metadata(frame: pl.DataFrame, **extra) -> dict:
    return {"rows": frame.height, **extra}


@dg.asset(
    key=SCHEDULE_RECOMMENDATIONS, group_name=GROUP,
    ins={"caption_rank_next24": dg.AssetIn(key=RANK), "dim_page": dg.AssetIn(key=DIM_PAGE)},
    deps=[key(FOUNDATION, "dim_caption")],
    check_specs=[contract_spec(SCHEDULE_RECOMMENDATIONS, schemas.ScheduleRecommendations)],
    description="Ranks 1-5 of caption_rank_next24 for each page's local today and tomorrow, in the column order of "
    "50-operations §7.1 (D14); rewritten each hour, rows of past hours of the current day kept.",
)
def schedule_recommendations(clock: ClockResource, warehouse: WarehouseReader, caption_rank_next24: pl.DataFrame,
                             dim_page: pl.DataFrame):
    now = clock.now()
    previous = warehouse.read_table(GROUP, "schedule_recommendations")
    frame = transforms.schedule_recommendations(caption_rank_next24, dim_page, caption_texts(warehouse), now, previous)
    yield dg.Output(frame, metadata=_contract_metadata(frame, pages=frame["username_page"].n_unique()))
    yield contract_result(SCHEDULE_RECOMMENDATIONS, schemas.ScheduleRecommendations, frame)


@dg.asset(
    key=CAPTION_LOOKUP, group_name=GROUP,
    ins={"dim_page": dg.AssetIn(key=DIM_PAGE)},
    deps=[key(FOUNDATION, "dim_caption"), key(ML, "feature_store"), key(ML, "caption_priors")],
    check_specs=[contract_spec(CAPTION_LOOKUP, schemas.CaptionLookup)],
    description="One row per current caption (§7.2): lookup keys (caption id + legacy bank ids), text, page of last "
    "use, caption-level smoothed RPS across pages (90 d decayed, global prior) and its weight, performance tier, "
    "availability now. Answers lookupCaption.",
)
def caption_lookup(clock: ClockResource, warehouse: WarehouseReader, dim_page: pl.DataFrame):
    now = clock.now()
    captions = warehouse.read_table(FOUNDATION, "dim_caption", [
        "caption_id", "caption_hash", "caption_text", "primary_category", "char_len", "bank_ids", "is_active",
        "tos_status", "is_current"])
    if captions is None:
        raise dg.Failure("layer_03_foundation.dim_caption does not exist yet: run ingest_reference_job first")
    features = latest_partition(warehouse, ML, "feature_store", now, FEATURE_COLUMNS)
    priors = latest_partition(warehouse, ML, "caption_priors", now,
                              ["computed_date", "username_page", "caption_id", "r_cp", "n_open_cp", "nu"])
    frame = transforms.caption_lookup(captions, features, priors, dim_page, now)
    tiers = frame.group_by("performance_tier").len().sort("performance_tier")
    yield dg.Output(frame, metadata=_contract_metadata(
        frame, available=int(frame["is_available"].sum()),
        tiers={r[0]: int(r[1]) for r in tiers.iter_rows()}))
    yield contract_result(CAPTION_LOOKUP, schemas.CaptionLookup, frame)


@dg.asset(
    key=TOP_CAPTIONS, group_name=MONITOR,
    deps=[key(ML, "feature_store")],
    check_specs=[contract_spec(TOP_CAPTIONS, schemas.TopCaptions)],
    description="Top 100 (page, caption) rows of today's feature store by base_score (50-operations §3.3), with "
    "status Eligible / Fatigued (fatigue > 0.8) / Cooling Down.",
)
def top_captions(clock: ClockResource, warehouse: WarehouseReader):
    features = latest_partition(warehouse, ML, "feature_store", clock.now(), FEATURE_COLUMNS)
    frame = transforms.top_captions(features)
    yield dg.Output(frame, metadata=_contract_metadata(frame))
    yield contract_result(TOP_CAPTIONS, schemas.TopCaptions, frame)


@dg.asset(
    key=API_CAPTIONS, group_name=GROUP,
    ins={"caption_rank_next24": dg.AssetIn(key=RANK), "dim_page": dg.AssetIn(key=DIM_PAGE),
         "caption_lookup": dg.AssetIn(key=CAPTION_LOOKUP)},
    deps=[key(ML, "feature_store")],
    check_specs=[contract_spec(API_CAPTIONS, schemas.ApiCaptions)],
    description="getCaptions reads this (§7.3): per page, its local today and each caption in today's ranking, the "
    "best row with score, RPS, confidence, tier, exploration bonus and the deterministic strategy scores "
    "(explore / balanced / exploit) that replace the script's RAND().",
)
def api_captions(clock: ClockResource, warehouse: WarehouseReader, ranker_config: RankerConfigResource,
                 caption_rank_next24: pl.DataFrame, dim_page: pl.DataFrame, caption_lookup: pl.DataFrame):
    now = clock.now()
    features = latest_partition(warehouse, ML, "feature_store", now, FEATURE_COLUMNS)
    strategies = dict(ranker_config.load().model.strategies)
    frame = transforms.api_captions(caption_rank_next24, dim_page, caption_lookup, features, strategies, now)
    yield dg.Output(frame, metadata=_contract_metadata(frame, pages=frame["username_page"].n_unique()))
    yield contract_result(API_CAPTIONS, schemas.ApiCaptions, frame)


@dg.asset(
    key=API_SYSTEM_HEALTH, group_name=GROUP,
    deps=[key(MONITOR, "system_health")],
    check_specs=[contract_spec(API_SYSTEM_HEALTH, schemas.ApiSystemHealth)],
    description="getSystemHealth reads this (§7.3): the latest ops_monitor.system_health row (health_score, "
    "alert_status, data_age_hours, eligibility_rate, daily_sends, evaluated_at); empty until system health exists.",
)
def api_system_health(warehouse: WarehouseReader):
    frame = transforms.api_system_health(warehouse.read_table(MONITOR, "system_health"))
    yield dg.Output(frame, metadata=_contract_metadata(frame))
    yield contract_result(API_SYSTEM_HEALTH, schemas.ApiSystemHealth, frame)


@dg.asset(
    key=API_TOP_CAPTIONS, group_name=GROUP,
    ins={"top_captions": dg.AssetIn(key=TOP_CAPTIONS)},
    check_specs=[contract_spec(API_TOP_CAPTIONS, schemas.TopCaptions)],
    description="getTopCaptions reads this (§7.3): ops_monitor.top_captions by rank.",
)
def api_top_captions(top_captions: pl.DataFrame):
    frame = transforms.api_top_captions(top_captions)
    yield dg.Output(frame, metadata=_contract_metadata(frame))
    yield contract_result(API_TOP_CAPTIONS, schemas.TopCaptions, frame)


def _read_plan(warehouse: WarehouseReader) -> tuple[pl.DataFrame | None, str | None]:
    for table in PLAN_TABLES:
        frame = warehouse.read_table(RANKINGS, table)
        if frame is not None and frame.height:
            return frame, table
    return None, None


@dg.multi_asset(
    outs={
        "team_sheets": dg.AssetOut(key=TEAM_SHEETS, group_name=GROUP, description=(
            "The scheduling team's sheets (§7.4): per scheduler Next 24h (top 3 per slot), Week Plan and Alerts tabs, "
            "ALL / UNASSIGNED tabs, All Alerts, System Health, Top Captions, Read Me; written to local .xlsx + CSV "
            "(default) or Google Sheets. The table lists each tab written, its rows, location and status.")),
        "export_log": dg.AssetOut(key=EXPORT_LOG, group_name=AUDIT, description=(
            "Append-only: one row per export write (target kind, workbook/tab, rows, content sha256, run, status, "
            "error), 400 days.")),
        "scheduler_actions": dg.AssetOut(key=SCHEDULER_ACTIONS, group_name=AUDIT, description=(
            "Append-only read-back of the schedulers' Week Plan cells (§7.5): one row per new (tracking_hash, field, "
            "value), with the recommended and chosen caption: which recommendations were followed.")),
    },
    ins={"caption_rank_next24": dg.AssetIn(key=RANK), "dim_page": dg.AssetIn(key=DIM_PAGE),
         "api_system_health": dg.AssetIn(key=API_SYSTEM_HEALTH), "api_top_captions": dg.AssetIn(key=API_TOP_CAPTIONS)},
    deps=[key(FOUNDATION, "dim_scheduler"), key(FOUNDATION, "dim_caption"), key(MONITOR, "alerts"),
          *[key(RANKINGS, t) for t in PLAN_TABLES]],
    check_specs=[check_spec(TEAM_SHEETS, "team_sheets_written",
                            "Every tab was written (a failed sheet write warns; it never fails the ranking).")],
)
def team_sheets_export(context: dg.AssetExecutionContext, clock: ClockResource, warehouse: WarehouseReader,
                       ops_config_file: OpsConfigResource, sheets: SheetsResource, caption_rank_next24: pl.DataFrame,
                       dim_page: pl.DataFrame, api_system_health: pl.DataFrame, api_top_captions: pl.DataFrame):
    now = clock.now()
    cfg = ops_config_file.load()
    texts_frame = transforms.current_caption_text(caption_texts(warehouse))
    texts = dict(texts_frame.iter_rows())
    plan, plan_table = _read_plan(warehouse)
    versions = caption_rank_next24["config_version"].drop_nulls().unique().sort().to_list() if caption_rank_next24.height else []
    books = team_sheets.build_workbooks(
        rank=caption_rank_next24, pages=dim_page, schedulers=warehouse.read_table(FOUNDATION, "dim_scheduler"),
        texts=texts, plan=plan, alerts=warehouse.read_table(MONITOR, "alerts"), api_system_health=api_system_health,
        api_top_captions=api_top_captions, generated_at=now,
        config_version=", ".join(versions) or cfg.config_version,
        team_tz=cfg.model.platform.team_timezone, mode=sheets.workbook_mode,
    )
    writer = sheets.open(cfg.model.exports.team_sheets)
    log_rows: list[dict] = []
    kept = {"preserved": 0, "locked": 0, "orphaned": 0}
    earliest_today = (now - dt.timedelta(hours=12)).date()  # a day has passed once it has passed in every zone
    read_back: dict[str, list[list]] = {}
    for workbook, tabs in books.items():
        plan_tabs = [t.name for t in tabs if t.name.endswith("Week Plan")]
        try:
            previous = writer.read_tabs(workbook, plan_tabs)
        except Exception as exc:  # noqa: BLE001 - without a read-back the plan is written fresh; logged
            context.log.warning(f"team sheets: reading back {workbook} failed ({type(exc).__name__})")
            previous = {}
        read_back.update(previous)
        merged = []
        for tab in tabs:
            if tab.name in previous:
                tab, stats = team_sheets.merge_human_edits(tab, previous[tab.name], earliest_today)
                for k, v in stats.items():
                    kept[k] += v
            merged.append(tab)
        log_rows += writer.write_workbook(workbook, merged, now)
    run_log = pl.DataFrame(
        [{**r, "run_id": context.run.run_id} for r in log_rows], schema=EXPORT_LOG_SCHEMA, orient="row"
    ) if log_rows else pl.DataFrame(schema=EXPORT_LOG_SCHEMA)
    location = str(sheets.team_sheets_dir / "latest") if writer.kind == "xlsx" else "Google Sheets"
    summary = pl.DataFrame([{
        "workbook": r["target"].split("/", 1)[0], "tab": r["target"].split("/", 1)[1], "rows": r["rows"],
        "target_kind": r["target_kind"], "location": location, "status": r["status"],
        "content_sha256": r["content_sha256"], "generated_at": now,
    } for r in log_rows], schema=TEAM_SHEETS_SCHEMA, orient="row") if log_rows else pl.DataFrame(schema=TEAM_SHEETS_SCHEMA)
    previous_log = warehouse.read_table(AUDIT, "export_log")
    if previous_log is not None and previous_log.height:
        cutoff = now - dt.timedelta(days=LOG_RETENTION_DAYS)
        previous_log = previous_log.filter((pl.col("run_id") != context.run.run_id) & (pl.col("written_at") >= cutoff))
        export_log = pl.concat([previous_log.select(list(EXPORT_LOG_SCHEMA)).cast(EXPORT_LOG_SCHEMA), run_log])  # type: ignore[arg-type]
    else:
        export_log = run_log
    prior_actions = warehouse.read_table(AUDIT, "scheduler_actions")
    new_actions = team_sheets.scheduler_actions(read_back, prior_actions, now)
    actions = new_actions if prior_actions is None else pl.concat(
        [prior_actions.select(list(team_sheets.SCHEDULER_ACTIONS_SCHEMA)).cast(team_sheets.SCHEDULER_ACTIONS_SCHEMA),  # type: ignore[arg-type]
         new_actions])
    failed = summary.filter(pl.col("status") != "written")
    yield dg.Output(summary, "team_sheets", metadata={
        "location": location, "workbooks": len(books), "tabs": summary.height,
        "rows": int(summary["rows"].sum()) if summary.height else 0, "failed_tabs": failed.height,
        "plan_source": plan_table or "none", **{f"human_edits_{k}": v for k, v in kept.items()}})
    yield dg.Output(export_log, "export_log", metadata={"rows": export_log.height})
    yield dg.Output(actions, "scheduler_actions", metadata={"rows": actions.height, "new_actions": new_actions.height})
    yield dg.AssetCheckResult(
        asset_key=TEAM_SHEETS, check_name="team_sheets_written", passed=failed.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"failed": failed.height, "sample": ", ".join(failed["tab"].head(10).to_list())},
    )


ASSETS = [schedule_recommendations, caption_lookup, top_captions, api_captions, api_system_health, api_top_captions,
          team_sheets_export]
EXPORT_KEYS = [SCHEDULE_RECOMMENDATIONS, CAPTION_LOOKUP, TOP_CAPTIONS, API_CAPTIONS, API_SYSTEM_HEALTH,
               API_TOP_CAPTIONS, TEAM_SHEETS, EXPORT_LOG, SCHEDULER_ACTIONS]
