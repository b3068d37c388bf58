"""Named jobs. Schedules and sensors (50-operations §1) target these by name."""

from __future__ import annotations

import dagster as dg

refresh_config_job = dg.define_asset_job(
    "refresh_config_job",
    selection=dg.AssetSelection.groups("ops_config"),
    description="Reload ops_config.yaml and every seed table.",
)

JOBS = [refresh_config_job]
