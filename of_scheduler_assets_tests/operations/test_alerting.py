"""Alert delivery (50-operations §3.4): a webhook and Slack (dagster-slack) when configured, over real HTTP to a local
server; nothing leaves the process when nothing is configured; messages carry no URLs or secrets."""

from __future__ import annotations

import logging

import pytest

from of_scheduler_assets.resources import alerting as A
from of_scheduler_assets_tests.operations.http_sink import http_sink

CRITICAL = A.Alert(alert_id="a" * 64, severity="CRITICAL", alert_type="Run Failure",
                   message="Run failed: ingest_reports_job (run 1234)", action_required="re-execute",
                   source="run_failure_alert_sensor")
WARNING = A.Alert(alert_id="b" * 64, severity="WARNING", alert_type="Ingestion", username_page="luna__paid",
                  message="download https://files.example.com/report.csv?token=s3cr3t failed",
                  action_required="check https://mail.example.com/inbox?key=abc")


def test_webhook_receives_one_json_post_with_the_alerts():
    with http_sink() as sink:
        resource = A.AlertingResource(webhook_url=f"{sink.url}/hooks/ops")
        outcome = resource.deliver([CRITICAL])
        assert outcome.channels == {"webhook": "sent"} and outcome.delivered
        (body,) = sink.bodies("/hooks/ops")
    assert body["kind"] == "alert" and body["severity"] == "CRITICAL"
    assert body["text"] == "[of-scheduler] CRITICAL Run Failure: Run failed: ingest_reports_job (run 1234) → re-execute"
    assert [a["alert_id"] for a in body["alerts"]] == [CRITICAL.alert_id]


def test_digest_carries_every_alert_and_no_url_or_secret():
    with http_sink() as sink:
        A.AlertingResource(webhook_url=sink.url + "/d").deliver([WARNING, CRITICAL], digest=True)
        (body,) = sink.bodies("/d")
    assert body["kind"] == "digest" and body["severity"] == "CRITICAL"
    assert body["text"].startswith("[of-scheduler] hourly digest: 2 alert(s)")
    text = str(body)
    assert "files.example.com/…" in text and "mail.example.com/…" in text
    for leaked in ("s3cr3t", "token=", "key=abc", "https://", "report.csv"):
        assert leaked not in text, leaked


def test_nothing_is_sent_when_no_channel_is_configured(monkeypatch, caplog):
    for name in (A.ENV_WEBHOOK, A.ENV_SLACK_TOKEN, A.ENV_SLACK_CHANNEL):
        monkeypatch.delenv(name, raising=False)
    resource = A.alerting_resource_from_env()
    assert resource.configured_channels == []

    def no_network(*args, **kwargs):
        raise AssertionError("an unconfigured alerting resource must not post")

    monkeypatch.setattr("requests.post", no_network)
    with caplog.at_level(logging.INFO, logger="of_scheduler.alerting"):
        outcome = resource.deliver([CRITICAL, WARNING])
    assert outcome.channels == {} and not outcome.delivered
    assert sum("Run failed: ingest_reports_job" in r.getMessage() for r in caplog.records) == 1  # still logged


def test_env_vars_select_the_channels_and_stay_env_vars(monkeypatch):
    import dagster as dg

    monkeypatch.setenv(A.ENV_WEBHOOK, "http://127.0.0.1:9/x")
    monkeypatch.setenv(A.ENV_SLACK_TOKEN, "xoxb-test")
    resource = A.alerting_resource_from_env()
    assert isinstance(resource.webhook_url, dg.EnvVar) and isinstance(resource.slack_token, dg.EnvVar)


def test_a_failing_webhook_never_raises_and_never_logs_the_endpoint(caplog):
    with http_sink() as sink:
        sink.status = 500
        url = f"{sink.url}/secret-path-abc"
        with caplog.at_level(logging.WARNING, logger="of_scheduler.alerting"):
            outcome = A.AlertingResource(webhook_url=url).deliver([CRITICAL])
        assert len(sink.bodies()) == 1
    assert outcome.channels == {"webhook": "failed: HTTPError"}
    assert not any("secret-path-abc" in r.getMessage() for r in caplog.records)


def test_slack_posts_through_dagster_slack():
    pytest.importorskip("dagster_slack")
    with http_sink() as sink:
        resource = A.AlertingResource(slack_token="xoxb-test", slack_channel="#ops", slack_base_url=sink.url + "/api/")
        outcome = resource.deliver([CRITICAL])
        (body,) = sink.bodies("/api/chat.postMessage")
        auth = sink.requests[0]["headers"].get("Authorization")
    assert outcome.channels == {"slack": "sent"}
    assert body["channel"] == "#ops" and "Run failed: ingest_reports_job" in body["text"]
    assert auth == "Bearer xoxb-test"
