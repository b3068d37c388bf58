"""Alert rows (50-operations §3.2), pure polars. Alerts are derived from current state: an alert is open while its
condition holds and disappears from the current table when it clears; its id is stable (type | key | date)."""

from __future__ import annotations

import hashlib

import polars as pl

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
    "severity": pl.String,
    "alert_type": pl.String,
    "alert_code": pl.String,
    "username_page": pl.String,
    "message": pl.String,
    "action_required": pl.String,
    "source": pl.String,
    "status": pl.String,
    "resolved_at": pl.Datetime("us", "UTC"),
}


def _alert_id(code: str, key: str, created) -> str:
    day = "" if created is None else f"{created:%Y-%m-%d}"
    return hashlib.sha256(f"{code}|{key}|{day}".encode()).hexdigest()


def ingestion_alerts(state: pl.DataFrame, unmapped: pl.DataFrame, *, max_attempts: int = 3,
                     quarantine_rate: float = 0.05) -> pl.DataFrame:
    """10-ingestion §2.9: repeated failures, quarantine rate per report, unmapped names."""
    rows: list[dict] = []
    for r in state.filter((pl.col("status") == "failed") & (pl.col("attempts") >= max_attempts)).iter_rows(named=True):
        rows.append(dict(
            created_at=r["last_attempt_at"], severity="WARNING", alert_type="Ingestion", alert_code="INGEST_REPEATED_FAILURE",
            username_page=r["username_page"], key=r["message_id"],
            message=f"report email {r['message_id']} failed {r['attempts']} times: {r['last_error_class']}",
            action_required="check the download link or the mailbox; the email is retried every run",
        ))
    for r in state.filter(pl.col("status") == "aged_out").iter_rows(named=True):
        rows.append(dict(
            created_at=r["processed_at"], severity="CRITICAL", alert_type="Ingestion", alert_code="INGEST_AGED_OUT",
            username_page=r["username_page"], key=r["message_id"],
            message=f"report email {r['message_id']} failed {r['attempts']} times and left the mailbox search window",
            action_required="run ingest_reports_job with backfill: true, or recover the report by hand",
        ))
    loaded = state.filter((pl.col("n_rows") > 0) & (pl.col("status") == "loaded"))
    for r in loaded.filter(pl.col("n_quarantined") > quarantine_rate * pl.col("n_rows")).iter_rows(named=True):
        rows.append(dict(
            created_at=r["processed_at"], severity="WARNING", alert_type="Ingestion", alert_code="INGEST_QUARANTINE_RATE",
            username_page=r["username_page"], key=r["message_id"],
            message=f"{r['n_quarantined']} of {r['n_rows']} rows of report {r['message_id']} quarantined",
            action_required="review ops.quarantine_rows for this report",
        ))
    # page names only: unknown senders are chatter accounts, listed in ops.unmapped_usernames for review
    page_names = unmapped.filter(pl.col("status").is_in(["auto_registered", "needs_alias"]) & (pl.col("source") != "sender"))
    for r in page_names.iter_rows(named=True):
        rows.append(dict(
            created_at=r["first_seen_at"], severity="INFO", alert_type="Unmapped Name", alert_code="UNMAPPED_PAGE_NAME",
            username_page=None, key=f"{r['source']}|{r['name_raw']}",
            message=f"{r['source']} name '{r['name_raw']}' is {r['status']}",
            action_required="add an alias to seeds/page_aliases.csv (or the roster) if this is a known page",
        ))
    if not rows:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    frame = pl.DataFrame(rows)
    return (
        frame.with_columns(
            alert_id=pl.struct("alert_code", "key", "created_at").map_elements(
                lambda s: _alert_id(s["alert_code"], s["key"], s["created_at"]), return_dtype=pl.String
            ),
            source=pl.lit("ingestion"),
            status=pl.lit("open"),
            resolved_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
        .select(list(ALERT_SCHEMA))
        .cast(ALERT_SCHEMA)
        .sort("alert_code", "alert_id")
    )


def planning_alerts(qa_violations: pl.DataFrame) -> pl.DataFrame:
    """40-planning §8: every `INFEASIBLE_WINDOW` finding of the latest QA run becomes an alert (priority MEDIUM on the
    team sheet = WARNING here, type "Schedule Check", message "Check schedule for <date>", action "Review timing")."""
    if qa_violations.is_empty():
        return pl.DataFrame(schema=ALERT_SCHEMA)
    latest = qa_violations.filter(pl.col("run_at") == pl.col("run_at").max())
    rows = [
        dict(created_at=r["run_at"], severity="WARNING", alert_type="Schedule Check", alert_code="INFEASIBLE_WINDOW",
             username_page=r["username_page"], key=f"{r['username_page']}|{r['date_local']}",
             message=f"Check schedule for {r['date_local']}: {r['details']}", action_required="Review timing")
        for r in latest.filter(pl.col("check_name") == "INFEASIBLE_WINDOW").iter_rows(named=True)
    ]
    if not rows:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    return (
        pl.DataFrame(rows)
        .with_columns(
            alert_id=pl.struct("alert_code", "key").map_elements(
                lambda s: _alert_id(s["alert_code"], s["key"], None), return_dtype=pl.String),
            source=pl.lit("planning_qa"),
            status=pl.lit("open"),
            resolved_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
        .select(list(ALERT_SCHEMA))
        .cast(ALERT_SCHEMA)
        .sort("username_page", "alert_id")
    )
