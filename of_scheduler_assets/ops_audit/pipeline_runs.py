"""`ops_audit.pipeline_runs` (50-operations §4): one row per finished run, and `ops_audit.pipeline_run_assets`: one
row per materialization of those runs (row count, code version, data version, config version). Append-only: rows
already recorded are never changed or removed; a run is recorded once, after it finished.

Pure functions over the records of `ops_monitor.instance_events` (plain dicts).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from importlib import resources as importlib_resources

import polars as pl

UTC = pl.Datetime("us", "UTC")

RUNS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String, "job_name": pl.String, "status": pl.String, "started_at": UTC, "ended_at": UTC,
    "duration_s": pl.Float64, "records_processed": pl.Int64, "trigger": pl.String, "config_version": pl.String,
    "data_watermark": pl.String, "code_version": pl.String, "materializations": pl.Int64, "recorded_at": UTC,
}
ASSETS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String, "job_name": pl.String, "asset_key": pl.String, "partition": pl.String,
    "row_count": pl.Int64, "code_version": pl.String, "data_version": pl.String, "config_version": pl.String,
    "materialized_at": UTC, "recorded_at": UTC,
}
CONFIG_ASSET = "ops_config/ops_config"
RANGE_END = "dagster/asset_partition_range_end"


@functools.cache
def location_code_version() -> str:
    """``OF_SCHEDULER_CODE_VERSION`` when the deployment sets it (e.g. the git commit), else the package version and
    the first 12 hex of the sha256 over the package's Python sources, YAML and seeds (stable across machines)."""
    explicit = os.environ.get("OF_SCHEDULER_CODE_VERSION")
    if explicit:
        return explicit
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("of-scheduler-assets")
    except PackageNotFoundError:
        package_version = "0"
    root = importlib_resources.files("of_scheduler_assets")
    digest = hashlib.sha256()
    for path in sorted(p for p in _walk(root) if p.name.endswith((".py", ".yaml", ".csv"))):
        digest.update(str(path.relative_to(root)).encode() if hasattr(path, "relative_to") else path.name.encode())
        digest.update(path.read_bytes())
    return f"{package_version}+{digest.hexdigest()[:12]}"


def _walk(node):
    for child in node.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child)
        else:
            yield child


def trigger_of(tags: Mapping[str, str]) -> str:
    """schedule, sensor, backfill or manual, from the run's Dagster tags."""
    if "dagster/backfill" in tags:
        return "backfill"
    if "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags:
        return "sensor"
    return "manual"


def data_watermark(tags: Mapping[str, str], materializations: Sequence[Mapping]) -> str | None:
    """The newest partition the run wrote (its range end, its partition, or the newest materialized partition)."""
    if tags.get(RANGE_END):
        return tags[RANGE_END]
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    parts = [m["partition"] for m in materializations if m.get("partition")]
    return max(parts) if parts else None


def config_in_force(at: dt.datetime, history: Sequence[tuple[dt.datetime, str]], fallback: str | None) -> str | None:
    """The config_version of the newest `ops_config` materialization at or before ``at`` (``history``: (time,
    version) pairs); ``fallback`` (the currently loaded version) when none is known."""
    known = [version for when, version in history if when is not None and when <= at and version]
    return known[-1] if known else fallback


def pipeline_rows(
    runs: Sequence[Mapping], materializations: Mapping[str, Sequence[Mapping]], *, recorded: set[str],
    config_history: Sequence[tuple[dt.datetime, str]], current_config_version: str | None, code_version: str,
    now: dt.datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(new pipeline_runs rows, new pipeline_run_assets rows) for finished runs not in ``recorded``."""
    history = sorted(config_history, key=lambda p: p[0])
    run_rows, asset_rows = [], []
    for run in runs:
        if run["run_id"] in recorded:
            continue
        mats = materializations.get(run["run_id"], [])
        own_config = next((m["config_version"] for m in mats if m["asset_key"] == CONFIG_ASSET
                           and m["config_version"]), None)
        config = own_config or config_in_force(run["started_at"] or run["end_time"], history, current_config_version)
        started, ended = run["started_at"], run["end_time"]
        counts = [m["row_count"] for m in mats if m["row_count"] is not None]
        run_rows.append({
            "run_id": run["run_id"], "job_name": run["job_name"], "status": run["status"], "started_at": started,
            "ended_at": ended,
            "duration_s": None if started is None or ended is None else round((ended - started).total_seconds(), 3),
            "records_processed": sum(counts) if counts else 0, "trigger": trigger_of(run.get("tags", {})),
            "config_version": config, "data_watermark": data_watermark(run.get("tags", {}), mats),
            "code_version": code_version, "materializations": len(mats), "recorded_at": now,
        })
        for m in mats:
            asset_rows.append({
                "run_id": run["run_id"], "job_name": run["job_name"], "asset_key": m["asset_key"],
                "partition": m["partition"], "row_count": m["row_count"],
                "code_version": m["code_version"] or code_version, "data_version": m["data_version"],
                "config_version": m["config_version"] or config, "materialized_at": m["materialized_at"],
                "recorded_at": now,
            })
    return pl.DataFrame(run_rows, schema=RUNS_SCHEMA), pl.DataFrame(asset_rows, schema=ASSETS_SCHEMA)


def append_only(previous: pl.DataFrame | None, new: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Previous rows untouched (columns added later are null-filled), then the new rows."""
    if previous is None or previous.is_empty():
        return new
    previous = previous.with_columns(
        [pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name not in previous.columns])
    return pl.concat([previous.select(list(schema)).cast(schema), new.cast(schema)])
