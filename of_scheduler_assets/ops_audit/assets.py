"""Dagster wiring of the run audit (50-operations §4): `ops_audit/pipeline_runs` and `ops_audit/pipeline_run_assets`,
appended from the Dagster instance's run and materialization records (each finished run once, never rewritten)."""

import datetime as dt

import dagster as dg

from of_scheduler_assets.ops_audit import pipeline_runs as PR
from of_scheduler_assets.ops_monitor import instance_events
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "ops_audit"
FIRST_LOOKBACK = dt.timedelta(days=30)   # how far back the very first evaluation looks
OVERLAP = dt.timedelta(days=1)           # re-scan window before the newest recorded end (runs finishing out of order)


def config_history(instance: dg.DagsterInstance, limit: int = 500) -> list[tuple[dt.datetime, str]]:
    """(time, config_version) of the recent `ops_config/ops_config` materializations, oldest first."""
    result = instance.fetch_materializations(dg.AssetKey(["ops_config", "ops_config"]), limit=limit)
    out = []
    for rec in result.records:
        meta = rec.asset_materialization.metadata if rec.asset_materialization else {}
        value = meta.get("config_version")
        if value is not None:
            out.append((dt.datetime.fromtimestamp(rec.timestamp, dt.UTC), str(getattr(value, "value", value))))
    return sorted(out)


@dg.multi_asset(
    outs={
        "pipeline_runs": dg.AssetOut(key=[GROUP, "pipeline_runs"], group_name=GROUP, description=(
            "Append-only: one row per finished run (50-operations §4): run_id, job_name, status, start, end, "
            "duration, records_processed (sum of the row counts it wrote), trigger (schedule, sensor, manual, "
            "backfill), config_version in force, data_watermark (newest partition written), code_version.")),
        "pipeline_run_assets": dg.AssetOut(key=[GROUP, "pipeline_run_assets"], group_name=GROUP, description=(
            "Append-only: one row per materialization of those runs: asset, partition, row count, code version, "
            "data version, config version.")),
    },
)
def pipeline_runs(context: dg.AssetExecutionContext, warehouse: WarehouseReader, ops_config_file: OpsConfigResource):
    now = dt.datetime.now(dt.UTC)  # instance records carry wall-clock instants
    previous_runs = warehouse.read_table(GROUP, "pipeline_runs")
    previous_assets = warehouse.read_table(GROUP, "pipeline_run_assets")
    if previous_runs is not None and previous_runs.height:
        since = previous_runs["ended_at"].max() - OVERLAP
        recorded = set(previous_runs["run_id"].to_list())
    else:
        since, recorded = now - FIRST_LOOKBACK, set()
    runs = [r for r in instance_events.finished_runs(context.instance, since) if r["run_id"] not in recorded]
    materializations = {r["run_id"]: instance_events.run_materializations(context.instance, r["run_id"]) for r in runs}
    new_runs, new_assets = PR.pipeline_rows(
        runs, materializations, recorded=recorded, config_history=config_history(context.instance),
        current_config_version=ops_config_file.load().config_version, code_version=PR.location_code_version(),
        now=now)
    all_runs = PR.append_only(previous_runs, new_runs, PR.RUNS_SCHEMA)
    all_assets = PR.append_only(previous_assets, new_assets, PR.ASSETS_SCHEMA)
    yield dg.Output(all_runs, "pipeline_runs", metadata={"new_runs": new_runs.height, "rows": all_runs.height})
    yield dg.Output(all_assets, "pipeline_run_assets",
                    metadata={"new_rows": new_assets.height, "rows": all_assets.height})


ASSETS = [pipeline_runs]
