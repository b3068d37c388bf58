"""Dagster wiring of `ops_monitor`: alert rows (ingestion rules for now; 50-operations §3.2)."""


import dagster as dg
import polars as pl

from of_scheduler_assets.ops.onboarding import onboarding_alerts
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA, ingestion_alerts
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "ops_monitor"


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    deps=[dg.AssetKey(["ops", "ingestion_state"]), dg.AssetKey(["ops", "unmapped_usernames"]),
          dg.AssetKey(["ops", "onboarding_queue"])],
    description="Open alerts derived from the current state: ingestion (repeated failures, quarantine rate, unmapped "
    "names) and onboarding (new pages, auto-registered pages awaiting review).",
)
def alerts(ops_config_file: OpsConfigResource, warehouse: WarehouseReader, clock: ClockResource) -> pl.DataFrame:
    # Read through the warehouse: the ingestion and onboarding jobs each refresh the alerts with the other's last state.
    cfg = ops_config_file.load().model
    parts = []
    state, unmapped = warehouse.read_table("ops", "ingestion_state"), warehouse.read_table("ops", "unmapped_usernames")
    if state is not None and unmapped is not None:
        parts.append(ingestion_alerts(state, unmapped, max_attempts=cfg.ingestion.max_attempts_before_alert))
    queue = warehouse.read_table("ops", "onboarding_queue")
    if queue is not None:
        parts.append(onboarding_alerts(queue, clock.now()))
    if not parts:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    return pl.concat([p.select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA) for p in parts]).sort(
        "severity", "alert_code", "username_page", "alert_id", nulls_last=True)


ASSETS = [alerts]
