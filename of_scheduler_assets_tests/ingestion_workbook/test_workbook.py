"""Report reader (spec 10-ingestion §3, §4, §9.2, §14 cases 10-14 and 31)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import zipfile

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from hypothesis import given
from hypothesis import strategies as st

from of_scheduler_assets.layer_01_raw.workbook import (
    STD_COLUMNS,
    ReportRejected,
    ReportTable,
    map_headers,
    normalise_header,
    normalise_headers,
    read_report,
)

HEADER = [
    "Message",
    "Sending time",
    "Sender",
    "Status",
    "Price",
    "Sent",
    "Viewed",
    "Purchased",
    "Earnings",
    "Withdrawn by",
]

# §3.3, byte-exact ("⏎" is a real line break).
EXAMPLE_ROWS = [
    [
        "Good morning! ☕ Who wants to start the day with me? 💕",
        "Sep 14, 2025 at 09:05 AM",
        "SD Nova",
        "unsent",
        "-",
        "48215",
        "612",
        "0",
        "$0.00",
        "SD Nova",
    ],
    [
        "New set just dropped 📸\nBeach day vibes… unlock to see the whole shoot 🌊",
        "Sep 13, 2025 at 08:40 PM",
        "SD Nova",
        "sent",
        "$15.00",
        "48190",
        "1377",
        "4",
        "$60.00",
        None,
    ],
    [
        "Did you miss me? 😘 Check your inbox &amp; tell me what you think",
        "Sep 13, 2025 at 02:10 PM",
        "Rowan",
        "unsent",
        "-",
        "48170",
        "455",
        "0",
        "$0.00",
        "SD Nova",
    ],
    [
        "Movie night bundle 🎬🍿 3 videos for one price, tonight only!",
        "Sep 12, 2025 at 11:30 PM",
        "Rowan",
        "sent",
        "$22.00",
        "48102",
        "903",
        "1",
        "$22.00",
        None,
    ],
    [
        "𝒯𝒽𝒶𝓃𝓀 𝓎𝑜𝓊 for being here 💖 a little surprise is waiting for you",
        "Sep 12, 2025 at 07:02 AM",
        "SD Nova",
        "sent",
        "$5.00",
        "48098",
        "1120",
        "0",
        "$0.00",
        None,
    ],
]

EXPECTED_COLUMNS = ["row_number", *STD_COLUMNS, "creator", "extra_cols_json"]


def xlsx(sheets: dict[str, list[list]] | list[list], *, datetime_format: str = "yyyy-mm-dd hh:mm:ss") -> bytes:
    """Write sheets of rows with xlsxwriter; None = no cell; str = string cell; int/float = number cell;
    datetime/date = datetime cell; ("blankfmt",) = a formatted blank cell."""
    if isinstance(sheets, list):
        sheets = {"Sheet1": sheets}
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False})
    dfmt = wb.add_format({"num_format": datetime_format})
    bold = wb.add_format({"bold": True})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, tuple):
                    ws.write_blank(r, c, None, bold)
                elif isinstance(v, str):
                    ws.write_string(r, c, v)
                elif isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, (int, float)):
                    ws.write_number(r, c, v)
                elif isinstance(v, (dt.datetime, dt.date)):
                    ws.write_datetime(r, c, v, dfmt)
                else:
                    raise TypeError(v)
    wb.close()
    return buf.getvalue()


def rows_as_lists(table: ReportTable, cols=STD_COLUMNS) -> list[list]:
    return [list(r) for r in table.rows.select(list(cols)).iter_rows()]


# ---------------------------------------------------------------------------------------------------------------
# §3.3 exact format


def test_example_rows_read_back_byte_exact():
    t = read_report(xlsx([HEADER, *EXAMPLE_ROWS]), "xlsx")
    assert rows_as_lists(t) == EXAMPLE_ROWS
    assert t.rows["row_number"].to_list() == [1, 2, 3, 4, 5]
    assert t.header_row_index == 0
    assert t.flags == []
    assert t.n_blank_rows == 0
    assert t.source_headers == HEADER
    assert t.header_map == dict(zip(HEADER, STD_COLUMNS, strict=True))
    assert t.rows["extra_cols_json"].to_list() == ["{}"] * 5


def test_schema_is_all_text_with_int_row_number():
    t = read_report(xlsx([HEADER, *EXAMPLE_ROWS]), "xlsx")
    assert t.rows.columns == EXPECTED_COLUMNS
    assert t.rows.schema["row_number"] == pl.Int64
    for c in EXPECTED_COLUMNS[1:]:
        assert t.rows.schema[c] == pl.String, c


def test_strings_keep_spaces_crlf_entities_and_empty_is_null():
    msg = "  Hi &amp; bye \r\nline two\u00a0…  “quoted” \u200b💁\u200d♀️ "
    rows = [HEADER, [msg, "Sep 2, 2025 at 3:04 PM", " SD Nova ", "sent", "$7.00", "50,312", "", "   ", "9.0", None]]
    t = read_report(xlsx(rows), "xlsx")
    r = t.rows.row(0, named=True)
    assert r["message"] == msg
    assert r["sending_time"] == "Sep 2, 2025 at 3:04 PM"
    assert r["sender"] == " SD Nova "
    assert r["sent"] == "50,312"
    assert r["viewed"] is None  # empty string cell -> null
    assert r["purchased"] == "   "  # whitespace kept as-is
    assert r["earnings"] == "9.0"  # a text cell is never re-rendered
    assert r["withdrawn_by"] is None


def test_number_cells_render_in_shortest_form_text_cells_untouched():
    rows = [
        HEADER,
        ["a", "Sep 14, 2025 at 09:05 AM", "SD Nova", "sent", 7, 50312.0, 7.5, 0, 9.0, None],
        ["b", "Sep 14, 2025 at 09:05 AM", "SD Nova", "sent", "7.00", "50312.0", 1377, 4.0, 0.25, None],
    ]
    t = read_report(xlsx(rows), "xlsx")
    assert rows_as_lists(t, ["price", "sent", "viewed", "purchased", "earnings"]) == [
        ["7", "50312", "7.5", "0", "9"],
        ["7.00", "50312.0", "1377", "4", "0.25"],
    ]


def test_datetime_cells_become_iso_text_cells_that_look_alike_stay():
    rows = [
        HEADER,
        ["a", dt.datetime(2025, 9, 14, 0, 13), "x", "sent", "-", 1, 1, 0, "$0.00", None],
        ["b", "2025-09-14 00:13:00", "x", "sent", "-", 1, 1, 0, "$0.00", None],
        ["c", dt.date(2025, 9, 2), "x", "sent", "-", 1, 1, 0, "$0.00", None],
        ["d", dt.datetime(2025, 9, 13, 20, 40, 59), "x", "sent", "-", 1, 1, 0, "$0.00", None],
        ["e", 45914.5, "x", "sent", "-", 1, 1, 0, "$0.00", None],  # a serial left as a plain number
    ]
    t = read_report(xlsx(rows), "xlsx")
    assert t.rows["sending_time"].to_list() == [
        "2025-09-14T00:13:00",
        "2025-09-14 00:13:00",
        "2025-09-02T00:00:00",
        "2025-09-13T20:40:59",
        "45914.5",
    ]


def test_datetime_cell_display_format_does_not_matter():
    rows = [HEADER, ["a", dt.datetime(2025, 9, 14, 23, 5), "x", "sent", "-", 1, 1, 0, "$0.00", None]]
    t = read_report(xlsx(rows, datetime_format="mmm d, yyyy h:mm AM/PM"), "xlsx")
    assert t.rows["sending_time"].to_list() == ["2025-09-14T23:05:00"]


# ---------------------------------------------------------------------------------------------------------------
# §14 #11: sheets, titles, blanks, totals


def test_case_11_title_rows_blank_rows_total_row_extra_sheets_trailing_blanks():
    r1, r2, r3 = EXAMPLE_ROWS[0], EXAMPLE_ROWS[1], EXAMPLE_ROWS[2]
    total = ["Total", None, None, None, None, "144575", "2444", "4", "$60.00", None]
    sheet = [
        ["OF mass message history"],  # row 0: title
        ["Luna Example Paid", None, "exported Sep 14, 2025"],  # row 1: subtitle
        [],  # row 2
        [*HEADER, None, None],  # row 3: header
        r1,  # row_number 1
        [],  # 2 blank
        [None, "", "   "],  # 3 whitespace-only -> blank
        r2,  # 4
        r3,  # 5
        total,  # 6: summary row stays an input row
        [],
        [None] * 12 + [("blankfmt",)],  # trailing formatted blank cell far right
        ["", None, "  "],  # trailing whitespace-only row
    ]
    data = xlsx({"Report": sheet, "Notes": [["something else", "Message", "Sending time"]]})
    t = read_report(data, "xlsx")
    assert t.sheet_names == ["Report", "Notes"]
    assert "extra_sheets_ignored" in t.flags
    assert t.header_row_index == 3
    assert t.rows["row_number"].to_list() == [1, 4, 5, 6]
    assert t.n_blank_rows == 2
    assert rows_as_lists(t) == [r1, r2, r3, total]
    assert t.source_headers == HEADER  # trailing blank columns dropped
    assert t.rows["extra_cols_json"].to_list() == ["{}"] * 4
    # row_number points at the sheet: Excel row = header_row_index + 1 + row_number
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    excel_rows = {i + 1: [c.value for c in row] for i, row in enumerate(ws.iter_rows())}
    for rn, msg in zip(t.rows["row_number"], t.rows["message"], strict=True):
        assert excel_rows[t.header_row_index + 1 + rn][0] == msg


def test_case_11_empty_first_sheet_with_data_elsewhere_is_rejected():
    data = xlsx({"Empty": [], "Data": [HEADER, *EXAMPLE_ROWS]})
    with pytest.raises(ReportRejected) as exc:
        read_report(data, "xlsx")
    assert exc.value.reason_code == "empty_first_sheet_with_data_elsewhere"
    assert "Data" in exc.value.detail


def test_whitespace_only_first_sheet_counts_as_empty():
    data = xlsx({"Empty": [["  ", None], [None, ""]], "Data": [HEADER, *EXAMPLE_ROWS]})
    with pytest.raises(ReportRejected) as exc:
        read_report(data, "xlsx")
    assert exc.value.reason_code == "empty_first_sheet_with_data_elsewhere"


def test_fully_empty_workbook_has_no_header_row():
    with pytest.raises(ReportRejected) as exc:
        read_report(xlsx({"A": [], "B": []}), "xlsx")
    assert exc.value.reason_code == "missing_required_column"
    assert "no header row" in exc.value.detail


def test_header_must_be_within_first_ten_rows():
    titles = [[f"title {i}"] for i in range(10)]
    with pytest.raises(ReportRejected) as exc:
        read_report(xlsx([*titles, HEADER, EXAMPLE_ROWS[0]]), "xlsx")
    assert exc.value.reason_code == "missing_required_column"
    assert "no header row" in exc.value.detail
    t = read_report(xlsx([*titles[:9], HEADER, EXAMPLE_ROWS[0]]), "xlsx")
    assert t.header_row_index == 9
    assert rows_as_lists(t) == [EXAMPLE_ROWS[0]]


def test_header_row_found_through_aliases_and_leading_blank_rows_columns():
    sheet = [[], [], [None, None, "Caption", "Date", "Amount", "Delivered"], [None, None, "hi", "x", "-", "5"]]
    t = read_report(xlsx(sheet), "xlsx")
    assert t.header_row_index == 2
    assert t.header_map == {"Caption": "message", "Date": "sending_time", "Amount": "price", "Delivered": "sent"}
    assert rows_as_lists(t, ["message", "sending_time", "price", "sent"]) == [["hi", "x", "-", "5"]]


# ---------------------------------------------------------------------------------------------------------------
# §14 #12, #13, #14


def test_case_12_headers_only_loads_zero_rows():
    t = read_report(xlsx([HEADER, [], []]), "xlsx")
    assert t.rows.height == 0
    assert t.rows.columns == EXPECTED_COLUMNS
    assert t.n_blank_rows == 0
    assert t.flags == []


def test_case_13_header_variants_duplicates_and_extras():
    headers = [
        "  MESSAGE ",
        "sending   Time",
        "Sender",
        "Status",
        "PRICE",
        "Sent",
        "Viewed",
        "Purchased",
        "Earnings",
        "Withdrawn_by",
        "creator ",
        "Type",
        "Type",
        "Sender",
    ]
    row = [
        "hello",
        "Sep 14, 2025 at 09:05 AM",
        "SD Nova",
        "sent",
        "$5.00",
        "10",
        "3",
        "0",
        "$0.00",
        "",
        "Luna Example",
        "PPV",
        "mass",
        "Rowan",
    ]
    t = read_report(xlsx([headers, row]), "xlsx")
    assert t.normalised_headers == [
        "message",
        "sending_time",
        "sender",
        "status",
        "price",
        "sent",
        "viewed",
        "purchased",
        "earnings",
        "withdrawn_by",
        "creator",
        "type",
        "type_2",
        "sender_2",
    ]
    assert t.header_map["Withdrawn_by"] == "withdrawn_by"
    assert t.header_map["creator "] == "creator"
    assert t.header_map["  MESSAGE "] == "message"
    r = t.rows.row(0, named=True)
    assert r["message"] == "hello"
    assert r["sender"] == "SD Nova"  # first Sender wins
    assert r["creator"] == "Luna Example"
    assert r["withdrawn_by"] is None
    extras = json.loads(r["extra_cols_json"])
    assert extras == {"creator ": "Luna Example", "type": "PPV", "type_2": "mass", "sender_2": "Rowan"}
    assert list(json.loads(r["extra_cols_json"], object_pairs_hook=lambda kv: kv)) == sorted(extras.items())
    assert t.flags == []


def test_extra_cols_json_is_sorted_unescaped_and_keeps_nulls():
    headers = [*HEADER, "Type", "Zeta", "Ärger"]
    rows = [headers, [*EXAMPLE_ROWS[0], "PPV 💕", None, 3.0]]
    t = read_report(xlsx(rows), "xlsx")
    s = t.rows["extra_cols_json"][0]
    assert s == '{"Type": "PPV 💕", "Zeta": null, "Ärger": "3"}'


def test_missing_optional_column_is_null_and_flagged():
    headers = ["Message", "Sending time", "Price", "Sent"]
    t = read_report(xlsx([headers, ["hi", "Sep 14, 2025 at 09:05 AM", "-", 5]]), "xlsx")
    assert "missing_optional_column" in t.flags
    assert set(t.missing_optional_columns) == {"sender", "status", "viewed", "purchased", "earnings", "withdrawn_by"}
    r = t.rows.row(0, named=True)
    assert r["sent"] == "5" and r["viewed"] is None and r["creator"] is None


@pytest.mark.parametrize("drop", ["Sent", "Price", "Message", "Sending time"])
def test_case_14_missing_required_column_rejects(drop):
    headers = [h for h in HEADER if h != drop]
    if drop in ("Message", "Sending time"):
        with pytest.raises(ReportRejected) as exc:
            read_report(xlsx([headers, ["x"] * len(headers)]), "xlsx")
        assert exc.value.reason_code == "missing_required_column"  # no header row at all
        return
    with pytest.raises(ReportRejected) as exc:
        read_report(xlsx([headers, ["x"] * len(headers)]), "xlsx")
    assert exc.value.reason_code == "missing_required_column"
    assert drop.lower() in exc.value.detail


@pytest.mark.parametrize("second", ["Amount", "PPV Price", "price", "Price"])
def test_case_14_two_columns_aliasing_to_price_rejects(second):
    headers = [*HEADER, second]
    with pytest.raises(ReportRejected) as exc:
        read_report(xlsx([headers, ["x"] * len(headers)]), "xlsx")
    assert exc.value.reason_code == "duplicate_required_column"
    assert "price" in exc.value.detail


def test_two_columns_aliasing_to_an_optional_name_keep_the_first():
    headers = [*HEADER, "Scheduler"]
    t = read_report(xlsx([headers, [*EXAMPLE_ROWS[0], "Kit"]]), "xlsx")
    assert t.rows["sender"].to_list() == ["SD Nova"]
    assert json.loads(t.rows["extra_cols_json"][0]) == {"Scheduler": "Kit"}


# ---------------------------------------------------------------------------------------------------------------
# §14 #10 corrupt, wrong types


def test_case_10_corrupt_workbooks_are_rejected():
    good = xlsx([HEADER, *EXAMPLE_ROWS])
    broken = [
        good[: len(good) // 2],  # truncated zip
        b"PK\x03\x04" + bytes(range(256)) * 8,  # zip magic, garbage
    ]
    # a zip whose sheet XML is garbage
    zin = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet1"):
                content = b"<worksheet><sheetData><row><c r='A1' t='s'><v>99999"
            zout.writestr(item, content)
    broken.append(out.getvalue())
    for data in broken:
        with pytest.raises(ReportRejected) as exc:
            read_report(data, "xlsx")
        assert exc.value.reason_code == "corrupt_workbook", data[:20]


def test_html_is_not_a_spreadsheet():
    with pytest.raises(ReportRejected) as exc:
        read_report(b"<!doctype html><html><body>expired</body></html>", "html")
    assert exc.value.reason_code == "not_a_spreadsheet"


def test_openpyxl_written_workbook_reads_the_same():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in EXAMPLE_ROWS:
        ws.append(r)
    ws.append(["x", dt.datetime(2025, 9, 14, 9, 5), "SD Nova", "sent", 7, 50312.0, 7.5, 0, 9.0, None])
    buf = io.BytesIO()
    wb.save(buf)
    t = read_report(buf.getvalue(), "xlsx")
    assert rows_as_lists(t)[:5] == EXAMPLE_ROWS
    assert rows_as_lists(t)[5] == ["x", "2025-09-14T09:05:00", "SD Nova", "sent", "7", "50312", "7.5", "0", "9", None]


# ---------------------------------------------------------------------------------------------------------------
# §14 #9 legacy .xls: no xls writer is installed, so a minimal BIFF8 workbook in an OLE2 container is built here
# (globals BOF/CODEPAGE/BOUNDSHEET/EOF, one worksheet of LABEL and NUMBER records).


def _rec(rtype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def _biff8(sheet_name: str, rows: list[list]) -> bytes:
    def bof(kind: int) -> bytes:
        return _rec(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))

    name = sheet_name.encode("utf-16-le")

    def globals_(sheet_pos: int) -> bytes:
        boundsheet = struct.pack("<IBBBB", sheet_pos, 0, 0, len(name) // 2, 1) + name
        return bof(0x0005) + _rec(0x0042, struct.pack("<H", 1200)) + _rec(0x0085, boundsheet) + _rec(0x000A)

    cells = b""
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, str):
                u = v.encode("utf-16-le")
                cells += _rec(0x0204, struct.pack("<HHHHB", r, c, 0, len(u) // 2, 1) + u)
            elif v is not None:
                cells += _rec(0x0203, struct.pack("<HHHd", r, c, 0, float(v)))
    ncols = max((len(r) for r in rows), default=0)
    sheet = bof(0x0010) + _rec(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, ncols, 0)) + cells + _rec(0x000A)
    return globals_(len(globals_(0))) + sheet


def _ole(stream: bytes) -> bytes:
    """One-FAT-sector compound file: sector 0 FAT, sector 1 directory, sectors 2.. the Workbook stream."""
    stream = stream.ljust(max(4096, -(-len(stream) // 512) * 512), b"\0")  # >= mini-stream cutoff
    n = len(stream) // 512
    free, end, fatsect, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    fat = [fatsect, end] + list(range(3, 2 + n)) + [end]
    fat += [free] * (128 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        n16 = (name + "\0").encode("utf-16-le") if name else b""
        return (
            n16.ljust(64, b"\0")
            + struct.pack("<HBB", len(n16), kind, 1)
            + struct.pack("<III", nostream, nostream, child)
            + bytes(36)
            + struct.pack("<IQ", start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry("Workbook", 2, nostream, 2, len(stream))
        + entry("", 0, nostream, 0, 0) * 2
    )
    return header + struct.pack("<128I", *fat) + directory + stream


def test_case_9_legacy_xls_is_read_like_xlsx():
    sheet = [
        ["OF mass message history"],
        [],
        HEADER,
        *[[v for v in r] for r in EXAMPLE_ROWS],
        ["num", "Sep 1, 2025 at 1:00 AM", "SD Nova", "sent", 7, 50312.0, 7.5, "50312.0", 9.0, None],
    ]
    data = _ole(_biff8("Report", sheet))
    assert data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    t = read_report(data, "xls")
    assert t.sheet_names == ["Report"]
    assert t.header_row_index == 2
    assert rows_as_lists(t)[:5] == EXAMPLE_ROWS
    assert rows_as_lists(t)[5][4:9] == ["7", "50312", "7.5", "50312.0", "9"]
    assert t.rows["row_number"].to_list() == [1, 2, 3, 4, 5, 6]


def test_corrupt_xls_is_rejected():
    data = _ole(_biff8("Report", [HEADER, EXAMPLE_ROWS[0]]))
    with pytest.raises(ReportRejected) as exc:
        read_report(data[:600], "xls")
    assert exc.value.reason_code == "corrupt_workbook"


# ---------------------------------------------------------------------------------------------------------------
# §14 #31 CSV


def _csv(rows: list[list[str]], *, eol: str = "\r\n") -> str:
    def q(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\r\n') else v

    return "".join(",".join(q(v) for v in r) + eol for r in rows)


CSV_ROWS = [[v if v is not None else "" for v in r] for r in EXAMPLE_ROWS]


def test_case_31_csv_utf8_with_bom_quoted_lf_crlf_records():
    text = _csv([HEADER, *CSV_ROWS])
    assert "\n" in CSV_ROWS[1][0] and "\r\n" in text
    data = b"\xef\xbb\xbf" + text.encode("utf-8")
    t = read_report(data, "csv")
    assert t.source_headers == HEADER  # BOM not glued to the first header
    assert rows_as_lists(t) == EXAMPLE_ROWS
    assert t.sheet_names == [] and t.flags == []


def test_case_31_csv_without_bom_and_lf_records_and_fffd_kept():
    rows = [
        HEADER,
        ['bad \ufffd byte, "quoted"', "Sep 14, 2025 at 09:05 AM", "SD Nova", "sent", "-", "1", "", "", "", ""],
    ]
    t = read_report(_csv(rows, eol="\n").encode("utf-8"), "csv")
    assert t.rows["message"].to_list() == ['bad \ufffd byte, "quoted"']
    assert t.rows["viewed"].to_list() == [None]


def test_case_31_latin1_csv_falls_back():
    rows = [
        HEADER,
        ["Café crème à 5€? non: Ç’est £5", "Sep 14, 2025 at 09:05 AM", "Zoë", "sent", "£5.00", "10", "1", "0", "", ""],
    ]
    rows[1][0] = "Café crème à cinq Ç £5 ½"
    data = _csv(rows).encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    t = read_report(data, "csv")
    assert t.rows["message"].to_list() == ["Café crème à cinq Ç £5 ½"]
    assert t.rows["sender"].to_list() == ["Zoë"]
    assert t.rows["price"].to_list() == ["£5.00"]


def test_csv_title_rows_blank_records_and_short_rows():
    text = _csv([["Report for Luna"], [], HEADER, CSV_ROWS[0], [], ["", "", ""], CSV_ROWS[1][:6], [], []])
    t = read_report(text.encode(), "csv")
    assert t.header_row_index == 2
    assert t.rows["row_number"].to_list() == [1, 4]
    assert t.n_blank_rows == 2
    assert rows_as_lists(t)[1] == EXAMPLE_ROWS[1][:6] + [None] * 4


def test_empty_csv_is_rejected_without_header():
    with pytest.raises(ReportRejected) as exc:
        read_report(b"", "csv")
    assert exc.value.reason_code == "missing_required_column"


# ---------------------------------------------------------------------------------------------------------------
# §4 header normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Sending time ", "sending_time"),  # (1) trim + lower, (2) space -> _
        ("Withdrawn-by", "withdrawn_by"),  # (2) dash
        ("Msg.  Text", "msg_text"),  # (2) run of dot + spaces -> one _
        ("Price ($)", "price"),  # (3) drop non-word, (5) trim _
        ("a__b", "a_b"),  # (4) collapse
        ("__x__", "x"),  # (5)
        ("", "column"),  # (6)
        ("  $%  ", "column"),  # (6) after dropping everything
        ("Sent\tCount", "sent_count"),
        ("Ärger Größe", "ärger_größe"),  # \w is Unicode-aware
        ("creator ", "creator"),
    ],
)
def test_normalise_header_steps(raw, expected):
    assert normalise_header(raw) == expected


def test_normalise_headers_dedupes_with_suffixes():
    assert normalise_headers(["Type", "type", "TYPE ", "", None, "type_2"]) == [
        "type",
        "type_2",
        "type_3",
        "column",
        "column_2",
        "type_2_2",
    ]


_ALLOWED = re.compile(r"^(?!_)(?!.*__)[^\W]*(?<!_)$")


@given(st.text())
def test_normalise_header_output_rules(name):
    out = normalise_header(name)
    assert out  # never empty (6)
    assert _ALLOWED.match(out), out  # only word chars, no edge or doubled underscores
    assert out == out.lower() or out == "column"
    assert not re.search(r"[\s\-.]", out)
    assert normalise_header(out) == out  # idempotent


@given(st.lists(st.text(max_size=12), max_size=8))
def test_normalise_headers_unique_and_idempotent(names):
    out = normalise_headers(names)
    assert len(out) == len(names)
    assert len(set(out)) == len(out)
    assert normalise_headers(out) == out
    for raw, got in zip(names, out, strict=True):
        assert got == normalise_header(raw) or got.startswith(normalise_header(raw) + "_")


@given(st.sampled_from(HEADER), st.sampled_from(["", " ", "  ", "\t"]), st.booleans())
def test_alias_mapping_survives_case_and_spacing(h, pad, upper):
    variant = pad + (h.upper() if upper else h) + pad
    assert map_headers([variant])["std"] == [STD_COLUMNS[HEADER.index(h)]]


def test_map_headers_aliases_and_duplicates():
    m = map_headers(
        [
            "Caption Text",
            "scheduled_datetime",
            "Scheduled by",
            "Send Status",
            "Message Price",
            "Total Sent",
            "Total Views",
            "Conversions",
            "Total Earnings",
            "Paid To",
            "Creator",
            "Type",
            "Total",
        ]
    )
    assert m["std"] == [
        "message",
        "sending_time",
        "sender",
        "status",
        "price",
        "sent",
        "viewed",
        "purchased",
        "earnings",
        "withdrawn_by",
        "creator",
        None,
        None,
    ]
    assert m["duplicates"] == {"earnings": [8, 12]}


def test_lenient_read_keeps_the_rows_of_a_report_rejected_for_its_columns():
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    for r, row in enumerate(
        [["Message", "Sending time", "Price", "Amount", "Sent"], ["hi", "Sep 2, 2025 at 3:04 PM", "$5.00", "7", "10"],
         ["yo", "Sep 3, 2025 at 3:04 PM", "-", "8", "11"]]
    ):
        for c, v in enumerate(row):
            ws.write_string(r, c, v)
    wb.close()
    data = buf.getvalue()
    with pytest.raises(ReportRejected, match="duplicate_required_column"):
        read_report(data, "xlsx")
    table = read_report(data, "xlsx", strict=False)
    assert table.reject_reason == "duplicate_required_column"
    assert table.rows["price"].to_list() == ["$5.00", "-"]  # the first aliasing column fills the std column
    assert ['"Amount": "7"' in j for j in table.rows["extra_cols_json"].to_list()] == [True, False]
    assert table.rows["row_number"].to_list() == [1, 2]
