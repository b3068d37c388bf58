"""read_csv_text: RFC 4180, encodings, blank rows (catalogue #27 CSV part, #31, #33 blanks)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from of_scheduler_assets.layer_02_staging.reference import read_csv_text

from .helpers import csv_bytes


def test_quoted_lf_inside_field_with_crlf_records():
    data = b'a,b\r\n"line one\nline two",x\r\n"say ""hi""",y\r\n'
    header, rows, meta = read_csv_text(data)
    assert header == ["a", "b"]
    assert rows == [["line one\nline two", "x"], ['say "hi"', "y"]]
    assert meta["row_numbers"] == [1, 2]
    assert meta["encoding"] == "utf-8" and meta["had_bom"] is False


def test_utf8_bom_is_stripped_and_recorded():
    data = csv_bytes([["Preview", "Type"], ["Café ☕ night", "BUMP"]], bom=True)
    header, rows, meta = read_csv_text(data)
    assert header[0] == "Preview"  # no BOM glued to the first header name
    assert rows == [["Café ☕ night", "BUMP"]]
    assert meta["encoding"] == "utf-8-sig" and meta["had_bom"] is True


def test_latin1_fallback_reads_text_and_records_encoding():
    data = "caption_text,x\r\nCafé crème señorita,1\r\n".encode("latin-1")
    header, rows, meta = read_csv_text(data)
    assert rows == [["Café crème señorita", "1"]]
    assert meta["encoding"] == "latin-1"


def test_blank_rows_are_skipped_counted_and_keep_row_numbering():
    data = csv_bytes([["a", "b"], ["1", "2"], None, [" ", ""], ["3", "4"], None])
    header, rows, meta = read_csv_text(data)
    assert rows == [["1", "2"], ["3", "4"]]
    assert meta["n_blank_rows"] == 3
    assert meta["row_numbers"] == [1, 4]  # blank records still occupy a row number
    assert meta["blank_row_numbers"] == [2, 3, 5]
    assert meta["n_records"] == 5


def test_lf_only_file_and_no_trailing_newline():
    header, rows, meta = read_csv_text(b"a,b\n1,2\n3,4")
    assert rows == [["1", "2"], ["3", "4"]]


def test_empty_input():
    header, rows, meta = read_csv_text(b"")
    assert header == [] and rows == [] and meta["n_blank_rows"] == 0


_cell = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    ncols=st.integers(1, 5),
    data=st.data(),
    bom=st.booleans(),
)
def test_property_every_record_is_a_row_or_a_counted_blank(ncols, data, bom):
    header = data.draw(
        st.lists(st.text(st.characters(categories=("L", "N")), min_size=1, max_size=6), min_size=ncols, max_size=ncols)
    )
    body = data.draw(st.lists(st.one_of(st.none(), st.lists(_cell, min_size=ncols, max_size=ncols)), max_size=15))
    raw = csv_bytes([header, *body], bom=bom)
    got_header, rows, meta = read_csv_text(raw)
    # what a reference RFC 4180 reader sees, record by record
    ref = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))[1:]
    expected = [r for r in ref if not all(not c.strip() for c in r)]
    assert got_header == header
    assert rows == expected
    assert len(rows) + meta["n_blank_rows"] == len(body) == meta["n_records"]
    # conservation: every written non-blank record comes back exactly, in order
    written = [r for r in body if r is not None and not all(not c.strip() for c in r)]
    assert rows == written
    assert sorted(meta["row_numbers"] + meta["blank_row_numbers"]) == list(range(1, len(body) + 1))
