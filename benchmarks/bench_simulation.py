"""Ranker simulation on the default world (30-ml-and-ranking §10.1; issue acceptance: ranker ≥ 1.20 × human_like
and ≥ 1.05 × greedy in mean true revenue per recipient, 90 % CIs excluding 1; regret per day falling).

    .venv/bin/python benchmarks/bench_simulation.py [--world DIR] [--days 28] [--seeds 5] [--out DIR]
        [--epsilon E] [--ucb-c C] [--novelty-weight W] [--boost B] [--production]

Without --world the default world (scale 0.1, seed 7, 180 days) is generated into a temporary directory. Prints the
markdown summary (ratios with paired-bootstrap 90 % CIs, regret week 1 vs the last week, violations, cold share) and
the wall seconds; --out also writes metrics.parquet, summary.md and simulation.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from of_scheduler_assets.layer_05_ml import simulation as sim


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default=None)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--config", default="active")
    ap.add_argument("--epsilon", type=float, default=None)
    ap.add_argument("--ucb-c", type=float, default=None)
    ap.add_argument("--novelty-weight", type=float, default=None)
    ap.add_argument("--boost", type=float, default=None)
    ap.add_argument("--production", action="store_true", help="also run the production ranker adapter")
    a = ap.parse_args()
    tmp = None
    world = a.world
    if world is None:
        from of_scheduler_assets.sample.generate import generate

        tmp = Path(tempfile.mkdtemp(prefix="of_sim_bench_"))
        generate(tmp, scale=0.1, seed=7, days=180, workers=1)
        world = tmp
    over = {k: v for k, v in {"epsilon": a.epsilon, "ucb_c": a.ucb_c, "novelty_weight": a.novelty_weight,
                               "new_caption_boost": a.boost}.items() if v is not None}  # fmt: skip
    params = sim.RankerParams.from_config(a.config, **over)
    policies = sim.default_policies(params)
    if a.production:
        policies["production"] = sim.production_ranker_policy(a.config)
    t0 = time.perf_counter()
    frame = sim.run_simulation(world, days=a.days, seeds=range(1, a.seeds + 1), policies=policies)
    secs = time.perf_counter() - t0
    summary = sim.summarize(frame)
    print(f"world={world} days={a.days} seeds={a.seeds} ranker={dataclasses.asdict(params)}")
    print(summary["markdown"])
    print(f"seconds={secs:.1f}")
    if a.out:
        print(sim.write_report(frame, summary, a.out))
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
