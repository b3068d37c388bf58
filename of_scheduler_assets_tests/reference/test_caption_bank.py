"""Caption bank parsing and stg_caption_bank (10-ingestion §10; catalogue #31-#34)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from of_scheduler_assets.identity import caption_hash, caption_id, sha256_hex
from of_scheduler_assets.layer_02_staging.reference import (
    build_stg_caption_bank,
    parse_caption_bank_file,
    quarantine_id,
)
from of_scheduler_assets.layer_02_staging.tos import RULES_VERSION

from .helpers import CURATED_HEADER_26, NOW, bank_file, bank_row, csv_bytes, logger_file, logger_row, sha

UTC = dt.UTC


def parse(data: bytes, name: str = "bank_ppv.csv", order: int = 0, **kw):
    return parse_caption_bank_file(data, file_name=name, file_sha256=sha(data), arrival_order=order, **kw)


def build(*files):
    return build_stg_caption_bank(list(files), checked_at=NOW, ingestion_run_id="run-1")


def by_text(stg: pl.DataFrame, text: str) -> dict:
    rows = stg.filter(pl.col("caption_hash") == caption_hash(text)).to_dicts()
    assert len(rows) == 1, f"expected one caption for {text!r}"
    return rows[0]


# --- catalogue #31: encodings and mojibake -------------------------------------------------------------------------


def test_case_31_bom_latin1_and_mojibake():
    bom = parse(bank_file([bank_row("Café night special, unlock now ☕")], bom=True))
    assert bom.encoding == "utf-8-sig"
    assert bom.rows["caption_raw"].to_list() == ["Café night special, unlock now ☕"]
    assert bom.rows["bank_id"][0] == sha("Café night special, unlock now ☕")  # first column not polluted by the BOM

    latin = csv_bytes([CURATED_HEADER_26, bank_row("Crème brûlée for my señor tonight")], encoding="latin-1")
    lat = parse(latin, name="bank_bump.csv")
    assert lat.encoding == "latin-1"
    assert lat.rows["caption_raw"].to_list() == ["Crème brûlée for my señor tonight"]

    moji = parse(bank_file([bank_row("Caf\ufffd night special \ufffd unlock now"), bank_row("A clean caption here")]))
    assert [(q["row_number"], q["reason_code"]) for q in moji.quarantine] == [(1, "mojibake")]
    assert moji.rows["caption_raw"].to_list() == ["A clean caption here"]


def test_row_reasons_empty_and_length():
    long = "x" * 2001
    ok_edge = "  abc  "  # trimmed length 3 is in range
    res = parse(
        bank_file(
            [bank_row(""), bank_row("  "), bank_row("ok"), bank_row(long), bank_row(ok_edge), bank_row("y" * 2000)]
        )
    )
    reasons = {q["row_number"]: q["reason_code"] for q in res.quarantine}
    assert reasons == {
        1: "empty_caption",
        2: "empty_caption",
        3: "caption_length_out_of_range",
        4: "caption_length_out_of_range",
    }
    assert res.rows["row_number"].to_list() == [5, 6]


# --- catalogue #32: header / field count ---------------------------------------------------------------------------


def test_case_32_26_names_16_values_read_positionally_with_warning():
    res = parse(bank_file([bank_row("Unlock my beach set now 🌊", typ="PPV", created="2025-03-04T05:06:07Z")]))
    assert res.file_reason is None
    assert any(w.startswith("header_field_mismatch") for w in res.warnings)
    row = res.rows.row(0, named=True)
    # a by-header read is impossible here (26 names, 16 values): every field comes from its position
    assert row["caption_raw"] == "Unlock my beach set now 🌊"
    assert row["bank_type"] == "ppv"
    assert row["created_ts"] == dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert row["bank_id"] == sha("Unlock my beach set now 🌊")


def test_case_32_other_mismatch_quarantines_every_row():
    header20 = CURATED_HEADER_26[:20]
    data = csv_bytes([header20, bank_row("First caption text"), None, bank_row("Second caption text")])
    res = parse(data, name="bank_bump.csv")
    assert res.file_reason == "header_field_mismatch"
    assert res.rows.height == 0
    assert [(q["row_number"], q["reason_code"]) for q in res.quarantine] == [
        (1, "header_field_mismatch"),
        (3, "header_field_mismatch"),
    ]
    stg, audit, q = build(res)
    assert stg.height == 0 and q.height == 2
    assert set(q["reason_code"]) == {"header_field_mismatch"}
    assert json.loads(q["raw_row_json"][0])[1] == "First caption text"


def test_case_32_mixed_row_widths_reject_the_file():
    data = bank_file([bank_row("First caption text"), bank_row("Second caption text")[:12]])
    res = parse(data)
    assert res.file_reason == "header_field_mismatch" and len(res.quarantine) == 2


def test_equal_counts_are_read_by_header_name():
    header = ["caption_type", "caption_text", "bank_caption_id", "created_ts"]
    data = csv_bytes([header, ["TIP", "Send a tip if you liked it", "id-1", "01/05/2025"]])
    res = parse(data, name="bank_tip.csv")
    assert res.warnings == [] and res.file_reason is None
    row = res.rows.row(0, named=True)
    assert (row["caption_raw"], row["bank_type"], row["bank_id"]) == ("Send a tip if you liked it", "tip", "id-1")
    assert row["created_ts"] == dt.datetime(2025, 1, 5, tzinfo=UTC)


# --- catalogue #33 --------------------------------------------------------------------------------------------------


def test_case_33_blanks_dup_ids_dup_texts_dates_names_and_test_page():
    text = "Good morning babe ☕ wanna see more?"
    ppv = parse(
        bank_file(
            [
                bank_row(text, typ="BUMP", created="2025-02-01T10:00:00Z"),
                None,
                bank_row(text, typ="BUMP", created="03/01/2025"),  # same id, other created_ts, MM/DD/YYYY format
                None,
            ]
        ),
        name="bank_bump.csv",
        order=0,
    )
    assert ppv.n_blank_rows == 2 and ppv.n_input_rows == 2
    assert ppv.rows["created_ts"].to_list() == [
        dt.datetime(2025, 2, 1, 10, tzinfo=UTC),
        dt.datetime(2025, 3, 1, tzinfo=UTC),
    ]
    log = parse(
        logger_file(
            [
                logger_row(text, cid="C10001", last="2026-01-15 14:30", by="KIT", page="Luna Example (paid)"),
                logger_row(
                    text.upper(), cid="C10001", last="07/04/2026", by="kit", page="TEST"
                ),  # case variant, TEST page
                logger_row(text, cid="C10002", last="06/01/2026", by="  Kit ", page="LUNA EXAMPLE PAID"),
            ]
        ),
        name="caption_logger_bump.csv",
        order=1,
    )
    assert log.file_format == "logger"
    # LastUsedDate in America/Denver: MST (-7) in January, MDT (-6) in July; date-only = local midnight
    assert log.rows["last_used_ts_utc"].to_list() == [
        dt.datetime(2026, 1, 15, 21, 30, tzinfo=UTC),
        dt.datetime(2026, 7, 4, 6, 0, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC),
    ]
    assert log.rows["last_used_by_std"].to_list() == ["kit", "kit", "kit"]

    stg, audit, q = build(ppv, log)
    assert stg.height == 1 and q.height == 0
    cap = stg.row(0, named=True)
    assert cap["n_source_rows"] == 5
    assert cap["alias_ids"] == [sha(text), "C10001", "C10002"]  # duplicate ids collapse, every id kept once
    assert cap["created_ts"] == dt.datetime(2025, 2, 1, 10, tzinfo=UTC)  # earliest created_ts
    # the TEST row (latest date) is ignored for last use; the latest real use is 2026-06-01
    assert cap["bank_last_used_ts_utc"] == dt.datetime(2026, 6, 1, 6, tzinfo=UTC)
    assert cap["bank_last_used_page_raw"] == "LUNA EXAMPLE PAID"
    assert (cap["bank_last_used_page_compact_key"], cap["bank_last_used_page_type_token"]) == ("lunaexample", "paid")
    assert cap["bank_last_used_by_std"] == "kit"
    assert cap["bank_times_used"] == 3


def test_last_used_date_in_spring_gap_is_shifted_not_crashing():
    log = parse(
        logger_file([logger_row("Caption in the gap hour", last="2026-03-08 02:30", page="Mia Demo Free")]),
        name="caption_logger_bump.csv",
    )
    # 02:30 does not exist in Denver that night: read with the offset before the gap (MST, -7)
    assert log.rows["last_used_ts_utc"][0] == dt.datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


def test_bank_timezone_is_configurable():
    data = logger_file([logger_row("Caption with a zone", last="2026-01-15 14:30", page="Mia Demo Free")])
    res = parse(data, name="caption_logger_bump.csv", bank_timezone="UTC")
    assert res.rows["last_used_ts_utc"][0] == dt.datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


def test_explicitness_tag_is_kept():
    log = parse(
        logger_file(
            [logger_row("Tagged caption here", tag="dom/sub"), logger_row("Other tagged caption", tag="OTHER")]
        ),
        name="caption_logger_ppv.csv",
    )
    stg, _, _ = build(log)
    assert dict(zip(stg["caption_text"], stg["explicitness_tag"], strict=True)) == {
        "Tagged caption here": "DOM/SUB",
        "Other tagged caption": "OTHER",
    }


# --- catalogue #34 at bank level, TOS before dedup -----------------------------------------------------------------


def test_case_34_bank_allowlist_outcomes_and_audit_rows():
    cleared = "Stepmom fantasy with her stepson, full video 🔥"
    stays = "My 17 yo step mom fantasy 😈 unlock"
    res = parse(bank_file([bank_row(cleared), bank_row(stays), bank_row("My real mom would never")]))
    stg, audit, q = build(res)
    assert by_text(stg, cleared)["tos_status"] == "clean"
    assert by_text(stg, stays)["tos_status"] == "flagged"
    assert by_text(stg, stays)["tos_rule_ids"] == ["A3_underage_numeric"]
    assert by_text(stg, "My real mom would never")["tos_status"] == "flagged"
    assert sorted(audit["row_number"].to_list()) == [2, 3]
    a = audit.filter(pl.col("row_number") == 2).row(0, named=True)
    assert a == {
        "caption_id": caption_id(stays),
        "source_kind": "caption_bank",
        "source_ref": res.file_sha256,
        "row_number": 2,
        "caption_text": stays,
        "price_usd": None,
        "violation_rule_ids": "A3_underage_numeric",
        "violation_reasons": r"A3_underage_numeric: \b1[0-7]\s*(?:year|yr|yo)\b",
        "checked_at": NOW,
        "rules_version": RULES_VERSION,
    }


def test_tos_runs_before_dedup_every_flagged_row_is_audited():
    fancy = "𝐅𝐚𝐭𝐡𝐞𝐫 knows best… new video"  # NFKC-folds to the flagged text below: same caption_hash
    plain = "Father knows best... new video"
    assert caption_hash(fancy) == caption_hash(plain)
    first = parse(bank_file([bank_row(fancy)]), name="bank_ppv.csv", order=0)
    dup = parse(
        logger_file(
            [
                logger_row(plain, typ="PPV", price="$15", cid="C50001"),
                logger_row(plain, typ="PPV", price="$12", cid="C50002"),
            ]
        ),
        name="caption_logger_ppv.csv",
        order=1,
    )
    stg, audit, q = build(first, dup)
    assert stg.height == 1
    cap = stg.row(0, named=True)
    assert cap["caption_text"] == fancy  # first-seen display text (ppv bank before logger)
    assert cap["alias_ids"] == [sha(fancy), "C50001", "C50002"]
    assert cap["tos_status"] == "flagged" and cap["tos_rule_ids"] == ["A2_parental"]
    # every flagged row is audited, the duplicates too although they are not the row kept; the styled first row is
    # flagged on its own (the rules also run on the NFKC fold, so styled letters cannot slip past)
    assert sorted(audit.select("source_ref", "row_number", "price_usd").rows(), key=str) == sorted([
        (first.file_sha256, 1, None),
        (dup.file_sha256, 1, 15.0),
        (dup.file_sha256, 2, 12.0),
    ], key=str)


# --- dedup order ---------------------------------------------------------------------------------------------------


def test_dedup_first_seen_is_type_then_arrival_then_row_number_regardless_of_input_order():
    t = "Missed you today 💕 check your inbox"
    logger = parse(logger_file([logger_row(t, cid="C10009")]), name="caption_logger_bump.csv", order=0)
    bump_late = parse(bank_file([bank_row(t + " ", typ="BUMP", bank_id="bump-late")]), name="bank_bump.csv", order=5)
    bump_early = parse(
        bank_file(
            [
                bank_row("filler text one", typ="BUMP"),
                bank_row(t + "  ", typ="BUMP", bank_id="bump-early-r2"),
                bank_row(t, typ="BUMP", bank_id="bump-early-r3"),
            ]
        ),
        name="bank_bump_2.csv",
        order=2,
    )
    renew = parse(bank_file([bank_row(t, typ="RENEW", bank_id="renew-0")]), name="bank_renew.csv", order=1)
    results = []
    for files in ([logger, bump_late, bump_early, renew], [renew, bump_early, logger, bump_late]):
        stg, _, _ = build(*files)
        results.append(stg)
        cap = by_text(stg, t)
        # bump (type rank 1) beats renew (2) and logger (last); arrival 2 beats 5; row 2 beats row 3
        assert cap["bank_caption_id"] == "bump-early-r2"
        assert cap["first_seen_file_sha256"] == bump_early.file_sha256 and cap["first_seen_row_number"] == 2
        assert cap["caption_text"] == t  # display text of the first-seen row (trailing spaces trimmed)
        assert cap["caption_hash_raw"] == sha256_hex(t + "  ")
        assert cap["alias_ids"] == ["bump-early-r2", "bump-early-r3", "bump-late", "renew-0", "C10009"]
        assert cap["source_category"] == "bump" and cap["primary_category"] == "bump"
        assert cap["n_source_rows"] == 5
    assert results[0].equals(results[1])


# --- categories at bank level ----------------------------------------------------------------------------------------


def test_text_sent_as_ppv_and_free_accumulates_both_categories():
    t = "New set just dropped 📸 unlock to see the whole shoot"
    ppv = parse(bank_file([bank_row(t, typ="PPV")]), name="bank_ppv.csv", order=0)
    free = parse(logger_file([logger_row(t, typ="BUMP", price="$0")]), name="caption_logger_bump.csv", order=1)
    stg, _, _ = build(ppv, free)
    cap = by_text(stg, t)
    assert cap["categories"] == ["ppv", "bump"]
    assert cap["primary_category"] == "ppv" and cap["source_category"] == "ppv"
    only_free, _, _ = build(free)
    assert by_text(only_free, t)["categories"] == ["bump"]


def test_logger_price_drives_ppv_and_rule_categories_accumulate():
    renew = "Renew your sub today and get a gift https://of.example/renew"
    tip = "Send a tip if you want the full video"
    link = "New free page https://of.example/luna"
    log = parse(
        logger_file(
            [
                logger_row(renew, cid="C1"),
                logger_row(tip, cid="C2"),
                logger_row(link, cid="C3"),
                logger_row("Hidden set unlock", typ="BUMP", price="$9", cid="C4"),
            ]
        ),
        name="caption_logger_bump.csv",
    )
    stg, _, _ = build(log)
    assert by_text(stg, renew)["categories"] == ["renew", "bump"]  # rule hit + the logger's BUMP type
    assert by_text(stg, renew)["primary_category"] == "bump" and by_text(stg, renew)["contains_renew"]
    assert by_text(stg, renew)["has_link"]
    assert by_text(stg, tip)["categories"] == ["tip", "bump"] and by_text(stg, tip)["mentions_tip"]
    assert by_text(stg, link)["categories"] == ["link_drop", "bump"] and by_text(stg, link)["has_link"]
    assert by_text(stg, "Hidden set unlock")["categories"] == ["ppv", "bump"]  # PriceLastSent $9 > 0
    assert by_text(stg, "Hidden set unlock")["bank_price_usd"] == 9.0


def test_tip_bank_row_without_rule_hit_keeps_bank_type_primary():
    res = parse(bank_file([bank_row("Thank you for everything babe", typ="TIP")]), name="bank_tip.csv")
    stg, _, _ = build(res)
    cap = stg.row(0, named=True)
    assert cap["primary_category"] == "tip" and cap["source_category"] == "tip"
    assert cap["categories"] == ["tip", "bump"]


# --- quarantine rows and conservation ------------------------------------------------------------------------------


def test_quarantine_rows_have_the_9_1_columns():
    res = parse(bank_file([bank_row("")]), archive_uri="file:///archive/x.csv")
    _, _, q = build(res)
    row = q.row(0, named=True)
    assert row == {
        "quarantine_id": sha256_hex(f"{res.file_sha256}|1|empty_caption"),
        "source_kind": "caption_bank",
        "source_ref": res.file_sha256,
        "archive_uri": "file:///archive/x.csv",
        "row_number": 1,
        "reason_code": "empty_caption",
        "reason_detail": "caption cell is empty",
        "raw_row_json": row["raw_row_json"],
        "ingestion_run_id": "run-1",
        "quarantined_at": NOW,
        "is_replayable": False,
        "released_at": None,
        "released_by_run_id": None,
    }
    assert json.loads(row["raw_row_json"])["caption_type"] == "PPV"
    assert quarantine_id("abc", None, "x") == sha256_hex("abc||x")


def _conserved(files):
    stg, audit, q = build(*files)
    assert stg["caption_hash"].is_unique().all()
    return sum(f.n_input_rows for f in files), int(stg["n_source_rows"].sum() or 0) + q.height


def test_conservation_over_mixed_files():
    files = [
        parse(bank_file([bank_row("a good caption"), None, bank_row(""), bank_row("a good caption")]), order=0),
        parse(csv_bytes([CURATED_HEADER_26[:20], bank_row("rejected file row")]), name="bank_bump.csv", order=1),
        parse(
            logger_file([logger_row("A GOOD CAPTION"), logger_row("\ufffd\ufffd bad"), logger_row("new one here")]),
            name="caption_logger_bump.csv",
            order=2,
        ),
    ]
    n_in, n_out = _conserved(files)
    assert n_in == 7 and n_out == 7


_caption = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "ok",
            "\ufffd broken text",
            "forced scene here",
            "Stepmom and stepson",
            "hello there friend",
            "HELLO  there friend",
            "x" * 2001,
        ]
    ),
    st.text(max_size=30),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_caption, st.sampled_from(["PPV", "BUMP", "TIP", "RENEW"]), st.booleans()), max_size=12),
    st.lists(_caption, max_size=6),
)
def test_property_every_bank_row_is_staged_or_quarantined(bank_rows, logger_texts):
    rows = [None if blank else bank_row(text, typ=typ) for text, typ, blank in bank_rows]
    files = [
        parse(bank_file(rows), order=0),
        parse(
            logger_file([logger_row(t, cid=f"C{i:05d}") for i, t in enumerate(logger_texts)]),
            name="caption_logger_ppv.csv",
            order=1,
        ),
    ]
    stg, audit, q = build(*files)
    n_in = sum(f.n_input_rows for f in files)
    assert int(stg["n_source_rows"].sum() or 0) + q.height == n_in
    assert q["quarantine_id"].is_unique().all()
    flagged_hashes = set(stg.filter(pl.col("tos_status") == "flagged")["caption_id"])
    assert set(audit["caption_id"]) == flagged_hashes
