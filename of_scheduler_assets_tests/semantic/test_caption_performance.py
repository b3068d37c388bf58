"""caption_performance_daily (`20-warehouse.md` §4.1): hand-computed expectations on a small frame."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from of_scheduler_assets.layer_04_semantic.transforms import caption_performance_daily

from .support import make_fact, ts

C1, C2, C3 = "CAP_" + "1" * 16, "CAP_" + "2" * 16, "CAP_" + "3" * 16
A, B = "anna__paid", "bella__free"
AS_OF = dt.date(2025, 9, 10)


def world() -> pl.DataFrame:
    return make_fact(
        [
            # page A, caption C1, local 2025-09-10 (New York, EDT = UTC-4)
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14), sent=100, viewed=50,
                 purchased=2, earnings=20, price=10),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 15, 30), sent=300, viewed=30,
                 purchased=1, earnings=10, price=10),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 14, 45), sent=100, viewed=20,
                 purchased=0, earnings=0, price=15),
            # earlier uses of A/C1: 5 days back (inside 7 d) and 21 days back (inside 30 d, outside 15 d)
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 5, 16), sent=500, viewed=100,
                 purchased=5, earnings=50),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 8, 20, 16), sent=1000, viewed=100,
                 purchased=2, earnings=20),
            # A/C2 same day, lower RPS
            dict(username_page=A, caption_id=C2, sending_ts_utc=ts(2025, 9, 10, 16), sent=100, viewed=10,
                 purchased=1, earnings=1),
            # A/C3 last used on 2025-09-01
            dict(username_page=A, caption_id=C3, sending_ts_utc=ts(2025, 9, 1, 16), sent=100, earnings=3),
            # B sends C1 the same day
            dict(username_page=B, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 16), sent=100, viewed=40,
                 purchased=10, earnings=100, page_type="free"),
            # excluded: not model-eligible, media-only, after the computation date
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 17), sent=99999, earnings=999,
                 eligible=False),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10, 18), sent=99999, earnings=999,
                 is_media_only=True),
            dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 11, 16), sent=99999, earnings=999),
        ]
    )  # fmt: skip


CATEGORIES = pl.DataFrame(
    {"caption_id": [C1, C2, C3], "primary_category": ["tease", "tease", "tease"], "is_current": [True] * 3}
)


@pytest.fixture(scope="module")
def out() -> pl.DataFrame:
    return caption_performance_daily(world(), AS_OF, captions=CATEGORIES)


def row(out, page, cap, day=AS_OF) -> dict:
    r = out.filter((pl.col("username_page") == page) & (pl.col("caption_id") == cap) & (pl.col("metric_date") == day))
    assert r.height == 1
    return r.row(0, named=True)


def test_daily_sums_and_ratios_of_sums(out):
    r = row(out, A, C1)
    assert (r["send_events"], r["recipients"], r["views"], r["purchases"]) == (3, 500, 100, 3)
    assert r["revenue_gross"] == Decimal("30.00") and r["revenue_net"] == Decimal("24.00")
    assert r["rps_gross"] == pytest.approx(30 / 500)
    assert r["rps_net"] == pytest.approx(24 / 500)
    assert r["view_rate"] == pytest.approx(100 / 500)
    assert r["buy_rate"] == pytest.approx(3 / 500)
    assert r["conversion"] == pytest.approx(3 / 100)
    assert r["avg_price"] == pytest.approx((10 + 10 + 15) / 3)


def test_ratio_of_sums_is_not_the_mean_of_row_rates(out):
    """D1 / §5: the per-row stored rates must not be averaged."""
    fact = world().filter(
        (pl.col("username_page") == A) & (pl.col("caption_id") == C1) & (pl.col("send_date_local") == AS_OF)
        & pl.col("is_model_eligible") & ~pl.col("is_media_only")
    )  # fmt: skip
    r = row(out, A, C1)
    for col in ("rps_gross", "buy_rate", "view_rate", "conversion"):
        mean_of_rates = fact[col].mean()
        assert r[col] != pytest.approx(mean_of_rates), col
    assert fact["rps_gross"].mean() == pytest.approx((0.2 + 10 / 300 + 0.0) / 3)  # what averaging would give


def test_event_rps_quantiles_use_lower_order_statistic(out):
    r = row(out, A, C1)  # per-event RPS sorted: 0, 1/30, 0.2
    assert r["rps_event_p25"] == pytest.approx(0.0)  # index floor(0.25 * 2) = 0
    assert r["rps_event_median"] == pytest.approx(1 / 30)
    assert r["rps_event_p75"] == pytest.approx(1 / 30)  # index floor(0.75 * 2) = 1, not interpolated


def test_hourly_performance_one_element_per_local_hour(out):
    hp = row(out, A, C1)["hourly_performance"]
    assert [h["hod_local"] for h in hp] == [10, 11]
    assert hp[0] == {"hod_local": 10, "send_events": 2, "recipients": 200, "revenue_gross": 20.0, "rps_gross": 0.1}
    assert hp[1]["send_events"] == 1 and hp[1]["rps_gross"] == pytest.approx(10 / 300)


def test_trailing_windows_and_trend(out):
    r = row(out, A, C1)
    assert r["rps_7d"] == pytest.approx(80 / 1000)  # 09-04..09-10
    assert r["buy_rate_7d"] == pytest.approx(8 / 1000)
    assert r["rps_30d"] == pytest.approx(100 / 2000)  # 08-12..09-10
    assert r["buy_rate_30d"] == pytest.approx(10 / 2000)
    # R(-14..0) = 80/1000, R(-29..-15) = 20/1000
    assert r["rps_trend_slope"] == pytest.approx((0.08 - 0.02) / 0.02)
    # the 09-05 row's own windows see only itself and 08-20
    early = row(out, A, C1, dt.date(2025, 9, 5))
    assert early["rps_7d"] == pytest.approx(0.1)
    assert early["rps_30d"] == pytest.approx(70 / 1500)


def test_stability_score(out):
    # per-event RPS in 30 d: 0, 0.02, 1/30, 0.1, 0.2 -> q25 = 0.02, q75 = 0.1; rps_30d = 0.05
    assert row(out, A, C1)["stability_score"] == pytest.approx(1 - min(1, (0.1 - 0.02) / (2 * 0.05)))
    assert row(out, A, C2)["stability_score"] is None  # fewer than 3 events


def test_percentiles_and_performance_tier(out):
    assert row(out, A, C1)["rps_percentile_by_page"] == 1.0
    assert row(out, A, C2)["rps_percentile_by_page"] == 0.0
    assert row(out, B, C1)["rps_percentile_by_page"] == 0.0  # alone on its page
    # same category that day: A/C2 0.01 < A/C1 0.06 < B/C1 1.0
    assert [row(out, p, c)["rps_percentile_by_category"] for p, c in ((A, C2), (A, C1), (B, C1))] == [0.0, 0.5, 1.0]
    assert row(out, B, C1)["performance_tier"] == "top_performer"
    assert row(out, A, C1)["performance_tier"] == "average_performer"
    assert row(out, A, C2)["performance_tier"] == "under_performer"


def test_days_since_last_use(out):
    assert row(out, A, C3, dt.date(2025, 9, 1))["days_since_last_use"] == 9
    assert row(out, A, C1)["days_since_last_use"] == 0


def test_excluded_rows_and_start_date(out):
    assert out["metric_date"].max() == AS_OF
    assert out.filter(pl.col("recipients") >= 99999).height == 0
    recent = caption_performance_daily(world(), AS_OF, start_date=dt.date(2025, 9, 10))
    assert set(recent["metric_date"]) == {AS_OF}
    # trailing windows still look back before start_date
    assert recent.filter((pl.col("username_page") == A) & (pl.col("caption_id") == C1))["rps_30d"][0] == 0.05


def test_zero_denominators_give_null_not_zero():
    f = make_fact([dict(username_page=A, caption_id=C1, sending_ts_utc=ts(2025, 9, 10), sent=10, viewed=0)])
    r = caption_performance_daily(f, AS_OF).row(0, named=True)
    assert r["conversion"] is None and r["buy_rate"] == 0.0
