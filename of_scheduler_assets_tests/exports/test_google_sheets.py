"""The production path of the team sheets: gspread, authenticated as a service account from an environment
variable, against a local server that speaks the Sheets / Drive endpoints we call (`sheets_stub.py`)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from of_scheduler_assets.layer_07_export import team_sheets
from of_scheduler_assets.resources.sheets import (
    ENV_CREDENTIALS,
    ENV_TARGET,
    GoogleSheets,
    SheetsError,
    SheetsResource,
    sheets_resource_from_env,
)
from of_scheduler_assets_tests.exports.helpers import NOW
from of_scheduler_assets_tests.exports.sheets_stub import SheetsStub, formatted, service_account_key
from of_scheduler_assets_tests.exports.test_team_sheets_local import TABS_SINGLE, build


@pytest.fixture
def stub():
    with SheetsStub() as server:
        info, public = service_account_key(server.endpoint + "/token")
        server.public_key = public
        server.key_b64 = base64.b64encode(json.dumps(info).encode()).decode()
        yield server


def _writer(stub, monkeypatch, sleeps=None) -> GoogleSheets:
    monkeypatch.setenv(ENV_TARGET, "gsheets")
    monkeypatch.setenv(ENV_CREDENTIALS, stub.key_b64)
    resource = sheets_resource_from_env().process_config_and_initialize()  # EnvVars resolved, as in a run
    resource = resource.model_copy(update={"api_endpoint": stub.endpoint})
    return resource.open(sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_workbook_written_through_gspread(stub, monkeypatch):
    books = build()
    writer = _writer(stub, monkeypatch)
    log = writer.write_workbook("team_sheets", books["team_sheets"], NOW)
    assert [r["status"] for r in log] == ["written"] * len(TABS_SINGLE) and log[0]["target_kind"] == "sheets"
    # the service-account key from the environment signed the token request; every API call carried the token
    assert stub.jwt_claims and stub.jwt_claims[0]["iss"] == "exporter@test-project.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/spreadsheets" in stub.jwt_claims[0]["scope"]
    book = stub.by_title("OF Scheduler team_sheets")  # created, since none existed
    assert list(book["sheets"]) == TABS_SINGLE  # every tab added; the new spreadsheet's "Sheet1" removed
    for tab in books["team_sheets"]:
        assert book["sheets"][tab.name]["values"] == [
            ["" if v is None else v for v in row] for row in tab.values()]
    assert book["sheets"]["AB Week Plan"]["hidden"] == {19, 20}  # Tracking Hash, Username Page
    assert book["sheets"]["All Alerts"]["hidden"] == {7}  # Alert ID
    # one structural update, one clear, ONE values write per tab, one formatting update (the rate limit)
    assert len(stub.calls_of("values.update")) == len(TABS_SINGLE)
    assert len(stub.calls_of("values.batchClear")) == 1 and len(stub.calls_of("batchUpdate")) == 2
    assert len(stub.calls_of("drive.create")) == 1


def test_second_export_reuses_the_workbook_and_keeps_scheduler_edits(stub, monkeypatch):
    writer = _writer(stub, monkeypatch)
    writer.write_workbook("team_sheets", build()["team_sheets"], NOW)
    book = stub.by_title("OF Scheduler team_sheets")
    values = book["sheets"]["AB Week Plan"]["values"]
    head = values[0]
    values[1][head.index("Status")] = "Ready"
    values[1][head.index("Actual Price")] = 15
    values[2][head.index("Lock")] = True
    values[2][head.index("Rec Caption ID")] = "CAP_MINE"

    writer = _writer(stub, monkeypatch)  # a new run
    tabs = build()["team_sheets"]
    previous = writer.read_tabs("team_sheets", ["AB Week Plan", "UNASSIGNED Week Plan"])
    assert previous["AB Week Plan"][2][head.index("Lock")] == "TRUE"  # read back as Sheets renders it
    merged = [team_sheets.merge_human_edits(t, previous[t.name], dt.date(2026, 11, 20))[0] if t.name in previous
              else t for t in tabs]
    log = writer.write_workbook("team_sheets", merged, NOW + dt.timedelta(hours=1))
    assert {r["status"] for r in log} == {"written"}
    assert len(stub.spreadsheets) == 1 and len(stub.calls_of("drive.create")) == 1  # found by title, not re-created
    rows = book["sheets"]["AB Week Plan"]["values"]
    assert (rows[1][head.index("Status")], formatted(rows[1][head.index("Actual Price")])) == ("Ready", "15")
    assert rows[2][head.index("Rec Caption ID")] == "CAP_MINE"  # the locked row is left as the scheduler had it


def test_rate_limit_and_server_errors_are_retried_with_backoff(stub, monkeypatch):
    sleeps: list[float] = []
    writer = _writer(stub, monkeypatch, sleeps)
    stub.fail_next("values.update", 429, 503)
    stub.fail_next("values.batchClear", 500)
    log = writer.write_workbook("team_sheets", build()["team_sheets"], NOW)
    assert {r["status"] for r in log} == {"written"}
    assert len(sleeps) == 3 and sleeps == sorted(sleeps)
    assert len(stub.calls_of("values.update")) == len(TABS_SINGLE) + 2


def test_a_failed_tab_is_logged_not_raised(stub, monkeypatch):
    writer = _writer(stub, monkeypatch)
    stub.fail_next("values.update", 403)  # not retryable: the first tab fails, the others are written
    log = writer.write_workbook("team_sheets", build()["team_sheets"], NOW)
    assert [r["status"] for r in log].count("failed") == 1
    assert log[0]["status"] == "failed" and log[0]["error"] == "APIError"


def test_missing_or_bad_credentials_never_echo_the_value(monkeypatch):
    monkeypatch.delenv(ENV_CREDENTIALS, raising=False)
    with pytest.raises(SheetsError, match=ENV_CREDENTIALS):
        SheetsResource(target="gsheets").open()
    secret = "not-base64-!!-secret-value"
    with pytest.raises(SheetsError) as err:
        SheetsResource(target="gsheets", credentials_b64=secret).open()
    assert secret not in str(err.value)


def test_local_default_and_env_switch(monkeypatch, tmp_path):
    for var in (ENV_TARGET, ENV_CREDENTIALS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OF_SCHEDULER_EXPORTS", str(tmp_path / "ex"))
    resource = sheets_resource_from_env()
    assert resource.effective_target("xlsx") == "xlsx" and resource.open().kind == "xlsx"
    assert resource.team_sheets_dir == tmp_path / "ex" / "team_sheets"
    assert resource.effective_target("gsheets") == "gsheets"  # ops_config exports.team_sheets decides when unset
    monkeypatch.setenv(ENV_TARGET, "gsheets")
    monkeypatch.setenv(ENV_CREDENTIALS, "c2VjcmV0")
    env_resource = sheets_resource_from_env()
    assert env_resource.effective_target("xlsx") == "gsheets"
    assert "c2VjcmV0" not in repr(env_resource)  # an EnvVar: the name is kept, never the value
