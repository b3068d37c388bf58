"""Kernel 5.10 `assign_primaries` (spec 30 §7.3) against its plain-Python reference, plus its rules on small cases."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from of_scheduler_assets.kernels import assign as kernel
from of_scheduler_assets.kernels import codes
from of_scheduler_assets.kernels import reference as ref
from of_scheduler_assets.kernels.assign import DAY_US, KIND_FALLBACK, KIND_NONE, KIND_RANKED, assign_primaries

FEW = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
HOUR_US = 3_600_000_000
NAMES = ["kind", "rows", "greedy", "pool", "explored", "prob", "fb_lo", "fb_hi"]


def _problem(rng: np.random.Generator, P: int, max_a: int, max_s: int, M: int, n_captions: int) -> dict:
    """A random multi-page problem built like the ranker builds it: per page candidates (sharing a small caption
    universe so agency-wide limits bite) with their factors, the best slot per local date, random cross-page
    conflicts and penalty settings (ban mode included), the top M by final_pre, recent uses."""
    relaxable = [codes.REUSED_WITHIN_MIN_REUSE_DAYS, codes.COOLDOWN_ACTIVE, codes.FATIGUED]
    A_p = rng.integers(0, max_a + 1, P)
    S_p = rng.integers(0, max_s + 1, P)
    cand_off = np.concatenate([[0], np.cumsum(A_p)]).astype(np.int64)
    slot_off = np.concatenate([[0], np.cumsum(S_p)]).astype(np.int64)
    best_off = np.concatenate([[0], np.cumsum(2 * A_p)]).astype(np.int64)
    A, S = int(cand_off[-1]), int(slot_off[-1])
    gid = np.concatenate([np.sort(rng.choice(n_captions, a, replace=False)) for a in A_p]).astype(np.int64)
    masks = np.zeros(A, np.uint16)
    r = rng.random(A)
    masks[r < 0.25] = rng.choice(relaxable, int((r < 0.25).sum()))
    masks[r > 0.93] = codes.TOS_FLAGGED
    masks[(r > 0.88) & (r <= 0.93)] = codes.BLOCKED_BY_OVERRIDE | codes.COOLDOWN_ACTIVE
    cat_bits = rng.choice([1, 2, 3], A).astype(np.uint32)
    cand_f = np.stack([rng.choice([0.1, 0.2, 0.4, 0.3], A), rng.choice([0.0, 0.01, 0.05], A),
                       rng.choice([0.0, 0.02], A), rng.choice([0.1, 0.2, 0.3], A), rng.choice([0.0, 0.075, 0.15], A)],
                      axis=1)  # fmt: skip
    hp = np.where(rng.random(A) < 0.3, np.inf, rng.choice([10.0, 200.0, 900.0], A))
    page_pen = np.stack([rng.choice([0.0, 0.5], P), rng.choice([0.0, 0.75], P), rng.choice([0.0, 1.0], P)], axis=1)
    page_rules = np.stack([rng.integers(1, 5, P), rng.integers(1, 5, P), rng.integers(1, 4, P)], axis=1).astype(
        np.int64
    )
    page_eps = rng.choice([0.0, 0.3, 1.0], P)
    t0 = 1_750_000_000 * 1_000_000
    slot_ts = np.empty(S, np.int64)
    slot_day = np.empty(S, np.int64)
    slot_page = np.empty(S, np.int64)
    is_ppv = rng.random(S) < 0.5
    price = np.where(is_ppv, rng.choice([0.0, 10.0, 15.0], S, p=[0.1, 0.45, 0.45]), 0.0)
    slot_f = np.stack([price, np.where(price > 0, np.sqrt(price), 0.0), np.where(is_ppv, price * 0.02, 0.25),
                       rng.choice([0.8, 1.0, 1.2], S)], axis=1)  # fmt: skip
    allowed = np.where(is_ppv, 1, 2).astype(np.uint32)
    cross_row = np.where(rng.random(A) < 0.3, rng.integers(0, 4, A), -1).astype(np.int64)
    cross_flags = rng.random((4, max(max_s, 1))) < 0.4
    top_idx = np.full((S, M), -1, np.int64)
    n_elig = np.zeros(S, np.int64)
    best = np.zeros(int(best_off[-1]), np.int32)
    for p in range(P):
        s0, s1, c0, c1 = slot_off[p], slot_off[p + 1], cand_off[p], cand_off[p + 1]
        hours = np.sort(rng.choice(30, s1 - s0, replace=True))
        slot_ts[s0:s1] = t0 + hours * HOUR_US
        slot_day[s0:s1] = hours // 18  # two "local dates"
        slot_page[s0:s1] = p
        if c1 == c0 or s1 == s0:
            continue
        best[best_off[p] : best_off[p + 1]] = ref.best_slots(s0, s1 - s0, c0, c1 - c0, is_ppv, allowed, slot_f, slot_day,
                                                             cat_bits, cand_f, masks, 2)  # fmt: skip
        pre = ref.pair_matrices(s0, s1 - s0, c0, c1 - c0, p, is_ppv, allowed, slot_f, slot_day, cat_bits, cand_f,
                                masks, best_off, best, cross_row, cross_flags, page_pen)  # fmt: skip
        top_idx[s0:s1], _, _, n_elig[s0:s1] = ref.top_m_from_matrix(np.where(pre["ok"], pre["final_pre"], -np.inf), M)
    n_recent = int(rng.integers(0, 3 * n_captions))
    rg = rng.integers(0, n_captions, n_recent)
    rt = t0 - rng.integers(0, 30, n_recent) * HOUR_US
    o = np.lexsort((rt, rg))
    use_off = np.searchsorted(rg[o], np.arange(n_captions + 1)).astype(np.int64)
    order = np.lexsort((np.arange(S), slot_page, slot_ts)).astype(np.int64)
    slot_sig, sig_off = kernel.slot_signatures(slot_page, is_ppv, allowed, slot_f, cand_off)
    slot_sig[rng.random(S) < 0.3] = -1  # some slots re-score without a shared order
    return dict(
        order=order, slot_page=slot_page, slot_ts=slot_ts, slot_day=slot_day, slot_dayidx=slot_day.copy(),
        u_eps=rng.random(S), u_pick=rng.random(S), top_idx=top_idx, n_elig=n_elig, slot_is_ppv=is_ppv,
        slot_allowed=allowed, slot_f=slot_f, cand_off=cand_off, slot_off=slot_off, best_off=best_off, best_slot=best,
        cand_gid=gid, elig_mask=masks, hours_since_use_page=hp, cat_bits=cat_bits, cand_f=cand_f,
        cross_row=cross_row, cross_flags=cross_flags, page_eps=page_eps, page_pen=page_pen, page_rules=page_rules,
        use_off=use_off, use_ts=rt[o].astype(np.int64), slot_sig=slot_sig, sig_off=sig_off,
        **dict(zip(("page_last_day", "page_end_ts"), kernel.page_ends(slot_page, slot_day, slot_ts, P), strict=True)),
        top_m=M, k_max=4,
    )  # fmt: skip


PEN_KEYS = ("slot_is_ppv", "slot_allowed", "slot_f", "slot_dayidx", "cat_bits", "cand_f", "elig_mask", "best_off",
            "best_slot", "cross_row", "cross_flags", "page_pen")  # fmt: skip


def _agree(prob: dict):
    ends = kernel.page_ends(prob["slot_page"], prob["slot_day"], prob["slot_ts"], len(prob["cand_off"]) - 1)
    prob = {**prob, "page_last_day": ends[0], "page_end_ts": ends[1]}  # consistent after a test edits the slots
    got = assign_primaries(**prob)
    want = ref.assign_primaries(**prob)
    for name, g, w in zip(NAMES, got, want, strict=True):
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, strict=True, err_msg=name)
    return got


#: Hypothesis strategies of `_problem`'s size arguments.
PROBLEM = {
    "seed": st.integers(0, 2**32 - 1),
    "P": st.integers(1, 4),
    "max_a": st.integers(0, 12),
    "max_s": st.integers(0, 8),
    "n_captions": st.integers(12, 20),
}


@FEW
@given(**PROBLEM, M=st.integers(1, 6))
def test_assign_primaries_matches_reference(seed, P, max_a, max_s, M, n_captions):
    kind, rows, greedy, pool, explored, prob, _, _ = _agree(
        _problem(np.random.default_rng(seed), P, max_a, max_s, M, n_captions)
    )
    ranked = kind == KIND_RANKED
    assert np.all(rows[ranked, 0] >= 0) and np.all(pool[ranked] >= 1)
    assert np.all(np.isnan(prob[kind == KIND_NONE])) and np.all(prob[kind == KIND_FALLBACK] == 1.0)
    assert not explored[~ranked].any()


def test_paths_are_all_exercised_by_the_generator():
    """The property test above is only as good as its inputs: over a fixed sample of seeds, ranked, explored,
    fallback, empty and re-scored slots all occur (re-scored: the primary is outside the slot's original top M), the
    re-scoring both through a shared order and by a scan."""
    seen = {"ranked": 0, "explored": 0, "fallback": 0, "none": 0, "rescored_shared_order": 0, "rescored_scan": 0}
    for seed in range(150):
        prob = _problem(np.random.default_rng(seed), 3, 10, 8, 2, 12)
        kind, rows, _, _, explored, _, _, _ = _agree(prob)
        seen["ranked"] += int((kind == KIND_RANKED).sum())
        seen["explored"] += int(explored.sum())
        seen["fallback"] += int((kind == KIND_FALLBACK).sum())
        seen["none"] += int((kind == KIND_NONE).sum())
        for s in np.flatnonzero(kind == KIND_RANKED):
            if rows[s, 0] not in prob["top_idx"][s] and not explored[s]:
                seen["rescored_shared_order" if prob["slot_sig"][s] >= 0 else "rescored_scan"] += 1
    assert all(v > 0 for v in seen.values()), seen


def _one_page(A: int, S: int, *, top_m: int, max_uses: int = 3, eps: float = 0.0) -> dict:
    """One page, A candidates of descending value (candidate 0 best: final = p_adj = 10 … 1, no bonus, no penalty),
    S ppv slots one hour apart on one day."""
    top = np.tile(np.arange(top_m, dtype=np.int64), (S, 1))
    cand_f = np.zeros((A, 5))
    cand_f[:, 0] = np.linspace(10.0, 1.0, A)
    return dict(
        order=np.arange(S, dtype=np.int64), slot_page=np.zeros(S, np.int64),
        slot_ts=np.arange(S, dtype=np.int64) * HOUR_US, slot_day=np.zeros(S, np.int64),
        slot_dayidx=np.zeros(S, np.int64), u_eps=np.full(S, 0.5), u_pick=np.full(S, 0.5), top_idx=top,
        n_elig=np.full(S, A, np.int64), slot_is_ppv=np.ones(S, np.bool_), slot_allowed=np.ones(S, np.uint32),
        slot_f=np.tile([10.0, 1.0, 0.2, 1.0], (S, 1)), cand_off=np.array([0, A]), slot_off=np.array([0, S]),
        best_off=np.array([0, A]), best_slot=np.zeros(A, np.int32), cand_gid=np.arange(A, dtype=np.int64),
        elig_mask=np.zeros(A, np.uint16), hours_since_use_page=np.full(A, np.inf), cat_bits=np.ones(A, np.uint32),
        cand_f=cand_f, cross_row=np.full(A, -1, np.int64), cross_flags=np.zeros((0, S), np.bool_),
        page_eps=np.array([eps]), page_pen=np.zeros((1, 3)), page_rules=np.array([[2, 3, max_uses]], np.int64),
        use_off=np.zeros(A + 1, np.int64), use_ts=np.zeros(0, np.int64), slot_sig=np.zeros(S, np.int64),
        sig_off=np.array([0, A]), page_last_day=np.zeros(1, np.int64),
        page_end_ts=np.array([(S - 1) * HOUR_US], np.int64), top_m=top_m, k_max=3,
    )  # fmt: skip


def test_one_primary_per_page_day_with_rescoring_beyond_top_m():
    """top M = 1: slot 2's only kept candidate is already primary today, so the slot is re-scored without it."""
    prob = _one_page(4, 3, top_m=1)
    kind, rows, greedy, pool, _, p, _, _ = _agree(prob)
    assert list(kind) == [KIND_RANKED] * 3
    assert list(rows[:, 0]) == [0, 1, 2]  # each caption primary once on the day
    assert list(greedy) == [0, 1, 2] and list(pool) == [1, 1, 1] and list(p) == [1.0, 1.0, 1.0]
    # next local date: candidate 0 is allowed again
    prob["slot_day"] = np.array([0, 0, 1])
    _, rows, *_ = _agree(prob)
    assert list(rows[:, 0]) == [0, 1, 0]


def test_max_daily_uses_counts_prior_uses_and_this_run_in_24_hours():
    prob = _one_page(3, 3, top_m=3, max_uses=2)
    # candidate 0 was used twice agency-wide before the run, 25 h and 22.5 h before slot 0
    prob["use_off"] = np.array([0, 2, 2, 2])
    prob["use_ts"] = np.array([-25 * HOUR_US, -45 * HOUR_US // 2], np.int64)
    prob["slot_day"] = np.arange(3, dtype=np.int64)  # three local dates: the page-day rule never bites
    _, rows, *_ = _agree(prob)
    # slot 0 (t = 0): window (−24 h, 0] holds −22.5 h -> 1 use < 2 -> candidate 0 primary (a use at 0);
    # slot 1 (1 h): (−23 h, 1 h] holds −22.5 h and 0 -> 2 uses -> blocked, candidate 1;
    # slot 2 (2 h): (−22 h, 2 h] holds only 0 -> allowed again
    assert list(rows[:, 0]) == [0, 1, 0]
    assert DAY_US == 24 * HOUR_US


def test_exploration_pick_probability_and_fallback_order():
    prob = _one_page(4, 1, top_m=4, eps=1.0)
    prob["u_eps"] = np.array([0.2])
    prob["u_pick"] = np.array([0.99])  # pool = the 2 best (explore_pool_size 2) sorted by index -> picks index 1
    kind, rows, greedy, pool, explored, p, _, _ = _agree(prob)
    assert explored[0] and greedy[0] == 0 and rows[0, 0] == 1 and pool[0] == 2
    assert list(rows[0]) == [1, 0, 2]  # ranks 2..top_k: the rest by final
    assert p[0] == 0.5  # (1 − ε) × 0 + ε / |pool|
    # everyone reuse-blocked (relaxable) except candidate 3 which is TOS-flagged: fallback, oldest page use first
    prob = _one_page(4, 1, top_m=4)
    prob["elig_mask"] = np.array([codes.REUSED_WITHIN_MIN_REUSE_DAYS] * 3 + [codes.TOS_FLAGGED], np.uint16)
    prob["n_elig"] = np.zeros(1, np.int64)
    prob["hours_since_use_page"] = np.array([100.0, 500.0, 100.0, np.inf])
    kind, rows, _, _, _, p, lo, hi = _agree(prob)
    assert kind[0] == KIND_FALLBACK and list(rows[0]) == [1, 0, 2] and p[0] == 1.0
    assert (lo[0], hi[0]) == (4.0, 10.0)  # range of final_pre over the whole pool (candidates 0-2), not only top_k
    prob["elig_mask"][:] = codes.BLOCKED_BY_OVERRIDE  # never relaxed
    kind, rows, _, _, _, p, _, _ = _agree(prob)
    assert kind[0] == KIND_NONE and np.all(rows[0] == -1) and np.isnan(p[0])


@FEW
@given(**PROBLEM)
def test_pair_kernels_match_reference(seed, P, max_a, max_s, n_captions):
    """`best_slots`, `final_ranges` and `pair_components` (the on-demand components the ranker reads instead of dense
    matrices) agree with the dense NumPy evaluation bit for bit."""
    prob = _problem(np.random.default_rng(seed), P, max_a, max_s, 3, n_captions)
    pen = [prob[k] for k in PEN_KEYS]
    for p in range(P):
        s0, s1 = int(prob["slot_off"][p]), int(prob["slot_off"][p + 1])
        c0, c1 = int(prob["cand_off"][p]), int(prob["cand_off"][p + 1])
        args = (s0, s1 - s0, c0, c1 - c0, *pen[:7], 2)
        np.testing.assert_array_equal(kernel.best_slots(*args), ref.best_slots(*args), strict=False)
    head = (prob["slot_page"], prob["slot_off"], prob["cand_off"])
    for got, want in zip(kernel.final_ranges(*head, *pen), ref.final_ranges(*head, *pen), strict=True):
        np.testing.assert_array_equal(got, want)
    S = len(prob["slot_page"])
    A_of = np.diff(prob["cand_off"])[prob["slot_page"]] if S else np.zeros(0, np.int64)
    g = np.repeat(np.arange(S), A_of)
    a = np.concatenate([np.arange(n) for n in A_of]).astype(np.int64) if S else np.zeros(0, np.int64)
    for got, want in zip(kernel.pair_components(g, a, *head, *pen), ref.pair_components(g, a, *head, *pen),
                         strict=True):  # fmt: skip
        np.testing.assert_array_equal(got, want)


@FEW
@given(seed=st.integers(0, 2**32 - 1), A=st.integers(0, 10), S=st.integers(1, 6), n_occ=st.integers(0, 30))
def test_cross_page_flags_match_reference(seed, A, S, n_occ):
    """A candidate conflicts at a slot when its caption is another page's provisional top-1 within ± h (inclusive);
    its own page's top-1 never counts."""
    rng = np.random.default_rng(seed)
    G = 8
    gids = np.sort(rng.choice(G, min(A, G), replace=False)).astype(np.int64)
    slot_ts = np.sort(rng.integers(0, 48, S)) * HOUR_US
    og, ot, op = rng.integers(0, G, n_occ), rng.integers(0, 48, n_occ) * HOUR_US, rng.integers(0, 3, n_occ)
    o = np.lexsort((op, ot, og))
    og, ot, op = og[o], ot[o].astype(np.int64), op[o].astype(np.int64)
    occ_off = np.searchsorted(og, np.arange(G + 1)).astype(np.int64)
    got = kernel.cross_page_flags(gids, slot_ts, 1, occ_off, ot, op, 6 * HOUR_US)
    want = ref.cross_page_flags(gids, slot_ts, 1, occ_off, ot, op, 6 * HOUR_US)
    for g_, w_ in zip(got, want, strict=True):
        np.testing.assert_array_equal(g_, w_)


def test_cross_page_window_is_inclusive_and_ignores_the_own_page():
    occ_off = np.array([0, 3], np.int64)
    occ_ts = np.array([0, 10, 16], np.int64) * HOUR_US
    occ_page = np.array([0, 1, 0], np.int64)
    row, flags = kernel.cross_page_flags(np.zeros(1, np.int64), np.array([4, 10, 22, 23]) * HOUR_US, 1, occ_off,
                                         occ_ts, occ_page, 6 * HOUR_US)  # fmt: skip
    # page 1's own top-1 at 10:00 does not count; page 0's at 0:00 and 16:00 reach 4:00 / 10:00 / 22:00 (±6 h inclusive)
    assert row.tolist() == [0] and flags.tolist() == [[True, True, True, False]]
