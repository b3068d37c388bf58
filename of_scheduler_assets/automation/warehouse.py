"""Warehouse automation (50-operations §1): onboarding every hour, its probation expiry twice a day, and the daily
semantic refresh over the trailing metric partitions."""

import datetime as dt

import dagster as dg

from of_scheduler_assets import partitions
from of_scheduler_assets.automation.jobs import (
    daily_feature_refresh_job,
    feature_refresh_job,
    onboard_pages_job,
    rank_captions_job,
    ranker_evaluation_job,
)
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource

page_onboarding_schedule = dg.ScheduleDefinition(
    name="page_onboarding_schedule",
    job=onboard_pages_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: pages new in reports, creator statistics or assignments are onboarded (40-planning §7).",
)

onboarding_expiry_schedule = dg.ScheduleDefinition(
    name="onboarding_expiry_schedule",
    job=onboard_pages_job,
    cron_schedule="55 11,23 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Twice a day: pages whose probation ended become active and take the engine tier; every onboarding "
    "run re-evaluates expiry, so this is the same job at the times the scheduling team expects.",
)


@dg.schedule(
    name="daily_feature_refresh",
    job=daily_feature_refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 UTC (after the 17:00 Denver ingestion in both seasons): the trailing daily-metric partitions, "
    "today's page health, tier thresholds, tiers and states, and the profiles.",
)
def daily_feature_refresh(context: dg.ScheduleEvaluationContext, ops_config_file: OpsConfigResource):
    days = ops_config_file.load().model.warehouse.metrics_rebuild_days
    today = context.scheduled_execution_time.astimezone(dt.UTC).date()
    return dg.RunRequest(tags=partitions.range_tags(*partitions.trailing_keys(days, today)))


@dg.run_status_sensor(
    name="feature_refresh_after_semantic",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_feature_refresh_job],
    request_job=feature_refresh_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When the daily semantic refresh succeeds, today's feature-store partition (one date: the store is "
    "computed per day) is built from it.",
)
def feature_refresh_after_semantic(context: dg.RunStatusSensorContext, clock: ClockResource):
    today = clock.now().date().isoformat()
    return dg.RunRequest(run_key=f"features-{today}-{context.dagster_run.run_id}", partition_key=today)


hourly_rankings = dg.ScheduleDefinition(
    name="hourly_rankings",
    job=rank_captions_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly at :15: the next-24-hour caption ranking of every active page (30-ml §1).",
)

ranker_evaluation_schedule = dg.ScheduleDefinition(
    name="ranker_evaluation_schedule",
    job=ranker_evaluation_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Mondays 04:00 UTC: the ranker's evaluation (30-ml §10).",
)

SCHEDULES = [page_onboarding_schedule, onboarding_expiry_schedule, daily_feature_refresh, hourly_rankings,
             ranker_evaluation_schedule]
SENSORS: list = [feature_refresh_after_semantic]
