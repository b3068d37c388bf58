"""Dagster wiring of `layer_01_raw`: mailbox intake (report emails, the archived files, their rows as text)."""


import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import contract_check
from of_scheduler_assets.layer_01_raw import intake, reference_files, schemas
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.mailbox import MailboxResource
from of_scheduler_assets.resources.storage import StorageResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_01_raw"


class IntakeConfig(dg.Config):
    force_reprocess: bool = False  # re-read emails already loaded (replaces their raw rows)
    backfill: bool = False  # use the backfill query (no newer_than) and the backfill message budget


@dg.multi_asset(
    outs={
        "report_emails": dg.AssetOut(key=[GROUP, "report_emails"], group_name=GROUP,
                                     description="Every report email seen, with its fetch state and attempts."),
        "report_files": dg.AssetOut(key=[GROUP, "report_files"], group_name=GROUP,
                                    description="Index of the content-addressed archive of report files."),
        "message_rows_raw": dg.AssetOut(key=[GROUP, "message_rows_raw"], group_name=GROUP,
                                        description="Every report row, every cell as text, with provenance."),
    },
    ins={
        "page_aliases": dg.AssetIn(key=["ops_config", "page_aliases"]),
        "page_registry": dg.AssetIn(key=["ops_config", "page_registry"]),
    },
)
def mailbox_intake(
    context: dg.AssetExecutionContext,
    config: IntakeConfig,
    mailbox: MailboxResource,
    warehouse: WarehouseReader,
    ops_config_file: OpsConfigResource,
    storage: StorageResource,
    page_aliases: pl.DataFrame,
    page_registry: pl.DataFrame,
):
    cfg = ops_config_file.load().model
    settings = intake.IntakeSettings(
        archive_root=storage.archive,
        allow_file_urls=cfg.ingestion.allow_file_urls and not mailbox.is_gmail,
        max_messages=cfg.ingestion.max_new_messages_per_backfill if config.backfill else cfg.ingestion.max_new_messages_per_run,
        time_budget_s=cfg.ingestion.run_time_budget_s,
        bytes_budget=cfg.ingestion.run_bytes_budget,
        max_download_bytes=cfg.ingestion.max_download_bytes,
        force_reprocess=config.force_reprocess,
        backfill=config.backfill,
    )
    result = intake.run_intake(
        mailbox.open(query=cfg.gmail.query, page_size=cfg.gmail.list_page_size),
        previous_emails=warehouse.read_table(GROUP, "report_emails"),
        previous_files=warehouse.read_table(GROUP, "report_files"),
        settings=settings,
        run_id=context.run.run_id,
        resolve_username=intake.resolver_from_aliases(page_aliases, page_registry),
    )
    raw_rows = intake.merge_raw_rows(warehouse.read_table(GROUP, "message_rows_raw"), result)
    statuses = result.report_emails.filter(pl.col("ingestion_run_id") == context.run.run_id)["fetch_status"].value_counts()
    context.log.info(f"intake: {result.attempted} emails handled, {result.new_rows.height} rows read; {statuses.rows()}")
    if result.stopped_by_budget:
        context.log.warning(f"intake stopped by the {result.stopped_by_budget} budget; the next run continues")
    yield dg.Output(result.report_emails, "report_emails", metadata={"emails": result.report_emails.height, "handled_this_run": result.attempted})
    yield dg.Output(result.report_files, "report_files", metadata={"files": result.report_files.height})
    yield dg.Output(raw_rows, "message_rows_raw", metadata={"rows": raw_rows.height, "new_rows": result.new_rows.height})



def _reference_raw_asset(kind: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"{kind}_raw", key_prefix=[GROUP], group_name=GROUP, description=description)
    def _asset(context: dg.AssetExecutionContext, storage: StorageResource, warehouse: WarehouseReader) -> pl.DataFrame:
        from datetime import UTC, datetime

        previous = warehouse.read_table(GROUP, f"{kind}_raw")
        previous_index = None if previous is None else previous.select(list(reference_files.INDEX_SCHEMA)).unique(
            "file_sha256", keep="first"
        )
        index = reference_files.collect_files(
            storage.inbox, kind, storage.archive, previous_index, run_id=context.run.run_id, now=datetime.now(UTC)
        )
        rows = reference_files.rows_as_text(index).join(index.drop("file_name"), on="file_sha256", how="left")
        context.add_output_metadata({"files": index.height, "rows": rows.height})
        return rows.sort("arrival_order", "row_number")

    return _asset


caption_bank_raw = _reference_raw_asset("caption_bank", "Caption bank exports (curated banks, caption logger), every record as text.")
creator_stats_raw = _reference_raw_asset("creator_stats", "Creator Statistics exports, every record as text.")
scheduler_assignments_raw = _reference_raw_asset("scheduler_assignments", "Scheduler assignment exports, every record as text.")

ASSETS = [mailbox_intake, caption_bank_raw, creator_stats_raw, scheduler_assignments_raw]
CHECKS = [
    contract_check(dg.AssetKey([GROUP, "report_emails"]), schemas.ReportEmails),
    contract_check(dg.AssetKey([GROUP, "report_files"]), schemas.ReportFiles),
    contract_check(dg.AssetKey([GROUP, "message_rows_raw"]), schemas.MessageRowsRaw),
    *[contract_check(dg.AssetKey([GROUP, f"{kind}_raw"]), schemas.ReferenceRowsRaw) for kind in reference_files.KINDS],
]
