"""Dagster wiring of `layer_02_staging`: typed rows of every source, with their quarantine and page resolution."""


import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import contract_check
from of_scheduler_assets.layer_01_raw.archive import read_archived
from of_scheduler_assets.layer_02_staging import ingest, reference, reference_schemas, schemas
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_02_staging"
RAW = "layer_01_raw"
CONFIG = "ops_config"


def _out(name: str, description: str, group: str = GROUP) -> dg.AssetOut:
    return dg.AssetOut(key=[group, name], group_name=group, description=description)


def _files(raw: pl.DataFrame, *, latest_per_name: bool = False) -> list[dict]:
    """The distinct files behind a reference raw table, in arrival order. With ``latest_per_name``, a file re-dropped
    under the same name supersedes its earlier content (a re-export of the same sheet); the earlier content stays in
    the raw layer and the archive."""
    if raw.is_empty():
        return []
    cols = ["file_sha256", "file_name", "archive_uri", "arrival_order", "ingested_at", "ingestion_run_id"]
    files = raw.select(cols).unique("file_sha256").sort("arrival_order")
    if latest_per_name:
        files = files.unique("file_name", keep="last", maintain_order=True)
    return files.to_dicts()


def _parse_files(raw: pl.DataFrame, parser, schema: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse every archived file of a reference raw table: (parsed rows, quarantine rows). No file yet still gives
    typed (empty) tables: a warehouse cannot store a frame without columns."""
    parsed, quarantined = [pl.DataFrame(schema=schema)], [pl.DataFrame(schema=ingest.QUARANTINE_SCHEMA)]
    for f in _files(raw):
        rows, q = parser(
            read_archived(f["archive_uri"]), file_sha256=f["file_sha256"], ingested_at=f["ingested_at"],
            ingestion_run_id=f["ingestion_run_id"], archive_uri=f["archive_uri"],
        )
        parsed.append(rows)
        quarantined.append(q)
    return pl.concat(parsed, how="diagonal_relaxed"), pl.concat(quarantined, how="diagonal_relaxed")


@dg.multi_asset(
    outs={
        "stg_message_events": _out("stg_message_events", "One row per report row (every snapshot), typed, keyed."),
        "quarantine_message_rows": _out("quarantine_message_rows", "Report rows that could not be staged, with reasons."),
        "report_pages": _out("report_pages", "Page resolution of every report email (or why it has none)."),
        "unknown_senders": _out("unknown_senders", "Sender names that match no scheduler in the roster."),
    },
    ins={
        "message_rows_raw": dg.AssetIn(key=[RAW, "message_rows_raw"]),
        "report_emails": dg.AssetIn(key=[RAW, "report_emails"]),
        "page_aliases": dg.AssetIn(key=[CONFIG, "page_aliases"]),
        "page_registry": dg.AssetIn(key=[CONFIG, "page_registry"]),
        "scheduler_roster": dg.AssetIn(key=[CONFIG, "scheduler_roster"]),
    },
    # Only orders the two when one run refreshes both; stage_reports reads the statistics through the warehouse.
    deps=[dg.AssetKey([GROUP, "stg_creator_stats"])],
)
def stage_reports(
    context: dg.AssetExecutionContext,
    ops_config_file: OpsConfigResource,
    warehouse: WarehouseReader,
    message_rows_raw: pl.DataFrame,
    report_emails: pl.DataFrame,
    page_aliases: pl.DataFrame,
    page_registry: pl.DataFrame,
    scheduler_roster: pl.DataFrame,
):
    platform = ops_config_file.load().model.platform
    pages = ingest.known_pages(page_registry)
    # Creator statistics hint the page type of creators not known yet; optional (the reference job may not have run).
    stats = warehouse.read_table(GROUP, "stg_creator_stats")
    hint = None if stats is None else stats.group_by(pl.col("compact_key")).agg(is_paid_like=pl.col("is_paid_like").any())
    report_pages = ingest.resolve_report_pages(report_emails, page_aliases, pages, hint)
    staged, quarantine, unknown = ingest.stage_messages(
        message_rows_raw, report_emails, report_pages, scheduler_roster, page_aliases, pages,
        default_report_tz=platform.report_timezone, max_price_usd=platform.max_price_usd,
    )
    unknown = unknown if unknown is not None else pl.DataFrame(schema={"sender_std": pl.String})
    context.log.info(f"staged {staged.height} rows, quarantined {quarantine.height}, from {report_pages.height} reports")
    yield dg.Output(staged, "stg_message_events", metadata={"rows": staged.height, "report_timezone": platform.report_timezone})
    yield dg.Output(quarantine, "quarantine_message_rows", metadata={"rows": quarantine.height})
    yield dg.Output(report_pages, "report_pages", metadata={"reports": report_pages.height})
    yield dg.Output(unknown, "unknown_senders", metadata={"senders": unknown.height})


@dg.multi_asset(
    outs={
        "stg_caption_bank": _out("stg_caption_bank", "One deduplicated bank caption per caption_hash, with aliases."),
        "quarantine_caption_bank": _out("quarantine_caption_bank", "Bank rows that could not be staged."),
        "stg_caption_bank_tos": _out("stg_caption_bank_tos", "Every bank row flagged by the TOS rules, before "
                                     "de-duplication (10-ingestion §10.4); part of ops_audit/tos_audit."),
    },
    ins={"caption_bank_raw": dg.AssetIn(key=[RAW, "caption_bank_raw"])},
)
def stage_caption_bank(context: dg.AssetExecutionContext, caption_bank_raw: pl.DataFrame):
    parsed = [
        reference.parse_caption_bank_file(
            read_archived(f["archive_uri"]), file_name=f["file_name"], file_sha256=f["file_sha256"],
            arrival_order=f["arrival_order"], archive_uri=f["archive_uri"],
        )
        for f in _files(caption_bank_raw, latest_per_name=True)
    ]
    # Stable timestamps: the newest file's arrival, so re-runs over the same files write identical tables.
    checked_at = caption_bank_raw["ingested_at"].max() if caption_bank_raw.height else None
    stg, audit, quarantine = reference.build_stg_caption_bank(parsed, checked_at=checked_at, quarantined_at=checked_at)
    # When each caption's current description arrived: the SCD2 change time of dim_caption (20-warehouse §3.4).
    arrived = caption_bank_raw.select(first_seen_file_sha256="file_sha256", ingested_at="ingested_at").unique(
        "first_seen_file_sha256")
    stg = stg.drop("ingested_at", strict=False).join(arrived, on="first_seen_file_sha256", how="left")
    for f in parsed:
        for warning in f.warnings:
            context.log.warning(f"{f.file_name}: {warning}")
    yield dg.Output(stg, "stg_caption_bank", metadata={"captions": stg.height, "files": len(parsed)})
    yield dg.Output(quarantine, "quarantine_caption_bank", metadata={"rows": quarantine.height})
    yield dg.Output(audit, "stg_caption_bank_tos", metadata={"flagged_rows": audit.height})


@dg.multi_asset(
    outs={
        "stg_creator_stats": _out("stg_creator_stats", "Creator statistics snapshots per page and period."),
        "quarantine_creator_stats": _out("quarantine_creator_stats", "Creator statistics rows that could not be staged."),
        "creator_stats_pages": _out("creator_stats_pages", "Page resolution of creator statistics names."),
    },
    ins={
        "creator_stats_raw": dg.AssetIn(key=[RAW, "creator_stats_raw"]),
        "page_aliases": dg.AssetIn(key=[CONFIG, "page_aliases"]),
        "page_registry": dg.AssetIn(key=[CONFIG, "page_registry"]),
    },
)
def stage_creator_stats(creator_stats_raw: pl.DataFrame, page_aliases: pl.DataFrame, page_registry: pl.DataFrame):
    parsed, quarantined = _parse_files(creator_stats_raw, reference.parse_creator_stats, reference.STG_CREATOR_STATS_SCHEMA)
    staged, unresolved, resolutions = ingest.stage_creator_stats(parsed, page_aliases, ingest.known_pages(page_registry))
    quarantine = pl.concat([quarantined, unresolved], how="diagonal_relaxed")
    yield dg.Output(staged, "stg_creator_stats", metadata={"rows": staged.height})
    yield dg.Output(quarantine, "quarantine_creator_stats", metadata={"rows": quarantine.height})
    yield dg.Output(resolutions, "creator_stats_pages", metadata={"names": resolutions.height})


@dg.multi_asset(
    outs={
        "stg_scheduler_assignments": _out("stg_scheduler_assignments", "Scheduler -> page assignments."),
        "quarantine_scheduler_assignments": _out("quarantine_scheduler_assignments", "Assignment rows not staged."),
        "scheduler_assignment_pages": _out("scheduler_assignment_pages", "Resolution of assignment page names and codes."),
    },
    ins={
        "scheduler_assignments_raw": dg.AssetIn(key=[RAW, "scheduler_assignments_raw"]),
        "page_aliases": dg.AssetIn(key=[CONFIG, "page_aliases"]),
        "page_registry": dg.AssetIn(key=[CONFIG, "page_registry"]),
        "scheduler_roster": dg.AssetIn(key=[CONFIG, "scheduler_roster"]),
    },
)
def stage_scheduler_assignments(
    scheduler_assignments_raw: pl.DataFrame, page_aliases: pl.DataFrame, page_registry: pl.DataFrame,
    scheduler_roster: pl.DataFrame,
):
    parsed, quarantined = _parse_files(
        scheduler_assignments_raw, reference.parse_scheduler_assignments, reference.STG_ASSIGNMENTS_SCHEMA
    )
    staged, unresolved, resolutions = ingest.stage_scheduler_assignments(
        parsed, page_aliases, ingest.known_pages(page_registry), scheduler_roster
    )
    quarantine = pl.concat([quarantined, unresolved], how="diagonal_relaxed")
    yield dg.Output(staged, "stg_scheduler_assignments", metadata={"rows": staged.height})
    yield dg.Output(quarantine, "quarantine_scheduler_assignments", metadata={"rows": quarantine.height})
    yield dg.Output(resolutions, "scheduler_assignment_pages", metadata={"names": resolutions.height})


ASSETS = [stage_reports, stage_caption_bank, stage_creator_stats, stage_scheduler_assignments]
CHECKS = [
    contract_check(dg.AssetKey([GROUP, "stg_message_events"]), schemas.StgMessageEvents),
    contract_check(dg.AssetKey([GROUP, "quarantine_message_rows"]), schemas.QuarantineRows),
    contract_check(dg.AssetKey([GROUP, "stg_caption_bank"]), reference_schemas.StgCaptionBank),
    contract_check(dg.AssetKey([GROUP, "stg_caption_bank_tos"]), reference_schemas.TosAuditRows),
    contract_check(dg.AssetKey([GROUP, "stg_creator_stats"]), reference_schemas.StgCreatorStats),
    contract_check(dg.AssetKey([GROUP, "stg_scheduler_assignments"]), reference_schemas.StgSchedulerAssignments),
    *[contract_check(dg.AssetKey([GROUP, name]), schemas.QuarantineRows)
      for name in ("quarantine_caption_bank", "quarantine_creator_stats", "quarantine_scheduler_assignments")],
]
