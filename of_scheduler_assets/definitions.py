"""The code location: every asset, check, job, schedule, sensor and resource, assembled here and only here.

Each layer package holds its Dagster wiring in `assets.py` and its pure polars transforms in modules without Dagster
objects. Asset keys are `[schema, table]`; the group name equals the schema.
"""

from __future__ import annotations

import dagster as dg

from of_scheduler_assets import settings
from of_scheduler_assets.automation import exports as export_automation
from of_scheduler_assets.automation import ingestion, jobs, operations
from of_scheduler_assets.automation import planning as planning_automation
from of_scheduler_assets.automation import warehouse as warehouse_automation
from of_scheduler_assets.layer_01_raw import assets as raw_assets
from of_scheduler_assets.layer_02_staging import assets as staging_assets
from of_scheduler_assets.layer_03_foundation import assets as foundation_assets
from of_scheduler_assets.layer_04_semantic import assets as semantic_assets
from of_scheduler_assets.layer_05_ml import assets as ml_assets
from of_scheduler_assets.layer_06_rankings import assets as ranking_assets
from of_scheduler_assets.layer_06_rankings import planning_assets
from of_scheduler_assets.layer_07_export import assets as export_assets
from of_scheduler_assets.ops import assets as ops_assets
from of_scheduler_assets.ops_audit import assets as ops_audit_assets
from of_scheduler_assets.ops_config import assets as ops_config_assets
from of_scheduler_assets.ops_monitor import assets as ops_monitor_assets
from of_scheduler_assets.resources import build_resources

ASSETS = [
    *ops_config_assets.ASSETS,
    *raw_assets.ASSETS,
    *staging_assets.ASSETS,
    *foundation_assets.ASSETS,
    *semantic_assets.ASSETS,
    *ml_assets.ASSETS,
    *ranking_assets.ASSETS,
    *planning_assets.ASSETS,
    *ops_assets.ASSETS,
    *ops_monitor_assets.ASSETS,
    *ops_audit_assets.ASSETS,
    *export_assets.ASSETS,
]
ASSET_CHECKS = [*ops_config_assets.CHECKS, *raw_assets.CHECKS, *staging_assets.CHECKS, *ops_assets.CHECKS]


def build_definitions() -> dg.Definitions:
    # Locally every step runs in one process: DuckDB admits one writing process per file, and re-importing the code
    # location per step costs seconds. On BigQuery, steps run in parallel processes.
    executor = dg.in_process_executor if settings.target() == "local" else dg.multiprocess_executor
    return dg.Definitions(
        assets=operations.with_declarative_automation(ASSETS),
        asset_checks=ASSET_CHECKS,
        jobs=[*jobs.JOBS, *export_automation.JOBS, *planning_automation.JOBS, *operations.JOBS],
        schedules=[*ingestion.SCHEDULES, *warehouse_automation.SCHEDULES, *planning_automation.SCHEDULES,
                   *operations.SCHEDULES],
        sensors=[*ingestion.SENSORS, *warehouse_automation.SENSORS, *export_automation.SENSORS,
                 *planning_automation.SENSORS, *operations.SENSORS],
        resources=build_resources(),
        executor=executor,
    )


defs = build_definitions()
