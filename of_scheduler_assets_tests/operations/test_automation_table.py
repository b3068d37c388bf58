"""Every schedule and sensor of the code location against the table of 50-operations §1 (restated below): name, kind,
cron, time zone, target job and default status; the run requests each schedule emits at a tick. Anything in the spec
but not in the code location (or the reverse) fails, listing what is missing.

Where the code deliberately differs from the spec's wording, the difference is recorded here with its reason
(`MERGED`, `JOB_NAMES`) so that a new, undocumented difference still fails.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import pytest


@dataclass(frozen=True)
class Row:
    kind: str              # schedule | sensor | run_status_sensor
    cron: str | None       # schedules
    tz: str | None         # schedules
    jobs: tuple[str, ...]  # the job(s) it targets, by the spec's name
    running: bool = True   # default status
    interval_s: int | None = None  # sensors: minimum interval


# 50-operations §1, row by row.
SPEC: dict[str, Row] = {
    "report_mailbox_sensor": Row("sensor", None, None, ("ingest_reports_job",), interval_s=900),
    "report_ingestion_schedule": Row("schedule", "0 5,17 * * *", "America/Denver", ("ingest_reports_job",)),
    "caption_bank_file_sensor": Row("sensor", None, None, ("ingest_caption_bank_job",), interval_s=300),
    "caption_bank_schedule": Row("schedule", "30 7,19 * * *", "UTC", ("ingest_caption_bank_job",)),
    "reference_file_sensor": Row("sensor", None, None, ("ingest_reference_job", "replay_quarantine_job"),
                                 interval_s=300),
    "page_onboarding_schedule": Row("schedule", "5 * * * *", "UTC", ("onboarding_job",)),
    "onboarding_expiry_schedule": Row("schedule", "55 11,23 * * *", "UTC", ("onboarding_expiry_job",)),
    "daily_feature_refresh": Row("schedule", "0 2 * * *", "UTC", ("daily_feature_refresh_job",)),
    "hourly_rankings": Row("schedule", "15 * * * *", "UTC", ("rank_captions_job",)),
    "weekly_template_schedule": Row("schedule", "0 12 * * 1", "UTC", ("weekly_template_job",)),
    "weekly_snapshot_schedule": Row("schedule", "5 12 * * 1", "UTC", ("weekly_snapshot_job",)),
    "daily_qa_schedule": Row("schedule", "10 12 * * *", "UTC", ("daily_qa_job",)),
    "performance_learning_schedule": Row("schedule", "30 0,12 * * *", "UTC", ("learn_page_knobs_job",)),
    "facts_cache_schedule": Row("schedule", "0 * * * *", "UTC", ("facts_cache_job",), running=False),
    "system_health_sensor": Row("sensor", None, None, ("system_health_job",), interval_s=900),
    "run_failure_alert_sensor": Row("run_status_sensor", None, None, ("system_health_job",)),
    "asset_check_alert_sensor": Row("sensor", None, None, ("system_health_job",)),
    "ranker_evaluation_schedule": Row("schedule", "0 4 * * 1", "UTC", ("ranker_evaluation_job",)),
}

# Automation beyond the §1 table, each with its reason.
EXTRAS: dict[str, Row] = {
    # 20-warehouse: the feature store follows a successful semantic refresh (run-status sensor, no fixed wait)
    "feature_refresh_after_semantic": Row("run_status_sensor", None, None, ("feature_refresh_job",)),
    # §1 hourly_rankings' export half: the exports follow a successful ranking run
    "exports_after_rankings": Row("run_status_sensor", None, None, ("export_job",)),
    # the backup requirement names no time: daily after the 02:00 refresh
    "warehouse_backup_schedule": Row("schedule", "30 3 * * *", "UTC", ("warehouse_backup_job",)),
    # declarative automation (assets that follow their upstream); requests runs of assets, not of a job
    "default_automation_condition_sensor": Row("automation_condition_sensor", None, None, ()),
}

# Spec rows implemented by another row of the table, with the reason.
MERGED: dict[str, str] = {
    "caption_bank_file_sensor": "reference_file_sensor watches inbox/caption_bank/ with the other reference drops "
    "every 300 s and launches ingest_reference_job, which holds the whole caption-bank branch",
}

# Spec job name -> the job that implements it, with the reason.
JOB_NAMES: dict[str, tuple[str, str]] = {
    "ingest_caption_bank_job": ("ingest_reference_job", "one job for every reference drop (bank, stats, roster)"),
    "replay_quarantine_job": ("ingest_reports_job", "an alias change re-runs ingestion, which replays quarantine"),
    "onboarding_job": ("onboard_pages_job", "named after what it does"),
    "onboarding_expiry_job": ("onboard_pages_job", "every onboarding run re-evaluates probation expiry"),
}

# Spec rows not built yet, with the reason (the test fails for any other missing row).
NOT_BUILT: dict[str, str] = {
    "facts_cache_schedule": "stopped by default in the spec and only for an external consumer: there is none, and "
    "its one-year pre-joined facts asset does not exist (exports read the warehouse directly)",
}


def _implemented_jobs(row: Row) -> tuple[str, ...]:
    return tuple(sorted({JOB_NAMES.get(j, (j,))[0] for j in row.jobs}))


@pytest.fixture(scope="module")
def repo():
    from of_scheduler_assets.definitions import build_definitions

    return build_definitions().get_repository_def()


def _kind(sensor: dg.SensorDefinition) -> str:
    if isinstance(sensor, dg.AutomationConditionSensorDefinition):
        return "automation_condition_sensor"
    if isinstance(sensor, dg.RunStatusSensorDefinition):
        return "run_status_sensor"
    return "sensor"


def _actual(repo) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for s in repo.schedule_defs:
        out[s.name] = Row("schedule", s.cron_schedule, s.execution_timezone, (s.job_name,),
                          running=s.default_status == dg.DefaultScheduleStatus.RUNNING)
    for s in repo.sensor_defs:
        kind = _kind(s)
        jobs = tuple(sorted(j.name for j in s.jobs)) if s.has_jobs else ()
        out[s.name] = Row(kind, None, None, jobs, running=s.default_status == dg.DefaultSensorStatus.RUNNING,
                          interval_s=s.minimum_interval_seconds if kind == "sensor" else None)
    return out


def test_every_spec_row_is_present_with_its_cron_time_zone_and_job(repo):
    actual = _actual(repo)
    problems = []
    for name, row in SPEC.items():
        if name in MERGED or name in NOT_BUILT:
            assert name not in actual, f"{name} exists now: drop it from MERGED / NOT_BUILT"
            continue
        if name not in actual:
            problems.append(f"missing: {name} ({row.kind} {row.cron or ''} {row.tz or ''} -> {', '.join(row.jobs)})")
            continue
        expected = Row(row.kind, row.cron, row.tz, _implemented_jobs(row), row.running,
                       row.interval_s if row.kind == "sensor" and row.interval_s else actual[name].interval_s)
        got = actual[name]
        if got != expected:
            problems.append(f"differs: {name}: expected {expected}, got {got}")
    assert not problems, "50-operations §1 not met:\n" + "\n".join(problems)


def test_nothing_outside_the_spec_table_but_the_documented_extras(repo):
    actual = _actual(repo)
    unexpected = sorted(set(actual) - set(SPEC) - set(EXTRAS))
    assert not unexpected, f"automation not in 50-operations §1 and not documented in EXTRAS: {unexpected}"
    for name, row in EXTRAS.items():
        assert actual.get(name) == Row(row.kind, row.cron, row.tz, row.jobs, row.running,
                                       actual[name].interval_s if name in actual else None), name


def test_spec_jobs_exist(repo):
    jobs = {j.name for j in repo.get_all_jobs()}
    for row in [*SPEC.values(), *EXTRAS.values()]:
        for job in _implemented_jobs(row):
            assert job in jobs or any(name in NOT_BUILT for name, r in SPEC.items() if job in _implemented_jobs(r)), job


# Schedules evaluated at a tick: every one emits a run request for its own job (partition-range tags where the spec
# asks for trailing partitions).
TICKS = {
    "report_ingestion_schedule": dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
    "daily_feature_refresh": dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC),
}
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
EXPECTED_RANGES = {
    "report_ingestion_schedule": ("2026-11-20", "2026-11-28"),
    "daily_feature_refresh": ("2026-11-18", "2026-11-27"),
}


def test_every_schedule_emits_a_run_request_for_its_job(repo, tmp_path):
    from of_scheduler_assets.resources import build_resources

    resources = build_resources()
    for schedule in repo.schedule_defs:
        when = TICKS.get(schedule.name, dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC))
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources)
            result = schedule.evaluate_tick(context)
        assert not result.skip_message, (schedule.name, result.skip_message)
        assert len(result.run_requests) == 1, schedule.name
        request = result.run_requests[0]
        assert request.job_name in (None, schedule.job_name), schedule.name
        if schedule.name in EXPECTED_RANGES:
            assert tuple(request.tags[k] for k in RANGE) == EXPECTED_RANGES[schedule.name], schedule.name
