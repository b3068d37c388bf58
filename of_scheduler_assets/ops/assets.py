"""Dagster wiring of `ops`: ingestion state (with the conservation check), the quarantine and unmapped names."""


import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import contract_check
from of_scheduler_assets.layer_02_staging import ingest
from of_scheduler_assets.ops import onboarding as onboarding_rules
from of_scheduler_assets.ops import schemas
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "ops"
STAGING = "layer_02_staging"
QUARANTINE_SOURCES = (
    "quarantine_message_rows", "quarantine_caption_bank", "quarantine_creator_stats", "quarantine_scheduler_assignments",
)
RESOLUTION_SOURCES = ("report_pages", "creator_stats_pages", "scheduler_assignment_pages")


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    ins={
        "report_emails": dg.AssetIn(key=["layer_01_raw", "report_emails"]),
        "report_pages": dg.AssetIn(key=[STAGING, "report_pages"]),
        "stg_message_events": dg.AssetIn(key=[STAGING, "stg_message_events"], metadata={"columns": ["message_id"]}),
        "quarantine_message_rows": dg.AssetIn(key=[STAGING, "quarantine_message_rows"]),
    },
    description="One row per report email: status, attempts, last error, row counts (10-ingestion §2.3).",
)
def ingestion_state(
    report_emails: pl.DataFrame, report_pages: pl.DataFrame, stg_message_events: pl.DataFrame,
    quarantine_message_rows: pl.DataFrame,
) -> pl.DataFrame:
    counts = ingest.conservation(report_emails, stg_message_events, quarantine_message_rows)
    return ingest.ingestion_state(report_emails, report_pages, counts)


@dg.asset_check(asset=ingestion_state, name="rows_read_equal_staged_plus_quarantined", blocking=True,
                description="Conservation: for every report, rows read = rows staged + rows quarantined.")
def conservation_check(ingestion_state: pl.DataFrame) -> dg.AssetCheckResult:
    done = ingestion_state.filter(~pl.col("status").is_in(["failed", "aged_out"]))
    broken = done.filter(pl.col("n_rows") != pl.col("n_staged") + pl.col("n_quarantined"))
    return dg.AssetCheckResult(
        passed=broken.is_empty(),
        metadata={
            "reports": done.height,
            "rows_read": int(done["n_rows"].sum()),
            "rows_staged": int(done["n_staged"].sum()),
            "rows_quarantined": int(done["n_quarantined"].sum()),
            "unbalanced_reports": broken["message_id"].head(20).to_list(),
        },
    )


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    deps=[dg.AssetKey([STAGING, name]) for name in QUARANTINE_SOURCES],
    description="Every input row that could not be staged, from every source, with a reason (10-ingestion §9).",
)
def quarantine_rows(warehouse: WarehouseReader) -> pl.DataFrame:
    # Read through the warehouse so each ingestion job can refresh the union before the other source ever ran.
    parts = [warehouse.read_table(STAGING, name) for name in QUARANTINE_SOURCES]
    parts = [p.cast(ingest.QUARANTINE_SCHEMA) for p in parts if p is not None and p.height]
    if not parts:
        return pl.DataFrame(schema=ingest.QUARANTINE_SCHEMA)
    return pl.concat(parts).unique("quarantine_id", keep="first").sort("source_kind", "source_ref", "row_number", "reason_code", nulls_last=True)


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    deps=[dg.AssetKey([STAGING, name]) for name in (*RESOLUTION_SOURCES, "unknown_senders")],
    description="Page, sender and scheduler names that resolve to no known page or roster entry, for review.",
)
def unmapped_usernames(warehouse: WarehouseReader) -> pl.DataFrame:
    resolutions, seen = [], []
    reports = warehouse.read_table(STAGING, "report_pages")
    if reports is not None and reports.height:
        resolutions.append(reports.filter(pl.col("page_name_raw").is_not_null()).select(
            "alias_key", "page_type", "page_type_token", "resolution", "suggestions",
            name_raw="page_name_raw", source=pl.lit("email"),
        ).unique(["name_raw"]))
        seen.append(reports.select(name_raw="page_name_raw", source=pl.lit("email"), seen_at="received_at"))
    for name, source in (("creator_stats_pages", "creator_stats"), ("scheduler_assignment_pages", None)):
        frame = warehouse.read_table(STAGING, name)
        if frame is not None and frame.height:
            resolutions.append(frame if source is None else frame.with_columns(source=pl.lit(source)))
    senders = warehouse.read_table(STAGING, "unknown_senders")
    if senders is not None and senders.height:
        resolutions.append(ingest.unknown_senders_as_resolutions(senders))
        seen.append(senders.select(name_raw="sender_std", source=pl.lit("sender"), seen_at="first_seen_at"))
        seen.append(senders.select(name_raw="sender_std", source=pl.lit("sender"), seen_at="last_seen_at"))
    if not seen:
        seen.append(pl.DataFrame(schema={"name_raw": pl.String, "source": pl.String, "seen_at": pl.Datetime("us", "UTC")}))
    return ingest.unmapped_usernames(resolutions, seen)


@dg.multi_asset(
    outs={
        "onboarding_queue": dg.AssetOut(key=[GROUP, "onboarding_queue"], group_name=GROUP, description=(
            "One row per page ever seen: when it was onboarded, its probation end, initial tier and scheduler, and "
            "its lifecycle (new, active, inactive) re-evaluated every run (40-planning §7).")),
        "onboarding_changelog": dg.AssetOut(key=["ops_audit", "onboarding_changelog"], group_name="ops_audit",
                                            description="Append-only: onboarded, expired, deactivated, reactivated."),
    },
    ins={"dim_page": dg.AssetIn(key=["layer_03_foundation", "page_universe"]),
         "page_overrides": dg.AssetIn(key=["ops_config", "page_overrides"])},
)
def onboarding(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource, warehouse: WarehouseReader,
               clock: ClockResource, dim_page: pl.DataFrame, page_overrides: pl.DataFrame):
    cfg = ops_config_file.load().model
    queue, changelog, _ = onboarding_rules.build_onboarding(
        dim_page, warehouse.read_table(GROUP, "onboarding_queue"), warehouse.read_table("ops_audit", "onboarding_changelog"),
        page_overrides, now=clock.now(), probation_days=cfg.warehouse.probation_days, run_id=context.run.run_id,
    )
    yield dg.Output(queue, "onboarding_queue", metadata={
        "pages": queue.height, **{f"lifecycle_{k}": v for k, v in queue["lifecycle_state"].value_counts().iter_rows()}})
    yield dg.Output(changelog, "onboarding_changelog", metadata={"entries": changelog.height})


ASSETS = [ingestion_state, quarantine_rows, unmapped_usernames, onboarding]
CHECKS = [
    conservation_check,
    contract_check(ingestion_state.key, schemas.IngestionState),
    contract_check(quarantine_rows.key, schemas.QuarantineRows),
    contract_check(unmapped_usernames.key, schemas.UnmappedUsernames),
    contract_check(dg.AssetKey([GROUP, "onboarding_queue"]), schemas.OnboardingQueue),
    contract_check(dg.AssetKey(["ops_audit", "onboarding_changelog"]), schemas.OnboardingChangelog),
]
