"""Alert delivery (50-operations §3.4): the `alerting` resource.

Locally (nothing configured) an alert is only logged; the rows themselves live in `ops_monitor.alerts` and the Alerts
tabs. When a channel is configured by environment variables the resource also posts:

    OF_SCHEDULER_ALERT_WEBHOOK_URL   generic webhook: one JSON POST per delivery ({"text", "severity", "alerts"});
                                     a Slack *incoming webhook* URL works here as well (Slack reads "text")
    OF_SCHEDULER_SLACK_TOKEN         Slack bot token, posted through dagster-slack's SlackResource
    OF_SCHEDULER_SLACK_CHANNEL       the channel for the bot (default #of-scheduler-alerts)

CRITICAL goes out immediately, WARNING in an hourly digest, INFO never leaves the tables (the callers decide when;
this module only formats and sends). Messages never carry secrets or full download URLs: every ``http(s)://`` URL is
reduced to its host, and the configured endpoints and token are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

ENV_WEBHOOK = "OF_SCHEDULER_ALERT_WEBHOOK_URL"
ENV_SLACK_TOKEN = "OF_SCHEDULER_SLACK_TOKEN"
ENV_SLACK_CHANNEL = "OF_SCHEDULER_SLACK_CHANNEL"

SEVERITIES = ("CRITICAL", "WARNING", "INFO")
_URL = re.compile(r"https?://([^/\s?#]+)[^\s]*")
_SECRETISH = re.compile(r"(?i)\b(token|key|secret|password|sig|signature)=([^\s&]+)")


def scrub(text: str | None) -> str:
    """A message safe to send: URLs reduced to ``<host>/…``, ``token=…``-like parameters blanked."""
    if not text:
        return ""
    text = _URL.sub(lambda m: f"{m.group(1)}/…", text)
    return _SECRETISH.sub(lambda m: f"{m.group(1)}=***", text)


@dataclass(frozen=True)
class Alert:
    """One alert as delivered (a row of `ops_monitor.alerts`, or an event a sensor saw)."""

    alert_id: str
    severity: str
    alert_type: str
    message: str
    username_page: str | None = None
    action_required: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        page = f" [{self.username_page}]" if self.username_page else ""
        action = f" → {scrub(self.action_required)}" if self.action_required else ""
        return f"{self.severity} {self.alert_type}{page}: {scrub(self.message)}{action}"

    def payload(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "severity": self.severity, "alert_type": self.alert_type,
                "username_page": self.username_page, "message": scrub(self.message),
                "action_required": scrub(self.action_required), "source": self.source,
                **{k: scrub(str(v)) if isinstance(v, str) else v for k, v in self.extra.items()}}


@dataclass
class Delivery:
    """What a `deliver` call did, per channel: ``sent`` / ``failed: <error class>``; empty when nothing is configured."""

    alerts: list[Alert]
    channels: dict[str, str]

    @property
    def delivered(self) -> bool:
        return any(status == "sent" for status in self.channels.values())


def format_text(alerts: Sequence[Alert], *, digest: bool) -> str:
    if not digest and len(alerts) == 1:
        return f"[of-scheduler] {alerts[0].line()}"
    head = f"[of-scheduler] {'hourly digest: ' if digest else ''}{len(alerts)} alert(s)"
    return "\n".join([head, *(f"• {a.line()}" for a in alerts)])


class AlertingResource(dg.ConfigurableResource):
    """Logs every alert it is given; posts to a webhook and/or Slack when configured. A failed post is logged (without
    the endpoint) and reported in the returned `Delivery`; it never raises, so alerting can never fail a run."""

    webhook_url: str | None = Field(default=None, description=f"generic webhook ({ENV_WEBHOOK}); secret")
    slack_token: str | None = Field(default=None, description=f"Slack bot token ({ENV_SLACK_TOKEN}); secret")
    slack_channel: str = Field(default="#of-scheduler-alerts", description=f"Slack channel ({ENV_SLACK_CHANNEL})")
    slack_base_url: str | None = Field(default=None, description="tests only: Slack API base URL")
    timeout_s: float = Field(default=10.0, gt=0)

    _log: logging.Logger = PrivateAttr(default_factory=lambda: logging.getLogger("of_scheduler.alerting"))

    @property
    def configured_channels(self) -> list[str]:
        return [name for name, value in (("webhook", self.webhook_url), ("slack", self.slack_token)) if value]

    def deliver(self, alerts: Sequence[Alert], *, digest: bool = False, log: Any = None) -> Delivery:
        log = log or self._log
        alerts = list(alerts)
        if not alerts:
            return Delivery([], {})
        text = format_text(alerts, digest=digest)
        for alert in alerts:
            (log.error if alert.severity == "CRITICAL" else log.warning if alert.severity == "WARNING"
             else log.info)(f"alert {alert.alert_id[:12]} {alert.line()}")
        channels: dict[str, str] = {}
        if self.webhook_url:
            channels["webhook"] = self._post_webhook(text, alerts, digest, log)
        if self.slack_token:
            channels["slack"] = self._post_slack(text, log)
        return Delivery(alerts, channels)

    def _post_webhook(self, text: str, alerts: list[Alert], digest: bool, log) -> str:
        import requests

        body = {"text": text, "kind": "digest" if digest else "alert",
                "severity": _worst(alerts), "alerts": [a.payload() for a in alerts]}
        try:
            response = requests.post(self.webhook_url, data=json.dumps(body), timeout=self.timeout_s,
                                     headers={"Content-Type": "application/json"})
            response.raise_for_status()
            return "sent"
        except requests.RequestException as exc:  # the URL may carry a secret: log the class and status only
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning(f"alert webhook post failed: {type(exc).__name__}{f' HTTP {status}' if status else ''}")
            return f"failed: {type(exc).__name__}"

    def _post_slack(self, text: str, log) -> str:
        from dagster_slack import SlackResource
        from slack_sdk.errors import SlackApiError

        client = SlackResource(token=self.slack_token).get_client()
        if self.slack_base_url:
            client.base_url = self.slack_base_url.rstrip("/") + "/"
        client.timeout = int(self.timeout_s)
        try:
            client.chat_postMessage(channel=self.slack_channel, text=text)
            return "sent"
        except (SlackApiError, OSError) as exc:
            log.warning(f"alert Slack post failed: {type(exc).__name__}")
            return f"failed: {type(exc).__name__}"


def _worst(alerts: Sequence[Alert]) -> str:
    return min((a.severity for a in alerts), key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else 99)


def alerting_resource_from_env() -> AlertingResource:
    """Channels only when their variables are set (secrets through `dg.EnvVar`, never read into the definitions)."""
    def env(name: str):
        return dg.EnvVar(name) if os.environ.get(name) else None

    return AlertingResource(webhook_url=env(ENV_WEBHOOK), slack_token=env(ENV_SLACK_TOKEN),
                            slack_channel=os.environ.get(ENV_SLACK_CHANNEL) or "#of-scheduler-alerts")
