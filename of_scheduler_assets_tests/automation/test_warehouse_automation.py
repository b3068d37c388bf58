"""Warehouse automation: onboarding and semantic schedules (cron, time zone, job) and the partition ranges the
ingestion and refresh runs carry (the trailing fact / metric partitions of 20-warehouse §3.5, §4.1)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from of_scheduler_assets.automation import ingestion
from of_scheduler_assets.automation import warehouse as automation
from of_scheduler_assets.resources.config import OpsConfigResource

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _tick(schedule: dg.ScheduleDefinition, when: dt.datetime) -> dg.RunRequest:
    context = dg.build_schedule_context(scheduled_execution_time=when, resources={"ops_config_file": OpsConfigResource()})
    return schedule.evaluate_tick(context).run_requests[0]


def test_onboarding_runs_hourly_and_expiry_twice_a_day_in_utc():
    assert (automation.page_onboarding_schedule.cron_schedule, automation.page_onboarding_schedule.execution_timezone,
            automation.page_onboarding_schedule.job_name) == ("5 * * * *", "UTC", "onboard_pages_job")
    assert (automation.onboarding_expiry_schedule.cron_schedule, automation.onboarding_expiry_schedule.job_name) == (
        "55 11,23 * * *", "onboard_pages_job")


def test_daily_refresh_rebuilds_the_trailing_ten_metric_partitions():
    schedule = automation.daily_feature_refresh
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "0 2 * * *", "UTC", "daily_feature_refresh_job")
    request = _tick(schedule, dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC))
    assert tuple(request.tags[k] for k in RANGE) == ("2026-11-18", "2026-11-27")


def test_report_schedule_rebuilds_the_trailing_nine_fact_partitions_of_the_utc_day():
    # 17:00 Denver on 2026-11-27 is 00:00 UTC on 2026-11-28: the window ends at the UTC date
    when = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    request = _tick(ingestion.report_ingestion_schedule, when)
    assert tuple(request.tags[k] for k in RANGE) == ("2026-11-20", "2026-11-28")


def test_trailing_window_is_configurable_and_clipped_to_the_first_partition(tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("warehouse:\n  fact_rebuild_days: 3\n")
    tags = ingestion.fact_window_tags(OpsConfigResource(override_path=str(override)),
                                      dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC))
    assert (tags[RANGE[0]], tags[RANGE[1]]) == ("2026-11-25", "2026-11-27")
    early = ingestion.fact_window_tags(OpsConfigResource(), dt.datetime(2025, 1, 3, tzinfo=dt.UTC))
    assert early[RANGE[0]] == "2025-01-01"


def test_feature_refresh_follows_a_successful_semantic_refresh_for_todays_partition():
    from of_scheduler_assets.resources.clock import ClockResource

    sensor = automation.feature_refresh_after_semantic
    assert sensor.job_name == "feature_refresh_job"

    @dg.op
    def noop():
        return None

    @dg.job
    def stand_in():
        noop()

    with dg.DagsterInstance.ephemeral() as instance:
        result = stand_in.execute_in_process(instance=instance)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event(),
            resources={"clock": ClockResource(as_of="2026-11-27T02:40:00Z")},
        )
        request = sensor(context)
    assert request.partition_key == "2026-11-27"
    assert request.run_key.startswith("features-2026-11-27-")
