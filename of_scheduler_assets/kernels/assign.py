"""The global assignment pass of the ranker (spec 30 §5.10, §7.3): primaries, ε-exploration and fallback, and the
score components of any (slot, candidate) pair evaluated on demand from per-candidate and per-slot factors.

One thread, slots in a fixed order given by the caller. Pages, slots and candidates arrive as flat arrays with CSR
offsets (see `assign_primaries`); the dynamic state (primaries of this run per page-day, agency-wide uses in the last
24 h) lives in linked lists inside the kernel, so the result does not depend on any ordering assumption beyond the
processing order itself. Strings and hashes stay outside: caption identity is a global integer id per caption, the
ε draws arrive as arrays.

Nothing here holds a slots × candidates matrix: a pair's components are a handful of multiplications of its slot's
factors (`SLOT_F`) and its candidate's factors (`CAND_F`), so they are recomputed wherever they are read (`pair_values`),
and the diversity penalties need only the best slot of each candidate per local date (`best_slots`) and the sparse
cross-page conflicts (`cross_page_flags`). Memory is O(candidates + slots), not O(candidates × slots).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from of_scheduler_assets.kernels.codes import (
    ALREADY_PRIMARY_TODAY,
    CAND_F,
    FALLBACK_RELAXABLE_MASK,
    MAX_DAILY_USES_REACHED,
    PEN_PARAMS,
    SLOT_F,
)  # fmt: skip

__all__ = ["CAND_F", "PEN_PARAMS", "SLOT_F"]

#: out_kind values.
KIND_RANKED = 0
KIND_FALLBACK = 1
KIND_NONE = 2
#: 24 h in microseconds (the `max_daily_uses` window).
DAY_US = 86_400_000_000
RULE_PARAMS = ("explore_pool_size", "top_k", "max_daily_uses")
#: Floor of the penalty base max(tm × exploit, floor) (§7.2).
PENALTY_FLOOR = 0.0005
_HARD_MASK = ~FALLBACK_RELAXABLE_MASK & 0xFFFF


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _slot(g, slot_is_ppv, slot_allowed, slot_f):
    """The factors of slot row g: (is_ppv, q, q^(1−β), novelty scale, tm, allowed categories)."""
    return slot_is_ppv[g], slot_f[g, 0], slot_f[g, 1], slot_f[g, 2], slot_f[g, 3], slot_allowed[g]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _components(ppv, q, qf, sc, tm, ca, cand_f):
    """(exploit, ucb, novelty, final_pre) of candidate row `ca` at a slot with factors (ppv, q, qf, sc, tm) (§5.9,
    §7.2): PPV: q^(1−β) × p q̄^β, q × ucb_unit, novelty_unit × q μ_P (all 0 when q <= 0); other slots: p_open,
    ucb_open_unit, novelty_unit × μ_open,P; final_pre = tm × (exploit + ucb + novelty)."""
    if ppv:
        if q > 0.0:
            e = qf * cand_f[ca, 0]
            u = q * cand_f[ca, 1]
            n = cand_f[ca, 4] * sc
        else:
            e = 0.0
            u = 0.0
            n = 0.0
    else:
        e = cand_f[ca, 3]
        u = cand_f[ca, 2]
        n = cand_f[ca, 4] * sc
    return e, u, n, tm * (e + u + n)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _penalised(pre, e, tm, same, cross, ms, mc, ban):
    """(penalty, final) of an eligible, scorable pair (§7.2): base = max(tm × exploit, PENALTY_FLOOR); penalty =
    ms × base × same (+ mc × base × cross unless ban); final = final_pre − penalty, −inf for a banned conflict."""
    base = tm * e
    if base < PENALTY_FLOOR:
        base = PENALTY_FLOOR
    pen = (ms * base) * (1.0 if same else 0.0)
    if ban:
        return pen, (-np.inf if cross else pre - pen)
    pen = pen + (mc * base) * (1.0 if cross else 0.0)
    return pen, pre - pen


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def pair_values(g, s_loc, ca, a, A, p, slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f, elig_mask,
                best_off, best_slot, cross_row, cross_flags, page_pen):  # fmt: skip
    """Every component of candidate `a` (row `ca`) of page `p` (A candidates) at slot `s_loc` (row `g`):
    (exploit, ucb, novelty, final_pre, scorable, ok, same_day, cross_page, penalty, final).

    scorable = the category fits and final_pre is not NaN; ok = scorable and eligible (mask 0); on ok pairs:
    same_day = the slot is not the candidate's best slot of its local date (`best_slot`), cross_page =
    `cross_flags` row of the candidate (−1 = none) at the slot, and `_penalised` gives penalty and final; final is
    −inf on pairs that are not ok. The same_day flag is reported only when the same-day multiplier is > 0."""
    ppv, q, qf, sc, tm, allowed = _slot(g, slot_is_ppv, slot_allowed, slot_f)
    e, u, n, pre = _components(ppv, q, qf, sc, tm, ca, cand_f)
    scorable = (cat_bits[ca] & allowed) != 0 and not np.isnan(pre)
    ok = scorable and elig_mask[ca] == 0
    same = False
    cross = False
    pen = 0.0
    final = -np.inf
    if ok:
        same = best_slot[best_off[p] + slot_dayidx[g] * A + a] != s_loc
        r = cross_row[ca]
        cross = r >= 0 and cross_flags[r, s_loc]
        pen, final = _penalised(pre, e, tm, same, cross, page_pen[p, 0], page_pen[p, 1], page_pen[p, 2] != 0.0)
        same = same and page_pen[p, 0] > 0.0
    return e, u, n, pre, scorable, ok, same, cross, pen, final


@njit(cache=True, nogil=True, error_model="numpy")
def price_adjusted(p, q_bar, beta):
    """p × q̄^β per candidate (`CAND_F` p_adj; the pow of `score_slot`)."""
    out = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        out[i] = p[i] * q_bar[i] ** beta
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def best_slots(g0, S, co, A, slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f, elig_mask, n_days):
    """Per local date (`slot_dayidx` of the page's slots g0 … g0+S−1, codes 0 … n_days−1) and candidate (rows co …
    co+A−1): the page slot index with the highest final_pre among the slots where the pair is ok (eligible and
    scorable), the earliest on ties; the date's first slot when the pair is ok nowhere. int32[n_days × A]."""
    out = np.full(n_days * A, -1, dtype=np.int32)
    best_v = np.full(n_days * A, -np.inf)
    for s in range(S):
        g = g0 + s
        ppv, q, qf, sc, tm, allowed = _slot(g, slot_is_ppv, slot_allowed, slot_f)
        d = slot_dayidx[g] * A
        for a in range(A):
            ca = co + a
            v = -np.inf
            if elig_mask[ca] == 0 and (cat_bits[ca] & allowed) != 0:
                pre = _components(ppv, q, qf, sc, tm, ca, cand_f)[3]
                if not np.isnan(pre):
                    v = pre
            if out[d + a] < 0:
                out[d + a] = s
                best_v[d + a] = v
            elif v > best_v[d + a]:
                out[d + a] = s
                best_v[d + a] = v
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def cross_page_flags(gids, slot_ts, page, occ_off, occ_ts, occ_page, h_us):
    """Cross-page conflicts of one page (§7.2): candidate a conflicts at slot s when its caption (`gids[a]`) is the
    provisional top-1 of ANOTHER page at a slot within [ts − h, ts + h]. Occurrences: (ts, page) of caption g are
    occ_ts/occ_page[occ_off[g]:occ_off[g+1]], sorted by ts. Returns (row int64[A]: −1 or the candidate's row of
    flags, flags bool[R, S])."""
    A = gids.shape[0]
    S = slot_ts.shape[0]
    row = np.full(A, -1, dtype=np.int64)
    n_occ = 0
    for a in range(A):
        if occ_off[gids[a] + 1] > occ_off[gids[a]]:
            n_occ += 1
    flags = np.zeros((n_occ, S), dtype=np.bool_)
    r = 0
    for a in range(A):
        lo, hi = occ_off[gids[a]], occ_off[gids[a] + 1]
        if hi == lo:
            continue
        seg = occ_ts[lo:hi]
        hit = False
        for s in range(S):
            k = lo + np.searchsorted(seg, slot_ts[s] - h_us, side="left")
            while k < hi and occ_ts[k] <= slot_ts[s] + h_us:
                if occ_page[k] != page:
                    flags[r, s] = True
                    hit = True
                    break
                k += 1
        if hit:
            row[a] = r
            r += 1
    return row, flags[:r].copy()


@njit(cache=True, nogil=True, error_model="numpy")
def final_ranges(slot_page, slot_off, cand_off, slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f,
                 elig_mask, best_off, best_slot, cross_row, cross_flags, page_pen):  # fmt: skip
    """Per slot: min and max of the finite `final` (`pair_values`) over the page's ok candidates (+inf / −inf when
    none), the range of `score_normalized` on ranked slots."""
    S = slot_page.shape[0]
    lo_v = np.full(S, np.inf)
    hi_v = np.full(S, -np.inf)
    for p in range(slot_off.shape[0] - 1):
        co = cand_off[p]
        A = cand_off[p + 1] - co
        ms, mc, ban = page_pen[p, 0], page_pen[p, 1], page_pen[p, 2] != 0.0
        for g in range(slot_off[p], slot_off[p + 1]):
            s_loc = g - slot_off[p]
            ppv, q, qf, sc, tm, allowed = _slot(g, slot_is_ppv, slot_allowed, slot_f)
            bo = best_off[p] + slot_dayidx[g] * A
            lo, hi = np.inf, -np.inf
            for a in range(A):
                ca = co + a
                if elig_mask[ca] != 0 or (cat_bits[ca] & allowed) == 0:
                    continue
                e, _, _, pre = _components(ppv, q, qf, sc, tm, ca, cand_f)
                if np.isnan(pre):
                    continue
                r = cross_row[ca]
                f = _penalised(pre, e, tm, best_slot[bo + a] != s_loc, r >= 0 and cross_flags[r, s_loc], ms, mc, ban)[1]
                if np.isfinite(f):
                    lo = f if f < lo else lo
                    hi = f if f > hi else hi
            lo_v[g], hi_v[g] = lo, hi
    return lo_v, hi_v


@njit(cache=True, nogil=True, error_model="numpy")
def pair_components(pair_slot, pair_cand, slot_page, slot_off, cand_off, slot_is_ppv, slot_allowed, slot_f,
                    slot_dayidx, cat_bits, cand_f, elig_mask, best_off, best_slot, cross_row, cross_flags, page_pen):  # fmt: skip
    """`pair_values` of the pairs (slot row, local candidate index): float64[n, 6] (exploit, ucb, novelty, final_pre,
    penalty, final) and bool[n, 2] (same_day, cross_page)."""
    n = pair_slot.shape[0]
    vals = np.empty((n, 6))
    flags = np.zeros((n, 2), dtype=np.bool_)
    for i in range(n):
        g = pair_slot[i]
        p = slot_page[g]
        co = cand_off[p]
        a = pair_cand[i]
        e, u, nv, pre, _, _, same, cross, pen, final = pair_values(
            g, g - slot_off[p], co + a, a, cand_off[p + 1] - co, p, slot_is_ppv, slot_allowed, slot_f, slot_dayidx,
            cat_bits, cand_f, elig_mask, best_off, best_slot, cross_row, cross_flags, page_pen,
        )  # fmt: skip
        vals[i, 0], vals[i, 1], vals[i, 2], vals[i, 3], vals[i, 4], vals[i, 5] = e, u, nv, pre, pen, final
        flags[i, 0], flags[i, 1] = same, cross
    return vals, flags


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _uses_in(gid, lo, hi, use_off, use_ts, run_head, run_next, run_ts):
    """Agency-wide uses of caption `gid` in (lo, hi]: before this run (use_ts) and primaries of this run."""
    lo_u, hi_u = use_off[gid], use_off[gid + 1]
    cnt = 0
    if hi_u > lo_u:
        seg = use_ts[lo_u:hi_u]
        cnt = np.searchsorted(seg, hi, side="right") - np.searchsorted(seg, lo, side="right")
    k = run_head[gid]
    while k >= 0:
        t = run_ts[k]
        if lo < t and t <= hi:
            cnt += 1
        k = run_next[k]
    return cnt


@njit(cache=True, nogil=True, error_model="numpy")
def _blocked(ca, gid, day, ts, max_uses, prim_head, prim_next, prim_day, use_off, use_ts, run_head, run_next, run_ts):
    """Dynamic bits of one candidate (global candidate row `ca`, caption `gid`) at a slot (`day`, `ts`)."""
    m = 0
    k = prim_head[ca]
    while k >= 0:
        if prim_day[k] == day:
            m |= ALREADY_PRIMARY_TODAY
            break
        k = prim_next[k]
    if _uses_in(gid, ts - DAY_US, ts, use_off, use_ts, run_head, run_next, run_ts) >= max_uses:
        m |= MAX_DAILY_USES_REACHED
    return m


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _blocked_for_good(b, gid, day, last_day, ts, end_ts, max_uses, use_off, use_ts, run_head, run_next, run_ts):
    """Whether blocked bits `b` found at (day, ts) hold for every later slot of the page (up to its last slot at
    end_ts, day code last_day): primary on a day code that no later slot leaves, or max_daily_uses reached by uses
    in (end_ts − 24 h, ts] alone (uses are only added as the pass goes on, so every later window holds them)."""
    if (b & ALREADY_PRIMARY_TODAY) != 0 and day == last_day:
        return True
    if (b & MAX_DAILY_USES_REACHED) != 0:
        return _uses_in(gid, end_ts - DAY_US, ts, use_off, use_ts, run_head, run_next, run_ts) >= max_uses
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _ordered(idx, vals):
    """The entries of `idx` (>= 0) whose `vals` > −inf, by value desc, then candidate index asc."""
    n = 0
    for j in range(idx.shape[0]):
        if idx[j] >= 0 and vals[j] > -np.inf:
            n += 1
    sel = np.empty(n, dtype=np.int64)
    key = np.empty(n, dtype=np.float64)
    n = 0
    for j in range(idx.shape[0]):
        if idx[j] >= 0 and vals[j] > -np.inf:
            sel[n] = idx[j]
            key[n] = vals[j]
            n += 1
    o = np.argsort(sel)
    sel = sel[o]
    key = -key[o]
    return sel[np.argsort(key, kind="mergesort")]


def slot_signatures(slot_page, slot_is_ppv, slot_allowed, slot_f, cand_off) -> tuple[np.ndarray, np.ndarray]:
    """Plain Python: the re-scoring orders `assign_primaries` may share. Two slots of a page with the same (is_ppv,
    price, q^(1−β), novelty scale, allowed categories) order the page's candidates the same way up to the temporal
    multiplier, which only scales (tm > 0), so they share one order of the candidates by exploit + ucb + novelty.
    Returns (slot_sig int64[S]: the order's id, −1 when tm is not a finite positive number; sig_off int64[n+1]: order
    k takes rows sig_off[k]:sig_off[k+1] of the kernel's order buffer, one row per candidate of its page)."""
    S = len(slot_page)
    sig = np.full(S, -1, np.int64)
    ids: dict[tuple, int] = {}
    sizes: list[int] = []
    for g in range(S):
        tm = float(slot_f[g, 3])
        if not (math.isfinite(tm) and tm > 0.0):
            continue
        p = int(slot_page[g])
        k = (p, bool(slot_is_ppv[g]), *(float(v) for v in slot_f[g, :3]), int(slot_allowed[g]))
        if k not in ids:
            ids[k] = len(sizes)
            sizes.append(int(cand_off[p + 1] - cand_off[p]))
        sig[g] = ids[k]
    return sig, np.concatenate([np.zeros(1, np.int64), np.cumsum(np.array(sizes, np.int64))])


def page_ends(slot_page, slot_day, slot_ts, n_pages: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain Python: (day code, time) of each page's last slot (int64[P] each; 0 for a page without slots)."""
    last_day = np.zeros(n_pages, np.int64)
    end_ts = np.zeros(n_pages, np.int64)
    for g in np.argsort(np.asarray(slot_ts), kind="stable"):
        p = int(slot_page[g])
        last_day[p], end_ts[p] = slot_day[g], slot_ts[g]
    return last_day, end_ts


@njit(cache=True, nogil=True, error_model="numpy")
def _top_unblocked(g, co, A, top_m, day, ts, max_uses, slot_is_ppv, slot_allowed, slot_f, cat_bits, cand_f, cand_gid,
                   elig_mask, prim_head, prim_next, prim_day, use_off, use_ts, run_head, run_next, run_ts, sig,
                   sig_order, sig_off, sig_len, last_day, end_ts):  # fmt: skip
    """Re-scoring of slot row g: the top `top_m` local candidates by final_pre desc, index asc, among the eligible,
    scorable and unblocked ones (`score_slot` on the slot with the blocked candidates masked); −1 padded.

    The blocked test (`_blocked`) runs only on the best candidates. With an order (`sig` >= 0, see
    `slot_signatures`; built on first use: the page's candidates by exploit + ucb + novelty desc, index asc) the
    order is walked until top_m unblocked ones are found and the next one scores lower (final_pre = tm × that sum
    never rises along the order; the ones tying the last are kept), then sorted by final_pre desc, index asc. The
    walk drops from the order what no later slot of the page (last at end_ts, day code last_day) can pick:
    ineligible or unfit candidates and those `_blocked_for_good`; the rest keeps its order (`sig_len` live rows).
    Without one, the K best by final_pre (ties at the cut included) are walked, K growing ×4 until top_m unblocked
    ones are found or every candidate is in. Either way the result is the exact top_m."""
    ppv, q, qf, sc, tm, allowed = _slot(g, slot_is_ppv, slot_allowed, slot_f)
    out = np.full(top_m, -1, dtype=np.int64)
    if sig >= 0:
        o0 = sig_off[sig]
        if sig_len[sig] < 0:
            x = np.empty(A, dtype=np.float64)
            for a in range(A):
                x[a] = -_components(ppv, q, qf, sc, 1.0, co + a, cand_f)[3]
            sig_order[o0 : o0 + A] = np.argsort(x, kind="mergesort").astype(np.int32)
            sig_len[sig] = A
        L = sig_len[sig]
        got = np.empty(top_m + 16, dtype=np.int64)
        key = np.empty(top_m + 16, dtype=np.float64)
        n = 0
        last = np.inf
        w = 0  # the order is compacted while walked: what can never be picked again on this page is dropped
        j = 0
        while j < L:
            a = sig_order[o0 + j]
            j += 1
            if elig_mask[co + a] != 0 or (cat_bits[co + a] & allowed) == 0:
                continue
            pre = _components(ppv, q, qf, sc, tm, co + a, cand_f)[3]
            if np.isnan(pre):
                continue
            if n >= top_m and -pre > last:
                j -= 1
                break
            sig_order[o0 + w] = a
            w += 1
            gid = cand_gid[co + a]
            b = _blocked(co + a, gid, day, ts, max_uses, prim_head, prim_next, prim_day, use_off, use_ts, run_head,
                         run_next, run_ts)  # fmt: skip
            if b == 0:
                if n == got.shape[0]:
                    got = np.concatenate((got, np.empty(n, dtype=np.int64)))
                    key = np.concatenate((key, np.empty(n, dtype=np.float64)))
                got[n] = a
                key[n] = -pre
                n += 1
                if n == top_m:
                    last = -pre
            elif _blocked_for_good(b, gid, day, last_day, ts, end_ts, max_uses, use_off, use_ts, run_head, run_next,
                                   run_ts):  # fmt: skip
                w -= 1
        rest = L - j
        if rest > 0 and w < j:
            sig_order[o0 + w : o0 + w + rest] = sig_order[o0 + j : o0 + L].copy()
        sig_len[sig] = w + rest
        o = np.argsort(got[:n])
        got, key = got[:n][o], key[:n][o]
        o = np.argsort(key, kind="mergesort")
        k = n if n < top_m else top_m
        for j in range(k):
            out[j] = got[o[j]]
        return out
    idx = np.empty(A, dtype=np.int64)
    key = np.empty(A, dtype=np.float64)
    n = 0
    for a in range(A):
        if elig_mask[co + a] == 0 and (cat_bits[co + a] & allowed) != 0:
            pre = _components(ppv, q, qf, sc, tm, co + a, cand_f)[3]
            if not np.isnan(pre):
                idx[n] = a
                key[n] = -pre
                n += 1
    k = 2 * top_m
    while True:
        if n > k:
            cut = np.partition(key[:n].copy(), k - 1)[k - 1]
            m = 0
            for j in range(n):
                if key[j] <= cut:
                    m += 1
            sel = np.empty(m, dtype=np.int64)
            m = 0
            for j in range(n):
                if key[j] <= cut:
                    sel[m] = j
                    m += 1
        else:
            sel = np.arange(n)
        sel = sel[np.argsort(key[sel], kind="mergesort")]  # sel is in index order: ties stay by index
        w = 0
        for j in range(sel.shape[0]):
            a = idx[sel[j]]
            if _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day, use_off, use_ts,
                        run_head, run_next, run_ts) == 0:  # fmt: skip
                out[w] = a
                w += 1
                if w == top_m:
                    return out
        if sel.shape[0] == n:
            return out
        out[:] = -1
        k *= 4


@njit(cache=True, nogil=True, error_model="numpy")
def assign_primaries(
    order,
    slot_page,
    slot_ts,
    slot_day,
    slot_dayidx,
    u_eps,
    u_pick,
    top_idx,
    n_elig,
    slot_is_ppv,
    slot_allowed,
    slot_f,
    cand_off,
    slot_off,
    best_off,
    best_slot,
    cand_gid,
    elig_mask,
    hours_since_use_page,
    cat_bits,
    cand_f,
    cross_row,
    cross_flags,
    page_eps,
    page_pen,
    page_rules,
    use_off,
    use_ts,
    slot_sig,
    sig_off,
    page_last_day,
    page_end_ts,
    top_m,
    k_max,
):
    """5.10 The global pass of §7.3 over every page's slots, in the order `order`.

    Layout (P pages, S slots in total, A candidates in total, G distinct captions):
      pages: cand_off int64[P+1] (candidates of page p are rows cand_off[p]:cand_off[p+1], in caption_id order; local
        index a = row − cand_off[p]), slot_off int64[P+1] (slots of page p, in the page's slot order; local slot
        index s = row − slot_off[p]); page_eps float64[P] (ε); page_pen float64[P, 3] (`PEN_PARAMS`); page_rules
        int64[P, 3] (`RULE_PARAMS`: explore_pool_size, top_k, max_daily_uses).
      slots (S): slot_page int64; slot_ts int64 (UTC µs); slot_day int64 (the page's "day" code of the one-primary
        rule, any integer); slot_dayidx int64 (index of the slot's local date within its page, for the same-day
        penalty); u_eps, u_pick float64 (hash_uniform(seed_key + "|eps" / "|pick")); top_idx int64[S, M] and n_elig
        int64 (the `score_slot` result of the page: top M local indices by final_pre, −1 padded, and the count of
        scorable eligible candidates); slot_is_ppv bool, slot_allowed uint32 (categories allowed), slot_f
        float64[S, 4] (`SLOT_F`).
      candidates (A): cand_gid int64 (global caption id in [0, G)), elig_mask uint16 (§5.7 slot-independent mask),
        hours_since_use_page float64 (+inf = never), cat_bits uint32, cand_f float64[A, 5] (`CAND_F`), cross_row
        int64 (−1, or the candidate's row of cross_flags bool[R, max S_p]: the page's cross-page conflicts per slot).
      best_off int64[P+1], best_slot int32[·]: page p's `best_slots` result (n_days × A_p) starts at best_off[p].
      agency-wide uses before this run: use_off int64[G+1], use_ts int64[·] (UTC µs, sorted within each caption).
      slot_sig int64[S], sig_off int64[·]: the shared re-scoring orders (`slot_signatures`; −1 = none, any slot may
        have none: the result is the same, only slower); page_last_day int64[P], page_end_ts int64[P]: the day code
        and the time of each page's last slot (what the re-scoring may drop from a shared order for good).
      order int64[T]: slot rows in processing order ((slot_ts_utc, username_page, slot_type) in the ranker).
      top_m: the M of `score_slot` for re-scoring; k_max >= every top_k.
    A pair's final score and final_pre are `pair_values` (final −inf: not eligible, not scorable or banned).

    Per slot, in `order`: a candidate is blocked when it is already primary on the page's `slot_day`, or when its
    agency-wide uses in (ts − 24 h, ts] (before this run, plus the primaries of this run) reach max_daily_uses.
    1. allowed = the first max(explore_pool_size, top_k) unblocked candidates of top_idx ordered by final desc, index
       asc; if none while n_elig exceeds the valid entries of top_idx, the slot is re-scored (top M by final_pre
       with the blocked candidates masked, as `score_slot`) and allowed is taken from that top M the same way.
    2. greedy g = allowed[0]; pool = the first explore_pool_size of allowed, sorted by index; explored =
       u_eps < ε; primary = pool[min(|pool| − 1, ⌊u_pick × |pool|⌋)] when explored, else g; probability =
       (1 − ε) × [primary = g] + ε / |pool|; ranks 2… = allowed without the primary, up to top_k in all.
    3. Fallback when allowed is empty: candidates whose mask has only relaxable bits (reuse, cooldown, fatigue),
       scorable in the slot and unblocked, by hours_since_use_page desc then index asc, up to top_k; probability 1.
    4. Nothing at all (or a page without candidates): kind KIND_NONE.
    The primary (rank 1) is recorded as a use of its caption at ts and as primary on (page, day).

    Returns (kind int8[S] (`KIND_RANKED`, `KIND_FALLBACK`, `KIND_NONE`; slots not in `order` stay KIND_NONE),
    rows int64[S, k_max] (local candidate indices in rank order, −1 padded), greedy int64[S] (−1 unless ranked),
    pool int64[S] (|pool|, −1 unless ranked), explored bool[S], prob float64[S] (primary's selection probability,
    NaN for KIND_NONE), fb_lo, fb_hi float64[S] (min and max of the finite final_pre over the whole fallback pool
    of a KIND_FALLBACK slot, for `score_normalized`; +inf / −inf when none is finite; NaN for other kinds)).
    """
    S = slot_page.shape[0]
    T = order.shape[0]
    G = use_off.shape[0] - 1
    A_all = cand_gid.shape[0]
    kind = np.full(S, KIND_NONE, dtype=np.int8)
    rows = np.full((S, k_max), -1, dtype=np.int64)
    greedy = np.full(S, -1, dtype=np.int64)
    pool_n = np.full(S, -1, dtype=np.int64)
    explored = np.zeros(S, dtype=np.bool_)
    prob = np.full(S, np.nan, dtype=np.float64)
    fb_lo = np.full(S, np.nan, dtype=np.float64)
    fb_hi = np.full(S, np.nan, dtype=np.float64)

    prim_head = np.full(A_all, -1, dtype=np.int64)
    prim_next = np.full(T, -1, dtype=np.int64)
    prim_day = np.zeros(T, dtype=np.int64)
    run_head = np.full(G, -1, dtype=np.int64)
    run_next = np.full(T, -1, dtype=np.int64)
    run_ts = np.zeros(T, dtype=np.int64)
    n_rec = 0
    sig_order = np.empty(sig_off[-1], dtype=np.int32)
    sig_len = np.full(sig_off.shape[0] - 1, -1, dtype=np.int64)  # −1: order not built yet

    for t in range(T):
        g_slot = order[t]
        p = slot_page[g_slot]
        co = cand_off[p]
        A = cand_off[p + 1] - co
        if A == 0:
            continue
        s_loc = g_slot - slot_off[p]
        ts = slot_ts[g_slot]
        day = slot_day[g_slot]
        eps = page_eps[p]
        pool_size = page_rules[p, 0]
        top_k = page_rules[p, 1]
        max_uses = page_rules[p, 2]
        need = pool_size if pool_size > top_k else top_k

        idx = top_idx[g_slot]
        vals = np.empty(idx.shape[0])
        for j in range(idx.shape[0]):
            a = idx[j]
            vals[j] = -np.inf
            if a >= 0:
                vals[j] = pair_values(g_slot, s_loc, co + a, a, A, p, slot_is_ppv, slot_allowed, slot_f, slot_dayidx,
                                      cat_bits, cand_f, elig_mask, best_off, best_slot, cross_row, cross_flags,
                                      page_pen)[9]  # fmt: skip
        cand = _ordered(idx, vals)
        allowed = np.empty(need, dtype=np.int64)
        n_al = 0
        for j in range(cand.shape[0]):
            a = cand[j]
            b = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day, use_off,
                         use_ts, run_head, run_next, run_ts)  # fmt: skip
            if b == 0:
                allowed[n_al] = a
                n_al += 1
                if n_al == need:
                    break
        if n_al == 0 and n_elig[g_slot] > cand.shape[0]:
            # every candidate of `cand` is blocked; without one, any blocked candidate at all (masked ones too)
            any_extra = cand.shape[0] > 0
            for a in range(A):
                if any_extra:
                    break
                any_extra = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day,
                                     use_off, use_ts, run_head, run_next, run_ts) != 0  # fmt: skip
            if any_extra:
                idx2 = _top_unblocked(g_slot, co, A, top_m, day, ts, max_uses, slot_is_ppv, slot_allowed, slot_f,
                                      cat_bits, cand_f, cand_gid, elig_mask, prim_head, prim_next, prim_day, use_off,
                                      use_ts, run_head, run_next, run_ts, slot_sig[g_slot], sig_order, sig_off,
                                      sig_len, page_last_day[p], page_end_ts[p])  # fmt: skip
                vals2 = np.empty(idx2.shape[0])
                for j in range(idx2.shape[0]):
                    a = idx2[j]
                    vals2[j] = -np.inf
                    if a >= 0:
                        vals2[j] = pair_values(g_slot, s_loc, co + a, a, A, p, slot_is_ppv, slot_allowed, slot_f,
                                               slot_dayidx, cat_bits, cand_f, elig_mask, best_off, best_slot,
                                               cross_row, cross_flags, page_pen)[9]  # fmt: skip
                cand = _ordered(idx2, vals2)
                for j in range(cand.shape[0]):
                    a = cand[j]
                    b = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day,
                                 use_off, use_ts, run_head, run_next, run_ts)  # fmt: skip
                    if b == 0:
                        allowed[n_al] = a
                        n_al += 1
                        if n_al == need:
                            break

        chosen = -1
        if n_al > 0:
            g = allowed[0]
            npool = pool_size if pool_size < n_al else n_al
            pool = np.sort(allowed[:npool])
            expl = u_eps[g_slot] < eps
            primary = g
            if expl:
                j = int(u_pick[g_slot] * npool)
                primary = pool[j if j < npool - 1 else npool - 1]
            kind[g_slot] = KIND_RANKED
            greedy[g_slot] = g
            pool_n[g_slot] = npool
            explored[g_slot] = expl
            prob[g_slot] = (1.0 - eps) * (1.0 if primary == g else 0.0) + eps / npool
            rows[g_slot, 0] = primary
            r = 1
            for j in range(n_al):
                if r >= top_k:
                    break
                if allowed[j] != primary:
                    rows[g_slot, r] = allowed[j]
                    r += 1
            chosen = primary
        else:
            fb = np.empty(A, dtype=np.int64)
            pre_fb = np.empty(A, dtype=np.float64)
            n_fb = 0
            ppv, q, qf, sc, tm, allowed_cats = _slot(g_slot, slot_is_ppv, slot_allowed, slot_f)
            for a in range(A):
                if (elig_mask[co + a] & _HARD_MASK) == 0 and (cat_bits[co + a] & allowed_cats) != 0:
                    pre = _components(ppv, q, qf, sc, tm, co + a, cand_f)[3]
                    if not np.isnan(pre):
                        b = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day,
                                     use_off, use_ts, run_head, run_next, run_ts)  # fmt: skip
                        if b == 0:
                            fb[n_fb] = a
                            pre_fb[n_fb] = pre
                            n_fb += 1
            if n_fb > 0:
                fb = fb[:n_fb]
                key = np.empty(n_fb, dtype=np.float64)
                lo_v, hi_v = np.inf, -np.inf
                for j in range(n_fb):
                    key[j] = -hours_since_use_page[co + fb[j]]
                    v = pre_fb[j]
                    if np.isfinite(v):
                        lo_v = v if v < lo_v else lo_v
                        hi_v = v if v > hi_v else hi_v
                fb_lo[g_slot] = lo_v
                fb_hi[g_slot] = hi_v
                fb = fb[np.argsort(key, kind="mergesort")]
                kind[g_slot] = KIND_FALLBACK
                prob[g_slot] = 1.0
                k = n_fb if n_fb < top_k else top_k
                for j in range(k):
                    rows[g_slot, j] = fb[j]
                chosen = fb[0]
        if chosen >= 0:
            ca = co + chosen
            prim_day[n_rec] = day
            prim_next[n_rec] = prim_head[ca]
            prim_head[ca] = n_rec
            gid = cand_gid[ca]
            run_ts[n_rec] = ts
            run_next[n_rec] = run_head[gid]
            run_head[gid] = n_rec
            n_rec += 1
    return kind, rows, greedy, pool_n, explored, prob, fb_lo, fb_hi
