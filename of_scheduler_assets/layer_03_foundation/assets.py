"""Dagster wiring of `layer_03_foundation`: the caption library (dim_caption, SCD2, + the TOS audit), dim_page,
dim_creator, dim_scheduler and `fact_message_send`, partitioned by send date (20-warehouse §3).

Inputs produced by another job (the caption bank for the report job, report rows for the reference job) are read
through the `WarehouseReader`, so either job can build the dimensions before the other ever ran; `deps` keep the
lineage and the order when one run refreshes both.
"""


import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets import partitions
from of_scheduler_assets.checks import warehouse as wh_checks
from of_scheduler_assets.checks.contracts import check_result, check_spec, contract_result, contract_spec
from of_scheduler_assets.layer_02_staging import ingest
from of_scheduler_assets.layer_02_staging import tos as tos_rules
from of_scheduler_assets.layer_02_staging.reference import TOS_AUDIT_SCHEMA
from of_scheduler_assets.layer_02_staging.reference_schemas import TosAuditRows
from of_scheduler_assets.layer_03_foundation import bank_last_use, library, schemas
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_03_foundation"
STG = "layer_02_staging"
CONFIG = "ops_config"
SEMANTIC = "layer_04_semantic"
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def key(name: str, group: str = GROUP) -> dg.AssetKey:
    return dg.AssetKey([group, name])


DIM_CAPTION, TOS_AUDIT = key("dim_caption"), key("tos_audit", "ops_audit")
DIM_PAGE, DIM_CREATOR, DIM_SCHEDULER, FACT = key("dim_page"), key("dim_creator"), key("dim_scheduler"), key("fact_message_send")
PAGE_UNIVERSE = key("page_universe")
BANK_LAST_USE = key("caption_bank_last_use")
STG_EVENTS, STG_BANK, STG_BANK_TOS = key("stg_message_events", STG), key("stg_caption_bank", STG), key("stg_caption_bank_tos", STG)
STG_STATS, STG_ASSIGN = key("stg_creator_stats", STG), key("stg_scheduler_assignments", STG)

# Columns of stg_message_events each consumer needs (reads stay narrow at scale).
CAPTION_COLUMNS = ["message_id", "row_number", "caption_id", "caption_hash", "caption_hash_raw", "caption_text",
                   "caption_norm", "price_cents", "price_usd", "sending_ts_utc", "ingested_at"]
PAGE_COLUMNS = ["username_page", "username_std", "page_type", "report_received_at", "sending_ts_utc",
                "page_name_raw", "identity_source"]


def _empty_if_none(frame: pl.DataFrame | None, schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema) if frame is None else frame


# --- caption library ---------------------------------------------------------------------------------------------


@dg.multi_asset(
    outs={
        "dim_caption": dg.AssetOut(key=DIM_CAPTION, group_name=GROUP, description=(
            "The caption library, SCD type 2: one version per tracked change, exactly one current row per caption_id, "
            "deterministic caption_sk (20-warehouse §3.4). TOS-flagged captions are kept, never eligible.")),
        "tos_audit": dg.AssetOut(key=TOS_AUDIT, group_name="ops_audit", description=(
            "Every input row (bank and report, before de-duplication) flagged by the TOS rules (10-ingestion §10.4).")),
    },
    ins={"explicitness_map": dg.AssetIn(key=[CONFIG, "explicitness_map"])},
    deps=[STG_BANK, STG_BANK_TOS, STG_EVENTS],
    check_specs=[
        contract_spec(DIM_CAPTION, schemas.DimCaption),
        contract_spec(TOS_AUDIT, TosAuditRows),
        check_spec(DIM_CAPTION, "scd2_invariants", "One current row per caption, closed intervals never overlap, "
                   "valid_from < valid_to, caption_sk unique.", blocking=True),
    ],
)
def caption_library(context: dg.AssetExecutionContext, warehouse: WarehouseReader, clock: ClockResource,
                    explicitness_map: pl.DataFrame):
    now = clock.now()
    bank = warehouse.read_table(STG, "stg_caption_bank")
    events = warehouse.read_table(STG, "stg_message_events", CAPTION_COLUMNS)
    previous = warehouse.read_table(GROUP, "dim_caption")
    report_caps = T.report_captions(events) if events is not None else None
    dim = T.build_dim_caption(bank, report_caps, previous, explicitness_map=explicitness_map, now=now)

    bank_audit = warehouse.read_table(STG, "stg_caption_bank_tos")
    checked_at = None if events is None or events.is_empty() else events["ingested_at"].max()
    report_audit = (
        library.report_tos_audit(events, checked_at=checked_at, rules_version=tos_rules.RULES_VERSION)
        if events is not None and checked_at is not None else None
    )
    audit = pl.concat([f for f in (bank_audit, report_audit) if f is not None], how="diagonal_relaxed") \
        if (bank_audit is not None or report_audit is not None) else pl.DataFrame(schema=TOS_AUDIT_SCHEMA)
    audit = audit.sort("source_kind", "source_ref", "row_number", nulls_last=True)
    counts = library.caption_library_counts(bank, dim, audit)
    context.log.info(f"caption library: {counts}")
    yield dg.Output(dim, "dim_caption", metadata={**counts, "versions": dim.height})
    yield dg.Output(audit, "tos_audit", metadata={"flagged_rows": audit.height})
    yield contract_result(DIM_CAPTION, schemas.DimCaption, dim)
    yield contract_result(TOS_AUDIT, TosAuditRows, audit)
    yield check_result(DIM_CAPTION, "scd2_invariants", wh_checks.scd2_invariants(dim))


@dg.asset(
    key=BANK_LAST_USE,
    group_name=GROUP,
    ins={"page_aliases": dg.AssetIn(key=[CONFIG, "page_aliases"]),
         "dim_page": dg.AssetIn(key=PAGE_UNIVERSE, metadata={
             "columns": ["username_page", "username_std", "page_type"]})},
    deps=[STG_BANK],
    check_specs=[contract_spec(BANK_LAST_USE, schemas.CaptionBankLastUse)],
    description="Per page and caption: the caption bank's latest use (caption-logger LastUsedDate / LastUsedPage, "
    "the page resolved by 10-ingestion §6, 'both' = both pages of the creator, TEST ignored; 10-ingestion §10.2). "
    "The feature store's last use on a page where the reports hold no send of the caption there (30-ml rows 44-45). "
    "Names that reach no page are listed in the metadata.",
)
def caption_bank_last_use(context: dg.AssetExecutionContext, warehouse: WarehouseReader, page_aliases: pl.DataFrame,
                          dim_page: pl.DataFrame):
    bank = warehouse.read_table(STG, "stg_caption_bank", ["caption_id", "bank_last_used_ts_utc",
                                                           "bank_last_used_page_raw"])
    table, unresolved = bank_last_use.caption_bank_last_use(bank, page_aliases, dim_page)
    if unresolved.height:
        context.log.warning(f"caption bank last use: {unresolved.height} page names reach no page: "
                            + ", ".join(f"{n!r} ({r}, {k} captions)" for n, r, k in unresolved.head(20).iter_rows()))
    yield dg.Output(table, metadata={
        "rows": table.height, "pages": table["username_page"].n_unique(),
        "unresolved_page_names": unresolved.height,
        "unresolved_bank_captions": int(unresolved["bank_rows"].sum()),
        "unresolved_sample": dg.MetadataValue.json(unresolved.head(20).to_dicts()),
    })
    yield contract_result(BANK_LAST_USE, schemas.CaptionBankLastUse, table)


# --- dim_page, dim_creator, dim_scheduler --------------------------------------------------------------------------


@dg.asset(
    key=PAGE_UNIVERSE,
    group_name=GROUP,
    ins={
        "page_registry": dg.AssetIn(key=[CONFIG, "page_registry"]),
        "page_overrides": dg.AssetIn(key=[CONFIG, "page_overrides"]),
        "active_overrides": dg.AssetIn(key=[CONFIG, "active_overrides"]),
    },
    deps=[STG_EVENTS, STG_STATS, STG_ASSIGN],
    check_specs=[contract_spec(PAGE_UNIVERSE, schemas.DimPage)],
    description="Every page with its identity, time zone, window, scheduler, activity and lifecycle (20-warehouse "
    "§3.1, §3.6): registry seed ∪ creator statistics ∪ report pages ∪ assignments. dim_page without the evaluated "
    "tier and state (an override tier, else LOW / pending; balance), so that the facts, the semantic layer and "
    "onboarding can build on it and dim_page can follow the semantic layer in the same run.",
)
def page_universe(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource, warehouse: WarehouseReader,
                  clock: ClockResource, page_registry: pl.DataFrame, page_overrides: pl.DataFrame,
                  active_overrides: pl.DataFrame):
    cfg = ops_config_file.load().model
    pages = T.build_dim_page(
        page_registry,
        warehouse.read_table(STG, "stg_creator_stats"),
        warehouse.read_table(STG, "stg_message_events", PAGE_COLUMNS),
        warehouse.read_table(STG, "stg_scheduler_assignments"),
        page_overrides,
        activity_window_days=cfg.ingestion.activity_window_days,
        now=clock.now(),
        active_overrides=active_overrides,
        probation_days=cfg.warehouse.probation_days,
        default_tz=cfg.platform.default_page_timezone,
    )
    pages = T.attach_latest_tier_and_state(pages, None, None, page_overrides)
    active = int(pages["is_active"].sum())
    context.log.info(f"page_universe: {pages.height} pages, {active} active")
    yield dg.Output(pages, metadata={"pages": pages.height, "active_pages": active,
                                     "new_pages": int((pages["lifecycle_state"] == "new").sum())})
    yield contract_result(PAGE_UNIVERSE, schemas.DimPage, pages)


@dg.asset(
    key=DIM_PAGE,
    group_name=GROUP,
    ins={"page_universe": dg.AssetIn(key=PAGE_UNIVERSE),
         "page_overrides": dg.AssetIn(key=[CONFIG, "page_overrides"])},
    deps=[dg.AssetKey([SEMANTIC, "page_tier_assignment"]), dg.AssetKey([SEMANTIC, "page_state_daily"])],
    check_specs=[contract_spec(DIM_PAGE, schemas.DimPage)],
    description="The one page identity (creator, page type, time zone, window, scheduler, activity, lifecycle) with "
    "its latest evaluated tier and page state (20-warehouse §3.1). It follows the semantic layer when a run holds "
    "both; an ingestion run keeps the tiers of the last daily evaluation.",
)
def dim_page(warehouse: WarehouseReader, page_universe: pl.DataFrame, page_overrides: pl.DataFrame):
    pages = T.attach_latest_tier_and_state(
        page_universe, warehouse.read_table(SEMANTIC, "page_tier_assignment"),
        warehouse.read_table(SEMANTIC, "page_state_daily"), page_overrides,
    )
    tiers = dict(pages["tier"].value_counts().iter_rows())
    yield dg.Output(pages, metadata={"pages": pages.height, **{f"tier_{k}": v for k, v in sorted(tiers.items())}})
    yield contract_result(DIM_PAGE, schemas.DimPage, pages)


@dg.asset(
    key=DIM_CREATOR,
    group_name=GROUP,
    ins={"dim_page": dg.AssetIn(key=PAGE_UNIVERSE), "fact_message_send": dg.AssetIn(key=FACT, metadata={
        "columns": ["message_send_key", "username_std", "sending_ts_utc", "send_date_local", "earnings_gross_usd"]})},
    check_specs=[contract_spec(DIM_CREATOR, schemas.DimCreator)],
    description="One row per creator: pages, status by days since last send, 90-day revenue per ACTIVE day, "
    "volatility and segment (20-warehouse §3.2).",
)
def dim_creator(clock: ClockResource, dim_page: pl.DataFrame, fact_message_send: pl.DataFrame):
    # key order first: float sums depend on the order of their terms (bit-identical re-runs)
    creators = T.build_dim_creator(dim_page, fact_message_send.sort("message_send_key"), now=clock.now())
    yield dg.Output(creators, metadata={"creators": creators.height})
    yield contract_result(DIM_CREATOR, schemas.DimCreator, creators)


@dg.asset(
    key=DIM_SCHEDULER,
    group_name=GROUP,
    ins={"scheduler_roster": dg.AssetIn(key=[CONFIG, "scheduler_roster"]), "dim_page": dg.AssetIn(key=PAGE_UNIVERSE)},
    check_specs=[contract_spec(DIM_SCHEDULER, schemas.DimScheduler)],
    description="Schedulers from the roster seed plus provisional codes seen in assignments, with their pages "
    "(20-warehouse §3.3).",
)
def dim_scheduler(scheduler_roster: pl.DataFrame, dim_page: pl.DataFrame):
    schedulers = T.build_dim_scheduler(scheduler_roster, dim_page)
    yield dg.Output(schedulers, metadata={"schedulers": schedulers.height,
                                          "provisional": int(schedulers["is_provisional"].sum())})
    yield contract_result(DIM_SCHEDULER, schemas.DimScheduler, schedulers)


# --- fact_message_send -----------------------------------------------------------------------------------------------

FACT_CHECKS = {
    "message_send_key_unique": ("Primary key message_send_key unique and not null.", True),
    "username_page_in_dim_page": ("Every fact's username_page exists in dim_page (defect 2).", True),
    "caption_version_valid_at_send": ("Every captioned fact joins the dim_caption version valid at send time "
                                      "(defects 1 and 7).", True),
    "metric_identities": ("Earnings agree with price x purchases and net = gross x (1 - fee), or the row is flagged.",
                          False),
    "no_future_timestamps": ("No send after the computation time, none after the report that listed it.", True),
    "partitions_current": ("No stored partition outside this run lags behind the staged snapshots (D12); lists the "
                           "dates to rebuild.", False),
}


@dg.asset(
    key=FACT,
    group_name=GROUP,
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={
        "partition_expr": "send_date",
        "bigquery_time_partitioning": {"field": "send_date", "type": "DAY"},
        "bigquery_clustering_fields": ["username_page", "caption_id"],
    },
    ins={"dim_caption": dg.AssetIn(key=DIM_CAPTION, metadata={
             "columns": ["caption_id", "caption_sk", "valid_from", "valid_to"]}),
         "dim_page": dg.AssetIn(key=PAGE_UNIVERSE, metadata={"columns": ["username_page"]})},
    deps=[STG_EVENTS],
    check_specs=[contract_spec(FACT, schemas.FactMessageSend),
                 *[check_spec(FACT, name, text, blocking=blocking) for name, (text, blocking) in FACT_CHECKS.items()]],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=24)),
    description="One row per send event (message_send_key) holding its latest snapshot, keyed into dim_page and the "
    "dim_caption version valid at send time; gross and net revenue, rates for drill-down, quality flags "
    "(20-warehouse §3.5). Each run rebuilds its partitions from every staged snapshot of those dates.",
)
def fact_message_send(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource,
                      warehouse: WarehouseReader, clock: ClockResource, dim_caption: pl.DataFrame,
                      dim_page: pl.DataFrame):
    platform = ops_config_file.load().model.platform
    first, last = partitions.window_dates(context)
    window = context.partition_time_window
    # Every staged snapshot of the run's send dates (late snapshots of old dates included: defect 12).
    stg = _empty_if_none(
        warehouse.read_table(STG, "stg_message_events", window=("sending_ts_utc", window.start, window.end)),
        ingest.STAGED_SCHEMA,
    )
    latest = ingest.latest_snapshots(stg)
    fact = T.build_fact_message_send(latest, dim_caption, platform_fee=platform.platform_fee,
                                     maturity_hours=platform.maturity_hours)
    staged_dates = _empty_if_none(
        warehouse.read_table(STG, "stg_message_events", ["message_send_key", "sending_ts_utc", "report_received_at"]),
        ingest.STAGED_SCHEMA,
    )
    send_date = pl.col("sending_ts_utc").dt.date()
    before_history = staged_dates.filter(send_date < partitions.DAILY.start.date())["message_send_key"].n_unique()
    stored = warehouse.read_table(GROUP, "fact_message_send", ["send_date", "latest_report_received_at"])
    metadata = {
        "partitions": f"{first} .. {last}",
        "send_events": fact.height,
        "staged_snapshots_read": stg.height,
        "sends_before_history_start": before_history,
        "model_eligible": int(fact["is_model_eligible"].sum()),
    }
    context.log.info(f"fact_message_send {first}..{last}: {fact.height} send events")
    yield dg.Output(fact, metadata=metadata)
    yield contract_result(FACT, schemas.FactMessageSend, fact)
    yield check_result(FACT, "message_send_key_unique", wh_checks.unique_key(fact, ["message_send_key"]))
    yield check_result(FACT, "username_page_in_dim_page",
                       wh_checks.foreign_key(fact, "username_page", dim_page, "username_page"))
    yield check_result(FACT, "caption_version_valid_at_send", wh_checks.fact_version_join(fact, dim_caption))
    yield check_result(FACT, "metric_identities", wh_checks.metric_identities(fact), severity=WARN)
    future_ok, future_meta = wh_checks.no_future_timestamps(fact, ["sending_ts_utc", "latest_report_received_at"],
                                                            clock.now())
    order_ok, order_meta = wh_checks.sends_before_reports(fact)
    yield check_result(FACT, "no_future_timestamps", (future_ok and order_ok, {
        **{f"future_{k}": v for k, v in future_meta.items()}, **{f"order_{k}": v for k, v in order_meta.items()}}))
    yield check_result(FACT, "partitions_current", stale_partitions(staged_dates, stored, first, last), severity=WARN)


def stale_partitions(stg: pl.DataFrame, stored: pl.DataFrame | None, first: dt.date, last: dt.date) -> tuple[bool, dict]:
    """Dates outside [first, last] whose newest staged snapshot is newer than what the stored fact holds (or that the
    fact lacks entirely): partitions a backfill must rebuild."""
    staged = (
        stg.with_columns(send_date=pl.col("sending_ts_utc").dt.date())
        .filter(~pl.col("send_date").is_between(first, last) & (pl.col("send_date") >= partitions.DAILY.start.date()))
        .group_by("send_date").agg(staged_latest=pl.col("report_received_at").max())
    )
    have = (pl.DataFrame(schema={"send_date": pl.Date, "latest_report_received_at": T.UTC_US}) if stored is None
            else stored).group_by("send_date").agg(fact_latest=pl.col("latest_report_received_at").max())
    behind = (
        staged.join(have, on="send_date", how="left")
        .filter(pl.col("fact_latest").is_null() | (pl.col("staged_latest") > pl.col("fact_latest")))
        .sort("send_date")
    )
    dates = [d.isoformat() for d in behind["send_date"].to_list()]
    return not dates, {"stale_partitions": len(dates), "stale_dates_sample": dates[:20]}


ASSETS = [caption_library, caption_bank_last_use, page_universe, dim_page, dim_creator, dim_scheduler,
          fact_message_send]
