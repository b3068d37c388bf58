"""The caption library at the pure level (10-ingestion §10, 20-warehouse §3.4): curated bank CSVs and a caption
logger export → parse_caption_bank_file → build_stg_caption_bank → build_dim_caption (+ report captions), with the
TOS audit of both sources. Every count is exact and derived in the comments from the fixture."""

from __future__ import annotations

import polars as pl
import pytest

from of_scheduler_assets.identity import caption_id
from of_scheduler_assets.layer_02_staging.reference import build_stg_caption_bank, parse_caption_bank_file
from of_scheduler_assets.layer_02_staging.reference_schemas import StgCaptionBank, TosAuditRows
from of_scheduler_assets.layer_02_staging.tos import RULES_VERSION, evaluate_tos
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.library import caption_library_counts, report_tos_audit
from of_scheduler_assets.layer_03_foundation.schemas import DimCaption
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP, NOW, event, events
from of_scheduler_assets_tests.reference.helpers import CURATED_HEADER_26, csv_bytes, logger_file, logger_row, sha

# bank texts
P = "Unlock my beach set tonight 🌊"
P_RESTYLED = "UNLOCK my beach set TONIGHT 🌊"  # same caption_norm after casefold → same caption
U = "Step mom flashback: me at 17 yo 😳"  # A2 (cleared by the step-parent allowlist) + A3 (never cleared)
S = "Your step mom has a naughty surprise for you 😈"  # A2 only → cleared by the allowlist → clean
G = "Good morning babe ☕ wanna see more?"
L = "Missed you today, reply and tell me about it"
# report-only texts
R = "Movie night bundle 🎬🍿 3 videos for one price, tonight only!"
F = "I was forced to stay in bed all day, come cheer me up 😘"  # B2_force
MOJIBAKE = "piss\ufffd off"  # would be D1, but U+FFFD keeps it out of the library (and the audit)
SHORT = "hi"
LEGACY_ID = sha("legacy:" + P)


def curated_row(bank_id: str, text: str, typ: str, extra: int = 0) -> list[str]:
    """The curated bank's 16 positional values (+ ``extra`` stray values for the rejected file)."""
    words = str(len(text.split()))
    flags = ["False", "False", "False", "False", str(typ == "PPV"), str(typ != "TIP"), str(typ == "TIP")]
    row = [bank_id, text, typ, "2025-02-03T10:00:00Z", "Sheet.xlsx", "ACTIVE", str(len(text)), words, "0", *flags]
    assert len(row) == 16
    return row + ["x"] * extra


FILES = {
    # 26 header names, 16 values per row (the real misalignment): read by position with a warning
    "bank_ppv.csv": csv_bytes(
        [
            CURATED_HEADER_26,
            curated_row(sha(P), P, "PPV"),  # row 1
            curated_row(LEGACY_ID, P, "PPV"),  # row 2: same text under another bank id
            None,  # row 3: blank, counted, never quarantined
            curated_row(sha("ok"), "ok", "PPV"),  # row 4: too short → quarantine
            curated_row(sha(U), U, "PPV"),  # row 5: flagged (A3)
            curated_row(sha(P_RESTYLED), P_RESTYLED, "PPV"),  # row 6: same caption as row 1
        ],
        bom=True,
    ),
    "bank_bump.csv": csv_bytes(
        [CURATED_HEADER_26, curated_row(sha(S), S, "BUMP"), curated_row(sha(G), G, "BUMP")], bom=False
    ),
    # logger export: ID C10001 repeats with a different text; U again (a second flagged input row)
    "caption_logger_bump.csv": logger_file(
        [
            logger_row(G, cid="C10001", last="2026-01-15 14:30", by="Kit", page="Luna Example (paid)"),
            logger_row(L, cid="C10001", tag="SOLO"),
            logger_row(U, typ="PPV", price="$15", cid="C10002"),
        ]
    ),
    # 26 header names, 17 values per row: any other mismatch rejects the whole file
    "bank_tip.csv": csv_bytes(
        [
            CURATED_HEADER_26,
            curated_row(sha("Send a tip for a surprise"), "Send a tip for a surprise", "TIP", extra=1),
            curated_row(sha("Tip me $5 and see"), "Tip me $5 and see", "TIP", extra=1),
        ]
    ),
}


@pytest.fixture(scope="module")
def library():
    parsed = {
        name: parse_caption_bank_file(data, file_name=name, file_sha256=sha(data), arrival_order=i)
        for i, (name, data) in enumerate(FILES.items())
    }
    stg_bank, bank_audit, quarantine = build_stg_caption_bank(
        list(parsed.values()), checked_at=NOW, ingestion_run_id="run-1"
    )
    stg_events = events(
        event(P, message_id="m1", row_number=1),  # bank caption also sent → source both
        event(R, message_id="m1", row_number=2, price_cents=2200, purchased=1, earnings="22.00"),
        event(F, message_id="m1", row_number=3, price_cents=0, purchased=0, earnings="0"),
        event(MOJIBAKE, message_id="m1", row_number=4, price_cents=0, purchased=0, earnings="0"),
        event(SHORT, message_id="m1", row_number=5, price_cents=0, purchased=0, earnings="0"),
        event(F, message_id="m2", row_number=1, price_cents=0, purchased=0, earnings="0"),  # next day's snapshot
        event(U, message_id="m2", row_number=2),  # the bank-flagged caption was also sent
    )
    report_audit = report_tos_audit(stg_events, checked_at=NOW, rules_version=RULES_VERSION)
    dim = T.build_dim_caption(stg_bank, T.report_captions(stg_events), None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    audit = pl.concat([bank_audit, report_audit], how="vertical")
    return {
        "parsed": parsed,
        "stg_bank": stg_bank,
        "bank_audit": bank_audit,
        "report_audit": report_audit,
        "audit": audit,
        "quarantine": quarantine,
        "dim": dim,
    }


def test_fixture_is_in_the_real_raw_format():
    for name in ("bank_ppv.csv", "bank_bump.csv", "bank_tip.csv"):
        data = FILES[name]
        lines = data.split(b"\r\n")
        assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
        assert lines[0].lstrip(b"\xef\xbb\xbf").count(b",") == 25  # 26 header names
    assert FILES["bank_ppv.csv"].startswith(b"\xef\xbb\xbf")


def test_tos_rules_behind_the_fixture():
    tos = evaluate_tos(pl.Series([U, S, F, P, G, L, R])).to_dicts()
    u, s, f = tos[0], tos[1], tos[2]
    assert "A2_parental" in u["raw_rule_ids"] and u["allowlist_cleared"]
    assert u["violation_rule_ids"] == ["A3_underage_numeric"] and u["tos_status"] == "flagged"  # A3 never cleared
    assert s["raw_rule_ids"] == ["A2_parental"] and s["violation_rule_ids"] == [] and s["tos_status"] == "clean"
    assert f["violation_rule_ids"] == ["B2_force"]
    assert all(r["tos_status"] == "clean" for r in tos[3:])


def test_file_parsing_warnings_and_rejection(library):
    ppv, bump, logger, tip = (library["parsed"][n] for n in FILES)
    assert (ppv.file_format, ppv.file_type, ppv.encoding) == ("curated", "ppv", "utf-8-sig")
    assert (ppv.n_input_rows, ppv.n_blank_rows, ppv.rows.height) == (5, 1, 4)
    assert len(ppv.warnings) == 1 and ppv.warnings[0].startswith("header_field_mismatch")
    assert "read by position" in ppv.warnings[0] and ppv.file_reason is None
    assert bump.rows.height == 2 and bump.warnings[0].startswith("header_field_mismatch")
    assert (logger.file_format, logger.rows.height, logger.warnings) == ("logger", 3, [])
    # 26 names / 17 values: rejected, every row quarantined with the reason
    assert tip.file_reason == "header_field_mismatch" and tip.rows.height == 0
    assert "file rejected" in tip.warnings[0]
    assert [q["reason_code"] for q in tip.quarantine] == ["header_field_mismatch"] * 2
    assert [q["row_number"] for q in tip.quarantine] == [1, 2]


def test_quarantine_rows(library):
    q = library["quarantine"].sort("source_ref", "row_number")
    # ppv row 4 ("ok") + both rows of the rejected tip file; the blank row is counted, not quarantined
    assert q.height == 3
    got = sorted(zip(q["source_ref"], q["row_number"], q["reason_code"], strict=True))
    assert got == sorted(
        [
            (sha(FILES["bank_ppv.csv"]), 4, "caption_length_out_of_range"),
            (sha(FILES["bank_tip.csv"]), 1, "header_field_mismatch"),
            (sha(FILES["bank_tip.csv"]), 2, "header_field_mismatch"),
        ]
    )
    assert set(q["source_kind"]) == {"caption_bank"}


def test_staging_dedup_and_aliases(library):
    stg = library["stg_bank"]
    StgCaptionBank.validate(stg)
    # P (3 rows: 2 ids of the same text + the restyled text), U (ppv + logger), S, G (bump + logger), L
    assert stg.height == 5
    by_id = {r["caption_id"]: r for r in stg.to_dicts()}
    p = by_id[caption_id(P)]
    assert p["bank_caption_id"] == sha(P) and p["caption_text"] == P  # first seen survives
    assert p["alias_ids"] == [sha(P), LEGACY_ID, sha(P_RESTYLED)] and p["n_source_rows"] == 3
    assert by_id[caption_id(U)]["alias_ids"] == [sha(U), "C10002"]
    assert by_id[caption_id(G)]["alias_ids"] == [sha(G), "C10001"]
    assert by_id[caption_id(L)]["alias_ids"] == ["C10001"]  # the repeated logger id stays on both captions
    assert by_id[caption_id(U)]["tos_status"] == "flagged"
    assert by_id[caption_id(U)]["tos_rule_ids"] == ["A3_underage_numeric"]
    assert by_id[caption_id(S)]["tos_status"] == "clean"
    assert set(stg["rules_version"]) == {RULES_VERSION}


def test_audit_rows_bank_and_report_before_dedup(library):
    bank_audit, report_audit, audit = library["bank_audit"], library["report_audit"], library["audit"]
    TosAuditRows.validate(audit)
    # bank: U in bank_ppv.csv row 5 and in the logger row 3 (one caption, two input rows)
    assert sorted(zip(bank_audit["source_ref"], bank_audit["row_number"], strict=True)) == sorted(
        [(sha(FILES["bank_ppv.csv"]), 5), (sha(FILES["caption_logger_bump.csv"]), 3)]
    )
    assert set(bank_audit["caption_id"]) == {caption_id(U)}
    # report: F in m1 row 3 and m2 row 1, U in m2 row 2; the U+FFFD row and the too-short row never enter
    assert list(zip(report_audit["source_ref"], report_audit["row_number"], strict=True)) == [
        ("m1", 3),
        ("m2", 1),
        ("m2", 2),
    ]
    assert report_audit["caption_id"].to_list() == [caption_id(F), caption_id(F), caption_id(U)]
    assert report_audit["violation_rule_ids"].to_list() == ["B2_force", "B2_force", "A3_underage_numeric"]
    assert report_audit["price_usd"].to_list() == [0.0, 0.0, 10.0]
    assert set(report_audit["source_kind"]) == {"report"}
    assert set(report_audit["rules_version"]) == {RULES_VERSION}
    assert report_audit["violation_reasons"].str.starts_with(report_audit["violation_rule_ids"]).all()
    assert audit.height == 5


def test_dim_caption_library(library):
    dim = library["dim"]
    DimCaption.validate(dim)
    cur = dim.filter(pl.col("is_current"))
    # 5 bank captions + R and F from reports; MOJIBAKE and SHORT never enter
    assert cur.height == dim.height == 7
    assert set(cur["caption_id"]) == {caption_id(t) for t in (P, U, S, G, L, R, F)}
    by_id = {r["caption_id"]: r for r in cur.to_dicts()}
    p = by_id[caption_id(P)]
    assert p["bank_ids"] == sorted([sha(P), LEGACY_ID, sha(P_RESTYLED)]) and p["source"] == "both"
    assert by_id[caption_id(U)]["source"] == "both" and by_id[caption_id(R)]["source"] == "report"
    assert by_id[caption_id(G)]["bank_ids"] == sorted([sha(G), "C10001"])
    flagged = cur.filter(pl.col("tos_status") == "flagged")
    assert sorted(flagged["caption_id"]) == sorted([caption_id(U), caption_id(F)])
    assert not flagged["is_active"].any() and cur.filter(pl.col("tos_status") == "clean")["is_active"].all()
    assert by_id[caption_id(U)]["tos_rule_ids"] == ["A3_underage_numeric"]
    assert by_id[caption_id(F)]["tos_rule_ids"] == ["B2_force"]
    assert by_id[caption_id(S)]["tos_status"] == "clean"  # the step-parent allowlist cleared A2


def test_caption_library_counts(library):
    counts = caption_library_counts(library["stg_bank"], library["dim"], library["audit"])
    assert counts == {
        "bank_captions": 5,
        # sha(P), LEGACY_ID, sha(P_RESTYLED), sha(U), C10002, sha(S), sha(G), C10001 (on G and L, counted once)
        "bank_alias_ids": 8,
        "library_captions": 7,
        "library_active": 5,
        "flagged_captions": 2,
        "audit_rows": 5,
        "audit_rows_bank": 2,
        "audit_rows_report": 3,
    }
    assert caption_library_counts(None, None, None)["library_captions"] == 0


def test_report_tos_audit_evaluates_each_text_once(monkeypatch):
    from of_scheduler_assets.layer_03_foundation import library as lib

    seen: list[int] = []
    real = lib.evaluate_tos

    def spy(texts):
        seen.append(texts.len())
        return real(texts)

    monkeypatch.setattr(lib, "evaluate_tos", spy)
    stg = events(
        *[event(F, message_id=f"m{i}", row_number=1, price_cents=0, earnings="0", purchased=0) for i in range(50)]
    )
    out = lib.report_tos_audit(stg, checked_at=NOW, rules_version="v-test")
    assert seen == [1] and out.height == 50 and set(out["rules_version"]) == {"v-test"}
    assert report_tos_audit(stg.head(0), checked_at=NOW, rules_version="v").schema == out.schema
