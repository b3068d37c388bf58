"""Export automation (50-operations §1, §7): the exports follow the hourly ranking.

`hourly_rankings` (:15 UTC) runs `rank_captions_job`; when that run succeeds, `exports_after_rankings` requests
`export_job` (schedule_recommendations, caption_lookup, the Apps Script tables, top captions, the team sheets, the
export log and the read-back of the schedulers' edits), so the exports are never built from a half-written ranking
and never wait on a fixed delay.

This module does not import `jobs.py` (which adds `EXPORTS` to its daily decision selection): the sensor watches the
code location's runs and acts on successful runs of the ranking job, by name.
"""

import dagster as dg

RANKING_JOB = "rank_captions_job"

EXPORTS = dg.AssetSelection.assets(
    ["layer_07_export", "schedule_recommendations"], ["layer_07_export", "caption_lookup"],
    ["layer_07_export", "api_captions"], ["layer_07_export", "api_system_health"],
    ["layer_07_export", "api_top_captions"], ["ops_monitor", "top_captions"],
    ["layer_07_export", "team_sheets"], ["ops_audit", "export_log"], ["ops_audit", "scheduler_actions"],
)

export_job = dg.define_asset_job(
    "export_job",
    selection=EXPORTS,
    description="Exports of the current ranking (50-operations §7): schedule_recommendations, caption_lookup, "
    "api_captions / api_system_health / api_top_captions (the Apps Script tables), ops_monitor.top_captions and the "
    "team sheets (local .xlsx + CSV, or Google Sheets), each write logged in ops_audit.export_log.",
)


@dg.run_status_sensor(
    name="exports_after_rankings",
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_job=export_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"When a {RANKING_JOB} run succeeds (hourly at :15 UTC), the exports and team sheets are rebuilt "
    "from it (freshness ≤ 2 h).",
)
def exports_after_rankings(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.job_name != RANKING_JOB:
        return dg.SkipReason(f"{run.job_name} is not {RANKING_JOB}")
    return dg.RunRequest(run_key=f"exports-{run.run_id}")


JOBS = [export_job]
SCHEDULES: list = []
SENSORS = [exports_after_rankings]
