"""Dagster wiring of `ops_monitor` (50-operations §2, §3): freshness per asset, the alert rows, and the health
evaluation with alert delivery (`top_captions` is wired with the exports in `layer_07_export/assets.py`).

`alerts` is derived from current state: ingestion and onboarding rules (warehouse tables), missed freshness targets,
and what the Dagster instance knows about runs and checks (the latest finished run of a job failed; the latest
evaluation of an ERROR check failed). An alert leaves the table when its condition clears.
"""

import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets.ops.onboarding import onboarding_alerts
from of_scheduler_assets.ops_monitor import health, instance_events
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA, ingestion_alerts, planning_alerts
from of_scheduler_assets.resources.alerting import Alert, AlertingResource
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "ops_monitor"
ML, FOUNDATION = "layer_05_ml", "layer_03_foundation"
LOOKBACK = dt.timedelta(days=7)  # runs and check evaluations older than this no longer raise alerts
FEATURE_COLUMNS = ["computed_date", "computed_at", "is_eligible", "confidence_score", "send_events_90d"]


def key(name: str, group: str = GROUP) -> dg.AssetKey:
    return dg.AssetKey([group, name])


def latest_features(warehouse: WarehouseReader, now: dt.datetime, columns: list[str]) -> pl.DataFrame | None:
    """The newest feature-store partition at or before ``now`` (today's, else yesterday's), only ``columns``."""
    for back in (0, 1):
        start = dt.datetime.combine(now.date() - dt.timedelta(days=back), dt.time(), tzinfo=dt.UTC)
        frame = warehouse.read_table(ML, "feature_store", columns,
                                     window=("computed_date", start, start + dt.timedelta(days=1)))
        if frame is not None and frame.height:
            return frame
    return None


def _cast(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA)


def pipeline_alerts(instance: dg.DagsterInstance, now: dt.datetime) -> list[pl.DataFrame]:
    """Alert rows from the instance: failed runs and failed ERROR checks of the last LOOKBACK."""
    since = now - LOOKBACK
    evaluations, _ = instance_events.check_evaluations(instance, since=since)
    return [health.run_failure_alerts(instance_events.finished_runs(instance, since)),
            health.check_failure_alerts(evaluations)]


@dg.asset(
    key=key("freshness_status"),
    group_name=GROUP,
    # measured after the tracked assets when they are built in the same run (those built from the health are not)
    deps=[dg.AssetKey(list(t.asset)) for t in health.FRESHNESS_TARGETS if not t.after_health],
    description="Per asset with a freshness target (50-operations §2, ops_config `freshness:` overrides the hours): "
    "the last materialization, its age and whether the target is met. Assets not in the code location are skipped.",
)
def freshness_status(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource) -> pl.DataFrame:
    targets = health.targets_with_config(ops_config_file.load().model.freshness)
    present = context.job_def.asset_layer.asset_graph.materializable_asset_keys  # the code location's assets
    wanted = [t.asset for t in targets if dg.AssetKey(list(t.asset)) in present]
    # Materialization times are wall-clock instants recorded by the instance: compare with the wall clock.
    frame = health.freshness_rows(targets, instance_events.last_materialized(context.instance, wanted),
                                  dt.datetime.now(dt.UTC))
    context.add_output_metadata({"stale": int((~frame["is_fresh"]).sum()), "tracked": frame.height})
    return frame


@dg.asset(
    key=key("alerts"),
    group_name=GROUP,
    deps=[dg.AssetKey(["ops", "ingestion_state"]), dg.AssetKey(["ops", "unmapped_usernames"]),
          dg.AssetKey(["ops", "onboarding_queue"]), key("freshness_status")],
    description="Open alerts derived from the current state: ingestion (repeated failures, quarantine rate, unmapped "
    "names), onboarding (new pages, auto-registered pages awaiting review), missed freshness targets, failed runs "
    "(the latest run of a job failed) and failed ERROR asset checks (CRITICAL when blocking).",
)
def alerts(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource, warehouse: WarehouseReader,
           clock: ClockResource) -> pl.DataFrame:
    # Read through the warehouse: the ingestion and onboarding jobs each refresh the alerts with the other's last state.
    cfg = ops_config_file.load().model
    parts = []
    state, unmapped = warehouse.read_table("ops", "ingestion_state"), warehouse.read_table("ops", "unmapped_usernames")
    if state is not None and unmapped is not None:
        parts.append(ingestion_alerts(state, unmapped, max_attempts=cfg.ingestion.max_attempts_before_alert))
    queue = warehouse.read_table("ops", "onboarding_queue")
    if queue is not None:
        parts.append(onboarding_alerts(queue, clock.now()))
    freshness = warehouse.read_table(GROUP, "freshness_status")
    if freshness is not None:
        parts.append(health.freshness_alerts(freshness))
    # the weekly plan's feasibility findings (read, not a dependency: the plan follows the day's decisions)
    qa = warehouse.read_table("ops", "qa_violations")
    if qa is not None:
        parts.append(planning_alerts(qa))
    parts.extend(pipeline_alerts(context.instance, dt.datetime.now(dt.UTC)))
    frame = pl.concat([_cast(p) for p in parts]) if parts else pl.DataFrame(schema=ALERT_SCHEMA)
    frame = frame.unique("alert_id", keep="first", maintain_order=True).sort(
        "severity", "alert_code", "username_page", "alert_id", nulls_last=True)
    context.add_output_metadata({f"open_{s.lower()}": int((frame["severity"] == s).sum())
                                 for s in ("CRITICAL", "WARNING", "INFO")})
    return frame


def as_alerts(frame: pl.DataFrame) -> list[Alert]:
    return [Alert(alert_id=r["alert_id"], severity=r["severity"], alert_type=r["alert_type"], message=r["message"],
                  username_page=r["username_page"], action_required=r["action_required"], source=r["source"])
            for r in frame.iter_rows(named=True)]


@dg.multi_asset(
    outs={
        "system_health": dg.AssetOut(
            key=key("system_health"), group_name=GROUP,
            freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=2),
                                                            warn_window=dt.timedelta(minutes=30)),
            description="One row per evaluation (50-operations §3.1): health_score 0-100 and alert_status from the "
            "feature store's age, eligibility, 24 h sends and confidence; stale assets, open alerts by severity, 24 h "
            "quarantine rate, open unmapped names. 90 days kept."),
        "alert_deliveries": dg.AssetOut(
            key=key("alert_deliveries"), group_name=GROUP,
            description="Append-only: every alert the health evaluation handed to the alerting resource (CRITICAL at "
            "once, WARNING in the hourly digest), with channels and outcome; the basis for not sending twice."),
    },
    deps=[key("alerts"), key("freshness_status"), dg.AssetKey([ML, "feature_store"]),
          dg.AssetKey([FOUNDATION, "fact_message_send"]), dg.AssetKey(["ops", "ingestion_state"]),
          dg.AssetKey(["ops", "unmapped_usernames"])],
)
def system_health(context: dg.AssetExecutionContext, warehouse: WarehouseReader, clock: ClockResource,
                  alerting: AlertingResource):
    now = clock.now()
    features = latest_features(warehouse, now, FEATURE_COLUMNS)
    sends = warehouse.read_table(FOUNDATION, "fact_message_send", ["sending_ts_utc"],
                                 window=("sending_ts_utc", now - dt.timedelta(hours=24), now))
    current_alerts = warehouse.read_table(GROUP, "alerts")
    row = health.system_health_row(
        now=now, features=features, sends_24h=0 if sends is None else sends.height, alerts=current_alerts,
        freshness=warehouse.read_table(GROUP, "freshness_status"),
        ingestion_state=warehouse.read_table("ops", "ingestion_state"),
        unmapped=warehouse.read_table("ops", "unmapped_usernames"))
    history = health.append_evaluation(warehouse.read_table(GROUP, "system_health"), row)

    previous = warehouse.read_table(GROUP, "alert_deliveries")
    new_rows = [pl.DataFrame(schema=health.DELIVERY_SCHEMA)]
    if current_alerts is not None and current_alerts.height:
        immediate, digest = health.plan_delivery(current_alerts, previous, now)
        for kind, frame in (("immediate", immediate), ("digest", digest)):
            if frame.height:
                outcome = alerting.deliver(as_alerts(frame), digest=kind == "digest", log=context.log)
                new_rows.append(health.delivery_rows(frame, kind, outcome.channels, now))
    deliveries = pl.concat([*([previous.cast(health.DELIVERY_SCHEMA)] if previous is not None else []), *new_rows])
    r = row.row(0, named=True)
    yield dg.Output(history, "system_health", metadata={
        "health_score": r["health_score"], "alert_status": r["alert_status"],
        "data_age_hours": r["data_age_hours"], "daily_sends": r["daily_sends"]})
    yield dg.Output(deliveries, "alert_deliveries",
                    metadata={"delivered_now": sum(f.height for f in new_rows)})


ASSETS = [freshness_status, alerts, system_health]
