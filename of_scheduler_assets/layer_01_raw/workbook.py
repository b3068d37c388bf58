"""Read one Infloww "OF mass message history" report into raw text rows (spec 10-ingestion §3, §4).

Pure: no Dagster, no I/O besides the bytes handed in.

``read_report(data, detected_type)`` returns a :class:`ReportTable` or raises :class:`ReportRejected` with a
report-level reason code of §9.2 (``corrupt_workbook``, ``missing_required_column``,
``duplicate_required_column``, ``empty_first_sheet_with_data_elsewhere``) or ``not_a_spreadsheet`` for a
type that is not a spreadsheet (html, unknown).

Raw-layer cell text (§3.1):
- strings exactly as stored (line breaks, emoji, entities, leading/trailing spaces untouched);
- numbers in shortest form: an integral float ``50312.0`` becomes ``50312``, ``7.5`` stays ``7.5`` (calamine's
  rendering, i.e. shortest round-trip digits, never an exponent); a *text* cell ``"50312.0"`` stays ``"50312.0"``;
- datetime cells as ISO ``YYYY-MM-DDTHH:MM:SS`` (rounded to the second);
- booleans as ``true`` / ``false``; error cells and formulas without a cached value as null;
- empty cells and empty strings as null.

Row numbering: ``row_number`` is 1-based over the rows below the header row, header excluded, and blank rows are
counted in the numbering (they get a number but no data row). So the sheet row (1-based, as Excel shows it) of a
data row is ``header_row_index + 1 + row_number`` where ``header_row_index`` is the 0-based sheet row of the header.
For CSV the same holds over CSV records (a quoted multi-line field is one record).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
from dataclasses import dataclass, field

import polars as pl

__all__ = [
    "STD_COLUMNS",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "HEADER_ALIASES",
    "ReportRejected",
    "ReportTable",
    "normalise_header",
    "normalise_headers",
    "map_headers",
    "read_report",
]

# The ten standard columns in report order (§3.2).
STD_COLUMNS: tuple[str, ...] = (
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
)
REQUIRED_COLUMNS: tuple[str, ...] = ("message", "sending_time", "sent", "price")
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in STD_COLUMNS if c not in REQUIRED_COLUMNS)
CREATOR_COLUMN = "creator"
# Every text cell a report row keeps in the raw layer: the ten std columns, the creator column, the extras as JSON.
RAW_CELL_COLUMNS: tuple[str, ...] = (*STD_COLUMNS, CREATOR_COLUMN, "extra_cols_json")

# §4 alias table, in spec order; compared after normalisation; first match wins.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "message": (
        "Message",
        "Caption",
        "Text",
        "Content",
        "caption_text",
        "message_text",
        "Caption Text",
        "Message Text",
    ),
    "sending_time": (
        "Sending time",
        "Sending_time",
        "SendingTime",
        "Date",
        "Timestamp",
        "Send Date",
        "DateTime",
        "scheduled_datetime",
    ),
    "sender": ("Sender", "Scheduler", "Sent by", "SentBy", "Scheduled by", "User", "scheduler_name"),
    "status": ("Status", "State", "Message Status", "Send Status"),
    "price": ("Price", "Amount", "Cost", "Message Price", "PPV Price"),
    "sent": ("Sent", "Sent Count", "Messages Sent", "Total Sent", "Delivered"),
    "viewed": ("Viewed", "Views", "View Count", "Opened", "Read", "Total Views"),
    "purchased": ("Purchased", "Purchases", "Purchase Count", "Bought", "Sales", "Conversions"),
    "earnings": ("Earnings", "Revenue", "Total", "Total Earnings", "Income", "Gross"),
    "withdrawn_by": ("Withdrawn by", "Withdrawn_by", "WithdrawnBy", "Withdrawn", "Paid To", "Payout"),
}

HEADER_SEARCH_ROWS = 10

_RE_SEPARATORS = re.compile(r"[\s\-\.]+")
_RE_NON_WORD = re.compile(r"[^\w]")
_RE_UNDERSCORES = re.compile(r"_+")
# How calamine renders a datetime cell when read as string.
_RE_CALAMINE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$")


class ReportRejected(Exception):
    """The whole report is rejected; every row goes to quarantine with ``reason_code``."""

    def __init__(self, reason_code: str, detail: str = "") -> None:
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)
        self.reason_code = reason_code
        self.detail = detail


@dataclass
class ReportTable:
    """The input rows of one report as raw text.

    ``rows`` columns: ``row_number`` (Int64), the ten std names of :data:`STD_COLUMNS`, ``creator`` and
    ``extra_cols_json`` (all String; null where the cell is empty or the column is missing).
    """

    rows: pl.DataFrame
    header_row_index: int  # 0-based sheet row (CSV: record) of the header
    source_headers: list[str]  # original header texts of the kept columns, left to right ('' for a blank header)
    normalised_headers: list[str]  # §4 steps (1)-(7), parallel to source_headers
    header_map: dict[str, str]  # original header text -> std name (incl. 'creator'), only for mapped columns
    n_blank_rows: int  # fully blank rows between the header and the last non-blank row
    flags: list[str]  # report-level flags: extra_sheets_ignored, missing_optional_column
    sheet_names: list[str]  # [] for CSV
    missing_optional_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)  # keys used in extra_cols_json, left to right
    detected_type: str = "xlsx"
    # Set only by read_report(..., strict=False): the report is rejected for its columns, but its rows were read
    # (every one of them goes to quarantine with this reason; nothing is lost).
    reject_reason: str | None = None
    reject_detail: str | None = None

    @property
    def n_rows(self) -> int:
        return self.rows.height


# ---------------------------------------------------------------------------------------------------------------
# Header normalisation (§4)


def normalise_header(name: str | None) -> str:
    """Steps (1)-(6) of §4 for one header (step (7), de-duplication, needs the whole row: see normalise_headers)."""
    return _normalise_cached("" if name is None else str(name))


@functools.lru_cache(maxsize=4096)
def _normalise_cached(s: str) -> str:
    s = s.strip().lower()  # (1)
    s = _RE_SEPARATORS.sub("_", s)  # (2)
    s = _RE_NON_WORD.sub("", s)  # (3)
    s = _RE_UNDERSCORES.sub("_", s)  # (4)
    s = s.strip("_")  # (5)
    return s or "column"  # (6)


def _dedupe(names: list[str]) -> list[str]:
    """Step (7): repeated names get ``_2``, ``_3``, ... (skipping any suffix already taken)."""
    seen: set[str] = set()
    out: list[str] = []
    for base in names:
        name = base
        k = 2
        while name in seen:
            name = f"{base}_{k}"
            k += 1
        seen.add(name)
        out.append(name)
    return out


def normalise_headers(headers: list[str | None]) -> list[str]:
    """Steps (1)-(7) of §4 over a whole header row; the result has no repeated names."""
    return _dedupe([normalise_header(h) for h in headers])


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for std, aliases in HEADER_ALIASES.items():
        for alias in (std, *aliases):
            index.setdefault(normalise_header(alias), std)  # first match wins
    index.setdefault(CREATOR_COLUMN, CREATOR_COLUMN)
    return index


_ALIAS_INDEX = _build_alias_index()


def std_name_for(header: str | None) -> str | None:
    """The std name (or ``creator``) a single header maps to, else None."""
    return _ALIAS_INDEX.get(normalise_header(header))


def map_headers(headers: list[str | None]) -> dict:
    """Map a header row to std names.

    Returns ``{"normalised": [...], "std": [...], "duplicates": {std: [col indices]}}`` where ``std[i]`` is the std
    name (or ``creator``) column ``i`` provides, or None when the column is an extra. The first column mapping to a
    std name wins; later ones become extras and are listed in ``duplicates`` (a duplicate of a *required* name
    rejects the report in :func:`read_report`). Aliases are compared on the normalised name before step (7), so
    two ``Price`` columns both map to ``price``.
    """
    normalised = normalise_headers(headers)
    std: list[str | None] = []
    taken: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for i, h in enumerate(headers):
        target = std_name_for(h)
        if target is None:
            std.append(None)
        elif target in taken:
            duplicates.setdefault(target, [taken[target]]).append(i)
            std.append(None)
        else:
            taken[target] = i
            std.append(target)
    return {"normalised": normalised, "std": std, "duplicates": duplicates}


# ---------------------------------------------------------------------------------------------------------------
# Grid readers: each returns the rows of the first sheet (CSV: the records) as lists of ``str | None`` of equal
# width, starting at sheet row 0 (leading blank rows kept, so list indices are 0-based sheet rows).
# Small reports (tens of rows) are dominated by per-call overhead, so the assembly below is plain Python over
# lists; the only columnar step is calamine's own read.

Grid = list[list[str | None]]


def _grid_from_xlsx(data: bytes) -> tuple[Grid, list[str]]:
    """(grid, sheet_names): the first sheet as text (calamine reads xlsx, xlsm, xlsb, xls and ods alike)."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(data)
        sheet_names = list(reader.sheet_names)
    except Exception as exc:  # calamine raises for anything unreadable
        raise ReportRejected("corrupt_workbook", f"cannot open workbook: {_short(exc)}") from exc
    if not sheet_names:
        raise ReportRejected("corrupt_workbook", "workbook has no sheets")
    try:
        grid, names = _load_text_sheet(reader, 0)
    except Exception as exc:
        raise ReportRejected("corrupt_workbook", f"cannot read first sheet {sheet_names[0]!r}: {_short(exc)}") from exc

    if not any(_row_is_nonblank(r) for r in grid):
        _reject_empty_first_sheet(reader, sheet_names)  # always raises

    _fix_datetime_cells(reader, grid, names)
    return grid, sheet_names


def _load_text_sheet(reader, idx: int) -> tuple[Grid, list[str]]:
    sheet = reader.load_sheet(idx, header_row=None, skip_rows=0, dtypes="string")
    frame = sheet.to_polars()
    if frame.width == 0:
        return [], []
    return [list(r) for r in frame.iter_rows()], list(frame.columns)


def _reject_empty_first_sheet(reader, sheet_names: list[str]) -> None:
    """The first sheet holds nothing: reject, telling apart 'data on another sheet' from 'no data at all'."""
    for idx in range(1, len(sheet_names)):
        try:
            other, _ = _load_text_sheet(reader, idx)
        except Exception:
            continue
        if any(_row_is_nonblank(r) for r in other):
            raise ReportRejected(
                "empty_first_sheet_with_data_elsewhere",
                f"first sheet {sheet_names[0]!r} is empty; sheet {sheet_names[idx]!r} has data",
            )
    raise ReportRejected("missing_required_column", f"no header row found: first sheet {sheet_names[0]!r} is empty")


def _fix_datetime_cells(reader, grid: Grid, names: list[str]) -> None:
    """Datetime cells read as string look like ``2025-09-14 00:13:00[.500]``; a text cell may look the same.

    Only when such strings exist, re-read their columns typed as datetime: calamine gives a value for datetime (and
    number) cells and null for text cells, so a cell that matches the pattern *and* has a datetime value is a
    datetime cell; it is rendered ISO ``YYYY-MM-DDTHH:MM:SS`` (rounded half up to the second). In place.
    """
    match = _RE_CALAMINE_DATETIME.match
    hits = [(r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if v is not None and match(v)]
    if not hits:
        return
    cols = sorted({c for _, c in hits})
    typed = reader.load_sheet(0, header_row=None, skip_rows=0, use_columns=[names[c] for c in cols], dtypes="datetime")
    frame = typed.to_polars()
    if frame.height != len(grid):  # defensive: never mis-align rows
        return
    values = {c: frame[names[c]].to_list() for c in cols}
    for r, c in hits:
        v = values[c][r]
        if v is None:
            continue  # a text cell that merely looks like a datetime
        if not isinstance(v, dt.datetime):
            v = dt.datetime.combine(v, dt.time())
        v = (v + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        grid[r][c] = v.strftime("%Y-%m-%dT%H:%M:%S")


def _grid_from_csv(data: bytes) -> Grid:
    """RFC 4180 (quoted fields may hold LF/CRLF, records end in CRLF or LF); UTF-8 with/without BOM, else latin-1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), dialect="excel", strict=False))
    except csv.Error as exc:
        raise ReportRejected("corrupt_workbook", f"unreadable CSV: {_short(exc)}") from exc
    width = max((len(r) for r in records), default=0)
    return [r + [None] * (width - len(r)) for r in records]


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _cell_is_blank(v: str | None) -> bool:
    return v is None or not v.strip()


def _row_is_nonblank(row: list[str | None]) -> bool:
    return any(v is not None and v.strip() for v in row)


# ---------------------------------------------------------------------------------------------------------------
# Report assembly


def _find_header_row(grid: Grid) -> int | None:
    for i, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        targets = {std_name_for(c) for c in row if not _cell_is_blank(c)}
        if "message" in targets and "sending_time" in targets:
            return i
    return None


def _extra_key(i: int, headers: list[str], normalised: list[str]) -> str:
    """Key of an extra column in extra_cols_json: the original header, or the normalised name when the original is
    blank or not unique in the header row."""
    h = headers[i]
    if h.strip() and headers.count(h) == 1:
        return h
    return normalised[i]


_ROW_SCHEMA = {
    "row_number": pl.Int64,
    **{c: pl.String for c in STD_COLUMNS},
    CREATOR_COLUMN: pl.String,
    "extra_cols_json": pl.String,
}


def read_report(data: bytes, detected_type: str, *, strict: bool = True) -> ReportTable:
    """Read a report file of ``detected_type`` (``xlsx``, ``xls`` or ``csv``; §2.7) into raw text rows.

    A missing or duplicated required column raises ``ReportRejected`` when ``strict``; otherwise the rows are still
    returned (a duplicated column's first occurrence fills the std column, the others go to ``extra_cols_json``)
    with ``reject_reason`` set, so that ingestion can quarantine each row with the reason.
    """
    reject: tuple[str, str] | None = None
    kind = (detected_type or "").lower().lstrip(".")
    sheet_names: list[str] = []
    if kind in ("xlsx", "xls", "xlsm", "xlsb", "ods"):
        grid, sheet_names = _grid_from_xlsx(data)
    elif kind == "csv":
        grid = _grid_from_csv(data)
        if not any(_row_is_nonblank(r) for r in grid):
            raise ReportRejected("missing_required_column", "no header row found: CSV file is empty")
    else:
        raise ReportRejected("not_a_spreadsheet", f"detected type {detected_type!r} is not a spreadsheet")

    flags: list[str] = []
    if len(sheet_names) > 1:
        flags.append("extra_sheets_ignored")

    header_idx = _find_header_row(grid)
    if header_idx is None:
        raise ReportRejected(
            "missing_required_column",
            f"no header row found: none of the first {HEADER_SEARCH_ROWS} rows has both message and sending_time",
        )

    header_cells = grid[header_idx]
    body = grid[header_idx + 1 :]
    nonblank = [_row_is_nonblank(r) for r in body]
    last = max((i + 1 for i, nb in enumerate(nonblank) if nb), default=0)
    body, nonblank = body[:last], nonblank[:last]
    n_blank = last - sum(nonblank)
    data_rows = [(i + 1, r) for i, r in enumerate(body) if nonblank[i]]  # (row_number, cells)

    # Keep a column if it has a header or any data below the header (drops trailing and empty unnamed columns).
    keep = [
        c
        for c, h in enumerate(header_cells)
        if not _cell_is_blank(h) or any(not _cell_is_blank(r[c]) for _, r in data_rows)
    ]
    headers = ["" if header_cells[c] is None else header_cells[c] for c in keep]

    mapping = map_headers(headers)
    normalised = mapping["normalised"]
    for std, idxs in mapping["duplicates"].items():
        if std in REQUIRED_COLUMNS and reject is None:
            reject = (
                "duplicate_required_column",
                f"columns {[headers[i] for i in idxs]} all map to required column {std!r}",
            )
    std_to_col: dict[str, int] = {}
    header_map: dict[str, str] = {}
    extras: list[tuple[str, int]] = []  # (json key, grid column)
    for i, std in enumerate(mapping["std"]):
        duplicate = std is not None and std in std_to_col  # a later column aliasing to a taken std name
        if std is not None and not duplicate:
            std_to_col[std] = keep[i]
            header_map[headers[i]] = std
        if std is None or std == CREATOR_COLUMN or duplicate:
            extras.append((_extra_key(i, headers, normalised), keep[i]))

    missing_req = [c for c in REQUIRED_COLUMNS if c not in std_to_col]
    if missing_req and reject is None:
        reject = ("missing_required_column", f"missing required column(s): {', '.join(missing_req)}")
    if reject is not None and strict:
        raise ReportRejected(*reject)
    missing_opt = [c for c in OPTIONAL_COLUMNS if c not in std_to_col]
    if missing_opt:
        flags.append("missing_optional_column")

    def column(c: int | None) -> list[str | None]:
        if c is None:
            return [None] * len(data_rows)
        return [r[c] or None for _, r in data_rows]  # '' -> null

    out: dict[str, list] = {"row_number": [rn for rn, _ in data_rows]}
    for s in (*STD_COLUMNS, CREATOR_COLUMN):
        out[s] = column(std_to_col.get(s))
    if extras:
        ordered = sorted(extras)
        out["extra_cols_json"] = [
            json.dumps({k: (r[c] or None) for k, c in ordered}, ensure_ascii=False) for _, r in data_rows
        ]
    else:
        out["extra_cols_json"] = ["{}"] * len(data_rows)

    return ReportTable(
        rows=pl.DataFrame(out, schema=_ROW_SCHEMA),
        header_row_index=header_idx,
        source_headers=headers,
        normalised_headers=normalised,
        header_map=header_map,
        n_blank_rows=n_blank,
        flags=flags,
        sheet_names=sheet_names,
        missing_optional_columns=missing_opt,
        extra_columns=[k for k, _ in extras],
        detected_type=kind,
        reject_reason=reject[0] if reject else None,
        reject_detail=reject[1] if reject else None,
    )
