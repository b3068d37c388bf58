"""Staging glue (pure polars, no Dagster): from the raw layer to staging, quarantine and the ingestion state.

Staging is recomputed from `message_rows_raw` on every run. It is deterministic (every timestamp it writes comes
from the raw rows or the report's own record), so a re-run leaves identical tables, and a seed fix (a new alias,
a report time zone) is "replayed" by the next run with no special path (10-ingestion §9.3): rows move from
quarantine to staging and the quarantine row is gone from the current table.
"""

from __future__ import annotations

import json

import polars as pl

from of_scheduler_assets.layer_01_raw.workbook import RAW_CELL_COLUMNS
from of_scheduler_assets.layer_02_staging.pages import resolve_page_names
from of_scheduler_assets.layer_02_staging.reference import quarantine_id
from of_scheduler_assets.layer_02_staging.report_rows import QUARANTINE_SCHEMA, STAGED_SCHEMA, stage_report_rows

DEFAULT_PAGE_TZ = "America/New_York"
REPORT_LEVEL_REPLAYABLE = frozenset({"ambiguous_page", "page_name_not_found", "implausible_timestamp"})

UNMAPPED_SCHEMA: dict[str, pl.DataType] = {
    "name_raw": pl.String,
    "alias_key": pl.String,
    "page_type": pl.String,
    "source": pl.String,
    "first_seen_at": pl.Datetime("us", "UTC"),
    "last_seen_at": pl.Datetime("us", "UTC"),
    "occurrences": pl.Int64,
    "status": pl.String,  # auto_registered | needs_alias | resolved | ignored
    "suggestions": pl.List(pl.String),
}


def known_pages(registry: pl.DataFrame | None) -> pl.DataFrame:
    """Pages the platform knows (the page registry seed until `dim_page` exists), with their time zones."""
    columns = {"username_std": pl.String, "page_type": pl.String, "username_page": pl.String, "tz": pl.String,
               "report_tz": pl.String}
    if registry is None or registry.is_empty() or "username_page" not in registry.columns:
        return pl.DataFrame(schema=columns)
    return registry.select(
        [pl.col(c).cast(t) if c in registry.columns else pl.lit(None, t).alias(c) for c, t in columns.items()]
    ).unique("username_page", keep="first").sort("username_page")


def resolve_report_pages(
    report_emails: pl.DataFrame, aliases: pl.DataFrame, pages: pl.DataFrame, stats_hint: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per report email that produced a file: its page (or why it has none) and its time zones."""
    emails = report_emails.filter(pl.col("fetch_status").is_in(["read", "rejected"]))
    names = emails.filter(pl.col("page_name_raw").is_not_null()).select(
        name_raw="page_name_raw", source=pl.lit("email")
    )
    resolved = resolve_page_names(names, aliases, pages.select("username_std", "page_type", "username_page"), stats_hint)
    return (
        emails.select("message_id", "page_name_raw", "fetch_status", "report_reason", "report_detail", "received_at")
        .join(resolved.drop("source"), left_on="page_name_raw", right_on="name_raw", how="left")
        .join(pages.select("username_page", page_tz="tz", report_tz="report_tz"), on="username_page", how="left")
        .with_columns(
            page_tz=pl.col("page_tz").fill_null(DEFAULT_PAGE_TZ),
            # the report's rejection reason: the file's own (columns, workbook) first, then the page's
            reject_reason=pl.coalesce(
                "report_reason",
                pl.when(pl.col("page_name_raw").is_null()).then(pl.lit("page_name_not_found")),
                pl.when(pl.col("username_page").is_null() | (pl.col("resolution") == "needs_alias")).then(
                    pl.coalesce("reason_code", pl.lit("ambiguous_page"))
                ),
            ),
        )
    )


def _report_level_quarantine(raw: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Every row of a rejected report goes to quarantine with the report's reason; a report with no readable row
    (corrupt workbook) leaves one report-level row (row_number null)."""
    with_rows = raw.join(rejected.select("message_id", "reject_reason", "report_detail"), on="message_id", how="inner")
    rows = with_rows.with_columns(
        raw_row_json=pl.struct(list(RAW_CELL_COLUMNS)).map_elements(
            lambda s: json.dumps(s, ensure_ascii=False, sort_keys=True), return_dtype=pl.String
        )
    ).select(
        source_ref="message_id",
        archive_uri="archive_uri",
        row_number="row_number",
        reason_code="reject_reason",
        reason_detail=pl.coalesce("report_detail", pl.lit("the whole report was rejected")),
        raw_row_json="raw_row_json",
        ingestion_run_id="ingestion_run_id",
        quarantined_at="ingested_at",
    )
    empty_reports = rejected.join(raw.select("message_id").unique(), on="message_id", how="anti").select(
        source_ref="message_id",
        archive_uri="archive_uri",
        row_number=pl.lit(None, pl.Int64),
        reason_code="reject_reason",
        reason_detail=pl.coalesce("report_detail", pl.lit("no readable rows")),
        raw_row_json=pl.lit(None, pl.String),
        ingestion_run_id="ingestion_run_id",
        quarantined_at="processed_at",
    )
    both = pl.concat([rows, empty_reports.cast(rows.schema)])
    return both.with_columns(
        quarantine_id=pl.struct("source_ref", "row_number", "reason_code").map_elements(
            lambda s: quarantine_id(s["source_ref"], s["row_number"], s["reason_code"]), return_dtype=pl.String
        ),
        source_kind=pl.lit("report"),
        is_replayable=pl.col("reason_code").is_in(list(REPORT_LEVEL_REPLAYABLE)),
        released_at=pl.lit(None, pl.Datetime("us", "UTC")),
        released_by_run_id=pl.lit(None, pl.String),
    ).select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)


def stage_messages(
    raw: pl.DataFrame,
    report_emails: pl.DataFrame,
    report_pages: pl.DataFrame,
    roster: pl.DataFrame,
    aliases: pl.DataFrame,
    pages: pl.DataFrame,
    *,
    default_report_tz: str,
    max_price_usd: float,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(stg_message_events, report quarantine rows, unknown senders). Every raw row lands in exactly one table."""
    files = report_emails.select("message_id", "archive_uri", "ingestion_run_id", "processed_at")
    rejected = report_pages.filter(pl.col("reject_reason").is_not_null()).join(files, on="message_id", how="left")
    accepted = report_pages.filter(pl.col("reject_reason").is_null()).select(
        "message_id", "page_name_raw", "username_std", "page_type", "username_page", "identity_source", "page_tz",
        "report_tz",
    )
    good_raw = raw.join(accepted.select("message_id"), on="message_id", how="semi")
    creators = good_raw.select(pl.col("creator").str.strip_chars()).filter(pl.col("creator") != "").unique()
    creator_pages = None
    if creators.height:
        creator_pages = resolve_page_names(
            creators.select(name_raw="creator", source=pl.lit("email")), aliases,
            pages.select("username_std", "page_type", "username_page"),
        ).select("name_raw", "username_page")
    if good_raw.height:
        result = stage_report_rows(
            good_raw, accepted, roster, creator_pages=creator_pages, default_report_tz=default_report_tz,
            max_price_usd=max_price_usd,
        )
        staged, row_quarantine, unknown = result.staged, result.quarantined, result.unknown_senders
    else:
        staged, row_quarantine, unknown = pl.DataFrame(schema=STAGED_SCHEMA), pl.DataFrame(schema=QUARANTINE_SCHEMA), None
    quarantine = pl.concat([row_quarantine.cast(QUARANTINE_SCHEMA), _report_level_quarantine(raw, rejected)])
    return staged, quarantine.sort("source_ref", "row_number", "reason_code", nulls_last=True), unknown


def conservation(report_emails: pl.DataFrame, staged: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Per report that produced rows: rows read, staged and quarantined; `balanced` = read == staged + quarantined."""
    n_staged = staged.group_by("message_id").agg(n_staged=pl.len())
    n_quarantined = (
        quarantine.filter((pl.col("source_kind") == "report") & pl.col("row_number").is_not_null())
        .group_by("source_ref")
        .agg(n_quarantined=pl.len())
        .rename({"source_ref": "message_id"})
    )
    return (
        report_emails.filter(pl.col("fetch_status").is_in(["read", "rejected"]))
        .select("message_id", n_rows="n_rows_read")
        .join(n_staged, on="message_id", how="left")
        .join(n_quarantined, on="message_id", how="left")
        .with_columns(pl.col("n_rows", "n_staged", "n_quarantined").fill_null(0).cast(pl.Int64))
        .with_columns(balanced=pl.col("n_rows") == pl.col("n_staged") + pl.col("n_quarantined"))
    )


def ingestion_state(report_emails: pl.DataFrame, report_pages: pl.DataFrame, counts: pl.DataFrame) -> pl.DataFrame:
    """`ops.ingestion_state` (10-ingestion §2.3): one row per email id."""
    return (
        report_emails.join(
            report_pages.select("message_id", "username_page", "reject_reason"), on="message_id", how="left"
        )
        .join(counts.drop("balanced"), on="message_id", how="left")
        .with_columns(
            status=pl.when(pl.col("fetch_status").is_in(["failed", "aged_out"]))
            .then(pl.col("fetch_status"))
            .when(pl.col("reject_reason").is_not_null())
            .then(pl.lit("quarantined"))
            .otherwise(pl.lit("loaded")),
            last_error_class=pl.coalesce("last_error_class", "reject_reason"),
            last_error=pl.coalesce("last_error", "report_detail"),
        )
        .select(
            "message_id", "thread_id", "received_at", "subject", "status", "attempts", "first_seen_at",
            "last_attempt_at", "last_error_class", "last_error", "page_name_raw", "username_page", "download_host",
            "file_sha256", "archive_uri", pl.col("n_rows").fill_null(0), pl.col("n_staged").fill_null(0),
            pl.col("n_quarantined").fill_null(0), pl.col("n_blank_rows").fill_null(0), "report_flags",
            "processed_at", "ingestion_run_id",
        )
        .sort("received_at", "message_id")
    )


def unmapped_usernames(resolutions: list[pl.DataFrame], seen: list[pl.DataFrame]) -> pl.DataFrame:
    """`ops.unmapped_usernames`: names that did not resolve to a known page (auto-registered or needing an alias).

    `resolutions`: outputs of `resolve_page_names`; `seen`: frames of (`name_raw`, `source`, `seen_at`) occurrences.
    Unknown senders arrive as resolution-like frames with `resolution` = needs_alias.
    """
    occurrences = pl.concat([s.select("name_raw", "source", pl.col("seen_at").cast(pl.Datetime("us", "UTC"))) for s in seen])
    stats = occurrences.group_by("name_raw", "source").agg(
        first_seen_at=pl.col("seen_at").min(), last_seen_at=pl.col("seen_at").max(), occurrences=pl.len()
    )
    frames = [
        r.filter(pl.col("resolution") != "resolved").select(
            "name_raw", "alias_key", page_type=pl.coalesce("page_type", "page_type_token"), source="source",
            status="resolution", suggestions=pl.col("suggestions").cast(pl.List(pl.String)),
        )
        for r in resolutions
        if r.height
    ]
    if not frames:
        return pl.DataFrame(schema=UNMAPPED_SCHEMA)
    return (
        pl.concat(frames)
        .unique(["name_raw", "source"], keep="first")
        .join(stats, on=["name_raw", "source"], how="left")
        .with_columns(pl.col("occurrences").fill_null(0))
        .select(list(UNMAPPED_SCHEMA))
        .cast(UNMAPPED_SCHEMA)
        .sort("source", "name_raw")
    )


def _quarantine_unresolved(parsed: pl.DataFrame, resolved: pl.DataFrame, *, source_kind: str, name_col: str) -> pl.DataFrame:
    """Rows whose page name cannot be attributed to one page: quarantined `ambiguous_page` (replayable)."""
    bad = parsed.join(resolved, left_on=name_col, right_on="name_raw", how="inner").filter(
        pl.col("username_page").is_null() | (pl.col("resolution") == "needs_alias")
    )
    if bad.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return bad.select(
        quarantine_id=pl.struct("source_file_sha256", "row_number").map_elements(
            lambda s: quarantine_id(s["source_file_sha256"], s["row_number"], "ambiguous_page"), return_dtype=pl.String
        ),
        source_kind=pl.lit(source_kind),
        source_ref="source_file_sha256",
        archive_uri=pl.lit(None, pl.String),
        row_number="row_number",
        reason_code=pl.lit("ambiguous_page"),
        reason_detail=pl.format("page name '{}' needs an alias", pl.col(name_col)),
        raw_row_json=pl.struct(name_col).map_elements(lambda s: json.dumps(s, ensure_ascii=False), return_dtype=pl.String),
        ingestion_run_id=pl.lit(None, pl.String),
        quarantined_at="ingested_at",
        is_replayable=pl.lit(True),
        released_at=pl.lit(None, pl.Datetime("us", "UTC")),
        released_by_run_id=pl.lit(None, pl.String),
    ).cast(QUARANTINE_SCHEMA)


def _attach_pages(parsed: pl.DataFrame, resolved: pl.DataFrame, name_col: str) -> pl.DataFrame:
    return parsed.join(
        resolved.select("name_raw", "username_std", "page_type", "username_page", "identity_source", "resolution"),
        left_on=name_col, right_on="name_raw", how="left",
    ).filter(pl.col("username_page").is_not_null() & (pl.col("resolution") != "needs_alias"))


def stage_creator_stats(
    parsed: pl.DataFrame, aliases: pl.DataFrame, pages: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(stg_creator_stats, ambiguous-page quarantine, resolutions). The statistics themselves hint the page type of
    creators not known yet (paid-like revenue -> paid)."""
    hint = parsed.group_by("compact_key").agg(is_paid_like=pl.col("is_paid_like").any())
    resolved = resolve_page_names(
        parsed.select(name_raw="creator_display", source=pl.lit("creator_stats")), aliases,
        pages.select("username_std", "page_type", "username_page"), hint,
    )
    staged = _attach_pages(parsed, resolved, "creator_display").sort("username_page", "period_end", "source_file_sha256")
    return staged, _quarantine_unresolved(parsed, resolved, source_kind="creator_stats", name_col="creator_display"), resolved


def stage_scheduler_assignments(
    parsed: pl.DataFrame, aliases: pl.DataFrame, pages: pl.DataFrame, roster: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(stg_scheduler_assignments, quarantine, resolutions incl. unknown scheduler codes as provisional entries)."""
    resolved = resolve_page_names(
        parsed.select(name_raw="page_name_raw", source=pl.lit("scheduler_sheet")), aliases,
        pages.select("username_std", "page_type", "username_page"),
    )
    known_codes = roster.get_column("scheduler_code").to_list() if roster.height else []
    staged = (
        _attach_pages(parsed, resolved, "page_name_raw")
        .with_columns(scheduler_known=pl.col("scheduler_code").is_in(known_codes))
        .sort("username_page", "scheduler_code", "source_file_sha256", "row_number")
    )
    unknown_codes = (
        parsed.filter(~pl.col("scheduler_code").is_in(known_codes) & (pl.col("scheduler_code") != ""))
        .select(
            name_raw="scheduler_code", source=pl.lit("scheduler"), alias_key=pl.col("scheduler_code").str.to_lowercase(),
            page_type=pl.lit(None, pl.String), page_type_token=pl.lit(None, pl.String),
            resolution=pl.lit("auto_registered"), suggestions=pl.lit([], pl.List(pl.String)),
        )
        .unique("name_raw")
    )
    resolutions = pl.concat([resolved, unknown_codes], how="diagonal_relaxed")
    quarantine = _quarantine_unresolved(parsed, resolved, source_kind="scheduler_assignments", name_col="page_name_raw")
    return staged, quarantine, resolutions


def unknown_senders_as_resolutions(unknown: pl.DataFrame | None) -> pl.DataFrame:
    if unknown is None or unknown.is_empty():
        return pl.DataFrame()
    return unknown.select(
        name_raw="sender_std", source=pl.lit("sender"), alias_key="sender_std", page_type=pl.lit(None, pl.String),
        page_type_token=pl.lit(None, pl.String), resolution=pl.lit("needs_alias"),
        suggestions=pl.lit([], pl.List(pl.String)),
    )


def latest_snapshots(stg_message_events: pl.DataFrame) -> pl.DataFrame:
    """10-ingestion §8: per `message_send_key`, the snapshot with the latest `report_received_at`, then the latest
    `ingested_at`, then the lowest `row_number`; with `snapshot_count` and the first report time. This is the input
    of `fact_message_send`."""
    ordered = stg_message_events.sort(
        ["message_send_key", "report_received_at", "ingested_at", "row_number"],
        descending=[False, True, True, False],
    )
    stats = stg_message_events.group_by("message_send_key").agg(
        snapshot_count=pl.len(), first_report_received_at=pl.col("report_received_at").min(),
        status_flips=(pl.col("status").sort_by("report_received_at").ne(pl.col("status").sort_by("report_received_at").shift(1))
                      .fill_null(False).sum().cast(pl.Int64)),
    )
    return ordered.unique("message_send_key", keep="first", maintain_order=True).join(stats, on="message_send_key")
