"""One regression test per defect of `20-warehouse.md` §6 that concerns the semantic layer."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.layer_04_semantic.schemas import CaptionPerformanceDaily, PageStateDaily
from of_scheduler_assets.layer_04_semantic.transforms import (
    caption_performance_daily,
    page_dow_hod_profile,
    page_health_7d,
    page_performance_daily,
    page_price_profile,
    page_state_daily,
    page_volume_profile,
)

from .support import creator_stats_frame, make_fact, pages_frame, ts

C1, C2 = "CAP_" + "1" * 16, "CAP_" + "2" * 16
A, B = "anna__paid", "bella__free"
AS_OF = dt.date(2025, 9, 10)


def test_defect_03_performance_credited_to_sending_page():
    # B uses C1 last, but A's sends of C1 stay on A
    f = make_fact(
        [
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 9, 14), sent=100, earnings=50),
            dict(username_page=B, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14), sent=100, earnings=1),
        ]
    )
    out = caption_performance_daily(f, AS_OF)
    got = {(r["username_page"], r["metric_date"]): r["revenue_gross"] for r in out.iter_rows(named=True)}
    assert {k: float(v) for k, v in got.items()} == {(A, dt.date(2025, 9, 9)): 50.0, (B, AS_OF): 1.0}


def test_defect_04_gross_not_net_and_priors_are_ratios_of_sums():
    f = make_fact(
        [
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14), sent=1000, earnings=10),
            dict(username_page=A, caption_id=C2, sending_ts_utc=ts(2025, 9, 10, 15), sent=10, earnings=10),
        ]
    )
    page = page_performance_daily(f, AS_OF).row(0, named=True)
    assert page["rps_gross"] == pytest.approx(20 / 1010)  # gross (net would be 16/1010)
    assert page["rps_gross"] != pytest.approx((10 / 1000 + 10 / 10) / 2)  # not a mean of per-caption ratios
    prof = page_dow_hod_profile(f, AS_OF, half_life_days=1e15)
    assert prof["page_rps_mean"][0] == pytest.approx(20 / 1010)  # the prior r̄ is a ratio of sums


def test_defect_05_decayed_rps_is_sum_rev_w_over_sum_sent_w():
    as_of = dt.datetime(2025, 9, 11, 0, tzinfo=dt.UTC)
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 0), sent=100, earnings=10),  # w = 0.5^(1/45)
            dict(username_page=A, sending_ts_utc=ts(2025, 7, 28, 0), sent=300, earnings=3),  # w = 0.5
        ]
    )
    c = page_dow_hod_profile(f, as_of).filter(pl.col("dow_local").is_null()).row(0, named=True)
    w1 = 0.5 ** (1 / 45)
    right = (10 * w1 + 3 * 0.5) / (100 * w1 + 300 * 0.5)
    wrong = (10 * 100 * w1 + 3 * 300 * 0.5) / (100 * w1 + 300 * 0.5)
    assert c["page_rps_mean"] == pytest.approx(right)
    assert c["w_revenue"] / c["w_recipients"] == pytest.approx(right)
    assert c["page_rps_mean"] != pytest.approx(wrong)


def test_defect_06_calendar_windows_not_row_counts():
    # the last 7 *rows* span 60 days; the 7-day calendar window holds only the latest one
    rows = [dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14) - dt.timedelta(days=10 * i),
                 sent=100, earnings=1 + i) for i in range(7)]  # fmt: skip
    out = caption_performance_daily(make_fact(rows), AS_OF).filter(pl.col("metric_date") == AS_OF).row(0, named=True)
    assert out["rps_7d"] == pytest.approx(1 / 100)
    assert out["rps_30d"] == pytest.approx((1 + 2 + 3) / 300)


def test_defect_09_dow_monday_zero_and_local_hours():
    # 2025-09-08 is a Monday; 03:00 UTC is Sunday 23:00 in New York and Monday 12:00 in Tokyo
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 3), sent=100, earnings=1),
            dict(username_page="tomo__paid", sending_ts_utc=ts(2025, 9, 8, 3), sent=100, earnings=1),
        ],
        tz={"tomo__paid": "Asia/Tokyo"},
    )
    out = page_dow_hod_profile(f, AS_OF).filter(pl.col("dow_local").is_not_null())
    got = {r["username_page"]: (r["dow_local"], r["hod_local"]) for r in out.iter_rows(named=True)}
    assert got == {A: (6, 23), "tomo__paid": (0, 12)}
    cap = caption_performance_daily(f, AS_OF)
    assert dict(zip(cap["username_page"], cap["metric_date"], strict=True)) == {
        A: dt.date(2025, 9, 7), "tomo__paid": dt.date(2025, 9, 8)}  # fmt: skip


def test_defect_13_rates_are_fractions():
    f = make_fact([dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 14), sent=1000, viewed=400, purchased=6,
                        earnings=60)])  # fmt: skip
    cap = caption_performance_daily(f, AS_OF).row(0, named=True)
    page = page_performance_daily(f, AS_OF).row(0, named=True)
    assert cap["buy_rate"] == pytest.approx(0.006) and cap["view_rate"] == pytest.approx(0.4)
    assert page["open_rate"] == pytest.approx(0.4) and page["unsent_share"] == 0.0
    for col in ("view_rate", "buy_rate", "conversion", "buy_rate_7d", "buy_rate_30d"):
        assert 0.0 <= cap[col] <= 1.0


def test_defect_14_send_events_vs_recipients():
    f = make_fact([dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 14 + i), sent=500, earnings=1)
                   for i in range(3)])  # fmt: skip
    for out in (caption_performance_daily(f, AS_OF), page_performance_daily(f, AS_OF)):
        assert (out["send_events"][0], out["recipients"][0]) == (3, 1500)
        assert "sends" not in out.columns


def test_defect_16_fatigue_counts_from_facts():
    # 30 messages a day for 28 days: v7 and v_ref are ~30 (never 1 per row of a last-used view)
    rows = [dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 14) - dt.timedelta(days=d, minutes=5 * i),
                 sent=100, earnings=1) for d in range(28) for i in range(30)]  # fmt: skip
    out = page_volume_profile(make_fact(rows), AS_OF).row(0, named=True)
    assert out["v7"] == 30.0 and out["v_ref"] == 30.0
    assert out["avg_ppv_per_day"] == 30.0
    assert out["page_fatigue_risk"] == pytest.approx(50.0)  # no excess volume, flat RPS -> neutral


def test_defect_17_hourly_performance_one_element_per_hour():
    f = make_fact([dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 14, m), sent=100, earnings=1)
                   for m in range(0, 60, 10)])  # fmt: skip
    out = caption_performance_daily(f, AS_OF)
    hp = out["hourly_performance"][0].to_list()
    assert len(hp) == 1 and hp[0]["send_events"] == 6
    CaptionPerformanceDaily.validate(out)


def test_defect_19_renew_rules_not_applied_to_free_pages():
    f = make_fact([dict(username_page=B, sending_ts_utc=ts(2025, 9, 1, 14), sent=100, earnings=100,
                        page_type="free")])  # fmt: skip
    pages = pages_frame([{"username_page": B, "page_type": "free"}, {"username_page": A}])
    cs = creator_stats_frame(
        [{"username_page": p, "active_fans": 500, "new_fans": 80, "renew_on_rate": 0.0,
          "change_expired_fans_count": 3} for p in (A, B)]
    )  # fmt: skip
    st = page_state_daily(page_health_7d(f, pages, cs, AS_OF), AS_OF)
    PageStateDaily.validate(st)
    got = dict(zip(st["username_page"], st["page_state"], strict=True))
    assert got[B] == "balance"  # renewals meaningless on free pages; rev_7d 0 < 100 / 4
    assert got[A] == "grow"


def test_defect_20_price_quantile_labels_match_their_levels():
    rows = [dict(username_page=A, sending_ts_utc=ts(2025, 9, 1, 10) + dt.timedelta(minutes=i), sent=100, price=p,
                 earnings=p)
            for i, p in enumerate(range(1, 101))]  # fmt: skip
    out = page_price_profile(make_fact(rows), AS_OF)
    assert not {"p35", "p80", "p90"} & set(out.columns)
    r = out.row(0, named=True)
    # prices 1..100: level q sits at index floor(q × 99), i.e. the label is the level
    assert (r["p25"], r["p30"], r["p50"], r["p60"], r["p75"], r["p85"]) == (25.0, 30.0, 50.0, 60.0, 75.0, 85.0)
