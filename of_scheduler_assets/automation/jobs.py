"""Named jobs. Schedules and sensors (50-operations §1) target these by name."""

from __future__ import annotations

import dagster as dg

from of_scheduler_assets.automation.exports import EXPORTS

# The learned page knobs live in ops_config but are computed by the learner (LEARNING), not reloaded from seeds.
LEARNING = dg.AssetSelection.assets(["ops_config", "page_knobs_learned"], ["ops_audit", "learning_changelog"])
CONFIG = dg.AssetSelection.groups("ops_config") - LEARNING
REPORT_BRANCH = dg.AssetSelection.assets(
    ["layer_01_raw", "report_emails"], ["layer_01_raw", "report_files"], ["layer_01_raw", "message_rows_raw"],
    ["layer_02_staging", "stg_message_events"], ["layer_02_staging", "quarantine_message_rows"],
    ["layer_02_staging", "report_pages"], ["layer_02_staging", "unknown_senders"],
)
REFERENCE_BRANCH = dg.AssetSelection.assets(
    ["layer_01_raw", "caption_bank_raw"], ["layer_01_raw", "creator_stats_raw"],
    ["layer_01_raw", "scheduler_assignments_raw"],
    ["layer_02_staging", "stg_caption_bank"], ["layer_02_staging", "quarantine_caption_bank"],
    ["layer_02_staging", "stg_caption_bank_tos"],
    ["layer_02_staging", "stg_creator_stats"], ["layer_02_staging", "quarantine_creator_stats"],
    ["layer_02_staging", "creator_stats_pages"],
    ["layer_02_staging", "stg_scheduler_assignments"], ["layer_02_staging", "quarantine_scheduler_assignments"],
    ["layer_02_staging", "scheduler_assignment_pages"],
)
OPS = dg.AssetSelection.assets(["ops", "quarantine_rows"], ["ops", "unmapped_usernames"])
CAPTION_LIBRARY = dg.AssetSelection.assets(["layer_03_foundation", "dim_caption"], ["ops_audit", "tos_audit"],
                                           ["layer_03_foundation", "caption_bank_last_use"])
DIMENSIONS = dg.AssetSelection.assets(
    ["layer_03_foundation", "page_universe"], ["layer_03_foundation", "dim_page"], ["layer_03_foundation", "dim_scheduler"], ["layer_03_foundation", "dim_creator"]
)
FACTS = dg.AssetSelection.assets(["layer_03_foundation", "fact_message_send"])
ONBOARDING = dg.AssetSelection.assets(["ops", "onboarding_queue"], ["ops_audit", "onboarding_changelog"])
SEMANTIC = dg.AssetSelection.groups("layer_04_semantic")
# Computed for one date at a time (a day of features is ~2.3 M rows at the agency's size): never in a range run.
RANKINGS = dg.AssetSelection.assets(
    ["layer_06_rankings", "slot_grid_next24"], ["layer_06_rankings", "caption_rank_next24"],
    ["ops_audit", "config_assignment_log"], ["ops_audit", "recommendation_log"])
# Weekly planning (40-planning §4-§9): the template multi-asset (with its QA log) and the Monday snapshot.
PLANNING_TEMPLATE = dg.AssetSelection.assets(
    ["layer_06_rankings", "weekly_template_7d"], ["layer_06_rankings", "followup_bumps"],
    ["layer_06_rankings", "non_dm_windows"], ["ops", "qa_violations"])
PLANNING = PLANNING_TEMPLATE | dg.AssetSelection.assets(["layer_06_rankings", "weekly_plan"])
# Weekly evaluation of the ranker (30-ml §10): run on its own schedule and at the end of the run command.
EVALUATION = dg.AssetSelection.assets(["layer_05_ml", "ranker_backtest"])
SIMULATION = dg.AssetSelection.assets(["layer_05_ml", "ranker_simulation"])  # generated worlds only; minutes
# The platform observing itself (50-operations §2-§4): freshness, health (+ alert delivery) and the run audit, built
# after the decisions and exports of the same run so that they describe the finished state.
MONITORING = dg.AssetSelection.assets(
    ["ops_monitor", "freshness_status"], ["ops_monitor", "system_health"], ["ops_monitor", "alert_deliveries"],
    ["ops_audit", "pipeline_runs"], ["ops_audit", "pipeline_run_assets"])
DAILY_DECISIONS = (dg.AssetSelection.groups("layer_05_ml") - EVALUATION - SIMULATION) | RANKINGS | PLANNING | EXPORTS | MONITORING
REPORT_OPS = dg.AssetSelection.assets(["ops", "ingestion_state"], ["ops_monitor", "alerts"])

# Everything before the warehouse model: what the run command's mailbox backfill loop materializes.
INGESTION = CONFIG | REPORT_BRANCH | REFERENCE_BRANCH | OPS | REPORT_OPS

refresh_config_job = dg.define_asset_job(
    "refresh_config_job", selection=CONFIG, description="Reload ops_config.yaml and every seed table."
)
ingest_reports_job = dg.define_asset_job(
    "ingest_reports_job",
    selection=CONFIG | REPORT_BRANCH | OPS | REPORT_OPS | CAPTION_LIBRARY | DIMENSIONS | FACTS | ONBOARDING,
    description="Mailbox -> archive -> message_rows_raw -> stg_message_events (+ quarantine, unmapped names, "
    "ingestion state, alerts) -> dim_page, dim_caption -> the trailing partitions of fact_message_send (run with a "
    "partition range, normally the last `warehouse.fact_rebuild_days` days). Seeds are reloaded first, so an alias "
    "fix replays affected reports.",
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference_job",
    selection=CONFIG | REFERENCE_BRANCH | OPS | CAPTION_LIBRARY | DIMENSIONS - dg.AssetSelection.assets(
        ["layer_03_foundation", "dim_creator"]),
    description="Caption bank, creator statistics and scheduler assignment drops -> raw -> staging (+ quarantine) -> "
    "the caption library (dim_caption, TOS audit), dim_page, dim_scheduler.",
)
onboard_pages_job = dg.define_asset_job(
    "onboard_pages_job",
    selection=CONFIG | dg.AssetSelection.assets(["layer_03_foundation", "page_universe"],
                                                ["layer_03_foundation", "dim_page"]) | ONBOARDING
    | dg.AssetSelection.assets(["ops_monitor", "alerts"]),
    description="New pages from reports, creator statistics and assignments get an onboarding row, a changelog "
    "entry and an alert; probation expiry and (in)activity are re-evaluated (40-planning §7).",
)
daily_feature_refresh_job = dg.define_asset_job(
    "daily_feature_refresh_job",
    selection=SEMANTIC | dg.AssetSelection.assets(["layer_03_foundation", "dim_page"]),
    description="Semantic layer: trailing partitions of the daily metrics, page health, tiers and states, and the "
    "profiles (run with a partition range, normally the last `warehouse.metrics_rebuild_days` days); then dim_page "
    "takes the new tiers and states.",
)

feature_refresh_job = dg.define_asset_job(
    "feature_refresh_job",
    selection=dg.AssetSelection.groups("layer_05_ml") - EVALUATION - SIMULATION,
    description="Today's partition of the prior chain and the feature store (30-ml §3, §4); started when "
    "daily_feature_refresh_job succeeds.",
)

rank_captions_job = dg.define_asset_job(
    "rank_captions_job",
    selection=RANKINGS,
    description="Every active page's next 24 hourly slots ranked from the latest feature-store partition "
    "(30-ml §7); the recommendation and config-assignment logs append.",
)

ranker_evaluation_job = dg.define_asset_job(
    "ranker_evaluation_job",
    selection=EVALUATION | SIMULATION,
    description="The ranker's walk-forward backtest on logged data (30-ml §10.2) and, where a generated world's "
    "ground truth exists, its simulation against the baselines and the oracle (§10.1).",
)

JOBS = [ranker_evaluation_job, refresh_config_job, ingest_reports_job, ingest_reference_job, onboard_pages_job, daily_feature_refresh_job,
        feature_refresh_job, rank_captions_job]
