"""Determinism (seed, worker count), wiping, and the exactness of the faults manifest."""

from __future__ import annotations

import email
import hashlib
import json
import re
import zipfile
from collections import Counter
from email import policy
from pathlib import Path

import openpyxl

from of_scheduler_assets.sample.faults import KINDS
from of_scheduler_assets.sample.generate import generate

from .conftest import TIME_RE, num, read_xlsx


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "warehouse.duckdb"
    }


def test_same_seed_identical_bytes_any_worker_count_and_wipe(tmp_path):
    out = tmp_path / "w"
    kw = dict(scale=0.03, seed=5, days=10, faults=0.3)
    generate(out, workers=1, **kw)
    first = _hashes(out)
    (out / "warehouse.duckdb").write_bytes(b"keep me")
    stale = out / "downloads" / "stale_page__free" / "old.xlsx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    generate(out, workers=3, **kw)
    assert (out / "warehouse.duckdb").read_bytes() == b"keep me" and not stale.exists()
    second = _hashes(out)
    assert first == second and len(first) > 50
    generate(out, workers=2, **{**kw, "seed": 6})
    third = _hashes(out)
    changed = [k for k in first if k.endswith(".xlsx") and third.get(k) != first[k]]
    assert len(changed) >= len([k for k in first if k.endswith(".xlsx")]) // 2


def test_xlsx_zip_entries_have_fixed_timestamps(main_world):
    out, _ = main_world
    p = next((out / "downloads").rglob("*.xlsx"))
    with zipfile.ZipFile(p) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "xl/workbook.xml" in z.namelist()


def test_no_faults_gives_empty_manifest(main_world):
    out, m = main_world
    assert json.loads((out / "faults_manifest.json").read_text()) == []
    assert m["counts"]["faults"] == 0


def _row_anomalies(header, row) -> set[str]:
    """A small independent validator for one report row (reasons and anomaly flags of 10-ingestion §5)."""
    alias = {"views": "viewed", "withdrawn_by": "withdrawn by"}
    h = {}
    for i, k in enumerate(header):
        name = (k or "").strip().lower()
        h.setdefault(alias.get(name, name), i)
    get = lambda name: row[h[name]] if name in h and h[name] < len(row) else None  # noqa: E731
    out = set()
    msg, t, status = get("message"), get("sending time"), get("status")
    if msg == "Total":
        return {"summary_row"}
    if not (
        hasattr(t, "year")
        or isinstance(t, float)
        or (isinstance(t, str) and TIME_RE.match(" ".join(t.split())) and not t.startswith("Sept"))
    ):
        return {"unparsable_timestamp"}
    if isinstance(t, str) and ("2012" in t):
        out.add("implausible_timestamp")
    if isinstance(t, str) and t.startswith("Mar 08, 2026 at 02"):
        out.add("dst_gap_shifted")
    price_s = get("price")
    if isinstance(price_s, str) and price_s.startswith("("):
        return {"negative_amount"}
    if price_s == "abc":
        return {"unparsable_price"}
    price = num(price_s)
    if price > 1000:
        return {"implausible_price"}
    vals = {}
    for k in ("sent", "viewed", "purchased"):
        v = get(k)
        if v in (None, ""):
            out.add("missing_sent" if k == "sent" else "missing_count")
            vals[k] = None
            continue
        x = num(v)
        if x < 0:
            return {"negative_count"}
        if x != int(x):
            return {"non_integer_count"}
        vals[k] = x
    if "missing_sent" in out:
        return {"missing_sent"}
    if not msg and price == 0:
        return {"empty_free_message"}
    e = get("earnings")
    if e in (None, ""):
        out.add("earnings_imputed")
    s, v, p = vals["sent"], vals["viewed"], vals["purchased"]
    if v is not None and v > s:
        out.add("view_gt_sent")
    if p is not None and v is not None and p > v:
        out.add("purchase_gt_view")
    if e not in (None, "") and p is not None and abs(num(e) - price * p) > 0.01:
        out.add("earnings_mismatch")
    if e not in (None, "") and num(e) > price * s:
        out.add("earnings_gt_max")
    if price == 0 and p:
        out.add("free_with_purchases")
    if s == 0 and (v or p):
        out.add("zero_sent_with_activity")
    if status not in ("sent", "unsent"):
        out.add("unknown_status")
    if status == "unsent" and not get("withdrawn by"):
        out.add("unsent_without_withdrawer")
    return out


def test_faults_manifest_is_exact(faulty_world):
    out, m = faulty_world
    recs = json.loads((out / "faults_manifest.json").read_text())
    assert {r["kind"] for r in recs} >= set(KINDS)  # every injectable catalogue case occurs
    assert all(r["fault_id"] and r["scope"] in ("row", "report", "file", "email") for r in recs)
    listed: dict[tuple[str, int], set] = {}
    report_level = {}
    for r in recs:
        if r["message_id"] is None:
            continue
        if r["scope"] == "row":
            listed.setdefault((r["file"], r["row_number"]), set()).add(r["kind"])
        else:
            report_level[r["file"]] = r
    # every report file: anomalous rows are exactly the listed rows (row faults with a reason or flag)
    found = {}
    for p in sorted((out / "downloads").rglob("*.xlsx")):
        rec = report_level.get(str(p))
        if rec and rec["kind"] in (
            "corrupt_workbook",
            "html_as_xlsx",
            "tiny_file",
            "zip_not_workbook",
            "empty_first_sheet",
            "missing_sent_column",
            "duplicate_price_column",
        ):
            continue
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        rows = [list(x) for x in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
        hi = next(i for i, r in enumerate(rows) if r and r[0] in ("Message", "message"))
        header, data = rows[hi], rows[hi + 1 :]
        for i, row in enumerate(data, start=1):
            if not any(c not in (None, "") for c in row):
                continue
            row = row + [None] * (len(header) - len(row))
            an = _row_anomalies(header, row)
            if "creator " in header and row[header.index("creator ")]:
                pass
            if an:
                found[(str(p), i)] = an
    expected = {
        k: v
        for k, v in listed.items()
        if any(KINDS[kind][2] in ("quarantined", "staged_with_flag") for kind in v)
        and not v <= {"creator_column_mismatch", "identical_row", "time_dst_gap", "time_future"}
    }
    found = {k: v for k, v in found.items() if k[0].endswith(".xlsx")}
    assert len(expected) >= 20 and len(found) >= len(expected)
    missing = set(expected) - set(found)
    unlisted = set(found) - set(listed)
    assert not unlisted, sorted(unlisted)[:5]
    assert not missing, sorted(missing)[:5]
    for key, kinds in listed.items():
        if key in found:
            reasons = {KINDS[k][3] for k in kinds}
            assert reasons & found[key], (key, kinds, found[key])


def test_each_fault_present_in_its_file(faulty_world):
    out, _ = faulty_world
    recs = json.loads((out / "faults_manifest.json").read_text())
    by_kind = {}
    for r in recs:
        by_kind.setdefault(r["kind"], r)
    eml = lambda r: email.message_from_bytes(Path(r["file"]).read_bytes(), policy=policy.default)  # noqa: E731
    assert "file://" not in Path(by_kind["no_download_link"]["file"]).read_text()
    body = Path(by_kind["page_name_absent"]["file"]).read_bytes()
    assert not re.search(rb"requested for", body)
    m = eml(by_kind["plain_text_only"])
    assert m.get_content_type() == "text/plain"
    assert "Both Pages" in "".join(
        p.get_content() for p in eml(by_kind["both_pages_name"]).walk() if p.get_content_type() == "text/html"
    )
    for k in ("html_as_xlsx", "html_error_page"):
        assert Path(by_kind[k]["file"]).read_bytes()[:15].lower().startswith(b"<!doctype html")
    assert Path(by_kind["tiny_file"]["file"]).stat().st_size < 1000
    with zipfile.ZipFile(by_kind["zip_not_workbook"]["file"]) as z:
        assert "xl/workbook.xml" not in z.namelist()
    assert not Path(
        re.search(r'href="file://([^"]+)"', eml(by_kind["missing_file"]).get_body(("html",)).get_content())[1]
    ).exists()
    try:
        openpyxl.load_workbook(by_kind["corrupt_workbook"]["file"])
        raise AssertionError("corrupt workbook opened")
    except AssertionError:
        raise
    except Exception:  # noqa: BLE001
        pass
    header, rows = read_xlsx(Path(by_kind["missing_sent_column"]["file"]))
    assert "Sent" not in header
    header, rows = read_xlsx(Path(by_kind["duplicate_price_column"]["file"]))
    assert "Price" in header and "Amount" in header
    header, rows = read_xlsx(Path(by_kind["headers_only"]["file"]))
    assert rows == []
    wb = openpyxl.load_workbook(by_kind["empty_first_sheet"]["file"], read_only=True)
    assert wb.worksheets[0].max_row in (None, 0, 1) and len(wb.worksheets) == 2
    csvb = Path(by_kind["csv_instead_of_xlsx"]["file"]).read_bytes()
    assert csvb.startswith(b"\xef\xbb\xbfMessage,Sending time")
    r = by_kind["summary_row"]
    header, rows = read_xlsx(Path(r["file"]))
    assert rows[r["row_number"] - 1][0] == "Total"
    r = by_kind["identical_row"]
    header, rows = read_xlsx(Path(r["file"]))
    assert rows[r["row_number"] - 1] in (
        rows[r["row_number"] - 2],
        rows[r["row_number"]] if r["row_number"] < len(rows) else None,
    )
    r = by_kind["message_br_tags"]
    header, rows = read_xlsx(Path(r["file"]))
    assert "<br>" in rows[r["row_number"] - 1][0]
    r = by_kind["time_dst_gap"]
    header, rows = read_xlsx(Path(r["file"]))
    assert rows[r["row_number"] - 1][1] == "Mar 08, 2026 at 02:30 AM"
    r = by_kind["time_future"]
    header, rows = read_xlsx(Path(r["file"]))
    assert TIME_RE.match(rows[r["row_number"] - 1][1])
    r = by_kind["creator_column_mismatch"]
    header, rows = read_xlsx(Path(r["file"]))
    assert rows[r["row_number"] - 1][header.index("creator ")]
    dup = by_kind["duplicate_message_id"]
    assert Path(dup["file"]).read_bytes() == Path(dup["email_file"]).read_bytes()
    ws = eml(by_kind["wrong_sender"])
    assert "no-reply@infloww.com" not in ws["From"]
    bank = [r for r in recs if r["kind"].startswith(("bank_", "stats_", "assignment_"))]
    assert {r["expected_reason"] for r in bank} >= {
        "mojibake",
        "empty_caption",
        "caption_length_out_of_range",
        "header_field_mismatch",
        "missing_period",
        "unparsable_period",
        "missing_scheduler",
    }
    for r in bank:
        if r["row_number"]:
            import csv
            import io

            rows = list(csv.reader(io.StringIO(Path(r["file"]).read_bytes().decode("utf-8-sig"), newline="")))
            row = rows[r["row_number"]]
            if r["expected_reason"] == "mojibake":
                assert "\ufffd" in row[1]
            elif r["expected_reason"] == "missing_period":
                assert row[0] == ""
            elif r["expected_reason"] == "missing_scheduler":
                assert row[0] == ""
    outcomes = Counter(r["expected_outcome"] for r in recs)
    assert outcomes["quarantined"] and outcomes["report_quarantined"] and outcomes["failed"]
