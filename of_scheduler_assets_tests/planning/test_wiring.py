"""Planning wiring: the Monday snapshot is idempotent, the schedules fire their jobs at the spec's times, and the job
selections keep planning out of the hourly ranking job."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from of_scheduler_assets.automation import jobs
from of_scheduler_assets.automation import planning as automation
from of_scheduler_assets.layer_06_rankings import planning
from of_scheduler_assets.layer_06_rankings.planning_assets import snapshot_week
from of_scheduler_assets.layer_06_rankings.planning_schemas import PLAN_KEY
from of_scheduler_assets_tests.planning.helpers import NOW, packs, page, pages

MONDAY = NOW.date()


def template(now=NOW, tier="MED") -> pl.DataFrame:
    return planning.build_weekly_template(pages(page("ann__paid", tier=tier)), None, None, packs(), now=now).plan


def test_snapshot_inserts_the_current_week_once_and_never_replaces_rows():
    first = snapshot_week(None, template(), MONDAY)
    assert first.height == template().height and set(first["week_start"]) == {MONDAY}
    assert snapshot_week(first, template(), MONDAY).equals(first)  # re-running inserts nothing
    # Wednesday's rebuild reaches into next week and has new hours for this week: only absent keys are inserted
    wednesday = template(NOW + dt.timedelta(days=2), tier="HIGH")
    second = snapshot_week(first, wednesday, MONDAY)
    assert set(second["week_start"]) == {MONDAY} and second.select(PLAN_KEY).is_duplicated().sum() == 0
    kept = second.join(first, on=[*PLAN_KEY, "tracking_hash"], how="semi")
    assert kept.height == first.height  # every earlier row is still there, unchanged
    added = second.height - first.height
    assert added > 0 and snapshot_week(second, wednesday, MONDAY).height == second.height


def _tick(schedule: dg.ScheduleDefinition, when: dt.datetime) -> list[dg.RunRequest]:
    return list(schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when)).run_requests)


def test_schedules_cron_time_zone_target_job_and_run_requests():
    expected = {
        "weekly_template_schedule": ("0 12 * * 1", "weekly_template_job"),
        "weekly_snapshot_schedule": ("5 12 * * 1", "weekly_snapshot_job"),
        "daily_qa_schedule": ("10 12 * * *", "daily_qa_job"),
        "performance_learning_schedule": ("30 0,12 * * *", "learn_page_knobs_job"),
    }
    got = {s.name: (s.cron_schedule, s.job_name) for s in automation.SCHEDULES}
    assert got == expected
    for schedule in automation.SCHEDULES:
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        requests = _tick(schedule, dt.datetime(2026, 11, 2, 12, 30, tzinfo=dt.UTC))
        assert len(requests) == 1 and requests[0].partition_key is None


def _graph():
    from of_scheduler_assets.definitions import ASSETS

    return AssetGraph.from_assets(ASSETS)


def _keys(selection, graph) -> set[str]:
    return {k.to_user_string() for k in selection.resolve(graph)}


def test_planning_is_not_swallowed_by_the_hourly_ranking_job():
    graph = _graph()
    assert _keys(jobs.RANKINGS, graph) == {
        "layer_06_rankings/slot_grid_next24", "layer_06_rankings/caption_rank_next24",
        "ops_audit/config_assignment_log", "ops_audit/recommendation_log"}
    planning_keys = _keys(jobs.PLANNING, graph)
    assert planning_keys == {"layer_06_rankings/weekly_template_7d", "layer_06_rankings/followup_bumps",
                             "layer_06_rankings/non_dm_windows", "ops/qa_violations", "layer_06_rankings/weekly_plan"}
    assert planning_keys <= _keys(jobs.DAILY_DECISIONS, graph)  # built with the day's decisions by the run command
    config = _keys(jobs.CONFIG, graph)
    assert {"ops_config/scheduling_packs", "ops_config/learner_config"} <= config
    assert "ops_config/page_knobs_learned" not in config  # seed reloads never run the learner
    learn = _keys(automation.learn_page_knobs_job.selection, graph)
    assert {"layer_04_semantic/learning_signals_28d", "ops_config/page_knobs_learned",
            "ops_audit/learning_changelog"} <= learn
