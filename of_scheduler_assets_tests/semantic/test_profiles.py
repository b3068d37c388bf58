"""page_dow_hod_profile, page_price_profile / page_price_points, page_volume_profile, learning_signals_28d."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from of_scheduler_assets.layer_04_semantic.transforms import (
    learning_signals_28d,
    page_dow_hod_profile,
    page_price_points,
    page_price_profile,
    page_volume_profile,
)

from .support import make_fact, ts

A, T = "anna__paid", "tomo__paid"
TZ = {A: "America/New_York", T: "Asia/Tokyo"}


def cell(out, page, dow, hod) -> dict:
    dow_f = pl.col("dow_local").is_null() if dow is None else pl.col("dow_local") == dow
    r = out.filter((pl.col("username_page") == page) & dow_f & (pl.col("hod_local") == hod))
    assert r.height == 1, (page, dow, hod)
    return r.row(0, named=True)


def test_dow_hod_cells_are_page_local_monday_zero():
    f = make_fact(
        [
            # Monday 2025-09-08 02:00 UTC = Sunday 22:00 in New York
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 2), sent=100, earnings=1),
            # Sunday 2025-09-07 20:00 UTC = Monday 05:00 in Tokyo
            dict(username_page=T, sending_ts_utc=ts(2025, 9, 7, 20), sent=100, earnings=1),
        ],
        tz=TZ,
    )
    out = page_dow_hod_profile(f, dt.date(2025, 9, 10))
    by_page = {
        r["username_page"]: (r["dow_local"], r["hod_local"])
        for r in out.filter(pl.col("dow_local").is_not_null()).iter_rows(named=True)
    }  # noqa: E501
    assert by_page == {A: (6, 22), T: (0, 5)}
    # all-days rows exist with dow null
    assert cell(out, A, None, 22)["send_events"] == 1


def test_decay_weights_and_cell_sums():
    as_of = dt.datetime(2025, 9, 11, 0, tzinfo=dt.UTC)
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 10, 0), sent=100, viewed=10, earnings=4),  # age 1 d
            dict(username_page=A, sending_ts_utc=ts(2025, 7, 28, 0), sent=200, viewed=20, earnings=6),  # age 45 d
            dict(username_page=A, sending_ts_utc=ts(2025, 3, 1, 0), sent=200, earnings=6),  # outside 180 d
        ]
    )
    out = page_dow_hod_profile(f, as_of)
    w1 = 0.5 ** (1 / 45)
    # both sends are at 20:00 local (EDT), on different weekdays; the all-days cell holds both
    allh = cell(out, A, None, 20)
    assert (allh["send_events"], allh["recipients"], allh["revenue"], allh["days_covered"]) == (2, 300, 10.0, 2)
    assert allh["w_recipients"] == pytest.approx(100 * w1 + 200 * 0.5)
    assert allh["w_revenue"] == pytest.approx(4 * w1 + 6 * 0.5)  # Σ rev × w, not Σ rev × sent × w
    assert allh["w_views"] == pytest.approx(10 * w1 + 20 * 0.5)
    assert allh["revenue_score"] == pytest.approx(allh["w_revenue"])
    assert allh["page_rps_mean"] == pytest.approx((4 * w1 + 3) / (100 * w1 + 100))


def test_smoothing_multiplier_and_hour_rank():
    # Monday 2025-09-08 10:00 and 11:00 New York; no decay (huge half-life) for a hand computation
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 14), sent=100, viewed=50, earnings=10),
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 15), sent=300, viewed=30, earnings=3),
        ]
    )
    out = page_dow_hod_profile(f, dt.date(2025, 9, 10), half_life_days=1e15)
    r_bar, o_bar, k = 13 / 400, 80 / 400, 3 * 200  # k = 3 × median recipients per send
    c10, c11 = cell(out, A, 0, 10), cell(out, A, 0, 11)
    assert c10["prior_k"] == k
    assert c10["rps_smooth"] == pytest.approx((10 + k * r_bar) / (100 + k))
    assert c11["rps_smooth"] == pytest.approx((3 + k * r_bar) / (300 + k))
    assert c10["temporal_multiplier"] == pytest.approx(((10 + k * r_bar) / (100 + k)) / r_bar)
    assert c10["open_smooth"] == pytest.approx((50 + k * o_bar) / (100 + k))
    assert c11["temporal_multiplier_open"] == pytest.approx(((30 + k * o_bar) / (300 + k)) / o_bar)
    assert (c10["hour_rank_in_day"], c11["hour_rank_in_day"]) == (1, 2)


def test_multiplier_clamped_and_neutral_without_data():
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 14), sent=1, earnings=100),
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 15), sent=100000, earnings=0),
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 16), sent=1, earnings=0),  # median sent = 1
            dict(username_page=T, sending_ts_utc=ts(2025, 9, 8, 3), sent=100, earnings=0),  # no revenue at all
        ],
        tz=TZ,
    )
    out = page_dow_hod_profile(f, dt.date(2025, 9, 10))
    assert cell(out, A, 0, 10)["temporal_multiplier"] == 1.5
    assert cell(out, A, 0, 11)["temporal_multiplier"] == pytest.approx(0.5, abs=1e-3)
    assert out.filter(pl.col("username_page") == T)["temporal_multiplier"].to_list() == [1.0, 1.0]


def test_hour_rank_ties_go_to_the_lower_hour():
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 15), sent=100, earnings=5),
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 8, 14), sent=100, earnings=5),
        ]
    )
    out = page_dow_hod_profile(f, dt.date(2025, 9, 10)).filter(pl.col("dow_local") == 0)
    assert out.sort("hour_rank_in_day")["hod_local"].to_list() == [10, 11]


def test_price_profile_levels_and_mode():
    as_of = dt.date(2025, 9, 10)
    rows = [dict(username_page=A, sending_ts_utc=ts(2025, 9, 1, 14, i), sent=100, price=p, earnings=2 * p)
            for i, p in enumerate(range(20, 0, -1))]  # fmt: skip
    rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 1, 15), sent=100, price=0))  # free: ignored
    rows += [dict(username_page=T, sending_ts_utc=ts(2025, 9, 1, 14, i), sent=100, price=p, earnings=50 - 2 * p)
             for i, p in enumerate((5, 10, 15, 20, 25))]  # fmt: skip
    rows += [dict(username_page="x__paid", sending_ts_utc=ts(2025, 9, 1, 14, i), sent=100, price=p, earnings=2 * p)
             for i, p in enumerate((5, 10, 15, 20))]  # fmt: skip
    out = page_price_profile(make_fact(rows, tz=TZ), as_of)
    a = out.filter(pl.col("username_page") == A).row(0, named=True)
    # prices 1..20: value at index floor(q × 19)
    assert (a["p25"], a["p30"], a["p50"], a["p60"], a["p75"], a["p85"]) == (5.0, 6.0, 10.0, 12.0, 15.0, 17.0)
    assert a["ppv_events"] == 20 and a["price_mode"] == "premium"
    assert out.filter(pl.col("username_page") == T)["price_mode"][0] == "value"
    assert out.filter(pl.col("username_page") == "x__paid")["price_mode"][0] == "balanced"  # < 5 events


def test_price_points_whole_dollars_and_decay():
    as_of = dt.datetime(2025, 9, 15, 14, tzinfo=dt.UTC)
    f = make_fact(
        [
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 1, 14), sent=100, purchased=4, price=9.99),  # 14 d
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 15, 14), sent=50, purchased=2, price=10.00),  # 0 d
            dict(username_page=A, sending_ts_utc=ts(2025, 9, 15, 14), sent=50, purchased=2, price=12.49),
        ]
    )
    out = page_price_points(f, as_of)
    assert out["price_dollars"].to_list() == [10, 12]
    r = out.row(0, named=True)
    assert (r["send_events"], r["recipients"], r["purchases"]) == (2, 150, 6)
    assert r["w_recipients"] == pytest.approx(100 * 0.5 + 50)
    assert r["w_purchases"] == pytest.approx(4 * 0.5 + 2)


def test_weighted_sums_of_the_profiles_do_not_depend_on_row_order():
    """β_P is fitted on the price points' w_recipients / w_purchases and the ranker reads the day-of-week × hour
    temporal multiplier; a re-run must reproduce both bit for bit: the decayed sums are order-free (reproducible
    sums), so any permutation of the fact gives the same bits."""
    as_of = dt.datetime(2025, 9, 15, 14, tzinfo=dt.UTC)
    rng = np.random.default_rng(11)
    rows = [
        dict(username_page=A, sending_ts_utc=ts(2025, 9, 15, 13) - dt.timedelta(minutes=int(m)), sent=int(s),
             viewed=int(s) // 3, purchased=int(b), price=float(p), earnings=round(int(b) * float(p), 2))
        # 56 days x 2 hours: ~28 sends per day-of-week x hour cell, weights varying by day
        for m, s, b, p in zip(rng.integers(0, 56, 400) * 1440 + rng.integers(0, 2, 400) * 60,
                              rng.integers(50, 5_000, 400), rng.integers(0, 40, 400), rng.choice([9.99, 14.99], 400),
                              strict=True)
    ]  # fmt: skip
    f = make_fact(rows)
    keys = ["username_page", "dow_local", "hod_local"]
    want = page_price_points(f, as_of)
    want_tm = page_dow_hod_profile(f, as_of).sort(keys, nulls_last=True)
    for seed in range(5):
        shuffled = f.sample(fraction=1.0, shuffle=True, seed=seed)
        got = page_price_points(shuffled, as_of)
        assert got["w_recipients"].to_list() == want["w_recipients"].to_list()
        assert got["w_purchases"].to_list() == want["w_purchases"].to_list()
        got_tm = page_dow_hod_profile(shuffled, as_of).sort(keys, nulls_last=True)
        for c in ("w_recipients", "w_revenue", "temporal_multiplier"):
            assert got_tm[c].to_list() == want_tm[c].to_list(), c


def volume_world():
    rows = []
    # 2025-09-27: 2 PPVs (first 10, last 6); rows given out of time order on purpose
    rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 27, 20), sent=100, earnings=6))
    rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 27, 14), sent=100, earnings=10))
    # 2025-09-28: 4 PPVs (10, 10, 10, 4) and one free message
    for h, e in ((14, 10), (15, 10), (16, 10), (17, 4)):
        rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 28, h), sent=100, earnings=e))
    rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 28, 18), sent=100, price=0))
    # previous week (days 8..14): one PPV, RPS 0.5
    rows.append(dict(username_page=A, sending_ts_utc=ts(2025, 9, 18, 14), sent=100, earnings=50))
    return make_fact(rows)


def test_volume_profile_hand_computed():
    out = page_volume_profile(volume_world(), dt.date(2025, 9, 28)).row(0, named=True)
    c = np.zeros(28)
    r = np.zeros(28)
    c[[-1, -2, -11]] = [4, 2, 1]
    r[[-1, -2, -11]] = [34, 16, 50]
    assert out["avg_ppv_per_day"] == pytest.approx(c.mean())  # calendar days, zeros included
    assert out["q90_ppv_per_day"] == np.sort(c)[int(0.9 * 27)]
    assert out["slope_rev_per_ppv"] == pytest.approx(np.cov(c, r, ddof=1)[0, 1] / c.var(ddof=1))
    assert out["fatigue_ratio"] == pytest.approx(((6 + 4) / 2) / ((10 + 10) / 2))
    m = c.copy()
    m[-1] += 1  # the free message counts as a message
    assert out["v7"] == pytest.approx(m[-7:].mean()) and out["v_ref"] == 0.0
    rps7, prev = 50 / 700, 0.5
    delta = max(-1.0, min(1.0, rps7 / prev - 1))
    assert out["page_fatigue_risk"] == pytest.approx(min(100, max(0, 50 + 10 * (m[-7:].mean() - 0) - 20 * delta)))


@pytest.mark.parametrize(
    ("slope", "fatigue", "boost"),
    [(12, 0.70, 1.50), (12, 0.69, 1.30), (8, 0.65, 1.30), (8, 0.6, 1.15), (4, 0.1, 1.15), (1, 0.9, 0.90),
     (3, 0.49, 0.90), (3, 0.5, 1.00), (3, None, 1.00)],
)  # fmt: skip
def test_volume_boost_rules(slope, fatigue, boost):
    """First-match rules of §4.8 on (slope, fatigue_ratio)."""
    from of_scheduler_assets.layer_04_semantic import transforms as t

    df = pl.DataFrame({"slope_rev_per_ppv": [float(slope)], "fatigue_ratio": [fatigue]}, schema={
        "slope_rev_per_ppv": pl.Float64, "fatigue_ratio": pl.Float64})  # fmt: skip
    assert df.select(t.volume_boost_expr())[0, 0] == boost


def test_learning_signals():
    as_of = dt.date(2025, 9, 28)
    rows = [
        dict(username_page=A, sending_ts_utc=ts(2025, 9, 28, 14), sent=100, earnings=10, price=10),  # day 1
        dict(username_page=A, sending_ts_utc=ts(2025, 9, 15, 14), sent=100, earnings=0, price=20),  # day 14
        dict(username_page=A, sending_ts_utc=ts(2025, 9, 14, 14), sent=200, earnings=5, price=30),  # day 15
        dict(username_page=A, sending_ts_utc=ts(2025, 9, 1, 14), sent=100, earnings=5, price=0),  # day 28, free
        dict(username_page=A, sending_ts_utc=ts(2025, 8, 31, 14), sent=100, earnings=500, price=10),  # day 29
    ]
    out = learning_signals_28d(make_fact(rows), as_of).row(0, named=True)
    assert (out["send_events_28d"], out["ppv_events_28d"], out["active_days_28d"]) == (4, 3, 4)
    assert out["earnings_28d"] == pytest.approx(20.0)
    assert out["rps_28d"] == pytest.approx(20 / 500)
    assert out["median_price"] == pytest.approx(20.0)
    assert out["sell_rate"] == pytest.approx(2 / 3)
    assert out["rps_recent"] == pytest.approx(10 / 200)
    assert out["rps_prev"] == pytest.approx(10 / 300)
    assert out["earnings_lift"] == pytest.approx((10 / 200) / (10 / 300) - 1)
    assert out["volume_boost"] is not None and out["page_fatigue_risk"] is not None
