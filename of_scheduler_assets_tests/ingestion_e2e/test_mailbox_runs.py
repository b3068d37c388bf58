"""Catalogue #1 and #3 over real runs of the ingestion graph: an empty mailbox, and an email failing run after run
until it leaves the mailbox window."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import polars as pl

from of_scheduler_assets.automation.jobs import INGESTION
from of_scheduler_assets_tests.support.world import materialize_all, table


def _write_report_email(folder: Path, message_id: str, link: str) -> Path:
    msg = EmailMessage()
    msg["From"] = "Infloww <no-reply@infloww.com>"
    msg["To"] = "reports@agency.example"
    msg["Subject"] = "OF mass message history report is ready for download"
    msg["Message-ID"] = f"<{message_id}>"
    msg["Date"] = "Mon, 02 Nov 2026 12:05:00 +0000"
    msg.set_content("Your report is ready.")
    msg.add_alternative(
        "<p>The OF mass message history report you requested for Luna Example Paid is now ready.</p>"
        f'<p><a href="{link}">Download</a></p>',
        subtype="html",
    )
    path = folder / f"{message_id}.eml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(msg))
    return path


def test_an_empty_mailbox_is_a_successful_empty_run(tmp_path):
    result = materialize_all(tmp_path, selection=INGESTION)
    assert result.success
    for name in ("report_emails", "message_rows_raw"):
        assert table(tmp_path, "layer_01_raw", name).height == 0
    assert table(tmp_path, "layer_02_staging", "stg_message_events").height == 0
    assert table(tmp_path, "ops", "quarantine_rows").height == 0  # the table exists, possibly empty (§9.1)
    assert table(tmp_path, "ops", "ingestion_state").height == 0


def test_a_failing_email_is_retried_alerted_at_three_attempts_and_ages_out_when_it_leaves_the_window(tmp_path):
    eml = _write_report_email(tmp_path / "inbox" / "reports", "expired-1@mail.infloww.com",
                              (tmp_path / "downloads" / "gone.xlsx").as_uri())
    for attempt in (1, 2, 3):
        assert materialize_all(tmp_path, selection=INGESTION).success  # the failure never fails the run
        state = table(tmp_path, "ops", "ingestion_state").row(0, named=True)
        assert (state["status"], state["attempts"], state["last_error_class"]) == ("failed", attempt, "download_failed")
        alerts = table(tmp_path, "ops_monitor", "alerts")
        assert ("INGEST_REPEATED_FAILURE" in alerts["alert_code"].to_list()) == (attempt >= 3)

    eml.unlink()  # the windowed query no longer returns it
    assert materialize_all(tmp_path, selection=INGESTION).success
    state = table(tmp_path, "ops", "ingestion_state").row(0, named=True)
    assert state["status"] == "aged_out" and state["attempts"] == 3
    alerts = table(tmp_path, "ops_monitor", "alerts").filter(pl.col("alert_code") == "INGEST_AGED_OUT")
    assert alerts["severity"].to_list() == ["CRITICAL"]
