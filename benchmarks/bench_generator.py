"""Benchmark the synthetic-world generator.

    .venv/bin/python benchmarks/bench_generator.py --scale 0.1 [--workers N] [--out DIR] [--keep]

Prints wall seconds (total / world build / report writing), files written, total bytes and report rows per second.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from of_scheduler_assets.sample.generate import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1, choices=[0.1, 1.0])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="of_sample_bench_"))
    t0 = time.perf_counter()
    m = generate(out, scale=a.scale, days=a.days, workers=a.workers)
    secs = time.perf_counter() - t0
    c = m["counts"]
    print(f"scale={a.scale} days={a.days} workers={a.workers or 'cpu_count'} out={out}")
    print(f"seconds total={secs:.1f} wipe={m['seconds_wipe']:.1f} world={m['seconds_world']:.1f} reports={m['seconds_reports']:.1f}")
    print(
        f"files={c['files']} bytes={c['bytes']:,} emails={c['emails']} report_rows={c['report_rows']:,} "
        f"events={c['events']:,} captions={c['captions']:,}"
    )
    print(f"rows_per_second={c['report_rows'] / secs:,.0f} files_per_second={c['files'] / secs:,.0f}")
    if not a.keep and not a.out:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
