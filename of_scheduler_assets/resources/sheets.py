"""Where the team sheets go (50-operations §6, §7.4, §7.5): one interface, two adapters, one Dagster resource.

* `XlsxSheets` (local default): `<exports>/team_sheets/latest/<workbook>.xlsx` plus one CSV per tab (UTF-8 with BOM)
  under `latest/<workbook>/`, and a dated copy under `team_sheets/{YYYY-MM-DD}/{HHMM}/`. Read-back reads the latest
  workbook.
* `GoogleSheets` (production): Google Sheets through gspread, authenticated as a service account whose base64 JSON
  key is in `OF_SCHEDULER_SHEETS_CREDENTIALS` (never logged). Per workbook: one metadata read, one structural
  `spreadsheets.batchUpdate` for missing tabs, one `values:batchClear`, ONE values update per tab, one formatting
  `batchUpdate`; every call is retried with backoff on 429 / 5xx / connection errors.

Both return one `export_log` row per tab written (or failed).
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from of_scheduler_assets import settings
from of_scheduler_assets.layer_01_raw.download import MAX_ATTEMPTS, call_with_retries
from of_scheduler_assets.layer_07_export.team_sheets import COLOURS, Tab

log = logging.getLogger(__name__)

ENV_TARGET = "OF_SCHEDULER_SHEETS"  # xlsx | gsheets (unset: ops_config exports.team_sheets)
ENV_MODE = "OF_SCHEDULER_SHEETS_MODE"  # single | per_scheduler
ENV_CREDENTIALS = "OF_SCHEDULER_SHEETS_CREDENTIALS"  # base64 service-account JSON (secret)
ENV_SPREADSHEET_ID = "OF_SCHEDULER_SHEETS_SPREADSHEET_ID"  # the single workbook's key (optional)
ENV_FOLDER_ID = "OF_SCHEDULER_SHEETS_FOLDER_ID"  # Drive folder for created workbooks (optional)
SCOPES = ["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive"]
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TITLE_PREFIX = "OF Scheduler"


class SheetsError(RuntimeError):
    pass


class SheetsWriter(Protocol):
    kind: str

    def read_tabs(self, workbook: str, tabs: list[str]) -> dict[str, list[list]]: ...

    def write_workbook(self, workbook: str, tabs: list[Tab], now: dt.datetime) -> list[dict]: ...


def _log_row(kind: str, workbook: str, tab: Tab | None, now: dt.datetime, status: str, error: str | None = None,
             tab_name: str | None = None) -> dict:
    name = tab.name if tab is not None else (tab_name or "")
    target = f"{workbook}/{name}"
    return {
        "export_id": hashlib.sha256(f"{kind}|{target}|{now.isoformat()}".encode()).hexdigest()[:24],
        "target_kind": kind,
        "target": target,
        "rows": 0 if tab is None else len(tab.rows),
        "content_sha256": None if tab is None else tab.sha256(),
        "written_at": now,
        "status": status,
        "error": error,
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "tab"


# ----------------------------------------------------------------------------------------------------------------
# local .xlsx


class XlsxSheets:
    kind = "xlsx"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.latest = self.root / "latest"

    def read_tabs(self, workbook: str, tabs: list[str]) -> dict[str, list[list]]:
        path = self.latest / f"{workbook}.xlsx"
        if not path.is_file():
            return {}
        from openpyxl import load_workbook

        out: dict[str, list[list]] = {}
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            for name in tabs:
                if name in wb.sheetnames:
                    out[name] = [list(r) for r in wb[name].iter_rows(values_only=True)]
        finally:
            wb.close()
        return out

    def _write_xlsx(self, path: Path, tabs: list[Tab]) -> None:
        """XlsxWriter in constant-memory mode, one format per styled row; every value is written with its explicit
        type, so caption text is never read as a formula or a link."""
        import xlsxwriter

        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        try:
            formats = {k: wb.add_format({"bg_color": f"#{v}"}) for k, v in COLOURS.items()}
            header = wb.add_format({"bg_color": f"#{COLOURS['header']}", "font_color": "#ffffff", "bold": True})
            for tab in tabs:
                ws = wb.add_worksheet(tab.name[:31])
                hidden = set(tab.hidden_columns)
                for i, name in enumerate(tab.headers):
                    ws.set_column(i, i, max(10, min(60, len(name) + 4)), None, {"hidden": i in hidden})
                ws.freeze_panes(1, 0)
                for c, name in enumerate(tab.headers):
                    ws.write_string(0, c, name, header)
                for r, (row, style) in enumerate(zip(tab.rows, tab.styles, strict=True), start=1):
                    if style in formats:
                        ws.set_row(r, None, formats[style])
                    for c, value in enumerate(row):
                        value = _cell(value)
                        if isinstance(value, bool):
                            ws.write_boolean(r, c, value)
                        elif isinstance(value, int | float):
                            ws.write_number(r, c, value)
                        elif value != "":
                            ws.write_string(r, c, value)
        finally:
            wb.close()

    def write_workbook(self, workbook: str, tabs: list[Tab], now: dt.datetime) -> list[dict]:
        self.root.mkdir(parents=True, exist_ok=True)
        stage = self.root / f".staging-{workbook}-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        try:
            (stage / workbook).mkdir(parents=True)
            self._write_xlsx(stage / f"{workbook}.xlsx", tabs)
            for tab in tabs:
                with open(stage / workbook / f"{_slug(tab.name)}.csv", "w", encoding="utf-8-sig", newline="") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(tab.headers)
                    writer.writerows([[_cell(v) for v in r] for r in tab.rows])
            dated = self.root / f"{now:%Y-%m-%d}" / f"{now:%H%M}"
            dated.mkdir(parents=True, exist_ok=True)
            shutil.copy2(stage / f"{workbook}.xlsx", dated / f"{workbook}.xlsx")
            shutil.copytree(stage / workbook, dated / workbook, dirs_exist_ok=True)
            self.latest.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.latest / workbook, ignore_errors=True)
            os.replace(stage / f"{workbook}.xlsx", self.latest / f"{workbook}.xlsx")
            os.replace(stage / workbook, self.latest / workbook)
        except Exception as exc:  # noqa: BLE001 - a failed export is logged, never fatal to the ranking
            log.warning("team sheets: writing %s failed (%s)", workbook, type(exc).__name__)
            return [_log_row(self.kind, workbook, t, now, "failed", f"{type(exc).__name__}: {exc}") for t in tabs]
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return [_log_row(self.kind, workbook, t, now, "written") for t in tabs]


# ----------------------------------------------------------------------------------------------------------------
# Google Sheets


def _retryable(exc: BaseException) -> bool:
    import requests
    from gspread.exceptions import APIError

    if isinstance(exc, APIError):
        return exc.response is not None and exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError | TimeoutError)


def _a1(tab: str, cell: str | None = None) -> str:
    quoted = "'" + tab.replace("'", "''") + "'"
    return f"{quoted}!{cell}" if cell else quoted


def _rgb(hex_colour: str) -> dict:
    return {k: int(hex_colour[i:i + 2], 16) / 255.0 for k, i in (("red", 0), ("green", 2), ("blue", 4))}


def _endpoint_session(credentials: Any, api_endpoint: str | None):
    """An authorized requests session; with ``api_endpoint`` (tests only) every Google API URL is sent there."""
    from google.auth.transport.requests import AuthorizedSession

    class _Session(AuthorizedSession):
        def request(self, method, url, *args, **kwargs):  # noqa: ANN001 - requests' signature
            if api_endpoint:
                for host in GOOGLE_HOSTS:
                    if url.startswith(host):
                        url = api_endpoint.rstrip("/") + url[len(host):]
                        break
            return super().request(method, url, *args, **kwargs)

    return _Session(credentials)


def sheets_credentials(credentials_b64: str | None) -> Any:
    """Service-account credentials from base64 JSON (`OF_SCHEDULER_SHEETS_CREDENTIALS`); the value is never echoed."""
    value = credentials_b64 or settings._env(ENV_CREDENTIALS)
    if not value:
        raise SheetsError(f"Google Sheets export needs {ENV_CREDENTIALS} (base64 service-account JSON)")
    try:
        info = json.loads(base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SheetsError(f"{ENV_CREDENTIALS} is not base64-encoded JSON") from None
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as exc:
        raise SheetsError(f"{ENV_CREDENTIALS} is not a service-account key ({type(exc).__name__})") from None


class GoogleSheets:
    kind = "sheets"

    def __init__(self, client: Any, *, spreadsheet_ids: dict[str, str] | None = None, folder_id: str | None = None,
                 sleep: Callable[[float], Any] = time.sleep, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.client = client
        self.spreadsheet_ids = dict(spreadsheet_ids or {})
        self.folder_id = folder_id
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.calls = 0
        self._open: dict[str, Any] = {}

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        def run():
            self.calls += 1
            return fn()

        result, _ = call_with_retries(run, is_retryable=_retryable, sleep=self.sleep, max_attempts=self.max_attempts,
                                      what=f"sheets {what}")
        return result

    @staticmethod
    def title(workbook: str) -> str:
        return f"{TITLE_PREFIX} {workbook}"

    def spreadsheet(self, workbook: str, create: bool = True) -> Any | None:
        from gspread.exceptions import SpreadsheetNotFound

        if workbook in self._open:
            return self._open[workbook]
        key = self.spreadsheet_ids.get(workbook)
        if key:
            sh = self._call(lambda: self.client.open_by_key(key), "open_by_key")
        else:
            title = self.title(workbook)
            try:
                sh = self._call(lambda: self.client.open(title, folder_id=self.folder_id), "open")
            except SpreadsheetNotFound:
                if not create:
                    return None
                sh = self._call(lambda: self.client.create(title, folder_id=self.folder_id), "create")
        self._open[workbook] = sh
        return sh

    def read_tabs(self, workbook: str, tabs: list[str]) -> dict[str, list[list]]:
        sh = self.spreadsheet(workbook, create=False)
        if sh is None or not tabs:
            return {}
        meta = self._call(sh.fetch_sheet_metadata, "metadata")
        present = [t for t in tabs if t in {s["properties"]["title"] for s in meta.get("sheets", [])}]
        if not present:
            return {}
        body = self._call(lambda: sh.values_batch_get([_a1(t) for t in present]), "values.batchGet")
        return {t: vr.get("values", []) for t, vr in zip(present, body.get("valueRanges", []), strict=False)}

    def write_workbook(self, workbook: str, tabs: list[Tab], now: dt.datetime) -> list[dict]:
        try:
            sh = self.spreadsheet(workbook)
            meta = self._call(sh.fetch_sheet_metadata, "metadata")
            ids = {s["properties"]["title"]: s["properties"]["sheetId"] for s in meta.get("sheets", [])}
            missing = [t for t in tabs if t.name not in ids]
            if missing:
                requests_ = [{"addSheet": {"properties": {"title": t.name, "gridProperties": {
                    "rowCount": max(len(t.rows) + 10, 100), "columnCount": max(len(t.headers), 1)}}}} for t in missing]
                ours = {t.name for t in tabs}
                requests_ += [{"deleteSheet": {"sheetId": sid}} for title, sid in ids.items()
                              if title not in ours and re.fullmatch(r"Sheet\d+", title)]
                reply = self._call(lambda: sh.batch_update({"requests": requests_}), "batchUpdate(addSheet)")
                for r in reply.get("replies", []):
                    props = (r or {}).get("addSheet", {}).get("properties")
                    if props:
                        ids[props["title"]] = props["sheetId"]
        except Exception as exc:  # noqa: BLE001 - a failed sheet write is logged, never fatal to the ranking
            log.warning("team sheets: opening %s failed (%s)", workbook, type(exc).__name__)
            return [_log_row(self.kind, workbook, t, now, "failed", type(exc).__name__) for t in tabs]
        rows_out: list[dict] = []
        try:
            self._call(lambda: sh.values_batch_clear(body={"ranges": [_a1(t.name) for t in tabs]}), "values.batchClear")
        except Exception as exc:  # noqa: BLE001
            return [_log_row(self.kind, workbook, t, now, "failed", type(exc).__name__) for t in tabs]
        for tab in tabs:
            values = [[_cell(v) for v in row] for row in tab.values()]
            try:
                self._call(lambda t=tab, v=values: sh.values_update(
                    _a1(t.name, "A1"), params={"valueInputOption": "RAW"}, body={"values": v}), "values.update")
                rows_out.append(_log_row(self.kind, workbook, tab, now, "written"))
            except Exception as exc:  # noqa: BLE001
                log.warning("team sheets: %s/%s failed (%s)", workbook, tab.name, type(exc).__name__)
                rows_out.append(_log_row(self.kind, workbook, tab, now, "failed", type(exc).__name__))
        fmt = []
        for tab in tabs:
            sid = ids.get(tab.name)
            if sid is None:
                continue
            fmt.append({"updateSheetProperties": {"properties": {"sheetId": sid, "gridProperties": {"frozenRowCount": 1}},
                                                  "fields": "gridProperties.frozenRowCount"}})
            fmt.append({"repeatCell": {
                "range": {"sheetId": sid, "startRowIndex": 0, "endRowIndex": 1},
                "cell": {"userEnteredFormat": {"backgroundColor": _rgb(COLOURS["header"]),
                                               "textFormat": {"bold": True, "foregroundColor": _rgb("ffffff")}}},
                "fields": "userEnteredFormat(backgroundColor,textFormat)"}})
            for col in tab.hidden_columns:
                fmt.append({"updateDimensionProperties": {
                    "range": {"sheetId": sid, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1},
                    "properties": {"hiddenByUser": True}, "fields": "hiddenByUser"}})
        if fmt:
            try:
                self._call(lambda: sh.batch_update({"requests": fmt}), "batchUpdate(format)")
            except Exception as exc:  # noqa: BLE001 - formatting is cosmetic
                log.warning("team sheets: formatting %s failed (%s)", workbook, type(exc).__name__)
        return rows_out


# ----------------------------------------------------------------------------------------------------------------
# Dagster resource


class SheetsResource(dg.ConfigurableResource):
    """Where the team sheets are written: `xlsx` files under the exports folder (local default) or Google Sheets
    (`gsheets`). ``target`` None follows `ops_config` `exports.team_sheets`. `api_endpoint` points gspread at a
    stand-in server (tests only)."""

    target: str | None = Field(default=None, description="xlsx | gsheets; None = ops_config exports.team_sheets")
    workbook_mode: str = Field(default="single", description="single | per_scheduler")
    exports_dir: str = Field(default_factory=lambda: str(settings.exports_dir()))
    credentials_b64: str | None = Field(default=None, description="base64 service-account JSON (secret)")
    spreadsheet_id: str | None = Field(default=None, description="key of the single workbook (optional)")
    folder_id: str | None = Field(default=None, description="Drive folder of created workbooks (optional)")
    api_endpoint: str | None = Field(default=None, description="tests only: Sheets/Drive API stand-in")

    def effective_target(self, config_default: str = "xlsx") -> str:
        value = (self.target or config_default or "xlsx").strip().lower()
        if value not in ("xlsx", "gsheets"):
            raise SheetsError(f"team sheets target must be xlsx or gsheets, got {value!r}")
        return value

    @property
    def team_sheets_dir(self) -> Path:
        return Path(self.exports_dir) / "team_sheets"

    def open(self, config_default: str = "xlsx", *, sleep: Callable[[float], Any] = time.sleep) -> SheetsWriter:
        if self.effective_target(config_default) == "xlsx":
            return XlsxSheets(self.team_sheets_dir)
        import gspread

        credentials = sheets_credentials(self.credentials_b64)
        client = gspread.Client(auth=None, session=_endpoint_session(credentials, self.api_endpoint))
        ids = {"team_sheets": self.spreadsheet_id} if self.spreadsheet_id else {}
        return GoogleSheets(client, spreadsheet_ids=ids, folder_id=self.folder_id, sleep=sleep)


def sheets_resource_from_env() -> SheetsResource:
    """The resource wired to the environment; secrets as `dg.EnvVar` (the UI shows the names, never the values)."""
    kwargs: dict[str, Any] = {}
    if settings._env(ENV_TARGET):
        kwargs["target"] = settings._env(ENV_TARGET)
    if settings._env(ENV_MODE):
        kwargs["workbook_mode"] = settings._env(ENV_MODE)
    for name, env in (("credentials_b64", ENV_CREDENTIALS), ("spreadsheet_id", ENV_SPREADSHEET_ID),
                      ("folder_id", ENV_FOLDER_ID)):
        if settings._env(env):
            kwargs[name] = dg.EnvVar(env)
    return SheetsResource(**kwargs)


__all__ = [
    "ENV_CREDENTIALS", "ENV_FOLDER_ID", "ENV_MODE", "ENV_SPREADSHEET_ID", "ENV_TARGET", "GoogleSheets", "SheetsError",
    "SheetsResource", "SheetsWriter", "XlsxSheets", "sheets_credentials", "sheets_resource_from_env",
]  # fmt: skip
