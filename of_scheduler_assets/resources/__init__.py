"""Resources of the code location, chosen by environment variables (see README "Configuration")."""

from __future__ import annotations

from of_scheduler_assets import settings
from of_scheduler_assets.resources.alerting import alerting_resource_from_env
from of_scheduler_assets.resources.backup import backup_resource_from_env
from of_scheduler_assets.resources.clock import clock_resource_from_env
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.mailbox import mailbox_resource_from_env
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.seeds import seeds_resource_from_env
from of_scheduler_assets.resources.sheets import sheets_resource_from_env
from of_scheduler_assets.resources.storage import storage_resource_from_env
from of_scheduler_assets.resources.warehouse import warehouse_io_manager, warehouse_reader


def build_resources() -> dict:
    import dagster as dg

    return {
        "io_manager": warehouse_io_manager(),
        "warehouse": warehouse_reader(),
        "ops_config_file": OpsConfigResource(
            override_path=dg.EnvVar("OF_SCHEDULER_CONFIG") if settings._env("OF_SCHEDULER_CONFIG") else None
        ),
        "seeds": seeds_resource_from_env(),
        "mailbox": mailbox_resource_from_env(),
        "storage": storage_resource_from_env(),
        "clock": clock_resource_from_env(),
        "alerting": alerting_resource_from_env(),
        "warehouse_backup": backup_resource_from_env(),
        "sheets": sheets_resource_from_env(),
        "ranker_config": RankerConfigResource(
            override_path=dg.EnvVar("OF_SCHEDULER_RANKER_CONFIG") if settings._env("OF_SCHEDULER_RANKER_CONFIG") else None
        ),
    }
