"""The monitor and audit assets against a real Dagster instance and a DuckDB warehouse: a failed run and a failed
blocking check become CRITICAL rows of `ops_monitor/alerts` and clear when fixed; the health evaluation appends one
row per evaluation and hands WARNING alerts to the (local HTTP) webhook in a digest, once; `ops_audit/pipeline_runs`
records each finished run once with row counts, config version and code version (append-only)."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from of_scheduler_assets.ops_audit import assets as audit_assets
from of_scheduler_assets.ops_config import assets as config_assets
from of_scheduler_assets.ops_monitor import assets as monitor_assets
from of_scheduler_assets.resources.alerting import AlertingResource
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, WarehouseReader
from of_scheduler_assets_tests.operations.http_sink import http_sink

AS_OF = "2026-11-27T12:20:00Z"
FLAKY = dg.AssetKey(["layer_04_semantic", "stand_in_metrics"])


def _stand_ins(fail: bool):
    @dg.asset(key=FLAKY, group_name="layer_04_semantic")
    def stand_in_metrics() -> pl.DataFrame:
        if fail:
            raise RuntimeError("boom")
        return pl.DataFrame({"x": [1, 2, 3]})

    return stand_in_metrics


@dg.asset(key=["layer_05_ml", "stand_in_scores"], group_name="layer_05_ml",
          check_specs=[dg.AssetCheckSpec("scores_in_range", asset=["layer_05_ml", "stand_in_scores"], blocking=True)])
def stand_in_scores():
    yield dg.Output(pl.DataFrame({"score": [101.0]}))
    yield dg.AssetCheckResult(check_name="scores_in_range", passed=False, severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"out_of_range": 1})


@pytest.fixture
def env(tmp_path):
    database = str(tmp_path / "wh.duckdb")
    with dg.DagsterInstance.ephemeral() as instance, http_sink() as sink:
        resources = {
            "io_manager": DuckDBPolarsIOManager(database=database),
            "warehouse": WarehouseReader(target="local", database=database),
            "clock": ClockResource(as_of=AS_OF),
            "ops_config_file": OpsConfigResource(),
            "alerting": AlertingResource(webhook_url=sink.url + "/hook"),
        }
        yield instance, resources, sink, WarehouseReader(target="local", database=database)


MONITOR = [config_assets.ops_config, *monitor_assets.ASSETS, *audit_assets.ASSETS]


def _run(job_name: str, assets: list, instance, resources):
    """A run of a named job (alerts are per job: ad-hoc materializations would all share one job name)."""
    defs = dg.Definitions(assets=assets, jobs=[dg.define_asset_job(job_name, selection=dg.AssetSelection.all())],
                          resources=resources)
    return defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)


def _health(instance, resources):
    result = dg.materialize(MONITOR, instance=instance, resources=resources)
    assert result.success
    return result


def test_failures_become_alerts_health_rows_and_audit_rows(env):
    instance, resources, sink, wh = env
    failed = _run("metrics_job", [_stand_ins(fail=True)], instance, resources)
    assert not failed.success
    checked = _run("scores_job", [stand_in_scores], instance, resources)

    first = _health(instance, resources)
    alerts = wh.read_table("ops_monitor", "alerts")
    by_code = {r["alert_code"]: r for r in alerts.iter_rows(named=True)}
    run_alerts = alerts.filter(pl.col("alert_code") == "RUN_FAILED").sort("message")
    assert set(run_alerts["severity"]) == {"CRITICAL"} and set(run_alerts["alert_type"]) == {"Run Failure"}
    # a blocking check that fails also fails its run
    assert run_alerts["message"].to_list() == [f"Run failed: metrics_job (run {failed.run_id})",
                                               f"Run failed: scores_job (run {checked.run_id})"]
    check_alert = by_code["CHECK_FAILED_BLOCKING"]
    assert check_alert["severity"] == "CRITICAL" and check_alert["alert_type"] == "QA"
    assert "layer_05_ml/stand_in_scores:scores_in_range" in check_alert["message"]
    assert checked.run_id in check_alert["message"]
    # system_health itself had never been built when freshness was measured: a WARNING (§2: ≤ 30 min)
    stale = by_code["FRESHNESS_MISSED"]
    assert stale["severity"] == "WARNING" and stale["message"].startswith("ops_monitor/system_health is stale")

    health = wh.read_table("ops_monitor", "system_health")
    assert health.height == 1
    row = health.row(0, named=True)
    # no feature store: stale data (0) + three failing components at 15 each
    assert (row["health_score"], row["alert_status"]) == (45, "CRITICAL - Stale Data")
    assert (row["open_alerts_critical"], row["open_alerts_warning"]) == (3, 1)

    # CRITICAL rows raised by the run/check sensors are not re-sent; the WARNING goes out in the digest
    (digest,) = sink.bodies("/hook")
    assert digest["kind"] == "digest" and [a["alert_id"] for a in digest["alerts"]] == [stale["alert_id"]]

    runs = wh.read_table("ops_audit", "pipeline_runs")
    assert set(runs["run_id"]) == {failed.run_id, checked.run_id}
    audit = {r["run_id"]: r for r in runs.iter_rows(named=True)}
    assert audit[failed.run_id]["status"] == "FAILURE" and audit[failed.run_id]["records_processed"] == 0
    assert audit[checked.run_id]["status"] == "FAILURE" and audit[checked.run_id]["records_processed"] == 1
    config_version = OpsConfigResource().load().config_version
    assert set(runs["config_version"]) == {config_version}
    assert set(runs["trigger"]) == {"manual"}
    assert runs["code_version"].str.contains(r"\+[0-9a-f]{12}$").all()
    mats = wh.read_table("ops_audit", "pipeline_run_assets")
    assert mats.select("run_id", "asset_key", "row_count").rows() == [
        (checked.run_id, "layer_05_ml/stand_in_scores", 1)]

    # the job is fixed; the next evaluation resolves the run alert and records the runs since, once
    fixed = _run("metrics_job", [_stand_ins(fail=False)], instance, resources)
    assert fixed.success
    second = _health(instance, resources)
    alerts2 = wh.read_table("ops_monitor", "alerts")
    assert alerts2.filter(pl.col("alert_code") == "RUN_FAILED")["message"].to_list() == [
        f"Run failed: scores_job (run {checked.run_id})"]  # metrics_job resolved itself
    assert "CHECK_FAILED_BLOCKING" in set(alerts2["alert_code"])
    assert wh.read_table("ops_monitor", "system_health").height == 1  # same pinned evaluation time: replaced
    runs2 = wh.read_table("ops_audit", "pipeline_runs")
    assert runs2.head(runs.height).equals(runs)  # append-only: earlier rows untouched
    assert set(runs2["run_id"]) == {failed.run_id, checked.run_id, first.run_id, fixed.run_id}
    fixed_row = runs2.filter(pl.col("run_id") == fixed.run_id).row(0, named=True)
    assert fixed_row["records_processed"] == 3 and fixed_row["materializations"] == 1
    health_run = runs2.filter(pl.col("run_id") == first.run_id).row(0, named=True)
    assert health_run["materializations"] == 7  # ops_config, freshness, alerts, health, deliveries, the two audits
    assert second.success
    # the digest is hourly: the same WARNING is not sent again
    assert len(sink.bodies("/hook")) == 1
