"""System health, freshness and pipeline alerts (50-operations §2, §3.1, §3.2, §3.4), pure polars.

Inputs are plain frames / records, so every rule is testable without Dagster; `assets.py` reads the warehouse and the
Dagster instance and calls these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA

UTC = pl.Datetime("us", "UTC")

# ---------------------------------------------------------------------------------------------------------------------
# §3.1 system_health
# ---------------------------------------------------------------------------------------------------------------------

HEALTH_SCHEMA: dict[str, pl.DataType] = {
    "evaluated_at": UTC,
    "health_score": pl.Int64,
    "alert_status": pl.String,
    "data_age_hours": pl.Float64,
    "eligibility_rate": pl.Float64,
    "daily_sends": pl.Int64,
    "avg_confidence": pl.Float64,
    "features_date": pl.Date,
    "stale_assets": pl.Int64,
    "open_alerts_critical": pl.Int64,
    "open_alerts_warning": pl.Int64,
    "open_alerts_info": pl.Int64,
    "quarantine_rate_24h": pl.Float64,
    "open_unmapped_names": pl.Int64,
}


def health_score(data_age_hours: float | None, eligibility_rate: float | None, daily_sends: int,
                 avg_confidence: float | None) -> int:
    """§3.1: four components of 25; a missing measurement scores like a failing one (no feature store = stale)."""
    fresh = data_age_hours is not None and data_age_hours < 26
    return ((25 if fresh else 0) + (25 if (eligibility_rate or 0.0) > 0.3 else 15)
            + (25 if daily_sends > 100 else 15) + (25 if (avg_confidence or 0.0) > 0.05 else 15))


def alert_status(data_age_hours: float | None, eligibility_rate: float | None, daily_sends: int) -> str:
    """§3.1, first match. No feature store at all counts as stale data."""
    if data_age_hours is None or data_age_hours > 48:
        return "CRITICAL - Stale Data"
    if (eligibility_rate or 0.0) < 0.1:
        return "WARNING - Low Eligibility"
    if daily_sends < 10:
        return "WARNING - Low Volume"
    return "HEALTHY"


def system_health_row(
    *, now: dt.datetime, features: pl.DataFrame | None, sends_24h: int, alerts: pl.DataFrame | None = None,
    freshness: pl.DataFrame | None = None, ingestion_state: pl.DataFrame | None = None,
    unmapped: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One evaluation. ``features``: the latest feature-store partition (columns computed_date, computed_at,
    is_eligible, confidence_score, send_events_90d); ``sends_24h``: send events with sending_ts_utc in (now − 24 h,
    now]."""
    age = rate = confidence = None
    features_date = None
    if features is not None and features.height:
        computed_at = features["computed_at"].max()
        age = round((now - computed_at).total_seconds() / 3600.0, 3)
        features_date = features["computed_date"].max()
        rate = float(features["is_eligible"].cast(pl.Float64).mean())
        sent = features.filter(pl.col("send_events_90d") > 0)["confidence_score"]
        confidence = float(sent.mean()) if sent.len() and sent.null_count() < sent.len() else None
    open_alerts = {"CRITICAL": 0, "WARNING": 0, "INFO": 0}
    if alerts is not None and alerts.height:
        for severity, n in alerts.filter(pl.col("status") == "open").group_by("severity").len().iter_rows():
            open_alerts[severity] = n
    stale = int((~freshness["is_fresh"]).sum()) if freshness is not None and freshness.height else 0
    quarantine_rate = None
    if ingestion_state is not None and ingestion_state.height and "processed_at" in ingestion_state.columns:
        recent = ingestion_state.filter(pl.col("processed_at") > now - dt.timedelta(hours=24))
        total = int(recent["n_rows"].sum()) if recent.height else 0
        quarantine_rate = round(int(recent["n_quarantined"].sum()) / total, 6) if total else None
    unmapped_open = 0
    if unmapped is not None and unmapped.height:
        unmapped_open = unmapped.filter(pl.col("status").is_in(["auto_registered", "needs_alias"])).height
    row = {
        "evaluated_at": now, "health_score": health_score(age, rate, sends_24h, confidence),
        "alert_status": alert_status(age, rate, sends_24h), "data_age_hours": age,
        "eligibility_rate": None if rate is None else round(rate, 6), "daily_sends": sends_24h,
        "avg_confidence": None if confidence is None else round(confidence, 6), "features_date": features_date,
        "stale_assets": stale, "open_alerts_critical": open_alerts["CRITICAL"],
        "open_alerts_warning": open_alerts["WARNING"], "open_alerts_info": open_alerts["INFO"],
        "quarantine_rate_24h": quarantine_rate, "open_unmapped_names": unmapped_open,
    }
    return pl.DataFrame([row], schema=HEALTH_SCHEMA)


def append_evaluation(previous: pl.DataFrame | None, row: pl.DataFrame, *, keep_days: int = 90) -> pl.DataFrame:
    """`system_health` keeps one row per evaluation (the last ``keep_days``); a row's columns follow HEALTH_SCHEMA."""
    if previous is None or previous.is_empty():
        return row
    now = row["evaluated_at"].max()
    kept = previous.filter((pl.col("evaluated_at") >= now - dt.timedelta(days=keep_days))
                           & (pl.col("evaluated_at") != now))
    return pl.concat([kept.select([c for c in HEALTH_SCHEMA if c in kept.columns]), row],
                     how="diagonal_relaxed").cast(HEALTH_SCHEMA).sort("evaluated_at")


# ---------------------------------------------------------------------------------------------------------------------
# §2 freshness
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshnessTarget:
    asset: tuple[str, str]
    hours: float
    severity: str
    config_key: str | None = None  # key in ops_config.yaml `freshness:` (default: the table name)
    after_health: bool = False     # built from system_health (the health exports): measured, never waited for


# 50-operations §2, by materialization age; ops_config.yaml `freshness:` (hours) overrides.
# stg_message_events (≤ 1 h after the newest archived report) is data-relative and is left to ingestion's own alerts.
FRESHNESS_TARGETS: tuple[FreshnessTarget, ...] = (
    FreshnessTarget(("layer_03_foundation", "fact_message_send"), 24, "CRITICAL"),
    FreshnessTarget(("layer_04_semantic", "caption_performance_daily"), 26, "CRITICAL"),
    FreshnessTarget(("layer_05_ml", "feature_store"), 26, "CRITICAL"),
    FreshnessTarget(("layer_06_rankings", "caption_rank_next24"), 2, "CRITICAL"),
    FreshnessTarget(("layer_07_export", "schedule_recommendations"), 2, "CRITICAL"),
    FreshnessTarget(("layer_07_export", "api_captions"), 2, "CRITICAL"),
    FreshnessTarget(("layer_07_export", "api_system_health"), 2, "CRITICAL", after_health=True),
    FreshnessTarget(("layer_07_export", "api_top_captions"), 2, "CRITICAL", after_health=True),
    FreshnessTarget(("layer_07_export", "team_sheets"), 2, "CRITICAL", after_health=True),
    FreshnessTarget(("layer_03_foundation", "dim_caption"), 13, "WARNING"),
    FreshnessTarget(("layer_06_rankings", "weekly_template_7d"), 192, "CRITICAL", config_key="weekly_template"),
    FreshnessTarget(("ops_config", "page_knobs_learned"), 26, "WARNING"),
    FreshnessTarget(("ops_monitor", "system_health"), 0.5, "WARNING", after_health=True),
)

FRESHNESS_SCHEMA: dict[str, pl.DataType] = {
    "asset_key": pl.String, "target_hours": pl.Float64, "severity": pl.String, "last_materialized_at": UTC,
    "age_hours": pl.Float64, "is_fresh": pl.Boolean, "evaluated_at": UTC,
}


def targets_with_config(overrides: Mapping[str, float] | None,
                        targets: Sequence[FreshnessTarget] = FRESHNESS_TARGETS) -> list[FreshnessTarget]:
    overrides = overrides or {}
    return [FreshnessTarget(t.asset, float(overrides.get(t.config_key or t.asset[1], t.hours)), t.severity,
                            t.config_key, t.after_health) for t in targets]


def freshness_rows(targets: Iterable[FreshnessTarget], last_materialized: Mapping[tuple[str, str], dt.datetime | None],
                   now: dt.datetime) -> pl.DataFrame:
    """One row per target present in ``last_materialized`` (assets of the code location; None = never built)."""
    rows = []
    for t in targets:
        if t.asset not in last_materialized:
            continue
        last = last_materialized[t.asset]
        age = None if last is None else round((now - last).total_seconds() / 3600.0, 3)
        rows.append({"asset_key": "/".join(t.asset), "target_hours": t.hours, "severity": t.severity,
                     "last_materialized_at": last, "age_hours": age,
                     "is_fresh": age is not None and age <= t.hours, "evaluated_at": now})
    return pl.DataFrame(rows, schema=FRESHNESS_SCHEMA)


# ---------------------------------------------------------------------------------------------------------------------
# §3.2 alert rows from freshness, failed runs and failed checks
# ---------------------------------------------------------------------------------------------------------------------


def _alert_id(code: str, key: str, created: dt.datetime | None) -> str:
    day = "" if created is None else f"{created:%Y-%m-%d}"
    return hashlib.sha256(f"{code}|{key}|{day}".encode()).hexdigest()


def _frame(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    for r in rows:
        r["alert_id"] = _alert_id(r["alert_code"], r.pop("key"), r["created_at"])
        r.setdefault("username_page", None)
        r.update(status="open", resolved_at=None)
    return pl.DataFrame(rows, schema=ALERT_SCHEMA).sort("alert_code", "alert_id")


def freshness_alerts(freshness: pl.DataFrame) -> pl.DataFrame:
    """Data Freshness (§3.2): one open alert per missed target, severity per §2; it clears when the asset is rebuilt.
    The alert's date is the day the target was missed (last build + target), so it keeps one id while open."""
    rows = []
    for r in freshness.filter(~pl.col("is_fresh")).iter_rows(named=True):
        last = r["last_materialized_at"]
        missed = r["evaluated_at"] if last is None else last + dt.timedelta(hours=r["target_hours"])
        age = "never built" if last is None else f"last built {r['age_hours']:.1f} h ago"
        rows.append(dict(
            created_at=missed, severity=r["severity"], alert_type="Data Freshness", alert_code="FRESHNESS_MISSED",
            key=r["asset_key"], source="system_health",
            message=f"{r['asset_key']} is stale: {age} (target {r['target_hours']:g} h)",
            action_required="check the schedule or sensor that builds it and its last run",
        ))
    return _frame(rows)


def run_failure_alerts(runs: Sequence[Mapping]) -> pl.DataFrame:
    """One CRITICAL alert per job whose most recent finished run failed (§1 run_failure_alert_sensor). ``runs``: dicts
    with run_id, job_name, status (SUCCESS / FAILURE / CANCELED), end_time (UTC datetime). A later successful run of the
    same job resolves it (the row leaves the table)."""
    latest: dict[str, Mapping] = {}
    for run in sorted(runs, key=lambda r: (r["end_time"], r["run_id"])):
        latest[run["job_name"]] = run
    rows = [dict(
        created_at=run["end_time"], severity="CRITICAL", alert_type="Run Failure", alert_code="RUN_FAILED",
        key=job, source="run_failure_alert_sensor", message=f"Run failed: {job} (run {run['run_id']})",
        action_required="open the run in the Dagster UI, fix the cause and re-execute",
    ) for job, run in latest.items() if run["status"] == "FAILURE"]
    return _frame(rows)


def run_failure_alert_row(job_name: str, run_id: str, at: dt.datetime) -> pl.DataFrame:
    return run_failure_alerts([{"run_id": run_id, "job_name": job_name, "status": "FAILURE", "end_time": at}])


def check_failure_alerts(evaluations: Sequence[Mapping]) -> pl.DataFrame:
    """Failed ERROR-severity asset checks (§1 asset_check_alert_sensor, §3.2 QA): CRITICAL when the check is blocking,
    else WARNING; one open alert per (asset, check, partition) while its latest evaluation fails. ``evaluations``:
    dicts with asset_key ("schema/table"), check_name, partition, passed, severity (ERROR / WARN), blocking, timestamp,
    run_id."""
    latest: dict[tuple, Mapping] = {}
    for ev in sorted(evaluations, key=lambda e: e["timestamp"]):
        latest[(ev["asset_key"], ev["check_name"], ev.get("partition"))] = ev
    rows = []
    for (asset, check, partition), ev in latest.items():
        if ev["passed"] or ev["severity"] != "ERROR":
            continue
        where = f"{asset}:{check}" + (f" [{partition}]" if partition else "")
        rows.append(dict(
            created_at=ev["timestamp"], severity="CRITICAL" if ev["blocking"] else "WARNING", alert_type="QA",
            alert_code="CHECK_FAILED_BLOCKING" if ev["blocking"] else "CHECK_FAILED", key=where,
            source="asset_check_alert_sensor", message=f"Check failed: {where} (run {ev['run_id']})",
            action_required="see the check's metadata in the Dagster UI; downstream steps of a blocking check did "
            "not run" if ev["blocking"] else "see the check's metadata in the Dagster UI",
        ))
    return _frame(rows)


# ---------------------------------------------------------------------------------------------------------------------
# §3.4 what the health evaluation delivers
# ---------------------------------------------------------------------------------------------------------------------

DELIVERY_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String, "severity": pl.String, "alert_type": pl.String, "kind": pl.String,
    "channels": pl.String, "status": pl.String, "delivered_at": UTC,
}
# Their CRITICAL alerts are sent by the sensors the moment they happen; the table rows are not re-sent.
SENSOR_SOURCES = ("run_failure_alert_sensor", "asset_check_alert_sensor")


def plan_delivery(alerts: pl.DataFrame, deliveries: pl.DataFrame | None, now: dt.datetime,
                  *, digest_every: dt.timedelta = dt.timedelta(hours=1)) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(immediate, digest): open CRITICAL alerts never delivered; and, when the last digest is at least
    ``digest_every`` old (or there was none), the open WARNING alerts not yet delivered. INFO stays in the tables.
    CRITICAL alerts raised by the run/check sensors were sent by them and are skipped here."""
    sent_by_sensor = pl.col("source").is_in(list(SENSOR_SOURCES)) & (pl.col("severity") == "CRITICAL")
    open_ = alerts.filter((pl.col("status") == "open") & ~sent_by_sensor.fill_null(False))
    sent_ids: list[str] = []
    last_digest = None
    if deliveries is not None and deliveries.height:
        sent_ids = deliveries["alert_id"].to_list()
        digests = deliveries.filter(pl.col("kind") == "digest")
        last_digest = digests["delivered_at"].max() if digests.height else None
    fresh = open_.filter(~pl.col("alert_id").is_in(sent_ids))
    immediate = fresh.filter(pl.col("severity") == "CRITICAL")
    digest = fresh.filter(pl.col("severity") == "WARNING")
    if last_digest is not None and now - last_digest < digest_every:
        digest = digest.clear()
    return immediate, digest


def delivery_rows(alerts: pl.DataFrame, kind: str, channels: Mapping[str, str], now: dt.datetime) -> pl.DataFrame:
    status = "logged" if not channels else ("sent" if any(v == "sent" for v in channels.values()) else "failed")
    return pl.DataFrame({
        "alert_id": alerts["alert_id"], "severity": alerts["severity"], "alert_type": alerts["alert_type"],
        "kind": [kind] * alerts.height, "channels": [",".join(f"{k}:{v}" for k, v in sorted(channels.items()))
                                                    or "log"] * alerts.height,
        "status": [status] * alerts.height, "delivered_at": [now] * alerts.height,
    }, schema=DELIVERY_SCHEMA)
