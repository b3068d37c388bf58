"""Warehouse data-quality checks (of_scheduler_assets.checks.warehouse): each passes on frames built with the real
transforms and fails on a seeded violation, naming the offending key in its metadata sample."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from of_scheduler_assets.checks import warehouse as W
from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP, NOW, bank, bank_row, event, events, ts

TEXT = "Unlock my new set now"
OTHER = "Good morning babe, how was your night?"


def _check_metadata(meta: dict) -> None:
    assert isinstance(meta["sample"], list) and len(meta["sample"]) <= W.SAMPLE_SIZE
    assert all(isinstance(s, str) for s in meta["sample"])


@pytest.fixture(scope="module")
def world():
    """Two captions; TEXT gets a second SCD2 version on Oct 8 (bank TOS change), sends on both sides of it and one
    back-filled send before the caption's first version."""
    stg = events(
        event(TEXT, send=ts(5, 15), message_id="m1", row_number=1),
        event(TEXT, send=ts(10, 15), message_id="m2", row_number=1, earnings="50.00"),
        event(OTHER, send=ts(10, 16), message_id="m2", row_number=2, price_cents=0, earnings="0", purchased=0),
        # a flagged earnings mismatch, as staging keeps it (10-ingestion §5): must pass
        event(TEXT, send=ts(10, 17), message_id="m2", row_number=3, earnings="57.00", price_cents=1000, purchased=5)
        | {"dq_flags": ["earnings_mismatch"]},
        # back-filled send before the bank's created_ts (first version starts Oct 3)
        event(TEXT, send=ts(1, 9), message_id="m0", row_number=1),
    )
    b1 = bank(bank_row(TEXT, created_ts=ts(3), ingested_at=ts(3)))
    b2 = bank(bank_row(TEXT, created_ts=ts(3), tos_status="flagged", tos_rule_ids=["B2_force"], ingested_at=ts(8)))
    caps = T.report_captions(stg)
    v1 = T.build_dim_caption(b1, caps, None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    dim = T.build_dim_caption(b2, caps, v1, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    fact = T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=0.2, maturity_hours=72)
    return stg, dim, fact


def test_world_is_what_the_tests_assume(world):
    _, dim, fact = world
    assert (
        dim.filter(pl.col("caption_id") == fact.filter(pl.col("sending_ts_utc") == ts(5, 15))["caption_id"][0]).height
        == 2
    )
    assert fact.height == 5 and fact["caption_sk"].null_count() == 0


# --- unique_key ----------------------------------------------------------------------------------------------------


def test_unique_key_passes_on_fact_and_dim(world):
    _, dim, fact = world
    for frame, cols in ((fact, ["message_send_key"]), (dim, ["caption_sk"]), (dim, ["caption_id", "valid_from"])):
        passed, meta = W.unique_key(frame, cols)
        assert passed, meta
        assert meta["null_key_rows"] == 0 and meta["duplicate_rows"] == 0 and meta["sample"] == []


def test_unique_key_fails_on_duplicate_and_null(world):
    _, _, fact = world
    dup_key = fact["message_send_key"][0]
    broken = pl.concat([fact, fact.head(1)])
    passed, meta = W.unique_key(broken, ["message_send_key"])
    assert not passed and meta["duplicate_keys"] == 1 and meta["duplicate_rows"] == 2
    assert dup_key in meta["sample"]
    _check_metadata(meta)

    nulled = fact.with_columns(
        message_send_key=pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("message_send_key"))
    )
    passed, meta = W.unique_key(nulled, ["message_send_key"])
    assert not passed and meta["null_key_rows"] == 1 and "<null>" in meta["sample"]


def test_unique_key_composite_sample_names_both_parts(world):
    _, dim, _ = world
    broken = pl.concat([dim, dim.head(1)])
    passed, meta = W.unique_key(broken, ["caption_id", "caption_sk"])
    assert not passed
    assert f"{dim['caption_id'][0]}|{dim['caption_sk'][0]}" in meta["sample"]


# --- foreign_key ---------------------------------------------------------------------------------------------------


def test_foreign_key_passes_on_fact_to_dim(world):
    _, dim, fact = world
    assert W.foreign_key(fact, "caption_id", dim, "caption_id")[0]
    assert W.foreign_key(fact, "caption_sk", dim, "caption_sk")[0]


def test_foreign_key_fails_on_orphan_and_null(world):
    _, dim, fact = world
    orphan = fact.with_columns(
        caption_id=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("CAP_ffffffffffffffff")).otherwise("caption_id")
    )
    passed, meta = W.foreign_key(orphan, "caption_id", dim, "caption_id")
    assert not passed and meta["orphan_rows"] == 1 and meta["sample"] == ["CAP_ffffffffffffffff"]
    _check_metadata(meta)

    nulled = fact.with_columns(caption_id=pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise("caption_id"))
    passed, meta = W.foreign_key(nulled, "caption_id", dim, "caption_id")
    assert not passed and meta["null_rows"] == 1 and meta["sample"] == ["<null>"]
    passed, meta = W.foreign_key(nulled, "caption_id", dim, "caption_id", allow_null=True)
    assert passed and meta["null_rows"] == 1 and meta["sample"] == []


# --- scd2_invariants -----------------------------------------------------------------------------------------------


def test_scd2_invariants_pass_on_a_real_two_version_dimension(world):
    _, dim, _ = world
    passed, meta = W.scd2_invariants(dim)
    assert passed, meta
    assert meta["rows"] == 3 and meta["captions"] == 2


def _versioned(dim: pl.DataFrame) -> str:
    return dim.filter(pl.col("caption_id").is_duplicated())["caption_id"][0]


@pytest.mark.parametrize(
    ("name", "counter"),
    [
        ("two_current", "not_one_current"),
        ("no_current", "not_one_current"),
        ("current_closed", "current_not_open"),
        ("empty_interval", "empty_interval"),
        ("overlap", "overlap"),
    ],
)
def test_scd2_invariants_fail_on_seeded_violation(world, name, counter):
    _, dim, _ = world
    cid = _versioned(dim)
    mine = pl.col("caption_id") == cid
    old = mine & ~pl.col("is_current")
    if name == "two_current":
        broken = dim.with_columns(is_current=pl.when(old).then(True).otherwise("is_current"))
    elif name == "no_current":
        broken = dim.with_columns(is_current=pl.when(mine).then(False).otherwise("is_current"))
    elif name == "current_closed":
        broken = dim.with_columns(valid_to=pl.when(mine & pl.col("is_current")).then(pl.lit(NOW)).otherwise("valid_to"))
    elif name == "empty_interval":
        broken = dim.with_columns(valid_to=pl.when(old).then(pl.col("valid_from")).otherwise("valid_to"))
    else:  # the old version reaches past the start of the current one
        broken = dim.with_columns(
            valid_to=pl.when(old).then(pl.col("valid_to") + pl.duration(days=1)).otherwise("valid_to")
        )
    passed, meta = W.scd2_invariants(broken)
    assert not passed and meta[counter] >= 1
    assert cid in meta["sample"]
    _check_metadata(meta)


def test_scd2_invariants_fail_on_duplicate_sk(world):
    _, dim, _ = world
    sk = dim["caption_sk"][0]
    broken = dim.with_columns(caption_sk=pl.lit(sk))
    passed, meta = W.scd2_invariants(broken)
    assert not passed and meta["duplicate_sk"] == 3 and f"sk:{sk}" in meta["sample"]


# --- fact_version_join ---------------------------------------------------------------------------------------------


def test_fact_version_join_passes_including_backfilled_send(world):
    _, dim, fact = world
    passed, meta = W.fact_version_join(fact, dim)
    assert passed, meta
    assert meta["checked_rows"] == 5 and meta["violations"] == 0


def test_fact_version_join_fails_on_wrong_version(world):
    _, dim, fact = world
    cid = _versioned(dim)
    current_sk = dim.filter((pl.col("caption_id") == cid) & pl.col("is_current"))["caption_sk"][0]
    early = pl.col("sending_ts_utc") == ts(5, 15)  # valid under the first version only
    key = fact.filter(early)["message_send_key"][0]
    broken = fact.with_columns(caption_sk=pl.when(early).then(pl.lit(current_sk)).otherwise("caption_sk"))
    passed, meta = W.fact_version_join(broken, dim)
    assert not passed and meta["wrong_version"] == 1 and meta["sample"] == [key]
    _check_metadata(meta)


def test_fact_version_join_fails_on_null_unknown_and_foreign_sk(world):
    _, dim, fact = world
    other = dim.filter(pl.col("caption_text") == OTHER).row(0, named=True)
    rows = fact.with_row_index("_i").filter(pl.col("caption_id") != other["caption_id"])["_i"].to_list()
    i_null, i_unknown, i_foreign = rows[:3]
    idx = pl.int_range(pl.len())
    broken = fact.with_columns(
        caption_sk=pl.when(idx == i_null)
        .then(None)
        .when(idx == i_unknown)
        .then(pl.lit("0000000000000000"))
        .when(idx == i_foreign)
        .then(pl.lit(other["caption_sk"]))
        .otherwise("caption_sk")
    )
    passed, meta = W.fact_version_join(broken, dim)
    assert not passed
    assert (meta["null_sk"], meta["unknown_sk"], meta["caption_mismatch"], meta["wrong_version"]) == (1, 1, 1, 0)
    assert meta["sample"] == sorted(fact["message_send_key"][i] for i in (i_null, i_unknown, i_foreign))


# --- metric_identities ---------------------------------------------------------------------------------------------


def test_metric_identities_pass_on_clean_fact_with_flagged_mismatch(world):
    _, _, fact = world
    passed, meta = W.metric_identities(fact)
    assert passed, meta
    assert meta["gross_mismatch_rows"] == 1 and meta["gross_unflagged_rows"] == 0 and meta["net_violation_rows"] == 0


def test_metric_identities_fail_on_tampered_gross(world):
    _, _, fact = world
    target = pl.col("sending_ts_utc") == ts(10, 15)
    key = fact.filter(target)["message_send_key"][0]
    # earnings raised after staging: no earnings_mismatch flag; an unrelated flag must not excuse it
    broken = fact.with_columns(
        earnings_gross_usd=pl.when(target).then(pl.lit(Decimal("70.00"))).otherwise("earnings_gross_usd"),
        dq_flags=pl.when(target).then(pl.lit(["withdrawn_by_other"])).otherwise("dq_flags"),
    ).with_columns(
        earnings_net_usd=pl.when(target).then(pl.lit(Decimal("56.00"))).otherwise("earnings_net_usd"),
    )
    passed, meta = W.metric_identities(broken)
    assert not passed and meta["gross_unflagged_rows"] == 1 and meta["net_violation_rows"] == 0
    assert meta["sample"] == [key]
    _check_metadata(meta)


def test_metric_identities_fail_on_net_off_by_a_cent(world):
    _, _, fact = world
    key = fact["message_send_key"][0]
    broken = fact.with_columns(
        earnings_net_usd=pl.when(pl.col("message_send_key") == key)
        .then(pl.col("earnings_net_usd") + Decimal("0.01"))
        .otherwise("earnings_net_usd")
    )
    passed, meta = W.metric_identities(broken)
    assert not passed and meta["net_violation_rows"] == 1 and meta["sample"] == [key]


def test_metric_identities_hold_on_staged_generator_style_rows():
    """Rows written like the sample generator (earnings = price × purchased, imputed when blank) pass."""
    stg = events(
        *[
            event(TEXT, send=ts(10, h), price_cents=p * 100, purchased=n, earnings=f"{p * n}.00", row_number=h)
            for h, (p, n) in enumerate([(5, 0), (15, 4), (22, 1), (7, 13), (0, 0)], start=1)
        ]
    )
    fact = T.build_fact_message_send(latest_snapshots(stg), None, platform_fee=0.2, maturity_hours=72)
    passed, meta = W.metric_identities(fact)
    assert passed and meta["gross_mismatch_rows"] == 0 and meta["unverifiable_rows"] == 0


# --- time ----------------------------------------------------------------------------------------------------------


def test_no_future_timestamps_pass_and_tolerate_skew(world):
    stg, dim, fact = world
    cols = ["sending_ts_utc", "latest_report_received_at", "first_report_received_at", "ingested_at"]
    assert W.no_future_timestamps(fact, cols, NOW)[0]
    assert W.no_future_timestamps(stg, ["sending_ts_utc", "report_received_at", "ingested_at"], NOW)[0]
    latest = fact["ingested_at"].max()
    assert W.no_future_timestamps(fact, ["ingested_at"], latest - dt.timedelta(minutes=4))[0]  # within skew
    assert W.no_future_timestamps(dim, ["valid_from", "first_seen_at"], NOW, key_cols=["caption_sk"])[0]


def test_no_future_timestamps_fail_on_future_send(world):
    _, _, fact = world
    key = fact["message_send_key"][2]
    broken = fact.with_columns(
        sending_ts_utc=pl.when(pl.col("message_send_key") == key)
        .then(pl.lit(NOW + dt.timedelta(minutes=6), pl.Datetime("us", "UTC")))
        .otherwise("sending_ts_utc")
    )
    passed, meta = W.no_future_timestamps(broken, ["sending_ts_utc", "ingested_at"], NOW)
    assert not passed and meta["future_rows"] == 1
    assert meta["future_by_column"] == {"sending_ts_utc": 1, "ingested_at": 0}
    assert meta["sample"] == [f"{key}@sending_ts_utc"]
    _check_metadata(meta)


def test_no_future_timestamps_naive_columns_and_row_keys():
    frame = pl.DataFrame({"t": [dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1)]})
    passed, meta = W.no_future_timestamps(frame, ["t"], dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert not passed and meta["sample"] == ["row=1@t"]


def test_sends_before_reports(world):
    _, _, fact = world
    assert W.sends_before_reports(fact)[0]
    key = fact["message_send_key"][1]
    broken = fact.with_columns(
        latest_report_received_at=pl.when(pl.col("message_send_key") == key)
        .then(pl.col("sending_ts_utc") - pl.duration(minutes=1))
        .otherwise("latest_report_received_at")
    )
    passed, meta = W.sends_before_reports(broken)
    assert not passed and meta["violation_rows"] == 1 and meta["sample"] == [key]
    _check_metadata(meta)


def test_fact_version_join_leaves_captions_outside_the_library_to_the_fk_check():
    """Media-only sends and U+FFFD texts keep their caption_id in the fact but never enter dim_caption."""
    stg = events(
        event(TEXT, send=ts(10, 15)),
        event("", send=ts(10, 16), row_number=2),  # media-only PPV
        event("Bedroom cam \ufffd tonight", send=ts(10, 17), row_number=3),
    )
    dim = T.build_dim_caption(None, T.report_captions(stg), None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    fact = T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=0.2, maturity_hours=72)
    assert dim.height == 1 and fact["caption_sk"].null_count() == 2
    passed, meta = W.fact_version_join(fact, dim)
    assert passed and meta["not_in_dimension"] == 2 and meta["checked_rows"] == 1
    assert W.foreign_key(fact, "caption_sk", dim, "caption_sk", allow_null=True)[0]
    passed, meta = W.foreign_key(fact, "caption_id", dim, "caption_id")
    assert not passed and meta["orphan_rows"] == 2
