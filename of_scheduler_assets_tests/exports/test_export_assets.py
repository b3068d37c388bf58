"""The export assets wired as Dagster runs them: one in-process materialization against a small hand-seeded DuckDB
warehouse (every contract check passes, the workbook lands in the exports folder, the export log appends), and the
automation that makes the exports follow the hourly ranking."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest
from openpyxl import load_workbook

from of_scheduler_assets.automation import exports as export_automation
from of_scheduler_assets.layer_07_export import assets as export_assets
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.sheets import SheetsResource
from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, WarehouseReader, open_duckdb
from of_scheduler_assets_tests.exports import sheet_inputs as si
from of_scheduler_assets_tests.exports.helpers import (
    NOW,
    captions_frame,
    features_frame,
    pages_frame,
    priors_frame,
    schedulers_frame,
)
from of_scheduler_assets_tests.exports.test_team_sheets_local import TABS_SINGLE


def _seed(database: str) -> None:
    ranking = si.ranking()
    captions = sorted(set(ranking["caption_id"].drop_nulls().to_list()))
    tables = {
        ("layer_06_rankings", "caption_rank_next24"): ranking,
        ("layer_03_foundation", "dim_page"): pages_frame(si.PAGES),
        ("layer_03_foundation", "dim_scheduler"): schedulers_frame(),
        ("layer_03_foundation", "dim_caption"): captions_frame(
            [{"caption_id": c, "caption_text": f"text of {c}", "bank_ids": [f"B{i}"]} for i, c in enumerate(captions)]),
        ("layer_05_ml", "feature_store"): features_frame(
            [{"username_page": p, "caption_id": c, "send_events_all_pages_365d": 12, "base_score": i / 100,
              "last_used_ts_any": NOW - dt.timedelta(days=2), "last_used_ts_page": NOW - dt.timedelta(days=2)}
             for p, _, _ in si.PAGES for i, c in enumerate(captions)]),
        ("layer_05_ml", "caption_priors"): priors_frame(
            [{"computed_date": NOW.date(), "username_page": "luna_example__paid", "caption_id": c, "r_cp": 1.0 + i,
              "n_open_cp": 500.0, "nu": 50.0} for i, c in enumerate(captions)]),
        ("ops_monitor", "alerts"): si.alerts(),
        ("ops_monitor", "system_health"): si.health().with_columns(open_alerts=pl.lit(3)),
        ("layer_06_rankings", "weekly_plan"): si.plan(),
    }
    conn = open_duckdb(database)
    try:
        for (schema, table), frame in tables.items():
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.register("frame", frame.to_arrow())
            conn.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM frame')
            conn.unregister("frame")
    finally:
        conn.close()


def _materialize(tmp_path, now=NOW):
    database = str(tmp_path / "warehouse.duckdb")
    upstream = [dg.AssetSpec(k) for k in (export_assets.RANK, export_assets.DIM_PAGE)]
    return dg.materialize(
        [*upstream, *export_assets.ASSETS],
        selection=export_automation.EXPORTS,
        resources={
            "io_manager": DuckDBPolarsIOManager(database=database),
            "warehouse": WarehouseReader(target="local", database=database),
            "clock": ClockResource(as_of=now.isoformat()), "ops_config_file": OpsConfigResource(),
            "ranker_config": RankerConfigResource(),
            "sheets": SheetsResource(target="xlsx", exports_dir=str(tmp_path / "exports")),
        },
    )


def _table(tmp_path, schema, name) -> pl.DataFrame:
    conn = open_duckdb(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return pl.from_arrow(conn.sql(f'SELECT * FROM "{schema}"."{name}"').to_arrow_table())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("exports")
    _seed(str(tmp_path / "warehouse.duckdb"))
    first = _materialize(tmp_path)
    second = _materialize(tmp_path, NOW + dt.timedelta(hours=1))
    return tmp_path, first, second


def test_every_export_and_contract_check_on_the_warehouse(exported):
    tmp_path, first, _ = exported
    assert first.success
    # the run of the EXPORTS selection (export_job's) materializes exactly the export tables
    assert {e.asset_key for e in first.get_asset_materialization_events()} == set(export_assets.EXPORT_KEYS)
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks == {
        "schedule_recommendations_contract": True, "caption_lookup_contract": True, "top_captions_contract": True,
        "api_captions_contract": True, "api_system_health_contract": True, "api_top_captions_contract": True,
        "team_sheets_written": True}
    recs = _table(tmp_path, "layer_07_export", "schedule_recommendations")
    assert recs.height == 3 * 3 * 4 and recs["caption_preview"].str.starts_with("text of").all()
    api = _table(tmp_path, "layer_07_export", "api_captions")
    assert api["username_page"].n_unique() == 3 and api["total_sends"].unique().to_list() == [12]
    assert _table(tmp_path, "layer_07_export", "api_system_health")["health_score"].to_list() == [85]
    n_captions = si.ranking()["caption_id"].n_unique()  # 24: the two luna pages share their ids
    assert _table(tmp_path, "ops_monitor", "top_captions").height == 3 * n_captions
    lookup = _table(tmp_path, "layer_07_export", "caption_lookup")
    assert lookup.height == n_captions and lookup["lookup_keys"].list.len().min() == 2


def test_team_workbook_lands_in_the_exports_folder_and_the_log_appends(exported):
    tmp_path, first, second = exported
    latest = tmp_path / "exports" / "team_sheets" / "latest" / "team_sheets.xlsx"
    assert load_workbook(latest, read_only=True).sheetnames == TABS_SINGLE
    summary = _table(tmp_path, "layer_07_export", "team_sheets")
    assert summary["tab"].to_list() == TABS_SINGLE and set(summary["status"]) == {"written"}
    assert summary["location"].unique().to_list() == [str(latest.parent)]
    log = _table(tmp_path, "ops_audit", "export_log")
    assert log.height == 2 * len(TABS_SINGLE) and log["run_id"].n_unique() == 2  # append-only, one row per tab
    assert set(log["target_kind"]) == {"xlsx"}
    meta = second.asset_materializations_for_node("team_sheets_export")[0].metadata
    assert meta["plan_source"].value == "weekly_plan"
    assert (tmp_path / "exports" / "team_sheets" / "2026-11-20" / "1630" / "team_sheets.xlsx").is_file()


def test_exports_follow_a_successful_ranking_run():
    sensor = export_automation.exports_after_rankings
    assert sensor.job_name == "export_job"

    @dg.op
    def noop():
        return None

    def run_of(name: str):
        return dg.GraphDefinition(name=name, node_defs=[noop]).to_job()

    with dg.DagsterInstance.ephemeral() as instance:
        for name, expect in (("rank_captions_job", dg.RunRequest), ("ingest_reports_job", dg.SkipReason)):
            result = run_of(name).execute_in_process(instance=instance)
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
                dagster_event=result.get_run_success_event())
            outcome = sensor(context)
            assert isinstance(outcome, expect), name
            if expect is dg.RunRequest:
                assert outcome.run_key == f"exports-{result.run_id}"  # one export run per ranking run
