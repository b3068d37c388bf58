"""``of-scheduler-sample``: write the deterministic synthetic world (see the package docstring for the layout)."""

from __future__ import annotations

import argparse
import sys

from .. import settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="of-scheduler-sample", description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = the real agency (~150 pages)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=None, help="output root (default: $OF_SCHEDULER_HOME or ./.of_scheduler)")
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--end-date", default="2026-11-01", help="last report date (fixed default for reproducibility)")
    ap.add_argument("--faults", type=float, default=0.0, help="fraction of reports that get one injected bad input")
    ap.add_argument("--workers", type=int, default=None, help="writer processes (default: os.cpu_count())")
    a = ap.parse_args(argv)
    if a.scale <= 0 or a.days < 1 or not 0 <= a.faults <= 1:
        ap.error("--scale must be > 0, --days >= 1, 0 <= --faults <= 1")
    from .generate import generate

    out = a.out or str(settings.home())
    m = generate(out, a.scale, a.seed, a.days, a.end_date, a.faults, a.workers)
    c = m["counts"]
    print(f"of-scheduler-sample {m['generator_version']} seed={a.seed} scale={a.scale} days={a.days} -> {out}")
    print(
        f"  creators {c['creators']}  pages {c['pages']}  aliases {c['aliases']}  schedulers {c['schedulers']}+"
        f"{c['managers']}  captions {c['captions']}  bank rows {c['bank_rows']}"
    )
    print(
        f"  events {c['events']}  emails {c['emails']}  report files {c['report_files']}  report rows "
        f"{c['report_rows']}  faults {c['faults']}"
    )
    print(f"  {c['files']} files, {c['bytes'] / 1e6:.1f} MB in {m['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
