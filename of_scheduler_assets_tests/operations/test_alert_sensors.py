"""run_failure_alert_sensor and asset_check_alert_sensor (50-operations §1, §3.4): CRITICAL alerts go out at once over
the configured webhook (a local HTTP server here) and a health run is requested so the row lands in the alerts table;
each failure is handled once."""

from __future__ import annotations

import dagster as dg

from of_scheduler_assets.automation import operations
from of_scheduler_assets.resources.alerting import AlertingResource
from of_scheduler_assets_tests.operations.http_sink import http_sink


def _failing_job(name: str) -> dg.JobDefinition:
    @dg.op(name=f"{name}_op")
    def boom():
        raise RuntimeError("boom")

    @dg.job(name=name)
    def failing():
        boom()

    return failing


def _failure_context(instance, job_name: str, sink):
    result = _failing_job(job_name).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"alerting": AlertingResource(webhook_url=sink.url + "/hook")})
    return result, context


def test_a_failed_run_is_sent_at_once_and_requests_a_health_run():
    sensor = operations.run_failure_alert_sensor
    assert sensor.job_name == "system_health_job"
    with dg.DagsterInstance.ephemeral() as instance, http_sink() as sink:
        result, context = _failure_context(instance, "ingest_reports_job", sink)
        request = sensor(context)
        (body,) = sink.bodies("/hook")
    assert isinstance(request, dg.RunRequest) and request.run_key == f"alert-run-{result.run_id}"
    assert body["severity"] == "CRITICAL" and body["kind"] == "alert"
    (alert,) = body["alerts"]
    assert alert["alert_type"] == "Run Failure"
    assert alert["message"] == f"Run failed: ingest_reports_job (run {result.run_id})"


def test_a_failed_health_run_is_sent_but_does_not_request_another_health_run():
    with dg.DagsterInstance.ephemeral() as instance, http_sink() as sink:
        _result, context = _failure_context(instance, "system_health_job", sink)
        outcome = operations.run_failure_alert_sensor(context)
        assert len(sink.bodies("/hook")) == 1
    assert isinstance(outcome, dg.SkipReason)


@dg.asset(key=["layer_06_rankings", "stand_in_rank"], group_name="layer_06_rankings", check_specs=[
    dg.AssetCheckSpec("one_primary", asset=["layer_06_rankings", "stand_in_rank"], blocking=True),
    dg.AssetCheckSpec("diversity", asset=["layer_06_rankings", "stand_in_rank"]),
    dg.AssetCheckSpec("soft_warning", asset=["layer_06_rankings", "stand_in_rank"]),
])
def stand_in_rank():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="one_primary", passed=False, severity=dg.AssetCheckSeverity.ERROR)
    yield dg.AssetCheckResult(check_name="diversity", passed=False, severity=dg.AssetCheckSeverity.ERROR)
    yield dg.AssetCheckResult(check_name="soft_warning", passed=False, severity=dg.AssetCheckSeverity.WARN)


def test_failed_error_checks_send_blocking_ones_at_once_and_advance_the_cursor():
    sensor = operations.asset_check_alert_sensor
    assert sensor.job_name == "system_health_job"
    with dg.DagsterInstance.ephemeral() as instance, http_sink() as sink:
        resources = {"alerting": AlertingResource(webhook_url=sink.url + "/hook")}
        dg.materialize([stand_in_rank], instance=instance, raise_on_error=False)
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        (body,) = sink.bodies("/hook")
        # nothing new: no request, no post, same cursor
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                             resources=resources))
        assert len(sink.bodies("/hook")) == 1
    (alert,) = body["alerts"]  # only the blocking ERROR check; the non-blocking one waits for the digest
    assert alert["severity"] == "CRITICAL" and alert["alert_type"] == "QA"
    assert alert["message"].startswith("Check failed: layer_06_rankings/stand_in_rank:one_primary")
    assert [r.run_key for r in first.run_requests] == [f"alert-checks-{first.cursor}"]
    assert not again.run_requests and again.cursor == first.cursor


def test_health_sensor_requests_one_run_per_quarter_hour():
    import datetime as dt

    t = dt.datetime(2026, 11, 27, 12, 14, 59, tzinfo=dt.UTC)
    assert operations.health_run_key(t) == "health-20261127T1200"
    assert operations.health_run_key(t + dt.timedelta(seconds=1)) == "health-20261127T1215"
    request = operations.system_health_sensor(dg.build_sensor_context())
    assert isinstance(request, dg.RunRequest) and request.run_key.startswith("health-")
    assert operations.system_health_sensor.minimum_interval_seconds == 900
