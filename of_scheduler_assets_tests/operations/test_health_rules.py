"""The rules of 50-operations §2-§4 as pure functions: health score and state, freshness, alert rows from runs and
checks, what is delivered when, and the run audit rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.ops_audit import pipeline_runs as PR
from of_scheduler_assets.ops_monitor import health as H

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("age, rate, sends, conf, score, status", [
    (2.0, 0.5, 500, 0.2, 100, "HEALTHY"),
    (30.0, 0.5, 500, 0.2, 75, "HEALTHY"),              # stale for the score (≥ 26 h), not yet for the state
    (49.0, 0.5, 500, 0.2, 75, "CRITICAL - Stale Data"),
    (2.0, 0.05, 500, 0.2, 90, "WARNING - Low Eligibility"),
    (2.0, 0.2, 5, 0.01, 70, "WARNING - Low Volume"),
    (2.0, 0.2, 100, 0.05, 70, "HEALTHY"),               # thresholds are strict: 100 sends and 0.05 do not count
    (None, None, 0, None, 45, "CRITICAL - Stale Data"),  # no feature store at all
])
def test_score_and_state(age, rate, sends, conf, score, status):
    assert H.health_score(age, rate, sends, conf) == score
    assert H.alert_status(age, rate, sends) == status


def test_health_row_from_the_feature_store():
    features = pl.DataFrame({
        "computed_date": [NOW.date()] * 4, "computed_at": [NOW - dt.timedelta(hours=3)] * 4,
        "is_eligible": [True, True, False, False], "confidence_score": [0.2, 0.0, 0.9, None],
        "send_events_90d": [3, 1, 0, 2]})
    alerts = pl.DataFrame({"status": ["open"] * 3, "severity": ["CRITICAL", "INFO", "INFO"]})
    state = pl.DataFrame({"processed_at": [NOW - dt.timedelta(hours=1), NOW - dt.timedelta(days=2)],
                          "n_rows": [100, 100], "n_quarantined": [7, 90]})
    row = H.system_health_row(now=NOW, features=features, sends_24h=150, alerts=alerts, ingestion_state=state).row(
        0, named=True)
    assert row["data_age_hours"] == 3.0 and row["eligibility_rate"] == 0.5
    assert row["avg_confidence"] == pytest.approx(0.1)  # mean over rows with sends (the null one is skipped)
    assert (row["health_score"], row["alert_status"]) == (100, "HEALTHY")
    assert (row["open_alerts_critical"], row["open_alerts_info"]) == (1, 2)
    assert row["quarantine_rate_24h"] == 0.07  # the report older than 24 h does not count


def test_evaluations_append_and_age_out():
    old = H.system_health_row(now=NOW - dt.timedelta(days=100), features=None, sends_24h=0)
    mid = H.system_health_row(now=NOW - dt.timedelta(minutes=15), features=None, sends_24h=1)
    new = H.system_health_row(now=NOW, features=None, sends_24h=2)
    history = H.append_evaluation(H.append_evaluation(old, mid), new)
    assert history["daily_sends"].to_list() == [1, 2]


def test_freshness_and_its_alerts():
    targets = H.targets_with_config({"caption_rank_next24": 3})
    assert next(t for t in targets if t.asset[1] == "caption_rank_next24").hours == 3
    last = {("layer_06_rankings", "caption_rank_next24"): NOW - dt.timedelta(hours=4),
            ("layer_05_ml", "feature_store"): NOW - dt.timedelta(hours=20),
            ("ops_monitor", "system_health"): None}
    rows = H.freshness_rows(targets, last, NOW)
    assert dict(zip(rows["asset_key"], rows["is_fresh"], strict=True)) == {
        "layer_05_ml/feature_store": True, "layer_06_rankings/caption_rank_next24": False,
        "ops_monitor/system_health": False}
    alerts = H.freshness_alerts(rows)
    assert dict(zip(alerts["message"].str.extract(r"^(\S+)"), alerts["severity"], strict=True)) == {
        "layer_06_rankings/caption_rank_next24": "CRITICAL", "ops_monitor/system_health": "WARNING"}
    # the id is stable while the target stays missed (dated by when it was missed, not by the evaluation)
    later = H.freshness_alerts(H.freshness_rows(targets, last, NOW + dt.timedelta(minutes=15)))
    rank = alerts.filter(pl.col("message").str.starts_with("layer_06"))["alert_id"]
    assert rank.to_list() == later.filter(pl.col("message").str.starts_with("layer_06"))["alert_id"].to_list()


def _run(run_id, job, status, minutes):
    return {"run_id": run_id, "job_name": job, "status": status, "end_time": NOW + dt.timedelta(minutes=minutes)}


def test_a_run_alert_stays_open_until_the_job_succeeds():
    runs = [_run("1", "rank_captions_job", "FAILURE", 0), _run("2", "export_job", "FAILURE", 1),
            _run("3", "export_job", "SUCCESS", 2), _run("4", "rank_captions_job", "CANCELED", 3)]
    assert H.run_failure_alerts(runs).is_empty()  # export fixed; a cancel is not a failure
    runs.append(_run("5", "rank_captions_job", "FAILURE", 4))
    (row,) = H.run_failure_alerts(runs).iter_rows(named=True)
    assert (row["severity"], row["message"]) == ("CRITICAL", "Run failed: rank_captions_job (run 5)")


def _ev(check, passed, severity="ERROR", blocking=False, minutes=0):
    return {"asset_key": "layer_06_rankings/caption_rank_next24", "check_name": check, "partition": None,
            "passed": passed, "severity": severity, "blocking": blocking,
            "timestamp": NOW + dt.timedelta(minutes=minutes), "run_id": f"r{minutes}"}


def test_check_alerts_follow_the_latest_evaluation_and_severity():
    rows = H.check_failure_alerts([
        _ev("one_primary", False, blocking=True), _ev("diversity", False), _ev("soft", False, severity="WARN"),
        _ev("range", False, blocking=True, minutes=0), _ev("range", True, blocking=True, minutes=5)])
    assert dict(zip(rows["alert_code"], rows["severity"], strict=True)) == {
        "CHECK_FAILED_BLOCKING": "CRITICAL", "CHECK_FAILED": "WARNING"}


def _alerts(*rows):
    return pl.DataFrame([{"alert_id": i, "severity": s, "alert_type": "x", "source": src, "status": "open"}
                         for i, s, src in rows])


def test_delivery_plan_critical_at_once_warning_hourly_info_never():
    alerts = _alerts(("c1", "CRITICAL", "ingestion"), ("c2", "CRITICAL", "run_failure_alert_sensor"),
                     ("w1", "WARNING", "system_health"), ("w2", "WARNING", "asset_check_alert_sensor"),
                     ("i1", "INFO", "onboarding"))
    immediate, digest = H.plan_delivery(alerts, None, NOW)
    assert immediate["alert_id"].to_list() == ["c1"]          # c2 went out from its sensor
    assert digest["alert_id"].to_list() == ["w1", "w2"]
    delivered = pl.concat([H.delivery_rows(immediate, "immediate", {"webhook": "sent"}, NOW),
                           H.delivery_rows(digest, "digest", {}, NOW)])
    assert delivered["status"].to_list() == ["sent", "logged", "logged"]
    more = pl.concat([alerts, _alerts(("w3", "WARNING", "ingestion"), ("c3", "CRITICAL", "ingestion"))])
    immediate, digest = H.plan_delivery(more, delivered, NOW + dt.timedelta(minutes=30))
    assert immediate["alert_id"].to_list() == ["c3"] and digest.is_empty()  # the digest waits for the hour
    _, digest = H.plan_delivery(more, delivered, NOW + dt.timedelta(minutes=60))
    assert digest["alert_id"].to_list() == ["w3"]


def test_audit_rows_trigger_config_watermark_and_once_only():
    t = NOW
    runs = [
        {"run_id": "a", "job_name": "ingest_reports_job", "status": "SUCCESS", "started_at": t,
         "end_time": t + dt.timedelta(seconds=90), "tags": {"dagster/schedule_name": "report_ingestion_schedule",
                                                           PR.RANGE_END: "2026-11-27"}},
        {"run_id": "b", "job_name": "rank_captions_job", "status": "FAILURE", "started_at": t + dt.timedelta(hours=2),
         "end_time": t + dt.timedelta(hours=2, seconds=5), "tags": {"dagster/sensor_name": "x"}},
        {"run_id": "c", "job_name": "__ASSET_JOB", "status": "SUCCESS", "started_at": t - dt.timedelta(days=1),
         "end_time": t - dt.timedelta(days=1), "tags": {"dagster/backfill": "bf1"}},
    ]
    mats = {"a": [
        {"asset_key": "ops_config/ops_config", "partition": None, "row_count": 40, "code_version": None,
         "data_version": "d1", "config_version": "1-aaaa", "materialized_at": t},
        {"asset_key": "layer_03_foundation/fact_message_send", "partition": "2026-11-27", "row_count": 60,
         "code_version": "v7", "data_version": None, "config_version": None, "materialized_at": t}]}
    history = [(t - dt.timedelta(days=2), "0-old"), (t + dt.timedelta(hours=1), "1-bbbb")]
    new_runs, new_assets = PR.pipeline_rows(runs, mats, recorded={"c"}, config_history=history,
                                            current_config_version="1-cccc", code_version="0.1.0+abc", now=t)
    by = {r["run_id"]: r for r in new_runs.iter_rows(named=True)}
    assert set(by) == {"a", "b"}
    assert (by["a"]["trigger"], by["a"]["records_processed"], by["a"]["duration_s"]) == ("schedule", 100, 90.0)
    assert by["a"]["config_version"] == "1-aaaa" and by["a"]["data_watermark"] == "2026-11-27"
    assert (by["b"]["trigger"], by["b"]["config_version"]) == ("sensor", "1-bbbb")  # config in force at its start
    assert new_assets["code_version"].to_list() == ["0.1.0+abc", "v7"]  # asset code version wins when declared
    assert new_assets["config_version"].to_list() == ["1-aaaa", "1-aaaa"]
    assert PR.trigger_of({"dagster/backfill": "x", "dagster/sensor_name": "y"}) == "backfill"
    previous = new_runs.head(1)
    combined = PR.append_only(previous.drop("code_version"), new_runs.tail(1), PR.RUNS_SCHEMA)
    assert combined["run_id"].to_list() == ["a", "b"] and combined["code_version"].to_list() == [None, "0.1.0+abc"]
