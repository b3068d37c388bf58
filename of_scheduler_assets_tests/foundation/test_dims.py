from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.schemas import DimCreator, DimPage
from of_scheduler_assets_tests.foundation.helpers import (
    EXPLICITNESS_MAP,
    NOW,
    assignment,
    assignments,
    creator_stats,
    event,
    events,
    stats_row,
)

REGISTRY = pl.DataFrame(
    {
        "username_page": ["luna__paid", "luna__free", "mia__paid"],
        "username_std": ["luna", "luna", "mia"],
        "page_type": ["paid", "free", "paid"],
        "display_name": ["Luna", "Luna Free", ""],
        "tz": ["America/Denver", "", "Europe/London"],
        "report_tz": ["", "", "America/New_York"],
        "is_paid": ["true", "false", "true"],
        "state": ["active"] * 3,
        "local_min_hour": ["20", "", "30"],
        "local_max_hour": ["8", "", "-2"],
    }
)


def fact_of(stg):
    dim = T.build_dim_caption(None, T.report_captions(stg), None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    return T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=0.2, maturity_hours=72)


def page(**kw):
    args = dict(registry=REGISTRY, creator_stats=None, report_pages=None, assignments=None, overrides=None)
    args.update(kw)
    out = T.build_dim_page(**args, activity_window_days=21, now=NOW)
    DimPage.validate(out)
    return out


def test_dim_page_universe_defaults_and_window():
    stats = creator_stats(stats_row("zoe__free", dt.date(2026, 10, 25)))
    stg = events(
        {
            **event(
                page="auto__paid",
                send=dt.datetime(2026, 10, 29, tzinfo=dt.UTC),
                received=dt.datetime(2026, 10, 30, tzinfo=dt.UTC),
            ),
            "identity_source": "auto",
        }
    )
    d = page(creator_stats=stats, report_pages=stg)
    assert d["username_page"].to_list() == ["auto__paid", "luna__free", "luna__paid", "mia__paid", "zoe__free"]
    r = {x["username_page"]: x for x in d.iter_rows(named=True)}
    assert r["luna__free"]["tz"] == "America/New_York"  # default
    assert (r["luna__paid"]["local_min_hour"], r["luna__paid"]["local_max_hour"]) == (8, 20)  # swapped
    assert (r["mia__paid"]["local_min_hour"], r["mia__paid"]["local_max_hour"]) == (0, 23)  # clamped
    assert r["mia__paid"]["display_name"] is None  # empty registry cell, no other source
    assert r["zoe__free"]["display_name"] == "ZOE__FREE" and r["zoe__free"]["identity_source"] == "creator_stats"
    assert r["auto__paid"]["identity_source"] == "auto" and r["auto__paid"]["display_name"] == "auto"
    assert r["luna__paid"]["max_explicitness"] == 3 and r["luna__paid"]["tier_source"] == "pending"
    assert (r["zoe__free"]["is_active"], r["zoe__free"]["active_reason"]) == (True, "stats")
    assert (r["auto__paid"]["is_active"], r["auto__paid"]["active_reason"]) == (True, "report")
    assert r["auto__paid"]["lifecycle_state"] == "new"  # first seen within the 7-day probation


def test_page_activity_rules():
    stats = creator_stats(stats_row("luna__paid", dt.date(2026, 10, 20)), stats_row("mia__paid", dt.date(2026, 9, 1)))
    stg = events(event(page="luna__free", received=dt.datetime(2026, 10, 2, tzinfo=dt.UTC)))  # 30 days ago
    overrides = pl.DataFrame(
        {
            "username_page": ["mia__paid", "luna__paid", "luna__paid"],
            "include": [True, True, False],
            "note": ["", "", "paused"],
            "updated_at": [NOW, NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)],
        }
    )
    d = {
        x["username_page"]: x
        for x in page(creator_stats=stats, report_pages=stg, overrides=overrides).iter_rows(named=True)
    }
    assert (d["luna__paid"]["is_active"], d["luna__paid"]["active_reason"]) == (False, "override_out")  # latest wins
    assert (d["mia__paid"]["is_active"], d["mia__paid"]["active_reason"]) == (True, "override_in")
    assert (d["luna__free"]["is_active"], d["luna__free"]["active_reason"]) == (False, None)  # report older than 21 d
    assert d["luna__free"]["lifecycle_state"] == "inactive"


def test_scheduler_override_then_latest_assignment_then_unassigned():
    asg = assignments(
        assignment("luna__paid", "KIT", dt.datetime(2026, 9, 1, tzinfo=dt.UTC)),
        assignment("luna__paid", "NOVA", dt.datetime(2026, 10, 1, tzinfo=dt.UTC)),
        assignment("mia__paid", "NOVA", dt.datetime(2026, 10, 1, tzinfo=dt.UTC)),
    )
    ov = pl.DataFrame({"username_page": ["mia__paid"], "assigned_scheduler_code": ["rowan b"], "updated_at": [NOW]})
    d = dict(page(assignments=asg, overrides=ov).select("username_page", "assigned_scheduler_code").iter_rows())
    assert d == {"luna__free": "unassigned", "luna__paid": "NOVA", "mia__paid": "ROWAN B"}


def test_dim_scheduler_pages_and_provisional_codes():
    asg = assignments(
        assignment("luna__paid", "NOVA", NOW),
        assignment("luna__free", "NOVA", NOW),
        assignment("mia__paid", "ZED", NOW),
    )
    roster = pl.DataFrame(
        {
            "scheduler_code": ["NOVA", "KIT"],
            "display_name": ["Nova", "Kit"],
            "email": ["n@x", None],
            "is_manager": [False, True],
            "is_active": [True, True],
            "can_view_all": [False, True],
            "sender_aliases": [["sd nova"], []],
        }
    )
    s = T.build_dim_scheduler(roster, page(assignments=asg))
    r = {x["scheduler_code"]: x for x in s.iter_rows(named=True)}
    assert r["NOVA"]["pages"] == ["luna__free", "luna__paid"] and r["NOVA"]["n_pages"] == 2
    assert r["KIT"]["n_pages"] == 0 and r["ZED"]["is_provisional"] is True


def test_dim_creator_avg_daily_revenue_is_per_active_day_not_per_event():
    day1 = dt.datetime(2026, 10, 20, 16, tzinfo=dt.UTC)
    day2 = dt.datetime(2026, 10, 22, 16, tzinfo=dt.UTC)
    stg = events(
        event(send=day1, earnings="10.00", row_number=1),
        event(send=day1 + dt.timedelta(hours=1), earnings="20.00", row_number=2),
        event(send=day1 + dt.timedelta(hours=2), earnings="30.00", row_number=3),
        event(send=day2, earnings="40.00", row_number=4),
    )
    fact = fact_of(stg)
    dp = page(report_pages=stg)
    c = T.build_dim_creator(dp, fact, now=NOW)
    DimCreator.validate(c)
    luna = c.filter(pl.col("username_std") == "luna").row(0, named=True)
    assert luna["revenue_gross_90d"] == 100.0 and luna["active_days_90d"] == 2
    assert luna["avg_daily_revenue"] == 50.0  # per event would be 25.0
    assert abs(luna["revenue_volatility"] - ((60 - 50) ** 2 * 2) ** 0.5) < 1e-9  # sample sd of [60, 40]
    assert luna["performance_segment"] == "high_value" and luna["account_status"] == "dormant"  # 9+ days ago
    assert luna["pages"] == ["luna__free", "luna__paid"] and luna["n_pages"] == 2
