"""Operations automation (50-operations §1, §3, §4): the health evaluation every 15 minutes, immediate alerts for
failed runs and failed checks, declarative automation for assets that simply follow their upstream, and the
warehouse backup and restore.

    system_health_sensor          every 900 s      -> system_health_job (ops_monitor: freshness, alerts, health and
                                                      delivery, top captions; ops_audit: pipeline_runs)
    run_failure_alert_sensor      any run FAILURE  -> CRITICAL "Run failed: <job>" sent at once; system_health_job so
                                                      the row lands in ops_monitor.alerts
    asset_check_alert_sensor      every 60 s       -> failed ERROR checks: CRITICAL (blocking) sent at once, WARNING
                                                      left to the hourly digest; system_health_job
    default_automation_condition_sensor            -> assets with an AutomationCondition (FOLLOWERS: top_captions
                                                      follows the feature store)
    warehouse_backup_schedule     30 3 * * * UTC   -> warehouse_backup_job (not in the §1 table: the backup
                                                      requirement names no time; after the 02:00 refresh)
"""

import datetime as dt

import dagster as dg

from of_scheduler_assets.ops_monitor import health, instance_events
from of_scheduler_assets.resources.alerting import Alert, AlertingResource
from of_scheduler_assets.resources.backup import WarehouseBackupResource
from of_scheduler_assets.resources.clock import ClockResource

HEALTH_INTERVAL_S = 900
CHECK_SENSOR_INTERVAL_S = 60

# §1 system_health_sensor: system_health, alerts, freshness_status, top_captions, api_system_health, api_top_captions
# (data_quality_daily and exploration_balance are not built yet), and the run audit.
HEALTH_SELECTION = dg.AssetSelection.groups("ops_monitor") | dg.AssetSelection.assets(
    ["ops_audit", "pipeline_runs"], ["ops_audit", "pipeline_run_assets"],
    ["layer_07_export", "api_system_health"], ["layer_07_export", "api_top_captions"])

system_health_job = dg.define_asset_job(
    "system_health_job",
    selection=HEALTH_SELECTION,
    description="Freshness per asset, the alert rows, the health evaluation (and delivery of new CRITICAL alerts and "
    "the hourly WARNING digest), the top captions, and the run audit (50-operations §2-§4).",
)


# ---------------------------------------------------------------------------------------------------------------------
# backup / restore
# ---------------------------------------------------------------------------------------------------------------------


@dg.op(description="Export the whole warehouse (DuckDB EXPORT DATABASE / BigQuery table snapshots).")
def backup_warehouse(context: dg.OpExecutionContext, warehouse_backup: WarehouseBackupResource,
                     clock: ClockResource) -> dict:
    # The backup's name is the wall-clock instant it was taken, also when the model's clock is pinned.
    manifest = warehouse_backup.backup(dt.datetime.now(dt.UTC))
    tables = manifest.get("tables") or manifest.get("snapshots") or {}
    context.add_output_metadata({"backup_id": manifest["backup_id"], "target": manifest["target"],
                                 "tables": len(tables), "model_clock": clock.now().isoformat()})
    return manifest


class RestoreConfig(dg.Config):
    backup_id: str | None = None  # default: the newest backup


@dg.op(description="Replace the warehouse content by a backup (default: the newest). Irreversible: take a backup "
       "first if the current state may be needed.")
def restore_warehouse(context: dg.OpExecutionContext, config: RestoreConfig,
                      warehouse_backup: WarehouseBackupResource) -> dict:
    result = warehouse_backup.restore(config.backup_id)
    context.add_output_metadata({"backup_id": result["backup_id"], "tables": len(result["tables"])})
    return result


@dg.job(description="Backup of the warehouse: DuckDB EXPORT DATABASE into exports/backups/<stamp>/ (the newest 14 "
        "kept) or, on BigQuery, a snapshot of every layer table in the ops_backup dataset (14-day expiry).")
def warehouse_backup_job():
    backup_warehouse()


@dg.job(description="Restore the warehouse from a backup (run config: ops.restore_warehouse.config.backup_id; "
        "default the newest). Launched by hand only.")
def warehouse_restore_job():
    restore_warehouse()


warehouse_backup_schedule = dg.ScheduleDefinition(
    name="warehouse_backup_schedule",
    job=warehouse_backup_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily 03:30 UTC, after the 02:00 feature refresh: a warehouse backup.",
)


# ---------------------------------------------------------------------------------------------------------------------
# sensors
# ---------------------------------------------------------------------------------------------------------------------


def health_run_key(now: dt.datetime) -> str:
    """One health run per 15-minute bucket, however often the sensor is evaluated."""
    bucket = int(now.timestamp()) // HEALTH_INTERVAL_S * HEALTH_INTERVAL_S
    return f"health-{dt.datetime.fromtimestamp(bucket, dt.UTC):%Y%m%dT%H%M}"


@dg.sensor(
    name="system_health_sensor",
    job=system_health_job,
    minimum_interval_seconds=HEALTH_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 15 min: freshness, alerts, the health score and alert delivery, top captions, the run audit.",
)
def system_health_sensor(context: dg.SensorEvaluationContext):
    now = dt.datetime.now(dt.UTC)
    return dg.RunRequest(run_key=health_run_key(now), tags={"of_scheduler/trigger": "health"})


def _alert_of(frame) -> list[Alert]:
    return [Alert(alert_id=r["alert_id"], severity=r["severity"], alert_type=r["alert_type"], message=r["message"],
                  action_required=r["action_required"], source=r["source"]) for r in frame.iter_rows(named=True)]


@dg.run_status_sensor(
    name="run_failure_alert_sensor",
    run_status=dg.DagsterRunStatus.FAILURE,
    request_job=system_health_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Any failed run of this code location: a CRITICAL alert \"Run failed: <job>\" with the run id, sent "
    "at once through the alerting resource; a health run then records it in ops_monitor.alerts.",
)
def run_failure_alert_sensor(context: dg.RunStatusSensorContext, alerting: AlertingResource):
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    end = record.end_time if record is not None else None
    at = dt.datetime.fromtimestamp(end, dt.UTC) if end else dt.datetime.now(dt.UTC)
    row = health.run_failure_alert_row(run.job_name, run.run_id, at)
    alerting.deliver(_alert_of(row), log=context.log)
    if run.job_name == system_health_job.name:
        return dg.SkipReason("the health job itself failed: alert sent, no new health run (it would fail again)")
    return dg.RunRequest(run_key=f"alert-run-{run.run_id}", tags={"of_scheduler/trigger": "run_failure"})


@dg.sensor(
    name="asset_check_alert_sensor",
    job=system_health_job,
    minimum_interval_seconds=CHECK_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New failed ERROR-severity asset checks: CRITICAL (blocking) sent at once, WARNING left to the hourly "
    "digest; a health run records them in ops_monitor.alerts. Cursor: the last event storage id seen.",
)
def asset_check_alert_sensor(context: dg.SensorEvaluationContext, alerting: AlertingResource):
    after = int(context.cursor) if context.cursor else None
    since = None if after is not None else dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
    evaluations, last = instance_events.check_evaluations(context.instance, after_storage_id=after, since=since)
    cursor = str(last) if last is not None else context.cursor
    failed = health.check_failure_alerts(evaluations)
    if failed.is_empty():
        return dg.SensorResult(skip_reason=f"no failed ERROR checks in {len(evaluations)} new evaluation(s)",
                               cursor=cursor)
    critical = failed.filter(failed["severity"] == "CRITICAL")
    if critical.height:
        alerting.deliver(_alert_of(critical), log=context.log)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"alert-checks-{last}",
                                                       tags={"of_scheduler/trigger": "check_failure"})],
                           cursor=cursor)


# ---------------------------------------------------------------------------------------------------------------------
# declarative automation
# ---------------------------------------------------------------------------------------------------------------------

# `eager()` minus its "no dependency missing" clause: the upstreams here are daily-partitioned and computed for recent
# dates only, so older partitions are always missing and plain eager() would never fire.
FOLLOWS_UPSTREAM = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("follows_upstream")

# Downstream assets that simply follow their upstream: rebuilt whenever it is updated (outside a run that already
# built them). Attached at assembly (`with_declarative_automation`), so the owning layer module stays unchanged.
FOLLOWERS: dict[dg.AssetKey, str] = {
    dg.AssetKey(["ops_monitor", "top_captions"]): "a new feature-store partition (50-operations §3.3)",
}


def with_declarative_automation(assets: list) -> list:
    """The asset definitions with FOLLOWS_UPSTREAM set on every FOLLOWERS key that has no condition of its own."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key in FOLLOWERS and spec.automation_condition is None:
            return spec.replace_attributes(automation_condition=FOLLOWS_UPSTREAM)
        return spec

    return [a.map_asset_specs(apply) if isinstance(a, dg.AssetsDefinition) and set(a.keys) & set(FOLLOWERS) else a
            for a in assets]


default_automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "default_automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluates every asset's AutomationCondition (assets without one are never requested): downstream "
    "assets that simply follow their upstream, e.g. ops_monitor/top_captions after a feature-store partition.",
)

JOBS = [system_health_job, warehouse_backup_job, warehouse_restore_job]
SCHEDULES = [warehouse_backup_schedule]
SENSORS = [system_health_sensor, run_failure_alert_sensor, asset_check_alert_sensor,
           default_automation_condition_sensor]
