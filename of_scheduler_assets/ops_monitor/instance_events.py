"""Reads what the Dagster instance knows (runs, check evaluations, materializations) as plain records.

The monitor and audit assets call these with ``context.instance``; the sensors with their context's instance. The
instance is the source of truth for *what ran*; the warehouse tables are derived from it.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable

import dagster as dg
from dagster._core.events import DagsterEventType

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _ts(value: float | dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(value, dt.UTC)


def finished_runs(instance: dg.DagsterInstance, since: dt.datetime, limit: int = 5000) -> list[dict]:
    """Runs that finished after ``since`` (oldest first): run_id, job_name, status, started_at, end_time, tags."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(FINISHED), updated_after=since), limit=limit)
    out = []
    for rec in records:
        run = rec.dagster_run
        end = _ts(rec.end_time) or _ts(rec.update_timestamp)
        out.append({"run_id": run.run_id, "job_name": run.job_name, "status": run.status.value,
                    "started_at": _ts(rec.start_time) or _ts(rec.create_timestamp), "end_time": end,
                    "tags": dict(run.tags)})
    return sorted(out, key=lambda r: (r["end_time"], r["run_id"]))


def check_evaluations(instance: dg.DagsterInstance, *, after_storage_id: int | None = None,
                      since: dt.datetime | None = None, limit: int = 5000) -> tuple[list[dict], int | None]:
    """Asset check evaluations (oldest first) after a storage id or a time, and the newest storage id seen."""
    # Dagster 1.13 has no fetch_* replacement for check evaluations yet (get_event_records is deprecated for 2.0):
    # when it goes, read get_latest_asset_check_evaluation_record per check key of the asset graph instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*get_event_records.*")
        records = instance.get_event_records(
            dg.EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after_storage_id,
                                  after_timestamp=since.timestamp() if since else None),
            limit=limit, ascending=True)
    out, last = [], after_storage_id
    for rec in records:
        entry = rec.event_log_entry
        evaluation = entry.dagster_event.event_specific_data
        out.append({
            "storage_id": rec.storage_id, "asset_key": evaluation.asset_key.to_user_string(),
            "check_name": evaluation.check_name, "partition": getattr(evaluation, "partition", None),
            "passed": bool(evaluation.passed), "severity": evaluation.severity.value,
            "blocking": bool(evaluation.blocking), "timestamp": _ts(entry.timestamp), "run_id": entry.run_id,
        })
        last = rec.storage_id
    return out, last


def last_materialized(instance: dg.DagsterInstance, keys: Iterable[tuple[str, ...]]) -> dict[tuple, dt.datetime | None]:
    out = {}
    for key in keys:
        event = instance.get_latest_materialization_event(dg.AssetKey(list(key)))
        out[tuple(key)] = None if event is None else _ts(event.timestamp)
    return out


def run_materializations(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """Every materialization of a run: asset_key, partition, row_count, code_version, data_version,
    config_version (from the output's metadata, when the asset records one), materialized_at."""
    conn = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=100000)
    out = []
    for rec in conn.records:
        entry = rec.event_log_entry
        mat = entry.dagster_event.event_specific_data.materialization
        meta = mat.metadata or {}
        tags = mat.tags or {}

        def value(name: str, meta=meta):
            item = meta.get(name)
            return None if item is None else getattr(item, "value", item)

        rows = value("dagster/row_count")
        if rows is None:
            rows = value("rows")
        out.append({
            "asset_key": mat.asset_key.to_user_string(), "partition": mat.partition,
            "row_count": int(rows) if isinstance(rows, (int, float)) else None,
            "code_version": tags.get("dagster/code_version"), "data_version": tags.get("dagster/data_version"),
            "config_version": None if value("config_version") is None else str(value("config_version")),
            "materialized_at": _ts(entry.timestamp),
        })
    return out
