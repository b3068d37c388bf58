"""Ingestion schedules and sensors, evaluated with Dagster's own contexts against real folders and a real warehouse."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from of_scheduler_assets.automation import ingestion
from of_scheduler_assets.automation.jobs import INGESTION
from of_scheduler_assets_tests.support.world import generate_world, materialize_all, resources_for


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generate_world(tmp_path_factory.mktemp("auto"), scale=0.02, days=10, seed=3)


def test_report_schedule_runs_at_five_and_seventeen_denver_time_across_dst():
    schedule = ingestion.report_ingestion_schedule
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "0 5,17 * * *", "America/Denver", "ingest_reports_job",
    )
    denver = ZoneInfo("America/Denver")
    it = cron_string_iterator(dt.datetime(2026, 3, 6, 12, tzinfo=denver).timestamp(), "0 5,17 * * *", "America/Denver")
    times = [next(it) for _ in range(4)]
    assert [t.astimezone(denver).hour for t in times] == [17, 5, 17, 5]
    # 05:00 Denver is 12:00 UTC in winter and 11:00 UTC after the switch of 2026-03-08: the schedule follows DST
    assert [t.astimezone(dt.UTC).hour for t in times] == [0, 12, 0, 11]


def test_caption_bank_schedule_targets_the_reference_job_in_utc():
    schedule = ingestion.caption_bank_schedule
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "30 7,19 * * *", "UTC", "ingest_reference_job",
    )
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 27, 7, 30, tzinfo=dt.UTC))
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.job_name in (None, "ingest_reference_job")


def _mailbox_tick(world: Path, cursor: str | None = None):
    resources = resources_for(world)
    defs = dg.Definitions(sensors=[ingestion.report_mailbox_sensor], resources=resources)
    sensor = defs.get_sensor_def("report_mailbox_sensor")
    with dg.build_sensor_context(cursor=cursor, resources=resources, definitions=defs) as context:
        result = sensor.evaluate_tick(context)
        return result, context.cursor


def test_mailbox_sensor_requests_one_run_per_new_batch_and_nothing_once_loaded(world):
    first, cursor = _mailbox_tick(world)
    assert len(first.run_requests) == 1
    run_key = first.run_requests[0].run_key
    assert cursor == run_key
    assert int(first.run_requests[0].tags["of_scheduler/new_emails"]) == len(list((world / "inbox" / "reports").rglob("*.eml")))
    # the run rebuilds the trailing fact partitions ending at the clock's UTC date
    today = resources_for(world)["clock"].now().date()
    assert first.run_requests[0].tags["dagster/asset_partition_range_end"] == today.isoformat()
    assert first.run_requests[0].tags["dagster/asset_partition_range_start"] == (today - dt.timedelta(days=8)).isoformat()

    again, _ = _mailbox_tick(world, cursor)  # the same batch is not requested twice while its run is pending
    assert again.run_requests == [] and "already requested" in again.skip_message

    assert materialize_all(world, selection=INGESTION).success
    after, _ = _mailbox_tick(world, cursor)
    assert after.run_requests == [] and after.skip_message == "no new report emails"

    # a new email arrives: a new batch, a new run key
    emls = sorted((world / "inbox" / "reports").rglob("*.eml"))
    copy = world / "inbox" / "reports" / "late" / "late.eml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(emls[0].read_bytes().replace(b"Message-ID: <", b"Message-ID: <late-", 1))
    try:
        late, late_cursor = _mailbox_tick(world, cursor)
        assert len(late.run_requests) == 1 and late.run_requests[0].run_key != run_key
        assert late.run_requests[0].tags["of_scheduler/new_emails"] == "1"
    finally:
        shutil.rmtree(copy.parent)


def _reference_tick(world: Path, cursor: str | None):
    resources = resources_for(world)
    defs = dg.Definitions(sensors=[ingestion.reference_file_sensor], resources=resources)
    with dg.build_sensor_context(cursor=cursor, resources=resources, definitions=defs) as context:
        result = defs.get_sensor_def("reference_file_sensor").evaluate_tick(context)
        return result, context.cursor


def test_reference_sensor_reacts_to_new_files_and_replays_reports_on_seed_edits(world):
    first, cursor = _reference_tick(world, None)
    assert [r.job_name for r in first.run_requests] == ["ingest_reference_job", "ingest_reports_job"]
    unchanged, same = _reference_tick(world, cursor)
    assert unchanged.run_requests == [] and same == cursor

    drop = world / "inbox" / "caption_bank" / "late_drop.csv"
    drop.write_bytes(next((world / "inbox" / "caption_bank").glob("*.csv")).read_bytes())
    try:
        new_file, cursor2 = _reference_tick(world, cursor)
        assert [r.job_name for r in new_file.run_requests] == ["ingest_reference_job"]  # no replay: seeds unchanged
        assert json.loads(cursor2)["seeds"] == json.loads(cursor)["seeds"]
    finally:
        drop.unlink()

    aliases = world / "seeds" / "page_aliases.csv"
    original = aliases.read_bytes()
    try:
        aliases.write_bytes(original + b"Someone New Paid,someone_new,paid,manual,,2026-01-01\n")
        seed_edit, _ = _reference_tick(world, cursor)
        assert [r.job_name for r in seed_edit.run_requests] == ["ingest_reference_job", "ingest_reports_job"]
        assert seed_edit.run_requests[1].tags["of_scheduler/trigger"] == "seed_change"
    finally:
        aliases.write_bytes(original)
