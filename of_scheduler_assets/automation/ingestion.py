"""Ingestion automation (50-operations §1): the mailbox sensor, the reference-file sensor and their schedules.

The sensors decide only *whether* to run; what a run processes is decided inside it from `report_emails`, so a
duplicate or late request can never load anything twice.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
import duckdb

from of_scheduler_assets import partitions
from of_scheduler_assets.automation.jobs import ingest_reference_job, ingest_reports_job
from of_scheduler_assets.layer_01_raw.intake import DONE_STATUSES
from of_scheduler_assets.layer_01_raw.reference_files import KINDS
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.mailbox import MailboxResource
from of_scheduler_assets.resources.seeds import SeedsResource
from of_scheduler_assets.resources.storage import StorageResource
from of_scheduler_assets.resources.warehouse import WarehouseReader


def fact_window_tags(ops_config_file: OpsConfigResource, now: dt.datetime) -> dict[str, str]:
    """Partition-range tags of an ingestion run: the trailing `warehouse.fact_rebuild_days` fact partitions ending at
    today (UTC), which hold every send a new report snapshot can touch (20-warehouse §3.5)."""
    days = ops_config_file.load().model.warehouse.fact_rebuild_days
    return partitions.range_tags(*partitions.trailing_keys(days, now.astimezone(dt.UTC).date()))


@dg.schedule(
    name="report_ingestion_schedule",
    job=ingest_reports_job,
    cron_schedule="0 5,17 * * *",
    execution_timezone="America/Denver",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Safety net twice a day (Denver wall time, follows DST): retries failed emails, picks up missed mail, "
    "rebuilds the trailing fact partitions.",
)
def report_ingestion_schedule(context: dg.ScheduleEvaluationContext, ops_config_file: OpsConfigResource):
    return dg.RunRequest(tags=fact_window_tags(ops_config_file, context.scheduled_execution_time))

caption_bank_schedule = dg.ScheduleDefinition(
    name="caption_bank_schedule",
    job=ingest_reference_job,
    cron_schedule="30 7,19 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="12-hourly refresh of the caption bank and the other reference drops.",
)


def batch_key(message_ids: list[str]) -> str:
    return hashlib.sha256("|".join(sorted(message_ids)).encode("utf-8")).hexdigest()[:32]


@dg.sensor(
    name="report_mailbox_sensor",
    job=ingest_reports_job,
    minimum_interval_seconds=900,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 15 min: one run per batch of new report emails (oldest first, at most the per-run budget), "
    "so a backlog after downtime is worked off batch by batch.",
)
def report_mailbox_sensor(
    context: dg.SensorEvaluationContext, mailbox: MailboxResource, warehouse: WarehouseReader,
    ops_config_file: OpsConfigResource, clock: ClockResource,
):
    cfg = ops_config_file.load().model
    try:
        emails = warehouse.read_table("layer_01_raw", "report_emails")
    except (duckdb.IOException, duckdb.ConnectionException) as exc:  # a run holds the warehouse: look again later
        return dg.SkipReason(f"warehouse busy: {type(exc).__name__}")
    done = set() if emails is None else set(
        emails.filter(emails["fetch_status"].is_in(list(DONE_STATUSES)))["message_id"].to_list()
    )
    refs = mailbox.open(query=cfg.gmail.query, page_size=cfg.gmail.list_page_size).list_new(
        lambda message_id: message_id in done, cfg.ingestion.max_new_messages_per_run
    )
    if not refs:
        return dg.SkipReason("no new report emails")
    key = batch_key([r.id for r in refs])
    if context.cursor == key:
        return dg.SkipReason(f"batch {key} already requested; waiting for its run")
    context.update_cursor(key)
    return dg.RunRequest(run_key=key, tags={"of_scheduler/new_emails": str(len(refs)),
                                            **fact_window_tags(ops_config_file, clock.now())})


def folder_fingerprint(paths: list[Path]) -> str:
    """sha256 over (name, content sha256) of every file: changes exactly when a file is added, removed or edited."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.parent.name}/{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()[:32]


@dg.sensor(
    name="reference_file_sensor",
    jobs=[ingest_reference_job, ingest_reports_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New caption bank, creator statistics or scheduler assignment files -> ingest_reference_job; "
    "an edited seed (e.g. a new alias) -> both ingestion jobs, which replays affected reports.",
)
def reference_file_sensor(context: dg.SensorEvaluationContext, storage: StorageResource, seeds: SeedsResource,
                          ops_config_file: OpsConfigResource, clock: ClockResource):
    previous = json.loads(context.cursor) if context.cursor else {}
    drops = [p for kind in KINDS for p in (storage.inbox / kind).glob("*.csv")]
    seed_dir = Path(seeds.override_dir) if seeds.override_dir else None
    seed_files = sorted(seed_dir.glob("*.csv")) if seed_dir and seed_dir.is_dir() else []
    now = {"reference": folder_fingerprint(drops), "seeds": folder_fingerprint(seed_files)}
    if now == previous:
        return dg.SkipReason("no new or changed reference files or seeds")
    context.update_cursor(json.dumps(now, sort_keys=True))
    requests = [dg.RunRequest(run_key=f"reference-{now['reference']}-{now['seeds']}", job_name=ingest_reference_job.name)]
    if now["seeds"] != previous.get("seeds"):
        requests.append(dg.RunRequest(run_key=f"replay-{now['seeds']}", job_name=ingest_reports_job.name,
                                      tags={"of_scheduler/trigger": "seed_change",
                                            **fact_window_tags(ops_config_file, clock.now())}))
    return requests


SCHEDULES = [report_ingestion_schedule, caption_bank_schedule]
SENSORS = [report_mailbox_sensor, reference_file_sensor]
