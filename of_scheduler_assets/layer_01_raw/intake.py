"""Mailbox intake (10-ingestion §2-§3): list new report emails, fetch each, find and download its file, archive it,
and read its rows as text. No Dagster here: the raw-layer assets call `run_intake` and store its frames.

Per-email isolation: any failure of one email is recorded on its row (status `failed` with an error class, retried
next run) and never stops the others. State carried between runs is the previous `report_emails` table: ids already
`read` or `rejected` are skipped unless `force_reprocess`; `failed` ids are retried with `attempts` + 1.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from of_scheduler_assets import identity
from of_scheduler_assets.layer_01_raw.archive import ArchiveError, archive_report
from of_scheduler_assets.layer_01_raw.download import FetchResult, fetch_report
from of_scheduler_assets.layer_01_raw.email_parsing import ParsedEmail, extract_page_name, find_download
from of_scheduler_assets.layer_01_raw.workbook import RAW_CELL_COLUMNS, ReportRejected, read_report

log = logging.getLogger(__name__)

UTC_US = pl.Datetime("us", "UTC")

# One row per email id ever listed; carried from run to run.
REPORT_EMAILS_SCHEMA: dict[str, pl.DataType] = {
    "message_id": pl.String,
    "thread_id": pl.String,
    "received_at": UTC_US,
    "subject": pl.String,
    "from_address": pl.String,
    "page_name_raw": pl.String,
    "fetch_status": pl.String,  # read | rejected | failed | aged_out
    "attempts": pl.Int64,
    "first_seen_at": UTC_US,
    "last_attempt_at": UTC_US,
    "last_error_class": pl.String,  # file-level reason code (no_download_link, download_failed, ...) or exception
    "last_error": pl.String,
    "download_rule": pl.String,
    "download_host": pl.String,
    "download_path": pl.String,
    "file_sha256": pl.String,
    "archive_uri": pl.String,
    "detected_type": pl.String,
    "file_size": pl.Int64,
    "report_reason": pl.String,  # report-level rejection: page_name_not_found, corrupt_workbook, missing_required_column, ...
    "report_detail": pl.String,
    "report_flags": pl.List(pl.String),
    "n_rows_read": pl.Int64,
    "n_blank_rows": pl.Int64,
    "ingestion_run_id": pl.String,
    "processed_at": UTC_US,
}

REPORT_FILES_SCHEMA: dict[str, pl.DataType] = {
    "message_id": pl.String,
    "received_at": UTC_US,
    "page_name_raw": pl.String,
    "file_sha256": pl.String,
    "file_size": pl.Int64,
    "detected_type": pl.String,
    "archive_uri": pl.String,
    "download_host": pl.String,
    "download_path": pl.String,
    "ingestion_run_id": pl.String,
}

CELL_COLUMNS = list(RAW_CELL_COLUMNS)
MESSAGE_ROWS_RAW_SCHEMA: dict[str, pl.DataType] = {
    "ingestion_run_id": pl.String,
    "ingested_at": UTC_US,
    "message_id": pl.String,
    "report_received_at": UTC_US,
    "archive_uri": pl.String,
    "file_sha256": pl.String,
    "row_number": pl.Int64,
    **{c: pl.String for c in CELL_COLUMNS},
}

DONE_STATUSES = ("read", "rejected")


@dataclass
class IntakeSettings:
    archive_root: Path
    allow_file_urls: bool = True
    max_messages: int = 500
    time_budget_s: float = 1500.0
    bytes_budget: int = 1 << 30
    max_download_bytes: int = 50 << 20
    force_reprocess: bool = False
    backfill: bool = False


@dataclass
class IntakeResult:
    report_emails: pl.DataFrame  # the full table: previous rows updated with this run's attempts
    report_files: pl.DataFrame  # the full table
    new_rows: pl.DataFrame  # message_rows_raw rows of the emails read in this run
    reread_message_ids: list[str]  # ids whose previous raw rows this run replaces
    attempted: int = 0
    stopped_by_budget: str | None = None
    log_lines: list[str] = field(default_factory=list)


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def _conform(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if frame is None or frame.is_empty():
        return _empty(schema)
    return frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in schema.items()])


def _email_row(parsed: ParsedEmail, previous: dict | None, run_id: str, now: datetime) -> dict:
    return {
        "message_id": parsed.message_id,
        "thread_id": parsed.thread_id,
        "received_at": parsed.received_at,
        "subject": parsed.subject,
        "from_address": parsed.from_address,
        "page_name_raw": extract_page_name(parsed),
        "fetch_status": "failed",
        "attempts": (previous or {}).get("attempts", 0) + 1,
        "first_seen_at": (previous or {}).get("first_seen_at") or now,
        "last_attempt_at": now,
        "report_flags": [],
        "ingestion_run_id": run_id,
        "processed_at": now,
    }


def _archive_owner(page_name_raw: str | None, resolve_username: Callable[[str], str | None]) -> str | None:
    return resolve_username(page_name_raw) if page_name_raw else None


def process_email(
    parsed: ParsedEmail,
    *,
    previous: dict | None,
    settings: IntakeSettings,
    run_id: str,
    now: datetime,
    resolve_username: Callable[[str], str | None],
    fetch: Callable[..., FetchResult] = fetch_report,
) -> tuple[dict, dict | None, pl.DataFrame | None]:
    """One email: (report_emails row, report_files row or None, raw rows or None). Never raises for bad input."""
    row = _email_row(parsed, previous, run_id, now)
    target = find_download(parsed, allow_file_urls=settings.allow_file_urls)
    if target is None:
        row.update(last_error_class="no_download_link", last_error="no attachment, download anchor or known host")
        return row, None, None
    row["download_rule"] = target.rule
    result = fetch(target, max_bytes=settings.max_download_bytes, allow_file_urls=settings.allow_file_urls)
    row.update(download_host=result.host, download_path=result.path)
    if not result.ok:
        row.update(last_error_class=result.error, last_error=(result.detail or "")[:2000])
        return row, None, None

    ext = {"xlsx": "xlsx", "xls": "xls", "csv": "csv"}.get(result.detected_type, "bin")
    try:
        archived = archive_report(
            settings.archive_root,
            username_std=_archive_owner(row["page_name_raw"], resolve_username),
            received_at=parsed.received_at,
            message_id=parsed.message_id,
            data=result.data,
            ext=ext,
            sidecar={
                "subject": parsed.subject,
                "received_at": parsed.received_at.isoformat(),
                "page_name_raw": row["page_name_raw"],
                "download_host": result.host,
                "download_path": result.path,
                "ingestion_run_id": run_id,
            },
        )
    except ArchiveError as exc:
        row.update(last_error_class="archive_failed", last_error=str(exc)[:2000])
        return row, None, None
    row.update(file_sha256=archived.sha256, archive_uri=archived.uri, detected_type=result.detected_type, file_size=archived.size)
    file_row = {k: row.get(k) for k in REPORT_FILES_SCHEMA}
    file_row["page_name_raw"] = row["page_name_raw"]

    try:
        table = read_report(result.data, result.detected_type, strict=False)
    except ReportRejected as exc:  # nothing readable: the report is quarantined at file level
        row.update(fetch_status="rejected", report_reason=exc.reason_code, report_detail=exc.detail[:2000], n_rows_read=0, n_blank_rows=0)
        return row, file_row, None

    row.update(
        fetch_status="read",
        report_flags=list(table.flags),
        n_rows_read=table.rows.height,
        n_blank_rows=table.n_blank_rows,
        last_error_class=None,
        last_error=None,
    )
    if table.reject_reason:
        row.update(fetch_status="rejected", report_reason=table.reject_reason, report_detail=table.reject_detail)
    elif row["page_name_raw"] is None:
        row.update(fetch_status="rejected", report_reason="page_name_not_found", report_detail="no page-name phrase in the email")
    rows = table.rows.with_columns(
        ingestion_run_id=pl.lit(run_id),
        ingested_at=pl.lit(now, UTC_US),
        message_id=pl.lit(parsed.message_id),
        report_received_at=pl.lit(parsed.received_at, UTC_US),
        archive_uri=pl.lit(archived.uri),
        file_sha256=pl.lit(archived.sha256),
    ).select(list(MESSAGE_ROWS_RAW_SCHEMA))
    return row, file_row, rows


def run_intake(
    mailbox,
    *,
    previous_emails: pl.DataFrame | None,
    previous_files: pl.DataFrame | None,
    settings: IntakeSettings,
    run_id: str,
    resolve_username: Callable[[str], str | None] = lambda _name: None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fetch: Callable[..., FetchResult] = fetch_report,
) -> IntakeResult:
    emails = _conform(previous_emails, REPORT_EMAILS_SCHEMA)
    files = _conform(previous_files, REPORT_FILES_SCHEMA)
    prior = {r["message_id"]: r for r in emails.iter_rows(named=True)}

    in_window: set[str] = set()

    def already_processed(message_id: str) -> bool:
        in_window.add(message_id)
        if settings.force_reprocess:
            return False
        previous = prior.get(message_id)
        return previous is not None and previous["fetch_status"] in DONE_STATUSES

    refs = mailbox.list_new(already_processed, settings.max_messages, backfill=settings.backfill)
    # A failed email that a complete listing no longer returns has left the search window: it ages out (CRITICAL
    # alert); a backfill run, whose query has no window, can still retry it.
    listing_complete = len(refs) < settings.max_messages
    aged_out = [
        mid for mid, row in prior.items()
        if row["fetch_status"] == "failed" and mid not in in_window and listing_complete
    ]
    started, spent_bytes = time.monotonic(), 0
    email_rows, file_rows, raw_parts, stopped = [], [], [], None
    for ref in refs:
        if time.monotonic() - started > settings.time_budget_s:
            stopped = "time"
            break
        if spent_bytes > settings.bytes_budget:
            stopped = "bytes"
            break
        stamp = now()
        try:
            parsed = mailbox.fetch(ref)
            row, file_row, rows = process_email(
                parsed, previous=prior.get(parsed.message_id), settings=settings, run_id=run_id, now=stamp,
                resolve_username=resolve_username, fetch=fetch,
            )
        except Exception as exc:  # one bad email never blocks the others; it is retried next run
            log.warning("email %s failed: %s", ref.id, exc)
            previous = prior.get(ref.id) or {}
            row = {
                "message_id": ref.id, "thread_id": ref.thread_id, "received_at": ref.received_at,
                "fetch_status": "failed", "attempts": previous.get("attempts", 0) + 1,
                "first_seen_at": previous.get("first_seen_at") or stamp, "last_attempt_at": stamp,
                "last_error_class": type(exc).__name__,
                "last_error": "".join(traceback.format_exception_only(exc)).strip()[:2000],
                "report_flags": [], "ingestion_run_id": run_id, "processed_at": stamp,
            }
            file_row, rows = None, None
        email_rows.append(row)
        if file_row is not None:
            file_rows.append(file_row)
            spent_bytes += file_row.get("file_size") or 0
        if rows is not None:
            raw_parts.append(rows)

    for message_id in aged_out:
        email_rows.append({**prior[message_id], "fetch_status": "aged_out", "processed_at": now()})
    updated = pl.DataFrame(email_rows, schema=REPORT_EMAILS_SCHEMA) if email_rows else _empty(REPORT_EMAILS_SCHEMA)
    touched = updated["message_id"].to_list()
    report_emails = pl.concat([emails.filter(~pl.col("message_id").is_in(touched)), updated]).sort("received_at", "message_id")
    new_files = pl.DataFrame(file_rows, schema=REPORT_FILES_SCHEMA) if file_rows else _empty(REPORT_FILES_SCHEMA)
    report_files = pl.concat([files.filter(~pl.col("message_id").is_in(new_files["message_id"].to_list())), new_files]).sort(
        "received_at", "message_id"
    )
    new_rows = pl.concat(raw_parts) if raw_parts else _empty(MESSAGE_ROWS_RAW_SCHEMA)
    return IntakeResult(
        report_emails=report_emails,
        report_files=report_files,
        new_rows=new_rows,
        reread_message_ids=touched,
        attempted=len(email_rows),
        stopped_by_budget=stopped,
    )


def merge_raw_rows(previous: pl.DataFrame | None, result: IntakeResult) -> pl.DataFrame:
    """message_rows_raw after this run: every earlier row, except those of emails handled again, plus the new rows."""
    prior = _conform(previous, MESSAGE_ROWS_RAW_SCHEMA).filter(~pl.col("message_id").is_in(result.reread_message_ids))
    return pl.concat([prior, result.new_rows]).sort("report_received_at", "message_id", "row_number")


def resolver_from_aliases(aliases: pl.DataFrame | None, registry: pl.DataFrame | None) -> Callable[[str], str | None]:
    """The archive folder's username for a raw page name: exact compact-key matches only, else None (_unresolved)."""
    known: dict[str, str] = {}
    for frame, name_col in ((registry, "username_std"), (aliases, "alias")):
        if frame is None or frame.is_empty() or name_col not in frame.columns or "username_std" not in frame.columns:
            continue
        for name, user in frame.select(pl.col(name_col).alias("name"), pl.col("username_std").alias("user")).iter_rows():
            if name and user:
                known.setdefault(identity.compact_key(name), user)

    def resolve(name: str) -> str | None:
        return known.get(identity.compact_key(name))

    return resolve
