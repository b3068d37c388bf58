"""One regression test per defect of 20-warehouse §6 that concerns the foundation layer."""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.identity import sha256_hex
from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.schemas import DimCaption, FactMessageSend
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP, NOW, bank, bank_row, event, events, ts

TEXT = "Unlock my new set now"


def _dim(stg, previous=None, b=None):
    return T.build_dim_caption(b, T.report_captions(stg), previous, explicitness_map=EXPLICITNESS_MAP, now=NOW)


def _fact(stg, dim=None):
    dim = _dim(stg) if dim is None else dim
    return T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=0.2, maturity_hours=72)


def test_defect_01_one_hash_scheme_and_deterministic_keys_facts_always_join():
    stg = events(event(TEXT), event("𝒰𝓃𝓁𝑜𝒸𝓀 my new set now", row_number=2, send=ts(11)))  # restyled re-post
    dim1, dim2 = _dim(stg), _dim(stg)
    assert dim1.height == 1 and dim1["caption_id"][0] == "CAP_" + sha256_hex(TEXT.casefold())[:16]
    assert dim1["caption_sk"].to_list() == dim2["caption_sk"].to_list()  # rebuild reproduces every key
    fact = _fact(stg, dim2)
    # FK: every fact's caption_sk exists in the dimension
    assert fact.join(dim1, on="caption_sk", how="anti").height == 0 and fact["caption_sk"].null_count() == 0


def test_defect_02_one_page_key_vocabulary():
    stg = events(
        event(page="luna__paid"), event(page="luna__free", price_cents=0, earnings="0", purchased=0, row_number=2)
    )
    dp = T.build_dim_page(None, None, stg, None, None, activity_window_days=21, now=NOW)
    fact = _fact(stg)
    assert set(dp["username_page"]) == {"luna__paid", "luna__free"}
    assert fact.join(dp, on="username_page", how="anti").height == 0  # FK to dim_page
    assert not dp["username_page"].str.contains(r"__(main|standard|user_free)$").any()


def test_defect_03_performance_credited_to_sending_page():
    stg = events(
        event(TEXT, page="luna__paid", earnings="90.00", send=ts(5)),
        event(TEXT, page="mia__paid", earnings="10.00", send=ts(9), row_number=2),  # mia used it last
    )
    f = _fact(stg)
    by_page = dict(f.group_by("username_page").agg(pl.col("earnings_gross_usd").cast(pl.Float64).sum()).iter_rows())
    assert by_page == {"luna__paid": 90.0, "mia__paid": 10.0}


def test_defect_04_gross_and_net_never_mixed():
    f = _fact(events(event(earnings="100.00")))
    r = f.row(0, named=True)
    assert float(r["earnings_gross_usd"]) == 100.0 and float(r["earnings_net_usd"]) == 80.0
    assert r["rps_gross"] == 1.0 and r["rps_net"] == 0.8
    FactMessageSend.validate(f)  # contract: net = gross × (1 − fee)
    bad = f.with_columns(earnings_net_usd=pl.col("earnings_gross_usd"))
    try:
        FactMessageSend.validate(bad)
    except Exception:  # noqa: BLE001 - any pandera failure
        pass
    else:
        raise AssertionError("a net column holding gross must fail the contract")


def test_defect_07_scd2_is_not_a_full_replace():
    v1 = T.build_dim_caption(
        bank(bank_row(TEXT, ingested_at=ts(1))), None, None, explicitness_map=EXPLICITNESS_MAP, now=NOW
    )
    v2 = T.build_dim_caption(
        bank(bank_row(TEXT, tos_status="flagged", tos_rule_ids=["R"], ingested_at=ts(8))),
        None,
        v1,
        explicitness_map=EXPLICITNESS_MAP,
        now=NOW,
    )
    DimCaption.validate(v2)
    assert v2.height == 2 and v1["caption_sk"][0] in v2["caption_sk"].to_list()  # old version kept with its key
    assert v2.filter(~pl.col("is_current"))["tos_status"][0] == "clean"
    # the contract rejects a dimension with two current rows for one caption
    broken = v2.with_columns(is_current=pl.lit(True))
    try:
        DimCaption.validate(broken)
    except Exception:  # noqa: BLE001
        pass
    else:
        raise AssertionError("two current rows must fail the SCD2 contract")


def test_defect_08_daily_revenue_per_active_day_and_no_placeholder_activity():
    day = dt.datetime(2026, 10, 30, 16, tzinfo=dt.UTC)
    stg = events(*[event(send=day + dt.timedelta(minutes=i), earnings="10.00", row_number=i + 1) for i in range(4)])
    dp = T.build_dim_page(None, None, stg, None, None, activity_window_days=21, now=NOW)
    registry = pl.DataFrame({"username_page": ["ghost__paid"], "username_std": ["ghost"], "page_type": ["paid"]})
    dp = pl.concat([dp, T.build_dim_page(registry, None, None, None, None, activity_window_days=21, now=NOW)])
    c = {r["username_std"]: r for r in T.build_dim_creator(dp, _fact(stg), now=NOW).iter_rows(named=True)}
    assert c["luna"]["avg_daily_revenue"] == 40.0  # one active day with 4 events of 10
    assert c["ghost"]["account_status"] == "churned" and c["ghost"]["last_send_at"] is None
    assert c["ghost"]["performance_segment"] == "inactive"
    assert dp.filter(pl.col("username_page") == "ghost__paid")["is_active"][0] is False


def test_defect_09_monday_zero_and_local_fields_from_the_fact():
    monday_local = dt.datetime(2026, 10, 26, 23, 30, tzinfo=dt.UTC) + dt.timedelta(hours=4)  # Mon 23:30 at UTC-4
    r = _fact(events(event(send=monday_local))).row(0, named=True)
    assert r["dow_local"] == 0 and r["hod_local"] == 23  # not the UTC hour 3 of Tuesday
    assert r["send_date_local"] == dt.date(2026, 10, 26) and r["send_date"] == dt.date(2026, 10, 27)


def test_defect_10_same_minute_resends_are_distinct_sends():
    send = ts(10, 15)
    stg = events(
        event(send=send, sent=200, dup_ordinal=1, row_number=1),
        event(send=send, sent=100, dup_ordinal=2, row_number=2),
        event(send=send, sent=210, dup_ordinal=1, row_number=5, message_id="m2", received=ts(12)),
        event(send=send, sent=105, dup_ordinal=2, row_number=6, message_id="m2", received=ts(12)),
    )
    f = _fact(stg).sort("dup_ordinal")
    assert f.height == 2 and f["msg_key"].n_unique() == 1
    assert f["sent"].to_list() == [210, 105] and f["snapshot_count"].to_list() == [2, 2]


def test_defect_12_late_snapshots_of_old_dates_are_not_lost():
    old_send = ts(1, 12)
    stg = events(
        event(send=ts(20, 12), message_id="new", received=ts(21)),
        event(send=old_send, earnings="5.00", message_id="a", received=ts(2), row_number=1),
        event(
            send=old_send, earnings="9.00", message_id="late", received=ts(25), row_number=2
        ),  # arrives after newer sends
    )
    f = _fact(stg)
    old = f.filter(pl.col("send_date") == old_send.date()).row(0, named=True)
    assert float(old["earnings_gross_usd"]) == 9.0 and old["latest_message_id"] == "late"


def test_defect_13_rates_are_fractions():
    f = _fact(events(event(sent=200, viewed=150, purchased=30)))
    r = f.row(0, named=True)
    assert r["view_rate"] == 0.75 and r["buy_rate"] == 0.15 and r["conversion"] == 0.2


def test_defect_14_sent_is_recipients_and_rows_are_send_events():
    f = _fact(events(event(sent=500, row_number=1, send=ts(3)), event(sent=700, row_number=2, send=ts(4))))
    assert f.height == 2 and f["sent"].sum() == 1200  # send events = rows, recipients = Σ sent


def test_defect_15_empty_input_yields_no_placeholder_rows():
    from of_scheduler_assets.layer_02_staging.report_rows import STAGED_SCHEMA

    empty = pl.DataFrame(schema=STAGED_SCHEMA)
    f = T.build_fact_message_send(latest_snapshots(empty), None, platform_fee=0.2, maturity_hours=72)
    assert f.height == 0 and f.columns == list(T.FACT_SCHEMA)
    assert T.report_captions(empty).height == 0


def test_defect_18_iso_weeks_not_sunday_based():
    sunday = dt.datetime(2027, 1, 3, 16, tzinfo=dt.UTC)  # Sunday 3 Jan 2027 local: ISO 2026-W53
    monday = sunday + dt.timedelta(days=1)
    f = _fact(events(event(send=sunday), event(send=monday, row_number=2))).sort("sending_ts_utc")
    assert list(zip(f["iso_year"], f["iso_week"], strict=True)) == [(2026, 53), (2027, 1)]
