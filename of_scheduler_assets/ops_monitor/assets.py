"""Dagster wiring of `ops_monitor`: alert rows (ingestion rules for now; 50-operations §3.2)."""


import dagster as dg
import polars as pl

from of_scheduler_assets.ops_monitor.alerts import ingestion_alerts
from of_scheduler_assets.resources.config import OpsConfigResource

GROUP = "ops_monitor"


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    ins={
        "ingestion_state": dg.AssetIn(key=["ops", "ingestion_state"]),
        "unmapped_usernames": dg.AssetIn(key=["ops", "unmapped_usernames"]),
    },
    description="Open alerts derived from the current state (ingestion: repeated failures, quarantine rate, unmapped names).",
)
def alerts(ops_config_file: OpsConfigResource, ingestion_state: pl.DataFrame, unmapped_usernames: pl.DataFrame) -> pl.DataFrame:
    cfg = ops_config_file.load().model
    return ingestion_alerts(ingestion_state, unmapped_usernames, max_attempts=cfg.ingestion.max_attempts_before_alert)


ASSETS = [alerts]
