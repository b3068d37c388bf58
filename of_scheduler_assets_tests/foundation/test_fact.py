from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.schemas import FactMessageSend
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP, NOW, event, events, ts

TEXT = "Unlock my new set now"


def fact_of(stg, fee=0.2, maturity=72):
    dim = T.build_dim_caption(None, T.report_captions(stg), None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    out = T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=fee, maturity_hours=maturity)
    FactMessageSend.validate(out)
    return out


def test_columns_are_exactly_spec_3_5():
    f = fact_of(events(event()))
    assert f.columns == list(T.FACT_SCHEMA)
    assert f.schema["earnings_gross_usd"] == pl.Decimal(12, 2) and f.schema["earnings_net_usd"] == pl.Decimal(12, 2)


def test_overlapping_snapshots_give_one_row_with_latest_metrics():
    send = ts(10, 15)
    stg = events(
        event(
            send=send,
            sent=100,
            viewed=40,
            purchased=2,
            earnings="20.00",
            message_id="d1",
            received=ts(11),
            row_number=4,
        ),
        event(
            send=send,
            sent=100,
            viewed=70,
            purchased=6,
            earnings="60.00",
            message_id="d3",
            received=ts(13),
            row_number=2,
        ),
        event(
            send=send,
            sent=100,
            viewed=55,
            purchased=4,
            earnings="40.00",
            message_id="d2",
            received=ts(12),
            row_number=7,
        ),
    )
    f = fact_of(stg)
    assert f.height == 1
    r = f.row(0, named=True)
    assert (r["viewed"], r["purchased"], r["earnings_gross_usd"]) == (70, 6, Decimal("60.00"))
    assert r["latest_message_id"] == "d3" and r["latest_report_received_at"] == ts(13)
    assert r["first_report_received_at"] == ts(11) and r["snapshot_count"] == 3


def test_caption_resent_at_another_price_stays_separate():
    send = ts(10, 15)
    f = fact_of(events(event(send=send, price_cents=1000), event(send=send, price_cents=1500, row_number=2)))
    assert f.height == 2
    assert sorted(f["price_cents"].to_list()) == [1000, 1500]
    assert f["caption_id"].n_unique() == 1


def test_net_is_gross_times_0_8():
    f = fact_of(events(event(earnings="50.01", sent=100)))
    r = f.row(0, named=True)
    assert r["platform_fee_applied"] == 0.2
    assert r["earnings_net_usd"] == Decimal("40.01")  # 50.01 × 0.8 = 40.008 -> 40.01
    assert abs(r["rps_net"] - 40.01 / 100) < 1e-12 and abs(r["rps_gross"] - 50.01 / 100) < 1e-12


def test_ratios_are_null_on_zero_denominators():
    f = fact_of(events(event(sent=0, viewed=0, purchased=0, earnings="0")))
    r = f.row(0, named=True)
    for c in ("view_rate", "buy_rate", "conversion", "rps_gross", "rps_net", "revenue_per_purchase"):
        assert r[c] is None, c
    assert r["quality_flag"] == "zero_sends" and r["is_model_eligible"] is False


def test_is_mature_at_72_hours():
    send = ts(10, 12)
    f = fact_of(
        events(
            event(send=send, received=send + dt.timedelta(hours=72)),
            event(
                send=send + dt.timedelta(minutes=1), received=send + dt.timedelta(hours=71, minutes=59), row_number=2
            ),
        )
    ).sort("sending_ts_utc")
    assert f["metrics_age_hours"].to_list()[0] == 72.0
    assert f["is_mature"].to_list() == [True, False]


def test_quality_flags_first_match_wins():
    f = fact_of(
        events(
            event(sent=10, viewed=20, purchased=30, earnings="1.00", row_number=1, send=ts(1)),  # view_anomaly first
            event(sent=10, viewed=5, purchased=6, earnings="1.00", row_number=2, send=ts(2)),
            event(sent=10, viewed=5, purchased=1, earnings="500.00", row_number=3, send=ts(3)),
            event(price_cents=0, sent=10, viewed=5, purchased=1, earnings="0", row_number=4, send=ts(4)),
            event(sent=10, viewed=5, purchased=1, earnings="10.00", row_number=5, send=ts(5)),
        )
    ).sort("sending_ts_utc")
    assert f["quality_flag"].to_list() == [
        "view_anomaly",
        "purchase_anomaly",
        "revenue_anomaly",
        "revenue_anomaly",
        "valid",
    ]
    assert f["is_model_eligible"].to_list() == [True, False, False, False, True]


def test_send_date_utc_and_local_calendar_fields():
    send = dt.datetime(2026, 11, 2, 2, 30, tzinfo=dt.UTC)  # Sunday 22:30 local (UTC-4), Monday in UTC
    r = fact_of(events(event(send=send))).row(0, named=True)
    assert r["send_date"] == dt.date(2026, 11, 2)
    assert r["send_date_local"] == dt.date(2026, 11, 1)
    assert r["dow_local"] == 6 and r["hod_local"] == 22
    assert (r["iso_year"], r["iso_week"]) == (2026, 44)  # local Sunday closes ISO week 44


def test_caption_sk_attached_and_message_kind():
    f = fact_of(
        events(
            event(), event("Good morning babe, how are you?", price_cents=0, earnings="0", purchased=0, row_number=2)
        )
    )
    assert f["caption_sk"].null_count() == 0
    assert sorted(f["message_kind"].to_list()) == ["free", "ppv"]
