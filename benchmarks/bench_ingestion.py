"""Ingestion backfill end to end, and our xlsx reader against openpyxl on the same report files.

    .venv/bin/python benchmarks/bench_ingestion.py [--scale 1.0] [--world DIR] [--sample-files 500]

1. Generates the sample world (or reuses --world DIR), then backfills its whole mailbox through the real asset graph
   the way the mailbox sensor would: runs of at most `max_new_messages_per_backfill` (5,000) emails until nothing is
   new. Prints reports per minute, staged rows per second and the process's peak memory (ru_maxrss).
2. Reads the same world's first --sample-files report files with `read_report` and with a plain openpyxl read
   (read-only, values only, every cell of the first sheet as a string) in this same process; prints the ratio.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import openpyxl

from of_scheduler_assets.layer_01_raw.workbook import read_report


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def openpyxl_read(data: bytes) -> int:
    import io

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    rows = [["" if v is None else str(v) for v in row] for row in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return len(rows)


def reader_comparison(world: Path, n: int) -> None:
    files = sorted((world / "downloads").rglob("*.xlsx"))[:n]
    blobs = [f.read_bytes() for f in files]
    start = time.perf_counter()
    ours = sum(read_report(b, "xlsx", strict=False).rows.height for b in blobs)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = sum(openpyxl_read(b) for b in blobs)
    t_theirs = time.perf_counter() - start
    print(f"xlsx reader on {len(blobs)} world files ({ours:,} data rows):")
    print(f"  read_report (calamine): {t_ours:6.2f} s  {len(blobs) / t_ours:7.0f} files/s  {ours / t_ours:9,.0f} rows/s")
    print(f"  openpyxl read-only    : {t_theirs:6.2f} s  {len(blobs) / t_theirs:7.0f} files/s  {theirs / t_theirs:9,.0f} rows/s")
    print(f"  ratio: read_report is {t_theirs / t_ours:.1f}x faster")


def backfill(world: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from of_scheduler_assets.definitions import ASSET_CHECKS, ASSETS
    from of_scheduler_assets_tests.support.world import resources_for, table

    resources = resources_for(world)
    config = {"ops": {"mailbox_intake": {"config": {"backfill": True}}}}
    total_emails = len(list((world / "inbox" / "reports").rglob("*.eml")))
    start, runs = time.perf_counter(), 0
    while True:
        runs += 1
        t = time.perf_counter()
        result = dg.materialize([*ASSETS, *ASSET_CHECKS], resources=resources, run_config=config)
        assert result.success
        handled = table(world, "ops", "ingestion_state").height
        print(f"  run {runs}: {handled:,}/{total_emails:,} emails handled, {time.perf_counter() - t:5.1f} s, peak {peak_mb():,.0f} MB")
        if handled >= total_emails or runs > 20:
            break
    seconds = time.perf_counter() - start
    state = table(world, "ops", "ingestion_state")
    staged = int(state["n_staged"].sum())
    print(f"backfill: {state.height:,} report emails, {int(state['n_rows'].sum()):,} rows read, {staged:,} staged, "
          f"{int(state['n_quarantined'].sum()):,} quarantined in {seconds:.0f} s over {runs} runs")
    print(f"  {state.height / seconds * 60:,.0f} reports/min, {staged / seconds:,.0f} staged rows/s, "
          f"peak memory {peak_mb():,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--world", type=Path, default=None, help="reuse a generated world (its warehouse is reset)")
    parser.add_argument("--sample-files", type=int, default=500)
    args = parser.parse_args()
    world = args.world or Path(tempfile.mkdtemp(prefix="of_bench_ingest_"))
    if args.world is None:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "of_scheduler_assets.sample", "--scale", str(args.scale), "--out", str(world)],
                       check=True, capture_output=True)
        print(f"world at scale {args.scale}: generated in {time.perf_counter() - start:.0f} s into {world}")
    for leftover in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (world / leftover).unlink(missing_ok=True)
    reader_comparison(world, args.sample_files)
    backfill(world)


if __name__ == "__main__":
    main()
