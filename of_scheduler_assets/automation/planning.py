"""Planning automation (50-operations §1): the Monday 12:00 UTC template build, the 12:05 snapshot, the daily 12:10
QA run and the 12-hourly performance learner (00:30 and 12:30 UTC).

Decision: the daily QA run re-materialises the rolling template (its checks run with every materialisation; the
template is "replaced on each build", 40-planning §1), so the QA rules see today's features and the latest hourly
ranking; the Monday snapshot `weekly_plan` is untouched by it.
"""

import dagster as dg

from of_scheduler_assets.automation.jobs import LEARNING, PLANNING_TEMPLATE

# The learner's inputs: the profiles multi-asset produces learning_signals_28d together with its four siblings.
PROFILES = dg.AssetSelection.assets(*[["layer_04_semantic", name] for name in (
    "page_dow_hod_profile", "page_price_profile", "page_price_points", "page_volume_profile", "learning_signals_28d")])

weekly_template_job = dg.define_asset_job(
    "weekly_template_job",
    selection=PLANNING_TEMPLATE,
    description="The rolling 7-day PPV plan of every planned page with follow-ups, bumps and non-DM windows, captions "
    "through the ranker, and the QA gates of 40-planning §8 (violations appended to ops.qa_violations).",
)
weekly_snapshot_job = dg.define_asset_job(
    "weekly_snapshot_job",
    selection=dg.AssetSelection.assets(["layer_06_rankings", "weekly_plan"]),
    description="Monday snapshot: the current week's template rows inserted into weekly_plan when absent (§9).",
)
daily_qa_job = dg.define_asset_job(
    "daily_qa_job",
    selection=PLANNING_TEMPLATE,
    description="Daily QA (40-planning §8): the rolling template rebuilt and every QA rule evaluated on it and on the "
    "latest next-24-hour ranking; violations appended to ops.qa_violations.",
)
learn_page_knobs_job = dg.define_asset_job(
    "learn_page_knobs_job",
    selection=PROFILES | dg.AssetSelection.assets(["ops_config", "learner_config"]) | LEARNING,
    description="Performance learner (40-planning §10): learning signals, then per-page knobs within their bounds, "
    "with a changelog entry per change.",
)

weekly_template_schedule = dg.ScheduleDefinition(
    name="weekly_template_schedule", job=weekly_template_job, cron_schedule="0 12 * * 1", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Monday 12:00 UTC: the week's template (40-planning §4).",
)
weekly_snapshot_schedule = dg.ScheduleDefinition(
    name="weekly_snapshot_schedule", job=weekly_snapshot_job, cron_schedule="5 12 * * 1", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Monday 12:05 UTC, after the 12:00 build: the weekly_plan snapshot (§9).",
)
daily_qa_schedule = dg.ScheduleDefinition(
    name="daily_qa_schedule", job=daily_qa_job, cron_schedule="10 12 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily 12:10 UTC: the QA checks of 40-planning §8 into ops.qa_violations.",
)
performance_learning_schedule = dg.ScheduleDefinition(
    name="performance_learning_schedule", job=learn_page_knobs_job, cron_schedule="30 0,12 * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 12 hours (00:30 and 12:30 UTC): learning_signals_28d, then page_knobs_learned (§10).",
)

JOBS = [weekly_template_job, weekly_snapshot_job, daily_qa_job, learn_page_knobs_job]
SCHEDULES = [weekly_template_schedule, weekly_snapshot_schedule, daily_qa_schedule, performance_learning_schedule]
SENSORS: list = []
