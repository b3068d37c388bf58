"""The four Apps Script calls (50-operations §7.3), answered from the export tables exactly as the script must.

This is the executable statement of the contract the README documents: request parameters, the table and columns
each call reads, the 2-D array it returns, and the empty / error answers. The Google Apps Script itself queries the
warehouse tables (`layer_07_export.api_captions`, `api_system_health`, `api_top_captions`, `caption_lookup`); the
team sheets' "System Health" and "Top Captions" tabs are written from these same functions.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

PAGE_TYPES = ("free", "paid", "vip")
CAPTIONS_HEADER = ["Caption Text", "Expected RPS", "Confidence %", "Tier", "Status", "Hours Since Use"]
HEALTH_HEADER = ["Metric", "Value"]
TOP_HEADER = ["Caption ID", "Page", "RPS", "Confidence", "Recent Sends", "Rank", "Status"]
LOOKUP_HEADER = ["Property", "Value"]
NO_CAPTIONS = [["No eligible captions found"]]
NO_HEALTH = [["System health data unavailable"]]
NO_TOP = [["No caption data available"]]
NOT_FOUND = [["Caption not found"]]


class AppsScriptError(ValueError):
    """The script's thrown error (e.g. `Username is required`)."""


def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def send_status(total_sends: int | None) -> str:
    """New (< 10 send events), Testing (< 50), Proven; counted in send events, not recipients."""
    n = total_sends or 0
    return "New" if n < 10 else "Testing" if n < 50 else "Proven"


def get_captions(api_captions: pl.DataFrame, username: str | None, page_type: str = "free", num_captions: int = 5,
                 strategy: str = "balanced", *, today: dt.date | None = None) -> list[list]:
    """getCaptions: rows of `username + "__" + page_type` (or the legacy `username + "_" + page_type`), schedule_date
    = today (the latest date in the table when ``today`` is None), eligible; by `strategy_score_<strategy>` desc, then
    caption_id; at most ``num_captions`` rows."""
    if not username or not str(username).strip():
        raise AppsScriptError("Username is required")
    if page_type not in PAGE_TYPES:
        raise AppsScriptError(f"page_type must be one of {', '.join(PAGE_TYPES)}")
    if strategy not in ("explore", "balanced", "exploit"):
        raise AppsScriptError("strategy must be one of explore, balanced, exploit")
    user = str(username).strip().lower()
    rows = api_captions.filter(
        ((pl.col("username_page") == f"{user}__{page_type}") | (pl.col("username_page_legacy") == f"{user}_{page_type}"))
        & pl.col("is_eligible")
    )
    if rows.is_empty():
        return NO_CAPTIONS
    day = today if today is not None else rows["schedule_date"].max()
    score = f"strategy_score_{strategy}"
    rows = (rows.filter(pl.col("schedule_date") == day)
            .sort([score, "caption_id"], descending=[True, False], nulls_last=True).head(max(0, int(num_captions))))
    if rows.is_empty():
        return NO_CAPTIONS
    out: list[list] = [list(CAPTIONS_HEADER)]
    for r in rows.iter_rows(named=True):
        conf = _num(r["confidence_score"])
        hours = _num(r["hours_since_use"])
        out.append([
            r["caption_text"] or "",
            _num(r["expected_rps"]),
            round(100.0 * conf, 1) if conf is not None else "",
            r["performance_tier"],
            send_status(r["total_sends"]),
            int(hours) if hours is not None else "",
        ])
    return out


def get_system_health(api_system_health: pl.DataFrame | None) -> list[list]:
    """getSystemHealth: the latest row as Metric / Value pairs; the eligibility rate as a 2-dp string."""
    if api_system_health is None or api_system_health.is_empty():
        return NO_HEALTH
    r = api_system_health.sort("evaluated_at", nulls_last=True).row(-1, named=True)
    rate = _num(r["eligibility_rate"])
    age = _num(r["data_age_hours"])
    return [
        list(HEALTH_HEADER),
        ["Health Score", int(r["health_score"])],
        ["Status", str(r["alert_status"])],
        ["Data Age (hours)", int(age) if age is not None else ""],
        ["Eligibility Rate", f"{rate:.2f}" if rate is not None else ""],
        ["Daily Sends", int(r["daily_sends"] or 0)],
    ]


def get_top_captions(api_top_captions: pl.DataFrame | None, limit: int = 10) -> list[list]:
    """getTopCaptions: the first ``limit`` rows of `api_top_captions` by rank."""
    if api_top_captions is None or api_top_captions.is_empty():
        return NO_TOP
    rows = api_top_captions.sort("rank").head(max(0, int(limit)))
    if rows.is_empty():
        return NO_TOP
    return [list(TOP_HEADER)] + [
        [r["caption_id"], r["username_page"], _num(r["rps"]), _num(r["confidence"]), r["recent_sends"], r["rank"],
         r["status"]]
        for r in rows.iter_rows(named=True)
    ]


def lookup_caption(caption_lookup: pl.DataFrame, caption_id: str | None) -> list[list]:
    """lookupCaption: a `CAP_…` id or a legacy bank id, matched in `lookup_keys`."""
    if not caption_id or not str(caption_id).strip():
        return NOT_FOUND
    key = str(caption_id).strip()
    hit = caption_lookup.filter(pl.col("lookup_keys").list.contains(key))
    if hit.is_empty():
        return NOT_FOUND
    r = hit.sort("caption_id").row(0, named=True)
    days = r["days_since_use"]
    return [
        list(LOOKUP_HEADER),
        ["Text", r["caption_text"] or ""],
        ["Page", r["username_page"] or ""],
        ["Tier", r["performance_tier"]],
        ["Available", "Yes" if r["is_available"] else "No"],
        ["Expected RPS", _num(r["expected_rps"])],
        ["Confidence", _num(r["confidence_score"])],
        ["Days Since Use", int(days) if days is not None else ""],
    ]


CALLS = {
    "getCaptions": ("layer_07_export.api_captions", CAPTIONS_HEADER),
    "getSystemHealth": ("layer_07_export.api_system_health", HEALTH_HEADER),
    "getTopCaptions": ("layer_07_export.api_top_captions", TOP_HEADER),
    "lookupCaption": ("layer_07_export.caption_lookup", LOOKUP_HEADER),
}

__all__ = ["CALLS", "AppsScriptError", "get_captions", "get_system_health", "get_top_captions", "lookup_caption",
           "send_status"]
