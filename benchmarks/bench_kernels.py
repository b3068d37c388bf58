"""Benchmark the fused `score_slot` kernel (spec 30 §5.9, §11) against its NumPy reference and, if installed, MABWiser.

    .venv/bin/python benchmarks/bench_kernels.py [--repeat N] [--top-m M] [--seed S] [--no-mabwiser]

Shapes: 35,000 candidates × 120 slots (the prototype's reference point) and 38,000 × 24 (one page, one hourly run).
Prints best-of-N seconds for each implementation in the same process and the reference / kernel ratio (target >= 8x).
Both implementations are checked to return identical top-M lists before timing. MABWiser (optional, not a project
dependency) is timed on the same problem as a UCB1 bandit: one `predict_expectations` per slot plus a top-M pick; its
scores differ from ours, so only its time is comparable. Wall-clock figures, never asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from of_scheduler_assets.kernels import codes
from of_scheduler_assets.kernels import reference as ref
from of_scheduler_assets.kernels.score import score_slot


def make_problem(n_cand: int, n_slots: int, seed: int, top_m: int, beta: float = 0.85) -> dict:
    rng = np.random.default_rng(seed)
    cats = np.array(list(codes.CATEGORY_BITS.values()), dtype=np.uint32)
    cat_bits = rng.choice(cats, n_cand, p=[0.45, 0.35, 0.05, 0.05, 0.05, 0.05]).astype(np.uint32)
    slot_types = rng.choice(["ppv", "bump", "drip", "renew"], n_slots, p=[0.4, 0.45, 0.1, 0.05])
    n_buy = rng.gamma(0.5, 4000.0, n_cand) * (rng.random(n_cand) < 0.6)
    return dict(
        elig_mask=np.where(rng.random(n_cand) < 0.15, codes.REUSED_WITHIN_MIN_REUSE_DAYS, 0).astype(np.uint16),
        cat_bits=cat_bits,
        p_buy=rng.beta(2.0, 60.0, n_cand),
        n_buy=n_buy,
        q_bar=rng.choice([8.0, 10.0, 12.0, 15.0, 20.0, 25.0], n_cand),
        p_open=rng.beta(5.0, 12.0, n_cand),
        n_open=n_buy * 1.7,
        novelty_lvl=ref.novelty_level(rng.poisson(40.0, n_cand).astype(np.float64)),
        slot_is_ppv=slot_types == "ppv",
        slot_price=np.where(slot_types == "ppv", rng.choice([10.0, 15.0, 20.0], n_slots), 0.0),
        slot_allowed=np.array([codes.SLOT_ALLOWED_BITS[t] for t in slot_types], dtype=np.uint32),
        slot_tm=rng.uniform(0.7, 1.3, n_slots),
        beta=beta,
        nu=2.0 * 1500.0,
        c=2.0,
        cap_mult=2.0,
        novelty_weight=0.10,
        new_caption_boost=1.5,
        mu_P=0.03,
        mu_open_P=0.3,
        top_m=top_m,
    )


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_mabwiser(prob: dict, repeat: int) -> str:
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except Exception as exc:  # not installed or broken: optional comparison only
        return f"mabwiser: skipped ({type(exc).__name__}: {exc})"
    n_cand = prob["p_buy"].shape[0]
    n_slots = prob["slot_price"].shape[0]
    top_m = prob["top_m"]
    rng = np.random.default_rng(7)
    arms = list(range(n_cand))
    hist_n = 4 * n_cand
    decisions = rng.integers(0, n_cand, hist_n)
    rewards = (rng.random(hist_n) < prob["p_buy"][decisions]).astype(np.float64)
    mab = MAB(arms=arms, learning_policy=LearningPolicy.UCB1(alpha=prob["c"]), seed=7)
    t0 = time.perf_counter()
    mab.fit(decisions=decisions, rewards=rewards)
    fit_s = time.perf_counter() - t0
    ok = prob["elig_mask"] == 0

    def run() -> None:
        for s in range(n_slots):
            exp = mab.predict_expectations()
            v = np.fromiter(exp.values(), dtype=np.float64, count=n_cand) * prob["slot_tm"][s]
            v[~ok | ((prob["cat_bits"] & prob["slot_allowed"][s]) == 0)] = -np.inf
            np.argsort(-v, kind="stable")[:top_m]

    t = best_of(run, max(1, min(repeat, 3)))
    return f"mabwiser UCB1 ({n_cand:,} arms, {n_slots} slots): best {t * 1e3:,.1f} ms (fit {fit_s * 1e3:,.0f} ms, not timed)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--top-m", type=int, default=256)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--beta", type=float, default=0.85, help="price elasticity; 0 and 1 take exact pow shortcuts")
    ap.add_argument("--no-mabwiser", action="store_true")
    a = ap.parse_args()

    t0 = time.perf_counter()
    small = make_problem(500, 8, a.seed, a.top_m)
    score_slot(**small)
    print(f"numba load/compile: {time.perf_counter() - t0:.2f} s (cache=True; second run loads from cache)")

    for n_cand, n_slots in [(35_000, 120), (38_000, 24)]:
        prob = make_problem(n_cand, n_slots, a.seed, a.top_m, a.beta)
        got = score_slot(**prob)
        want = ref.score_slot(**prob)
        same = all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        t_k = best_of(lambda p=prob: score_slot(**p), a.repeat)
        t_r = best_of(lambda p=prob: ref.score_slot(**p), max(3, a.repeat // 4))
        pairs = n_cand * n_slots
        print(
            f"score_slot {n_cand:,} x {n_slots} (top_m={a.top_m}, beta={a.beta}): numba {t_k * 1e3:.2f} ms "
            f"({pairs / t_k / 1e6:,.0f} M pairs/s) | numpy reference {t_r * 1e3:.2f} ms | ratio {t_r / t_k:.1f}x "
            f"| identical output: {same}"
        )
        if not a.no_mabwiser and (n_cand, n_slots) == (35_000, 120):
            print(bench_mabwiser(prob, a.repeat))


if __name__ == "__main__":
    main()
