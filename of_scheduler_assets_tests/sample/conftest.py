"""Session fixtures: a few small generated worlds shared by the sample-generator tests."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pytest

from of_scheduler_assets.sample.generate import generate

MAIN = dict(scale=0.06, seed=7, days=40, end_date="2026-11-01", faults=0.0, workers=2)
FAULTY = dict(scale=0.04, seed=11, days=24, end_date="2026-06-20", faults=0.6, workers=2)


@pytest.fixture(scope="session")
def main_world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample_main")
    m = generate(out, **MAIN, verbose=False)
    return out, m


@pytest.fixture(scope="session")
def faulty_world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample_faulty")
    m = generate(out, **FAULTY, verbose=False)
    return out, m


def read_xlsx(path: Path) -> tuple[list, list[list]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    width = len(rows[0])
    return rows[0], [r + [None] * (width - len(r)) for r in rows[1:]]


@pytest.fixture(scope="session")
def main_reports(main_world):
    """All report files of the main world: list of (page, date, header, rows), oldest first."""
    out, _ = main_world
    res = []
    for p in sorted((out / "downloads").glob("*/*.xlsx")):
        header, rows = read_xlsx(p)
        res.append((p.parent.name, p.name[:10], header, rows, p))
    return res


MONTHS = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
TIME_RE = re.compile(r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}) at (\d{1,2}):(\d{2}) ?([AaPp][Mm])")


def parse_time(v) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    m = TIME_RE.match(" ".join(str(v).split()))
    assert m, v
    h = int(m[4]) % 12 + (12 if m[6].lower() == "pm" else 0)
    return dt.datetime(int(m[3]), MONTHS[m[1]], int(m[2]), h, int(m[5]))


def num(v) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if s in ("-", ""):
        return 0.0
    return float(s.replace("$", "").replace(",", ""))
