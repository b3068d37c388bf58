"""Report workbooks through xlsxwriter, byte-deterministic (fixed creation date; xlsxwriter fixes zip timestamps).

Cells keep their Python type: str -> text cell, datetime -> Excel datetime cell, bool -> boolean, int/float ->
number, None or "" -> empty. About 11 ms per 65-row report, the bulk of the generator's time at scale 1.0.
"""

from __future__ import annotations

import datetime as dt
import io

import xlsxwriter

_CREATED = dt.datetime(2026, 1, 1)


def workbook_bytes(sheets: list[tuple[str, list[list]]]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                            "strings_to_urls": False})
    workbook.set_properties({"created": _CREATED})
    datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, rows in sheets:
        sheet = workbook.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                elif isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, datetime_format)
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                else:
                    sheet.write_number(r, c, value)
    workbook.close()
    return buffer.getvalue()
