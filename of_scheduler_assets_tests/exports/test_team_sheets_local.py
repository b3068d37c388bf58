"""Team sheets (50-operations §7.4): the tabs and their rows, the local workbook (tabs, headers, hidden columns,
colours, CSVs, dated copy) and the schedulers' edits surviving the next export."""

from __future__ import annotations

import csv
import datetime as dt

import polars as pl
import pytest
from openpyxl import load_workbook

from of_scheduler_assets.layer_07_export import team_sheets
from of_scheduler_assets.layer_07_export.team_sheets import NEXT24_HEADERS, WEEK_PLAN_HEADERS, Tab
from of_scheduler_assets.resources.sheets import SheetsResource
from of_scheduler_assets_tests.exports import sheet_inputs as si
from of_scheduler_assets_tests.exports.helpers import NOW, pages_frame, schedulers_frame

TABS_SINGLE = [
    "AB Next 24h", "AB Week Plan", "AB Alerts", "MGR Next 24h", "MGR Week Plan", "MGR Alerts",
    "UNASSIGNED Next 24h", "UNASSIGNED Week Plan", "UNASSIGNED Alerts", "ALL Next 24h", "ALL Week Plan",
    "All Alerts", "System Health", "Top Captions", "Read Me",
]  # fmt: skip


def build(plan=None, mode="single"):
    return team_sheets.build_workbooks(
        rank=si.ranking(), pages=pages_frame(si.PAGES), schedulers=schedulers_frame(),
        texts={"CAP_luna_0_1": "line one\nline two " + "y" * 300, "CAP_PLAN": "=1+1 plan caption"},
        plan=si.plan() if plan is None else plan, alerts=si.alerts(), api_system_health=si.health(),
        api_top_captions=si.top(), generated_at=NOW, config_version="2026.11.1-abcdef12", team_tz="Asia/Manila",
        mode=mode)


def _tab(books, name) -> Tab:
    return next(t for tabs in books.values() for t in tabs if t.name == name)


def col(tab: Tab, header: str) -> list:
    i = tab.headers.index(header)
    return [r[i] for r in tab.rows]


def test_tabs_and_next24_rows():
    books = build()
    assert list(books) == ["team_sheets"] and [t.name for t in books["team_sheets"]] == TABS_SINGLE
    n24 = _tab(books, "AB Next 24h")
    assert n24.headers == NEXT24_HEADERS
    # a header row per page-day, then the top 3 captions of each of its 3 slots
    assert n24.rows[0][2] == "Luna — free (3 slots)" and n24.styles[0] == "group"
    assert n24.rows[10][2] == "Luna — paid (3 slots)" and len(n24.rows) == 2 * (1 + 9)
    first = dict(zip(NEXT24_HEADERS, n24.rows[1], strict=True))
    assert first["Slot Time"] == "Fri Nov 20, 11:00 AM" and first["Team Time"] == "Sat 12:00 AM"  # 16:00 UTC
    assert (first["Model"], first["Page"], first["Rank"], first["Score"]) == ("Luna", "free", 1, 93)
    assert first["Caption Preview"].startswith("line one\nline two") and len(first["Caption Preview"]) == 200
    assert first["Revenue / 1k"] == 1.23 and first["Username Page"] == "luna_example__free"
    assert n24.styles[1] == "recommended" and col(n24, "Rank")[1:4] == [1, 2, 3]
    assert col(n24, "Exploring").count("✓") == 2  # one explored slot per page
    assert [r[2] for r in _tab(books, "UNASSIGNED Next 24h").rows[:1]] == ["Mia — vip (3 slots)"]
    assert len(_tab(books, "ALL Next 24h").rows) == 3 * 10 and not _tab(books, "MGR Next 24h").rows


def test_week_plan_alerts_health_and_top_tabs():
    books = build()
    plan = _tab(books, "AB Week Plan")
    assert plan.headers == WEEK_PLAN_HEADERS and len(plan.rows) == 2 * 3 * 3
    first = dict(zip(WEEK_PLAN_HEADERS, plan.rows[0], strict=True))
    assert (first["Date"], first["Day"], first["Slot"], first["Kind"], first["Rec Time"]) == (
        "2026-11-20", "Fri", "Slot 1", "ppv", "11:00")
    # within the next 24 h the hourly primary replaces the plan's tentative caption; later rows keep it
    assert first["Rec Caption ID"] == "CAP_luna_0_1" and first["Status"] == "Planned" and first["Lock"] is False
    assert first["Caption Preview"] == ("line one\nline two " + "y" * 300)[:100]
    now_slots = [r for r in plan.rows if r[0] == "2026-11-20" and r[6] == "11:00"]  # one per page
    assert [r[9] for r in now_slots] == ["CAP_luna_0_1"] * 2
    assert {r[9] for r in plan.rows if r not in now_slots} == {"CAP_PLAN"} and first["Rec Price"] == 14.0
    assert col(_tab(books, "AB Alerts"), "Alert ID") == ["a2", "a1"]  # open only, HIGH before LOW
    assert col(_tab(books, "AB Alerts"), "Priority") == ["HIGH", "LOW"]
    assert col(_tab(books, "UNASSIGNED Alerts"), "Priority") == ["MEDIUM"]  # INFEASIBLE_WINDOW is MEDIUM
    assert col(_tab(books, "All Alerts"), "Alert ID") == ["a2", "a4", "a3", "a1"]
    assert _tab(books, "System Health").rows[3] == ["Eligibility Rate", "0.46"]
    assert len(_tab(books, "Top Captions").rows) == 25  # the menu's limit


def test_per_scheduler_workbooks():
    books = build(mode="per_scheduler")
    assert sorted(books) == ["team_sheets_AB", "team_sheets_ALL", "team_sheets_MGR"]
    assert [t.name for t in books["team_sheets_AB"]] == [
        "AB Next 24h", "AB Week Plan", "AB Alerts", "System Health", "Top Captions", "Read Me"]
    assert "ALL Week Plan" in [t.name for t in books["team_sheets_MGR"]]  # can_view_all
    assert "UNASSIGNED Week Plan" in [t.name for t in books["team_sheets_ALL"]]


def test_local_workbook_opens_with_the_expected_tabs_headers_and_files(tmp_path):
    books = build()
    writer = SheetsResource(target="xlsx", exports_dir=str(tmp_path)).open()
    log = writer.write_workbook("team_sheets", books["team_sheets"], NOW)
    assert [r["status"] for r in log] == ["written"] * len(TABS_SINGLE)
    assert log[0]["target"] == "team_sheets/AB Next 24h" and log[0]["rows"] == 20 and len(log[0]["content_sha256"]) == 64
    latest = tmp_path / "team_sheets" / "latest"
    wb = load_workbook(latest / "team_sheets.xlsx")
    assert wb.sheetnames == TABS_SINGLE
    for tab in books["team_sheets"]:
        ws = wb[tab.name]
        assert [c.value for c in ws[1]] == tab.headers
        assert ws.max_row == len(tab.rows) + 1
    ws = wb["AB Week Plan"]
    assert ws[1][0].fill.start_color.rgb == "FF1E40AF"
    hidden = {i for d in ws.column_dimensions.values() if d.hidden for i in range(d.min, d.max + 1)}
    assert hidden == {20, 21}  # Tracking Hash, Username Page (1-based columns T, U)
    assert ws.freeze_panes == "A2"
    preview = next(r[10] for r in ws.iter_rows(min_row=2) if r[10].value and r[10].value.startswith("=1+1"))
    assert preview.data_type == "s"  # caption text is never written as a formula
    raw = (latest / "team_sheets" / "AB_Week_Plan.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == WEEK_PLAN_HEADERS and len(rows) == 19
    assert (tmp_path / "team_sheets" / "2026-11-20" / "1530" / "team_sheets.xlsx").is_file()


def _edit(path, tab, edits: dict[str, dict[str, object]]):
    """Set cells of rows found by tracking hash, as a scheduler would in the sheet."""
    wb = load_workbook(path)
    ws = wb[tab]
    head = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        th = row[head.index("Tracking Hash")].value
        for name, value in edits.get(th, {}).items():
            row[head.index(name)].value = value
    wb.save(path)


def test_scheduler_edits_survive_the_next_export(tmp_path):
    writer = SheetsResource(target="xlsx", exports_dir=str(tmp_path)).open()
    books = build()
    writer.write_workbook("team_sheets", books["team_sheets"], NOW)
    plan = _tab(books, "AB Week Plan")
    th = col(plan, "Tracking Hash")
    sent, locked, leaving = th[0], th[1], th[8]  # leaving: Nov 21 20:00 on the free page, dropped below
    assert col(plan, "Rec Time")[8] == "20:00" and col(plan, "Date")[8] == "2026-11-21"
    _edit(tmp_path / "team_sheets" / "latest" / "team_sheets.xlsx", "AB Week Plan", {
        sent: {"Status": "Sent", "Actual Time": "11:05", "Caption ID": "CAP_CHOSEN", "Actual Price": 15},
        locked: {"Lock": True, "Rec Price": 99, "Notes": "keep"},
        leaving: {"Notes": "moved to 21:00"},
    })
    rebuilt = build(plan=si.plan(extra_hours=(14,)))
    fresh = _tab(rebuilt, "AB Week Plan")
    previous = writer.read_tabs("team_sheets", ["AB Week Plan"])["AB Week Plan"]
    merged, stats = team_sheets.merge_human_edits(fresh, previous, dt.date(2026, 11, 20))
    assert stats == {"preserved": 1, "locked": 1, "orphaned": 1}
    rows = {r[WEEK_PLAN_HEADERS.index("Tracking Hash")]: dict(zip(WEEK_PLAN_HEADERS, r, strict=True)) for r in merged.rows}
    assert (rows[sent]["Status"], rows[sent]["Actual Time"], rows[sent]["Caption ID"]) == ("Sent", "11:05", "CAP_CHOSEN")
    assert rows[locked]["Rec Price"] == 99 and rows[locked]["Lock"] is True  # a locked row is never changed
    assert rows[leaving]["Notes"] == "moved to 21:00 Orphaned"
    styles = dict(zip([r[WEEK_PLAN_HEADERS.index("Tracking Hash")] for r in merged.rows], merged.styles, strict=True))
    assert (styles[sent], styles[locked], styles[leaving]) == ("sent", "locked", "modified")
    assert len(merged.rows) == len(fresh.rows) + 1
    # once its day has passed, an orphaned row is dropped
    assert team_sheets.merge_human_edits(fresh, previous, dt.date(2026, 11, 22))[1]["orphaned"] == 0


def test_unknown_workbook_mode_is_refused():
    with pytest.raises(ValueError, match="workbook mode"):
        build(mode="per_page")


def test_read_back_logs_each_scheduler_action_once(tmp_path):
    writer = SheetsResource(target="xlsx", exports_dir=str(tmp_path)).open()
    books = build()
    writer.write_workbook("team_sheets", books["team_sheets"], NOW)
    th = col(_tab(books, "AB Week Plan"), "Tracking Hash")
    path = tmp_path / "team_sheets" / "latest" / "team_sheets.xlsx"
    _edit(path, "AB Week Plan", {th[0]: {"Status": "Ready", "Caption ID": "CAP_CHOSEN"}, th[1]: {"Lock": True}})
    first = team_sheets.scheduler_actions(writer.read_tabs("team_sheets", ["AB Week Plan"]), None, NOW)
    assert sorted(zip(first["tracking_hash"], first["field"], first["new_value"], strict=True)) == sorted(
        [(th[0], "Status", "Ready"), (th[0], "Caption ID", "CAP_CHOSEN"), (th[1], "Lock", "TRUE")])
    row = first.filter(pl.col("field") == "Status").row(0, named=True)
    assert (row["scheduler_code"], row["username_page"], row["slot_local"]) == ("AB", "luna_example__free",
                                                                              "2026-11-20 11:00")
    assert (row["caption_id_recommended"], row["caption_id_chosen"], row["old_value"]) == (
        "CAP_luna_0_1", "CAP_CHOSEN", "")
    # a re-read adds nothing; a later change is one row with the previous value
    later = NOW + dt.timedelta(hours=1)
    assert team_sheets.scheduler_actions(writer.read_tabs("team_sheets", ["AB Week Plan"]), first, later).is_empty()
    _edit(path, "AB Week Plan", {th[0]: {"Status": "Sent"}})
    second = team_sheets.scheduler_actions(writer.read_tabs("team_sheets", ["AB Week Plan"]), first, later)
    assert second.select("field", "old_value", "new_value").rows() == [("Status", "Ready", "Sent")]
