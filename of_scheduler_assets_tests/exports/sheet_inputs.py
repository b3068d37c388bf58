"""Inputs of the team sheets: a ranking of three pages (two schedulers and an unassigned page), a week plan in the
planning layer's columns, alerts, health and top captions."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from of_scheduler_assets.layer_07_export import transforms
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA
from of_scheduler_assets_tests.exports.helpers import NOW, rank_frame, rank_row

PAGES = [("luna_example__paid", "America/New_York", "AB"), ("luna_example__free", "America/New_York", "AB"),
         ("mia_test__vip", "Europe/Berlin", "unassigned")]
SLOTS = [dt.datetime(2026, 11, 20, 16, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(3)]
PLAN_SCHEMA = {
    "username_page": pl.String(), "username_std": pl.String(), "page_type": pl.String(),
    "scheduler_code": pl.String(), "tz": pl.String(), "week_start": pl.Date(), "date_local": pl.Date(),
    "dow_local": pl.Int8(), "slot_kind": pl.String(), "slot_rank": pl.Int16(), "slot_order": pl.Int16(),
    "hod_local": pl.Int8(), "minute_local": pl.Int8(), "planned_local_datetime": pl.Datetime("us"),
    "scheduled_datetime_utc": pl.Datetime("us", "UTC"), "price_usd": pl.Decimal(10, 2), "tracking_hash": pl.String(),
    "rec_caption_id": pl.String(), "reason": pl.String(), "score": pl.Float64(),
}  # fmt: skip


def ranking() -> pl.DataFrame:
    rows = []
    for page, tz, _ in PAGES:
        for i, slot in enumerate(SLOTS):
            for r in range(1, 5):
                rows.append(rank_row(page, slot, r, f"CAP_{page[:4]}_{i}_{r}", tz=tz, is_exploration=(r == 1 and i == 1),
                                     score_normalized=100.0 - 7 * r))
    return rank_frame(rows)


def plan_row(page: str, tz: str, day: dt.date, hod: int, kind: str = "ppv", slot_rank: int = 0, order: int = 0,
             caption: str | None = "CAP_PLAN") -> dict:
    local = dt.datetime.combine(day, dt.time(hod))
    utc = local.replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    return {
        "username_page": page, "username_std": page.rsplit("__", 1)[0], "page_type": page.rsplit("__", 1)[1],
        "scheduler_code": "AB", "tz": tz, "week_start": day - dt.timedelta(days=day.weekday()), "date_local": day,
        "dow_local": day.weekday(), "slot_kind": kind, "slot_rank": slot_rank, "slot_order": order, "hod_local": hod,
        "minute_local": 0, "planned_local_datetime": local, "scheduled_datetime_utc": utc,
        "price_usd": Decimal("14.00"), "reason": "Prime slot - highest performance", "score": 0.8765,
        "tracking_hash": hashlib.sha256(f"{page}|{day.isoformat()}|{hod:02d}:00|{kind}".encode()).hexdigest()[:16],
        "rec_caption_id": caption,
    }


def plan(extra_hours: tuple[int, ...] = (14, 20)) -> pl.DataFrame:
    rows = []
    for page, tz, _ in PAGES[:2]:
        for d in range(3):
            day = dt.date(2026, 11, 20) + dt.timedelta(days=d)
            rows.append(plan_row(page, tz, day, 11 if d == 0 else 12, slot_rank=0, order=0))
            for k, h in enumerate(extra_hours):
                rows.append(plan_row(page, tz, day, h, slot_rank=k + 1, order=k + 1))
    return pl.DataFrame(rows, schema=PLAN_SCHEMA)


def alerts() -> pl.DataFrame:
    def alert(i, sev, page, code="X", status="open"):
        return {"alert_id": f"a{i}", "created_at": NOW - dt.timedelta(hours=i), "severity": sev, "alert_type": "QA",
                "alert_code": code, "username_page": page, "message": f"message {i}", "action_required": "look",
                "source": "test", "status": status, "resolved_at": None}

    return pl.DataFrame([alert(1, "INFO", "luna_example__paid"), alert(2, "CRITICAL", "luna_example__free"),
                         alert(3, "WARNING", "mia_test__vip", "INFEASIBLE_WINDOW"), alert(4, "CRITICAL", None),
                         alert(5, "CRITICAL", "luna_example__paid", status="resolved")], schema=ALERT_SCHEMA)


def health() -> pl.DataFrame:
    return pl.DataFrame([{"health_score": 85, "alert_status": "HEALTHY", "data_age_hours": 3.7,
                          "eligibility_rate": 0.4567, "daily_sends": 412, "evaluated_at": NOW}],
                        schema=transforms.API_SYSTEM_HEALTH_SCHEMA)


def top() -> pl.DataFrame:
    return pl.DataFrame([{"caption_id": f"CAP_{r}", "username_page": "luna_example__paid", "rps": 0.01,
                          "confidence": 0.5, "recent_sends": r, "rank": r, "status": "Eligible"} for r in range(1, 31)],
                        schema=transforms.TOP_CAPTIONS_SCHEMA)
