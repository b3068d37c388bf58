"""Report reader throughput: `read_report` (fastexcel/calamine) vs a plain openpyxl read of the first sheet.

    .venv/bin/python benchmarks/bench_xlsx_reader.py [--files 300] [--rows 65] [--seed 7]

Generates --files realistic report workbooks (a title row, the §3 header, --rows rows of text cells shaped like
the spec's examples: multi-line captions, emoji, fancy letters, `&amp;`, curly quotes, `$` amounts, a few number
and datetime cells) with xlsxwriter into a temp dir, then reads them all, in one run, with both readers. Both
sides read the bytes from memory (files are loaded before timing). The openpyxl baseline is
`load_workbook(read_only=True, data_only=True)` iterating the first sheet's rows into lists of strings; it does
no header detection, aliasing or JSON, so the comparison favours it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import tempfile
import time
from pathlib import Path

import openpyxl
import xlsxwriter

from of_scheduler_assets.layer_01_raw.workbook import read_report

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
OPENERS = [
    "Good morning! ☕",
    "New set just dropped 📸",
    "Did you miss me? 😘",
    "Movie night bundle 🎬🍿",
    "𝒯𝒽𝒶𝓃𝓀 𝓎𝑜𝓊 for being here 💖",
    "“Special” tonight only…",
    "Hey you 👀",
    "𝓢𝓾𝓻𝓹𝓻𝓲𝓼𝓮 💝",
]
LINES = [
    "Beach day vibes… unlock to see the whole shoot 🌊",
    "Check your inbox &amp; tell me what you think",
    "3 videos for one price, tonight only!",
    "a little surprise is waiting for you",
    "I couldn’t stop thinking about you 🥵",
    "reply with your favourite emoji 💕💕",
    "",
]
SENDERS = ["SD Nova"] * 6 + ["Rowan", "SD Kit", "Mara"]


def make_report(path: Path, rows: int, rng: random.Random) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    dfmt = wb.add_format({"num_format": "mmm d, yyyy h:mm AM/PM"})
    ws = wb.add_worksheet("OF mass message history")
    ws.write_row(0, 0, HEADER)
    t = dt.datetime(2025, 9, 14, 0, 13)
    for r in range(1, rows + 1):
        t -= dt.timedelta(minutes=rng.randint(20, 90))
        n_lines = rng.choice([1, 1, 2, 3, 5])
        msg = "\n".join([rng.choice(OPENERS)] + [rng.choice(LINES) for _ in range(n_lines - 1)])
        paid = rng.random() < 0.42
        price = rng.choice([5, 13, 14, 15, 17, 22]) if paid else 0
        purchased = rng.choice([0] * 6 + [1, 2]) if paid else 0
        sent = rng.randint(44_000, 50_746)
        unsent = rng.random() < 0.7
        sender = rng.choice(SENDERS)
        ws.write_string(r, 0, msg)
        if r % 20 == 0:
            ws.write_datetime(r, 1, t, dfmt)  # an occasional datetime cell
        else:
            ws.write_string(r, 1, t.strftime("%b %d, %Y at %I:%M %p"))
        ws.write_string(r, 2, sender)
        ws.write_string(r, 3, "unsent" if unsent else "sent")
        ws.write_string(r, 4, f"${price}.00" if paid else "-")
        if r % 10 == 0:
            ws.write_number(r, 5, float(sent))  # "after loading tools": a float cell
        else:
            ws.write_string(r, 5, str(sent))
        ws.write_string(r, 6, str(rng.randint(1, 3482)))
        ws.write_string(r, 7, str(purchased))
        ws.write_string(r, 8, f"${price * purchased}.00")
        if unsent:
            ws.write_string(r, 9, sender)
    wb.close()


def openpyxl_read(data: bytes) -> list[list[str | None]]:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        return [[None if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rows", type=int, default=65)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = []
        for i in range(args.files):
            p = Path(tmp) / f"report_{i:04d}.xlsx"
            make_report(p, args.rows, rng)
            paths.append(p)
        blobs = [p.read_bytes() for p in paths]
        gen_s = time.perf_counter() - t0
    total_mb = sum(map(len, blobs)) / 1e6
    print(f"generated {args.files} files x {args.rows} rows x {len(HEADER)} cols ({total_mb:.1f} MB) in {gen_s:.1f}s")

    t0 = time.perf_counter()
    ours_rows = sum(read_report(b, "xlsx").rows.height for b in blobs)
    ours_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    base_rows = sum(len(openpyxl_read(b)) - 1 for b in blobs)  # minus the header row
    base_s = time.perf_counter() - t0

    assert ours_rows == base_rows == args.files * args.rows, (ours_rows, base_rows)
    n = len(blobs)
    print(f"{'reader':<22}{'seconds':>9}{'files/s':>10}{'rows/s':>11}")
    print(f"{'read_report (calamine)':<22}{ours_s:>9.2f}{n / ours_s:>10.0f}{ours_rows / ours_s:>11.0f}")
    print(f"{'openpyxl read_only':<22}{base_s:>9.2f}{n / base_s:>10.0f}{base_rows / base_s:>11.0f}")
    print(f"ratio ours/openpyxl (throughput): {base_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
