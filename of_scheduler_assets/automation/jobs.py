"""Named jobs. Schedules and sensors (50-operations §1) target these by name."""

from __future__ import annotations

import dagster as dg

CONFIG = dg.AssetSelection.groups("ops_config")
REPORT_BRANCH = dg.AssetSelection.assets(
    ["layer_01_raw", "report_emails"], ["layer_01_raw", "report_files"], ["layer_01_raw", "message_rows_raw"],
    ["layer_02_staging", "stg_message_events"], ["layer_02_staging", "quarantine_message_rows"],
    ["layer_02_staging", "report_pages"], ["layer_02_staging", "unknown_senders"],
)
REFERENCE_BRANCH = dg.AssetSelection.assets(
    ["layer_01_raw", "caption_bank_raw"], ["layer_01_raw", "creator_stats_raw"],
    ["layer_01_raw", "scheduler_assignments_raw"],
    ["layer_02_staging", "stg_caption_bank"], ["layer_02_staging", "quarantine_caption_bank"], ["ops_audit", "tos_audit"],
    ["layer_02_staging", "stg_creator_stats"], ["layer_02_staging", "quarantine_creator_stats"],
    ["layer_02_staging", "creator_stats_pages"],
    ["layer_02_staging", "stg_scheduler_assignments"], ["layer_02_staging", "quarantine_scheduler_assignments"],
    ["layer_02_staging", "scheduler_assignment_pages"],
)
OPS = dg.AssetSelection.assets(["ops", "quarantine_rows"], ["ops", "unmapped_usernames"])
REPORT_OPS = dg.AssetSelection.assets(["ops", "ingestion_state"], ["ops_monitor", "alerts"])

refresh_config_job = dg.define_asset_job(
    "refresh_config_job", selection=CONFIG, description="Reload ops_config.yaml and every seed table."
)
ingest_reports_job = dg.define_asset_job(
    "ingest_reports_job",
    selection=CONFIG | REPORT_BRANCH | OPS | REPORT_OPS,
    description="Mailbox -> archive -> message_rows_raw -> stg_message_events (+ quarantine, unmapped names, "
    "ingestion state, alerts). Seeds are reloaded first, so an alias fix replays affected reports.",
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference_job",
    selection=CONFIG | REFERENCE_BRANCH | OPS,
    description="Caption bank, creator statistics and scheduler assignment drops -> raw -> staging (+ quarantine).",
)

JOBS = [refresh_config_job, ingest_reports_job, ingest_reference_job]
