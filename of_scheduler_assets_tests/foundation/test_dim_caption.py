from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from of_scheduler_assets.identity import caption_id, sha256_hex
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.schemas import DimCaption
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP, NOW, bank, bank_row, event, events, ts

TEXT = "Unlock my new set now"
OPEN_END = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def build(b, stg=None, previous=None, now=NOW):
    rc = T.report_captions(stg) if stg is not None else None
    out = T.build_dim_caption(b, rc, previous, explicitness_map=EXPLICITNESS_MAP, now=now)
    DimCaption.validate(out)
    return out


def rows_of(dim, text=TEXT):
    return dim.filter(pl.col("caption_id") == caption_id(text)).sort("valid_from")


def test_first_version_starts_at_first_seen_and_is_open_ended():
    dim = build(bank(bank_row(TEXT, created_ts=ts(3))), events(event(TEXT, send=ts(2, 10))))
    r = rows_of(dim)
    assert r.height == 1
    assert r["valid_from"][0] == ts(2, 10)  # earliest of bank created_ts and first send
    assert r["valid_to"][0] == OPEN_END and r["is_current"][0]
    assert r["source"][0] == "both"


def test_text_edit_opens_new_version_and_closes_old():
    v1 = build(bank(bank_row(TEXT, ingested_at=ts(1))))
    edited = "Unlock my NEW set\nnow"  # same caption_norm -> same caption_id, different display text
    assert caption_id(edited) == caption_id(TEXT)
    v2 = build(bank(bank_row(edited, ingested_at=ts(5, 8))), previous=v1)
    r = rows_of(v2)
    assert r.height == 2
    assert r["caption_text"].to_list() == [TEXT, edited]
    assert r["valid_to"][0] == ts(5, 8) and r["valid_from"][1] == ts(5, 8)  # t = ingested_at of the input
    assert r["is_current"].to_list() == [False, True]
    assert r["change_reason"].to_list() == ["initial", "changed"]
    # history row kept its own attributes (not overwritten)
    assert r["word_count"].to_list() == [5, 5]


def test_category_edit_from_reports_opens_new_version():
    free_send = event(TEXT, price_cents=0, earnings="0", purchased=0, send=ts(2), ingested=ts(3))
    v1 = build(None, events(free_send))
    assert rows_of(v1)["categories"].to_list() == [["bump"]]
    ppv_send = event(TEXT, price_cents=1500, send=ts(6), message_id="m9", ingested=ts(7, 9))
    v2 = build(None, events(free_send, ppv_send), previous=v1)
    r = rows_of(v2)
    assert r["categories"].to_list() == [["bump"], ["ppv", "bump"]]
    assert r["valid_from"][1] == ts(7, 9)  # the ingested_at of the report that brought the ppv price
    assert r["is_current"].to_list() == [False, True]


def test_unknown_change_time_uses_now():
    v1 = build(bank(bank_row(TEXT)))
    v2 = build(bank(bank_row(TEXT, tos_status="flagged", tos_rule_ids=["MINORS"])), previous=v1, now=NOW)
    assert rows_of(v2)["valid_from"].to_list()[1] == NOW


def test_unchanged_rerun_is_identical():
    b = bank(bank_row(TEXT, explicitness_tag="SOLO"), bank_row("Tip me if you liked it", primary_category="tip"))
    stg = events(event(TEXT), event("Good morning babe, how was your night?", price_cents=0, earnings="0", purchased=0))
    v1 = build(b, stg)
    v2 = build(b, stg, previous=v1, now=NOW + dt.timedelta(days=3))
    assert v2.equals(v1)
    v3 = build(b, stg, previous=v2, now=NOW + dt.timedelta(days=9))
    assert v3.equals(v1)


def test_keys_are_deterministic_sha_of_id_and_valid_from():
    b = bank(bank_row(TEXT))
    a1 = build(b)
    a2 = build(b)
    assert a1["caption_sk"].to_list() == a2["caption_sk"].to_list()
    row = a1.row(0, named=True)
    expected = sha256_hex(f"{row['caption_id']}|{row['valid_from'].strftime('%Y-%m-%dT%H:%M:%S.%fZ')}")[:16]
    assert row["caption_sk"] == expected


def test_flagged_captions_are_kept_but_marked():
    dim = build(bank(bank_row(TEXT), bank_row("flagged words here", tos_status="flagged", tos_rule_ids=["R1"])))
    flagged = dim.filter(pl.col("caption_id") == caption_id("flagged words here"))
    assert flagged.height == 1
    assert flagged["tos_status"][0] == "flagged" and flagged["tos_rule_ids"][0].to_list() == ["R1"]
    assert flagged["is_active"][0] is False
    assert rows_of(dim)["is_active"][0] is True


def test_removed_caption_gets_inactive_version():
    v1 = build(bank(bank_row(TEXT), bank_row("Tip me if you liked it")))
    v2 = build(bank(bank_row("Tip me if you liked it")), previous=v1)
    r = rows_of(v2)
    assert r["is_active"].to_list() == [True, False]
    assert r["change_reason"][1] == "removed"
    assert build(bank(bank_row("Tip me if you liked it")), previous=v2).equals(v2)


def test_bank_text_preferred_and_report_only_captions_enter():
    report_text = "unlock my new set NOW"
    dim = build(
        bank(bank_row(TEXT)),
        events(event(report_text), event("Hey love, miss me?", price_cents=0, earnings="0", purchased=0)),
    )
    assert rows_of(dim)["caption_text"][0] == TEXT
    rep = dim.filter(pl.col("caption_id") == caption_id("Hey love, miss me?"))
    assert rep["source"][0] == "report" and rep["categories"][0].to_list() == ["bump"]
    assert rep["ends_with_question"][0] is True


def test_too_short_report_text_does_not_enter():
    dim = build(None, events(event("hi"), event("")))
    assert dim.height == 0


def test_text_features():
    text = "Only today!! Unlock 3 hot pics for $5 🔥🔥🔥 #new @me https://x.io?"
    dim = build(bank(bank_row(text)))
    r = dim.row(0, named=True)
    assert r["has_cta"] and r["has_urgency"] and r["has_price_mention"] and r["has_link"]
    assert r["has_hashtag"] and r["has_mention"] and r["ends_with_question"]
    assert r["emoji_count"] == 3 and r["emoji_bin"] == "heavy"
    assert r["word_count"] == 12 and r["len_bin"] == "med"  # < 12 short, <= 24 med
    # family key ignores digits, amounts, emoji and punctuation
    twin = build(bank(bank_row("Only today! Unlock 10 hot pics for $25 🔥 #new @me https://x.io")))
    assert twin["family_key"][0] == r["family_key"]


def test_explicitness_from_map_and_defaults():
    dim = build(
        bank(
            bank_row("aaa solo text", explicitness_tag="SOLO"),
            bank_row("bbb other text", explicitness_tag="OTHER"),
            bank_row("ccc anal text", explicitness_tag="ANAL"),
            bank_row("ddd none text"),
        )
    )
    got = dict(zip(dim["caption_text"].to_list(), dim["explicitness"].to_list(), strict=True))
    assert got == {"aaa solo text": 2, "bbb other text": None, "ccc anal text": 3, "ddd none text": None}


def test_facts_join_version_valid_at_send_time():
    v1 = build(bank(bank_row(TEXT, ingested_at=ts(1))))
    v2 = build(bank(bank_row("UNLOCK my new set now", ingested_at=ts(10))), previous=v1)
    sks = rows_of(v2)["caption_sk"].to_list()
    facts = pl.DataFrame(
        {"caption_id": [caption_id(TEXT)] * 3, "sending_ts_utc": [ts(5), ts(10), ts(20)]},
        schema={"caption_id": pl.String, "sending_ts_utc": pl.Datetime("us", "UTC")},
    )
    got = T.caption_version_at(v2, facts)["caption_sk"].to_list()
    assert got == [sks[0], sks[1], sks[1]]  # valid_from <= ts < valid_to


# --- hypothesis: SCD2 invariants on random edit sequences ---------------------------------------------------------

VARIANTS = [TEXT, "UNLOCK my new set now", "Unlock my new\nset now"]
EDIT = st.tuples(
    st.sampled_from(VARIANTS),
    st.sampled_from(["clean", "flagged"]),
    st.sampled_from([None, "SOLO", "ANAL"]),
    st.booleans(),  # present in the bank this run
    st.integers(min_value=-3, max_value=30),  # ingested_at day offset (may go backwards)
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EDIT, min_size=1, max_size=6))
def test_scd2_invariants_hold_on_random_edit_sequences(edits):
    previous = None
    other = bank_row("Tip me if you liked it")
    for i, (text, tos, tag, present, offset) in enumerate(edits):
        when = dt.datetime(2026, 10, 1, tzinfo=dt.UTC) + dt.timedelta(days=offset + i)
        rows = [other]
        if present or previous is None:
            rows.append(
                bank_row(
                    text,
                    tos_status=tos,
                    tos_rule_ids=["R1"] if tos == "flagged" else [],
                    explicitness_tag=tag,
                    ingested_at=when,
                )
            )
        out = build(bank(*rows), previous=previous, now=when)  # validates: one current, no overlap, sk unique
        if previous is not None:
            # history is never rewritten: every old version survives with the same key and start
            old = previous.select("caption_sk", "valid_from")
            assert old.join(out, on=["caption_sk", "valid_from"], how="anti").height == 0
            assert out.height >= previous.height
        again = build(bank(*rows), previous=out, now=when + dt.timedelta(days=1))
        assert again.equals(out)  # idempotent
        previous = out


def test_contract_rejects_overlapping_versions_and_duplicate_keys():
    import pytest

    v1 = build(bank(bank_row(TEXT, ingested_at=ts(1))))
    v2 = build(bank(bank_row("UNLOCK my new set now", ingested_at=ts(5))), previous=v1)
    overlap = v2.with_columns(valid_to=pl.when(~pl.col("is_current")).then(pl.lit(ts(7))).otherwise(pl.col("valid_to")))
    with pytest.raises(Exception, match="no_overlap"):
        DimCaption.validate(overlap)
    with pytest.raises(Exception, match="caption_sk"):
        DimCaption.validate(v2.with_columns(caption_sk=pl.lit(v2["caption_sk"][0])))
