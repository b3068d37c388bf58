"""The scheduling team's sheets (50-operations §7.4, §7.5, §8), pure: frames in, tabs (header + rows) out.

Tabs per scheduler code: `<CODE> Next 24h`, `<CODE> Week Plan`, `<CODE> Alerts`; `ALL Next 24h` / `ALL Week Plan`
when a scheduler may view all pages; `UNASSIGNED …` for pages without a scheduler; `All Alerts`, `System Health`,
`Top Captions`, `Read Me`. Workbook mode `single` puts every tab in one workbook (`team_sheets`); `per_scheduler`
gives each scheduler a workbook `team_sheets_<CODE>` (its tabs, the ALL tabs when it may view all, health, top
captions, read me) and keeps the rest in `team_sheets_ALL`.

Ownership (§7.4): the platform rewrites its columns; Actual Time, Actual Price, Caption ID, Status, Lock and Notes of
the Week Plan are the schedulers' and are carried over by `tracking_hash` (`merge_human_edits`); a locked row is
never changed; a row that left the plan but carries edits stays, marked "Orphaned" in Notes, until its day passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import polars as pl

from of_scheduler_assets.layer_07_export import apps_script

NEXT24_HEADERS = [
    "Slot Time", "Team Time", "Model", "Page", "Slot Type", "Price", "Rank", "Tier", "Caption ID", "Caption Preview",
    "Score", "Revenue / 1k", "Days Since Use", "Reason", "Exploring", "Tracking Hash", "Username Page",
]  # fmt: skip
WEEK_PLAN_HEADERS = [
    "Date", "Day", "Model", "Page", "Slot", "Kind", "Rec Time", "Team Time", "Rec Price", "Rec Caption ID",
    "Caption Preview", "Actual Time", "Actual Price", "Caption ID", "Status", "Reason", "Score", "Lock", "Notes",
    "Tracking Hash", "Username Page",
]  # fmt: skip
ALERT_HEADERS = ["Priority", "Type", "Model", "Page", "Message", "Action Required", "Created (UTC)", "Alert ID"]
README_HEADERS = ["Item", "Value"]
HIDDEN = ("Tracking Hash", "Username Page", "Alert ID")
HUMAN_COLUMNS = ("Actual Time", "Actual Price", "Caption ID", "Status", "Lock", "Notes")
STATUSES = ("Planned", "Ready", "Modified", "Sent", "Skipped")
PRIORITY = {"CRITICAL": "HIGH", "WARNING": "MEDIUM", "INFO": "LOW"}
PRIORITY_ORDER = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}
COLOURS = {  # §7.4
    "header": "1e40af", "recommended": "dcfce7", "modified": "fef3c7", "sent": "dbeafe", "alert": "fee2e2",
    "locked": "f3f4f6", "group": "e5e7eb",
}  # fmt: skip
PLAN_KIND_TO_SLOT_TYPE = {
    "ppv": "ppv", "bump": "bump", "ppv_pre_teaser": "bump", "ppv_followup": "bump", "renewal": "renew",
    "drip_mm": "drip", "drip_wall": "drip", "link_drop": "link_drop",
}  # fmt: skip
UNASSIGNED = "UNASSIGNED"
ALL = "ALL"
SINGLE_WORKBOOK = "team_sheets"


@dataclass
class Tab:
    """One sheet: a header row, value rows (str, int, float, bool or None) and a style per row (a `COLOURS` key)."""

    name: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.styles) < len(self.rows):
            self.styles = self.styles + [None] * (len(self.rows) - len(self.styles))

    @property
    def hidden_columns(self) -> list[int]:
        """0-based indexes of the hidden columns (tracking hash, username page, alert id)."""
        return [i for i, h in enumerate(self.headers) if h in HIDDEN]

    def values(self) -> list[list]:
        return [list(self.headers), *[list(r) for r in self.rows]]

    def sha256(self) -> str:
        text = "\n".join("\t".join("" if v is None else str(v) for v in row) for row in self.values())
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tracking_hash(username_page: str, date_local: dt.date, hhmm: str, kind: str) -> str:
    """40-planning §1: sha256(username_page | date_local | HH:MM | slot_kind)[:16]."""
    return hashlib.sha256(f"{username_page}|{date_local.isoformat()}|{hhmm}|{kind}".encode()).hexdigest()[:16]


def scheduler_code(code: str | None) -> str:
    value = (code or "").strip().upper()
    return UNASSIGNED if value in ("", "UNASSIGNED", "NONE") else value


def _page_info(pages: pl.DataFrame) -> dict[str, dict]:
    info = {}
    for r in pages.iter_rows(named=True):
        model = r.get("display_name") or r.get("username_std") or r["username_page"].split("__")[0]
        info[r["username_page"]] = {
            "model": model, "page": r.get("page_type") or r["username_page"].rsplit("__", 1)[-1],
            "tz": r.get("tz") or "UTC", "code": scheduler_code(r.get("assigned_scheduler_code")),
        }
    return info


def _fmt_team(ts: dt.datetime | None, team_tz: ZoneInfo) -> str:
    if ts is None:
        return ""
    ts = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts
    return ts.astimezone(team_tz).strftime("%a %I:%M %p")


def _round(value, digits: int):
    return None if value is None else round(float(value), digits)


# ------------------------------------------------------------------------------------------------- Next 24h


def next24_rows(rank: pl.DataFrame, pages: pl.DataFrame, texts: dict[str, str], team_tz: str,
                top_n: int = 3) -> dict[str, list[tuple[tuple, list, str | None]]]:
    """Per username_page: (sort key, row, style) of its top ``top_n`` captions per slot (§7.4 Next 24h columns)."""
    info = _page_info(pages)
    zone = ZoneInfo(team_tz)
    out: dict[str, list] = defaultdict(list)
    top = rank.filter(pl.col("rank") <= top_n).sort("username_page", "slot_ts_utc", "slot_type", "rank")
    for r in top.iter_rows(named=True):
        page = r["username_page"]
        meta = info.get(page)
        if meta is None:
            continue
        local = r["slot_local"]
        cid = r["caption_id"]
        reasons = r.get("reason_codes") or []
        row = [
            local.strftime("%a %b %d, %I:%M %p"), _fmt_team(r["slot_ts_utc"], zone), meta["model"], meta["page"],
            r["slot_type"], _round(r["price_usd"], 2), int(r["rank"]), r.get("recommendation_tier"), cid,
            (texts.get(cid) or "")[:200] if cid else "",
            None if r["score_normalized"] is None else int(round(float(r["score_normalized"]))),
            _round(None if r["expected_rps"] is None else r["expected_rps"] * 1000.0, 2),
            _round(r.get("days_since_use_page"), 1), ", ".join(reasons), "✓" if r.get("is_exploration") else "",
            tracking_hash(page, r["slot_date_local"], local.strftime("%H:%M"), r["slot_type"]), page,
        ]
        key = (r["slot_date_local"], meta["model"], meta["page"], page, local, r["slot_type"], int(r["rank"]))
        out[page].append((key, row, "recommended" if r["rank"] == 1 else None))
    return out


def next24_tab(name: str, per_page: dict[str, list], page_list: list[str]) -> Tab:
    """A header row per page-day ("Model — Page (n slots)"), then its rows by slot time, slot type, rank."""
    entries = sorted((e for p in page_list for e in per_page.get(p, [])), key=lambda e: e[0])
    tab = Tab(name, list(NEXT24_HEADERS))
    groups: dict[tuple, list] = defaultdict(list)
    order: list[tuple] = []
    for key, row, style in entries:
        g = key[:4]
        if g not in groups:
            order.append(g)
        groups[g].append((key, row, style))
    for g in order:
        items = groups[g]
        n_slots = len({(k[4], k[5]) for k, _, _ in items})
        day, model, page, _ = g
        label = f"{model} — {page} ({n_slots} slots)"
        tab.rows.append([f"{day:%a %b %d}", "", label] + [""] * (len(NEXT24_HEADERS) - 3))
        tab.styles.append("group")
        for _, row, style in items:
            tab.rows.append(row)
            tab.styles.append(style)
    return tab


# ------------------------------------------------------------------------------------------------- Week Plan


def week_plan_rows(plan: pl.DataFrame | None, rank: pl.DataFrame, pages: pl.DataFrame, texts: dict[str, str],
                   team_tz: str) -> dict[str, list[tuple[tuple, list, str | None]]]:
    """Per username_page: the rows of its current plan week (§7.4 Week Plan columns); for the next 24 h the Rec
    Caption ID is the hourly primary of `caption_rank_next24`."""
    out: dict[str, list] = defaultdict(list)
    if plan is None or plan.is_empty():
        return out
    info = _page_info(pages)
    zone = ZoneInfo(team_tz)
    latest = plan.group_by("username_page").agg(pl.col("week_start").max().alias("_ws"))
    rows = plan.join(latest, on="username_page").filter(pl.col("week_start") == pl.col("_ws")).drop("_ws")
    primaries = {}
    for r in rank.filter(pl.col("rank") == 1).select("username_page", "slot_ts_utc", "slot_type", "caption_id").iter_rows():
        primaries[(r[0], r[1], r[2])] = r[3]
    for r in rows.sort("username_page", "date_local", "scheduled_datetime_utc", "slot_kind", "slot_order").iter_rows(named=True):
        page = r["username_page"]
        meta = info.get(page) or {"model": r.get("username_std") or page, "page": r.get("page_type") or "",
                                  "tz": r.get("tz") or "UTC", "code": scheduler_code(r.get("scheduler_code"))}
        kind = r["slot_kind"]
        utc = r["scheduled_datetime_utc"]
        hour = utc.replace(minute=0, second=0, microsecond=0) if utc is not None else None
        rec = primaries.get((page, hour, PLAN_KIND_TO_SLOT_TYPE.get(kind, kind))) or r.get("rec_caption_id")
        hod, minute = int(r["hod_local"]), int(r["minute_local"])
        day = r["date_local"]
        th = r.get("tracking_hash") or tracking_hash(page, day, f"{hod:02d}:{minute:02d}", kind)
        price = r.get("price_usd")
        row = [
            day.isoformat(), day.strftime("%a"), meta["model"], meta["page"],
            f"Slot {int(r['slot_rank']) + 1}" if kind == "ppv" else kind, kind, f"{hod}:{minute:02d}",
            _fmt_team(utc, zone), None if price is None else float(price), rec or "",
            (texts.get(rec) or "")[:100] if rec else "", "", "", "", "Planned", r.get("reason") or "",
            _round(r.get("score"), 2), False, "", th, page,
        ]
        key = (day, meta["model"], meta["page"], page, hod, minute, kind, int(r["slot_order"]))
        out[page].append((key, row, "recommended" if kind == "ppv" else None))
    return out


def week_plan_tab(name: str, per_page: dict[str, list], page_list: list[str]) -> Tab:
    entries = sorted((e for p in page_list for e in per_page.get(p, [])), key=lambda e: e[0])
    return Tab(name, list(WEEK_PLAN_HEADERS), [e[1] for e in entries], [e[2] for e in entries])


def _truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().upper() in ("TRUE", "1", "YES", "Y", "✓", "X")


def _blank(value) -> bool:
    return value is None or str(value).strip() == ""


def merge_human_edits(tab: Tab, previous: list[list] | None, today: dt.date) -> tuple[Tab, dict]:
    """Carry the schedulers' cells of ``previous`` (the tab as last read back, header row first) into ``tab`` by
    Tracking Hash. Locked rows are kept whole; a previous row with edits whose hash left the plan stays (Notes gets
    "Orphaned") while its Date ≥ ``today``. Returns the merged tab and counts."""
    stats = {"preserved": 0, "locked": 0, "orphaned": 0}
    if not previous or len(previous) < 2:
        return tab, stats
    head = [str(h) for h in previous[0]]
    if "Tracking Hash" not in head:
        return tab, stats
    pidx = {h: i for i, h in enumerate(head)}
    idx = {h: i for i, h in enumerate(tab.headers)}

    def cell(row: list, name: str):
        i = pidx.get(name)
        return row[i] if i is not None and i < len(row) else None

    def edited(row: list) -> bool:
        return (any(not _blank(cell(row, c)) for c in ("Actual Time", "Actual Price", "Caption ID", "Notes"))
                or str(cell(row, "Status") or "Planned").strip() not in ("", "Planned") or _truthy(cell(row, "Lock")))

    old = {}
    for row in previous[1:]:
        th = cell(row, "Tracking Hash")
        if not _blank(th):
            old[str(th)] = row
    seen = set()
    rows, styles = [], []
    for row, style in zip(tab.rows, tab.styles, strict=True):
        th = str(row[idx["Tracking Hash"]])
        prev = old.get(th)
        seen.add(th)
        if prev is None:
            rows.append(row)
            styles.append(style)
            continue
        if _truthy(cell(prev, "Lock")):
            rows.append([cell(prev, h) for h in tab.headers])
            styles.append("locked")
            stats["locked"] += 1
            continue
        new = list(row)
        for c in HUMAN_COLUMNS:
            v = cell(prev, c)
            if c == "Lock":
                new[idx[c]] = _truthy(v)
            elif not _blank(v):
                new[idx[c]] = v
        status = str(new[idx["Status"]] or "").strip()
        if edited(prev):
            stats["preserved"] += 1
            style = "sent" if status == "Sent" else "modified"
        rows.append(new)
        styles.append(style)
    for th, prev in old.items():
        if th in seen or not edited(prev):
            continue
        try:
            day = dt.date.fromisoformat(str(cell(prev, "Date"))[:10])
        except ValueError:
            continue
        if day < today:
            continue
        kept = [cell(prev, h) for h in tab.headers]
        notes = "" if _blank(kept[idx["Notes"]]) else str(kept[idx["Notes"]])
        if "Orphaned" not in notes:
            kept[idx["Notes"]] = (notes + " Orphaned").strip()
        locked = _truthy(cell(prev, "Lock"))
        kept[idx["Lock"]] = locked
        rows.append(kept)
        styles.append("locked" if locked else "modified")
        stats["orphaned"] += 1
    return Tab(tab.name, tab.headers, rows, styles), stats


SCHEDULER_ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "action_ts": pl.Datetime("us", "UTC"), "scheduler_code": pl.String(), "username_page": pl.String(),
    "tracking_hash": pl.String(), "slot_local": pl.String(), "field": pl.String(), "old_value": pl.String(),
    "new_value": pl.String(), "caption_id_recommended": pl.String(), "caption_id_chosen": pl.String(),
    "status": pl.String(),
}  # fmt: skip


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def scheduler_actions(read_back: dict[str, list[list]], prior: pl.DataFrame | None, now: dt.datetime) -> pl.DataFrame:
    """§7.5: the schedulers' cells read back from Week Plan tabs, as new rows of `ops_audit.scheduler_actions`
    keyed by (tracking_hash, field, new_value): a value already logged adds nothing, so re-reads are idempotent.
    ``old_value`` is the last logged value of that field (empty at first); defaults (Status Planned, Lock FALSE,
    blanks) are not actions."""
    seen: set[tuple[str, str, str]] = set()
    last: dict[tuple[str, str], str] = {}
    if prior is not None and prior.height:
        for th, fld, new in prior.sort("action_ts").select("tracking_hash", "field", "new_value").iter_rows():
            seen.add((th, fld, new))
            last[(th, fld)] = new
    rows = []
    for tab, values in sorted(read_back.items()):
        if not tab.endswith("Week Plan") or len(values) < 2:
            continue
        head = [str(h) for h in values[0]]
        if "Tracking Hash" not in head:
            continue
        idx = {h: i for i, h in enumerate(head)}
        code = tab[: -len(" Week Plan")]

        def get(row, name, idx=idx):
            i = idx.get(name)
            return _text(row[i]) if i is not None and i < len(row) else ""

        for row in values[1:]:
            th = get(row, "Tracking Hash")
            if not th:
                continue
            for fld in HUMAN_COLUMNS:
                new = get(row, fld)
                if new in ("",) or (fld == "Status" and new == "Planned") or (fld == "Lock" and new.upper() == "FALSE"):
                    continue
                if (th, fld, new) in seen:
                    continue
                seen.add((th, fld, new))
                rows.append({
                    "action_ts": now, "scheduler_code": code, "username_page": get(row, "Username Page"),
                    "tracking_hash": th, "slot_local": f"{get(row, 'Date')} {get(row, 'Rec Time')}".strip(),
                    "field": fld, "old_value": last.get((th, fld), ""), "new_value": new,
                    "caption_id_recommended": get(row, "Rec Caption ID") or None,
                    "caption_id_chosen": get(row, "Caption ID") or None, "status": get(row, "Status") or None,
                })
                last[(th, fld)] = new
    return pl.DataFrame(rows, schema=SCHEDULER_ACTIONS_SCHEMA, orient="row") if rows else pl.DataFrame(
        schema=SCHEDULER_ACTIONS_SCHEMA)


# ------------------------------------------------------------------------------------------------- Alerts


def alert_rows(alerts: pl.DataFrame | None, pages: pl.DataFrame) -> dict[str | None, list[tuple[tuple, list, str]]]:
    """Open alerts by username_page (None: not about one page), §7.4 Alerts columns."""
    out: dict[str | None, list] = defaultdict(list)
    if alerts is None or alerts.is_empty():
        return out
    info = _page_info(pages)
    open_rows = alerts.filter(pl.col("status").is_null() | (pl.col("status") == "open")) if "status" in alerts.columns else alerts
    for r in open_rows.iter_rows(named=True):
        page = r.get("username_page")
        code = r.get("alert_code") or ""
        priority = "MEDIUM" if code == "INFEASIBLE_WINDOW" else PRIORITY.get(str(r.get("severity") or "").upper(), "LOW")
        meta = info.get(page or "", {})
        created = r.get("created_at")
        row = [priority, r.get("alert_type") or "", meta.get("model", ""), meta.get("page", page or ""),
               r.get("message") or "", r.get("action_required") or "",
               created.strftime("%Y-%m-%d %H:%M") if created else "", r.get("alert_id") or ""]
        key = (PRIORITY_ORDER[priority], -(created.timestamp() if created else 0.0), r.get("alert_id") or "")
        out[page].append((key, row, "alert" if priority == "HIGH" else None))
    return out


def alerts_tab(name: str, per_page: dict, page_list: list[str] | None) -> Tab:
    keys = list(per_page) if page_list is None else page_list
    entries = sorted((e for p in keys for e in per_page.get(p, [])), key=lambda e: e[0])
    return Tab(name, list(ALERT_HEADERS), [e[1] for e in entries], [e[2] for e in entries])


# ------------------------------------------------------------------------------------------------- assembly


def _array_tab(name: str, array: list[list], header: list[str]) -> Tab:
    if array and array[0] == header:
        return Tab(name, list(header), [list(r) for r in array[1:]])
    return Tab(name, list(header), [list(r) + [""] * (len(header) - len(r)) for r in array])


def readme_tab(generated_at: dt.datetime, config_version: str, team_tz: str, mode: str) -> Tab:
    rows = [
        ["generated_at (UTC)", generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")],
        ["config_version", config_version],
        ["workbook mode", mode],
        ["Slot Time / Rec Time", "page-local time; Team Time is " + team_tz],
        ["<CODE> Next 24h", "top 3 captions per hourly slot of your pages (rank 1 = recommended); a grey row heads "
                            "each page-day"],
        ["<CODE> Week Plan", "this week's plan; fill Actual Time, Actual Price, Caption ID, Status (Planned → Ready → "
                             "Sent or Skipped), Lock, Notes: the export keeps them (by the hidden tracking hash)"],
        ["<CODE> Alerts", "open alerts of your pages (HIGH = critical)"],
        ["Lock = TRUE", "the export never changes that row"],
        ["Orphaned (in Notes)", "the row left the plan but carries your edits; it stays until its day has passed"],
        ["colour #dcfce7", "recommended"], ["colour #fef3c7", "modified by a scheduler"], ["colour #dbeafe", "sent"],
        ["colour #fee2e2", "alert (HIGH)"], ["colour #f3f4f6", "locked"],
        ["rules", "≥ 2 h between PPVs of a page; no more PPVs than planned; no caption reused on a page within 28 "
                  "days; captions fit the page type and its explicitness limit; prices within floor and cap"],
    ]
    return Tab("Read Me", list(README_HEADERS), rows)


def build_workbooks(
    *, rank: pl.DataFrame, pages: pl.DataFrame, schedulers: pl.DataFrame | None, texts: dict[str, str],
    plan: pl.DataFrame | None, alerts: pl.DataFrame | None, api_system_health: pl.DataFrame | None,
    api_top_captions: pl.DataFrame | None, generated_at: dt.datetime, config_version: str, team_tz: str,
    mode: str = "single",
) -> dict[str, list[Tab]]:
    """Workbook name → its tabs (§7.4). Pages are those of `dim_page` that are active or ranked."""
    if mode not in ("single", "per_scheduler"):
        raise ValueError(f"workbook mode must be single or per_scheduler, got {mode!r}")
    ranked = set(rank["username_page"].unique().to_list()) if rank.height else set()
    scope = pages.filter(pl.col("is_active") | pl.col("username_page").is_in(list(ranked))) if "is_active" in pages.columns else pages
    info = _page_info(scope)
    by_code: dict[str, list[str]] = defaultdict(list)
    for page, meta in sorted(info.items()):
        by_code[meta["code"]].append(page)
    view_all: set[str] = set()
    if schedulers is not None and schedulers.height:
        active = schedulers.filter(pl.col("is_active")) if "is_active" in schedulers.columns else schedulers
        for r in active.iter_rows(named=True):
            code = scheduler_code(r["scheduler_code"])
            by_code.setdefault(code, [])
            if r.get("can_view_all"):
                view_all.add(code)
    n24 = next24_rows(rank, scope, texts, team_tz)
    wp = week_plan_rows(plan, rank, scope, texts, team_tz)
    al = alert_rows(alerts, scope)
    all_pages = sorted(info)
    codes = sorted(c for c in by_code if c != UNASSIGNED)
    if by_code.get(UNASSIGNED):
        codes.append(UNASSIGNED)

    def code_tabs(code: str) -> list[Tab]:
        plist = by_code.get(code, [])
        return [next24_tab(f"{code} Next 24h", n24, plist), week_plan_tab(f"{code} Week Plan", wp, plist),
                alerts_tab(f"{code} Alerts", al, plist)]

    all_tabs = [next24_tab(f"{ALL} Next 24h", n24, all_pages), week_plan_tab(f"{ALL} Week Plan", wp, all_pages)]
    shared = [
        alerts_tab("All Alerts", al, None),
        _array_tab("System Health", apps_script.get_system_health(api_system_health), apps_script.HEALTH_HEADER),
        _array_tab("Top Captions", apps_script.get_top_captions(api_top_captions, 25), apps_script.TOP_HEADER),
        readme_tab(generated_at, config_version, team_tz, mode),
    ]
    if mode == "single":
        tabs = [t for c in codes for t in code_tabs(c)]
        if view_all:
            tabs += all_tabs
        return {SINGLE_WORKBOOK: tabs + shared}
    books: dict[str, list[Tab]] = {}
    for code in codes:
        if code == UNASSIGNED:
            continue
        books[f"{SINGLE_WORKBOOK}_{code}"] = code_tabs(code) + (all_tabs if code in view_all else []) + shared[1:]
    rest = (code_tabs(UNASSIGNED) if UNASSIGNED in codes else []) + all_tabs + shared
    books[f"{SINGLE_WORKBOOK}_{ALL}"] = rest
    return books


__all__ = [
    "ALERT_HEADERS", "COLOURS", "HUMAN_COLUMNS", "NEXT24_HEADERS", "README_HEADERS", "SCHEDULER_ACTIONS_SCHEMA",
    "SINGLE_WORKBOOK", "Tab", "WEEK_PLAN_HEADERS", "build_workbooks", "merge_human_edits", "scheduler_actions",
    "tracking_hash",
]  # fmt: skip
