"""page_performance_daily, page_health_7d, tiers and page_state_daily (`20-warehouse.md` §4.2–4.5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from of_scheduler_assets.layer_04_semantic.transforms import (
    Z_WEIGHTS,
    apply_tier_rules,
    page_health_7d,
    page_performance_daily,
    page_state_daily,
    page_tier_assignment,
    tier_thresholds,
)

from .support import creator_stats_frame, make_fact, pages_frame, ts

C1, C2, C3 = "CAP_" + "1" * 16, "CAP_" + "2" * 16, "CAP_" + "3" * 16
A, B, C = "anna__paid", "bella__free", "cora__paid"
AS_OF = dt.date(2025, 9, 10)


def test_page_performance_daily_hand_computed():
    f = make_fact(
        [
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14), sent=100, viewed=50,
                 purchased=2, earnings=20, price=10),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 15), sent=300, viewed=30,
                 purchased=1, earnings=10, price=10),
            dict(username_page=A, caption_id=C2, sending_ts_utc=ts(2025, 9, 10, 16), sent=100, viewed=20,
                 earnings=0, price=15),
            # media-only PPV: counted at page level
            dict(username_page=A, caption_id=None, sending_ts_utc=ts(2025, 9, 10, 17), sent=50, viewed=10,
                 purchased=1, earnings=5, price=20, is_media_only=True),
            # free message, unsent
            dict(username_page=A, caption_id=C3, sending_ts_utc=ts(2025, 9, 10, 18), sent=200, viewed=100,
                 price=0, is_unsent=True),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 19), sent=999, earnings=999,
                 eligible=False),
        ]
    )  # fmt: skip
    r = page_performance_daily(f, AS_OF).row(0, named=True)
    assert r["metric_date"] == AS_OF and r["username_page"] == A
    assert (r["send_events"], r["ppv_events"], r["free_events"]) == (5, 4, 1)
    assert (r["recipients"], r["views"], r["purchases"]) == (750, 210, 4)
    assert r["revenue_gross"] == Decimal("35.00") and r["revenue_net"] == Decimal("28.00")
    assert r["rps_gross"] == pytest.approx(35 / 750)
    assert r["buy_rate"] == pytest.approx(4 / 750)
    assert r["open_rate"] == pytest.approx(210 / 750)
    assert r["conversion"] == pytest.approx(4 / 210)
    assert r["distinct_captions"] == 3
    assert r["avg_ppv_price"] == pytest.approx((10 + 10 + 15 + 20) / 4)
    assert r["unsent_share"] == pytest.approx(1 / 5)


def health_world():
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 14), sent=100, purchased=2, earnings=20),
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 4, 14), sent=100, purchased=1, earnings=10),  # day 7
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 3, 14), sent=100, purchased=1, earnings=40),  # day 8
            dict(username_page=A, sending_ts_utc=ts(2025, 8, 14, 14), sent=100, purchased=1, earnings=30),  # day 28
            dict(username_page=A, sending_ts_utc=ts(2025, 8, 13, 14), sent=100, purchased=1, earnings=500),  # out
            dict(username_page=C, sending_ts_utc=ts(2025, 9, 10, 14), sent=100, purchased=1, earnings=1),
        ]
    )
    pages = pages_frame(
        [
            {"username_page": A},
            {"username_page": B, "page_type": "free"},
            {"username_page": C, "is_active": False},
        ]
    )
    cs = creator_stats_frame(
        [
            {"username_page": A, "period_end": dt.date(2025, 9, 1), "active_fans": 100, "new_fans": 1,
             "renew_on_rate": 0.5, "change_expired_fans_count": 1},
            {"username_page": A, "period_end": dt.date(2025, 9, 8), "active_fans": 300, "new_fans": 25,
             "renew_on_rate": 0.2, "change_expired_fans_count": 7},
            {"username_page": A, "period_end": dt.date(2025, 9, 15), "active_fans": 9999, "new_fans": 0,
             "renew_on_rate": 0.9, "change_expired_fans_count": 0},  # after the computation date
        ]
    )  # fmt: skip
    return f, pages, cs


def test_page_health_7d():
    f, pages, cs = health_world()
    h = page_health_7d(f, pages, cs, AS_OF)
    assert h["username_page"].to_list() == [A, B]  # active pages only
    a = h.row(0, named=True)
    assert a["total_purchases_7d"] == 3 and a["total_earnings_7d"] == pytest.approx(30.0)
    assert a["message_net_7d"] == pytest.approx(24.0)
    assert a["rev_7d"] == pytest.approx(30.0) and a["rev_28d"] == pytest.approx(100.0)
    assert a["avg_spend_per_txn_7d"] == pytest.approx(30 / 3)
    assert (a["active_fans"], a["new_fans"], a["renew_on_rate"], a["expired_change"]) == (300, 25, 0.2, 7)
    assert a["avg_earn_per_fan_7d"] == pytest.approx(30 / 300)
    b = h.row(1, named=True)
    assert b["total_earnings_7d"] == 0.0 and b["avg_spend_per_txn_7d"] is None and b["active_fans"] is None


def _health(rows):
    base = {"computed_date": AS_OF, "page_type": "paid", "total_purchases_7d": 1, "rev_7d": 0.0, "rev_28d": 0.0,
            "new_fans": 0}  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows], infer_schema_length=None)


def test_z_scores_and_intensity_use_sample_sd():
    rng = np.random.default_rng(7)
    n = 6
    cols = {
        "active_fans": rng.integers(10, 10_000, n),
        "message_net_7d": rng.random(n) * 100,
        "avg_earn_per_fan_7d": rng.random(n),
        "avg_spend_per_txn_7d": rng.random(n) * 20,
        "total_earnings_7d": rng.random(n) * 200,
        "renew_on_rate": rng.random(n),
        "expired_change": rng.integers(-50, 50, n),
    }
    h = _health([{"username_page": f"p{i}", **{k: v[i].item() for k, v in cols.items()}} for i in range(n)])
    out = page_tier_assignment(h, AS_OF)

    def z(x):
        x = np.asarray(x, dtype=float)
        return (x - x.mean()) / x.std(ddof=1)

    zs = {
        "z_active": z(np.log10(1 + cols["active_fans"])),
        "z_msgnet": z(cols["message_net_7d"]),
        "z_apf": z(cols["avg_earn_per_fan_7d"]),
        "z_spend": z(cols["avg_spend_per_txn_7d"]),
        "z_total": z(cols["total_earnings_7d"]),
        "z_renew": z(cols["renew_on_rate"]),
        "z_churn": z(-cols["expired_change"]),
    }
    for k, v in zs.items():
        np.testing.assert_allclose(out[k].to_numpy(), v, rtol=1e-9)
    expected = sum(Z_WEIGHTS[k] * v for k, v in zs.items())
    np.testing.assert_allclose(out["intensity"].to_numpy(), expected, rtol=1e-9)
    assert Z_WEIGHTS == {"z_active": 0.30, "z_msgnet": 0.20, "z_apf": 0.15, "z_spend": 0.10, "z_total": 0.15,
                         "z_renew": 0.05, "z_churn": 0.05}  # fmt: skip
    th = tier_thresholds(h, AS_OF).row(0, named=True)
    s = np.sort(expected)
    assert th["q40"] == pytest.approx(s[2]) and th["q60"] == pytest.approx(s[3]) and th["q90"] == pytest.approx(s[4])
    assert th["af_p70"] == np.sort(cols["active_fans"])[3]
    assert th["msg_p60"] == pytest.approx(np.sort(cols["message_net_7d"])[3])
    assert th["tot_p70"] == pytest.approx(np.sort(cols["total_earnings_7d"])[3])


def test_null_z_counts_as_zero():
    h = _health([{"username_page": "p0", "active_fans": None, "message_net_7d": 1.0, "total_earnings_7d": 1.0,
                  "avg_earn_per_fan_7d": None, "avg_spend_per_txn_7d": 1.0, "renew_on_rate": None,
                  "expired_change": None}])  # fmt: skip
    out = page_tier_assignment(h, AS_OF)
    assert out["intensity"][0] == 0.0 and out["z_active"][0] == 0.0  # one page: sd undefined


TH = {"q40": 0.0, "q60": 1.0, "q90": 2.0, "af_p70": 1000.0, "msg_p60": 100.0, "msg_p70": 200.0, "tot_p70": 300.0}


@pytest.mark.parametrize(
    ("intensity", "fans", "msg", "tot", "tier"),
    [
        (5.0, 50, 0.0, 0.0, "LOW"),  # no money and < 100 fans wins over everything
        (5.0, 100, 0.0, 0.0, "MED"),  # 100 fans: first rule off; POWER/HIGH need msg or fans
        (2.0, 1000, 200.0, 0.0, "POWER"),
        (2.0, 1000, 0.0, 300.0, "POWER"),
        (2.0, 999, 500.0, 500.0, "HIGH"),  # fans below af_p70
        (1.0, 0, 100.0, 1.0, "HIGH"),
        (1.0, 800, 0.0, 1.0, "HIGH"),  # fans >= 0.8 * af_p70
        (1.0, 799, 99.0, 1.0, "MED"),
        (0.0, 10, 1.0, 1.0, "MED"),
        (-0.1, 5000, 1000.0, 1000.0, "LOW"),
    ],
)
def test_tier_rules_first_match(intensity, fans, msg, tot, tier):
    df = pl.DataFrame(
        {"intensity": [intensity], "active_fans": [fans], "message_net_7d": [msg], "total_earnings_7d": [tot]}
    )
    assert apply_tier_rules(df, TH)["tier_engine"][0] == tier


def test_tier_uses_latest_thresholds_row_and_overrides_and_probation():
    h = _health(
        [
            {"username_page": p, "active_fans": 5000, "message_net_7d": 1000.0, "total_earnings_7d": 1000.0,
             "avg_earn_per_fan_7d": 0.2, "avg_spend_per_txn_7d": 10.0, "renew_on_rate": 0.3, "expired_change": 1}
            for p in ("p1", "p2", "p3")
        ]
    )  # fmt: skip
    old = {**TH, "q90": 99.0}
    thresholds = pl.DataFrame(
        [{"computed_date": AS_OF - dt.timedelta(days=1), **TH}, {"computed_date": AS_OF - dt.timedelta(days=5), **old},
         {"computed_date": AS_OF + dt.timedelta(days=1), **old}]
    )  # fmt: skip
    overrides = pl.DataFrame({"username_page": ["p2"], "tier_override": ["MED"]})
    pages = pl.DataFrame({"username_page": ["p1", "p2", "p3"], "lifecycle_state": ["active", "new", "new"]})
    out = page_tier_assignment(h, AS_OF, thresholds=thresholds, overrides=overrides, pages=pages)
    # all z = 0 -> intensity 0 -> MED with TH (q90 = 2 blocks POWER)
    assert out["tier_engine"].to_list() == ["MED", "MED", "MED"]
    assert out["tier"].to_list() == ["MED", "MED", "LOW"]
    assert out["tier_source"].to_list() == ["engine", "override", "pending"]


@pytest.mark.parametrize(
    ("page_type", "new_fans", "renew", "rev7", "rev28", "state"),
    [
        ("paid", 20, 0.29, 0.0, 0.0, "grow"),
        ("vip", 20, 0.20, 0.0, 0.0, "grow"),
        ("paid", 19, 0.24, 30.0, 100.0, "retain"),
        ("paid", 19, 0.29, 25.0, 100.0, "monetize"),
        ("paid", 50, 0.30, 24.9, 100.0, "balance"),
        ("free", 50, 0.10, 24.9, 100.0, "balance"),
        ("free", 50, 0.10, 25.0, 100.0, "monetize"),
        ("paid", None, None, None, None, "balance"),
        ("paid", 0, None, 0.0, 0.0, "balance"),
    ],
)
def test_page_state_rules(page_type, new_fans, renew, rev7, rev28, state):
    h = pl.DataFrame(
        {"username_page": ["p"], "page_type": [page_type], "new_fans": [new_fans], "renew_on_rate": [renew],
         "rev_7d": [rev7], "rev_28d": [rev28]},
        schema={"username_page": pl.String, "page_type": pl.String, "new_fans": pl.Int64,
                "renew_on_rate": pl.Float64, "rev_7d": pl.Float64, "rev_28d": pl.Float64},
    )  # fmt: skip
    out = page_state_daily(h, AS_OF).row(0, named=True)
    assert out["page_state"] == state
    assert out["state_note"]
    if state == "retain":
        assert out["state_note"] == "Low renewals: favour relationship captions and prime hours"


def test_page_state_from_health_end_to_end():
    f, pages, cs = health_world()
    st = page_state_daily(page_health_7d(f, pages, cs, AS_OF), AS_OF)
    assert dict(zip(st["username_page"], st["page_state"], strict=True)) == {A: "grow", B: "balance"}
