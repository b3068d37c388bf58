"""The global assignment pass of the ranker (spec 30 §5.10, §7.3): primaries, ε-exploration and fallback.

One thread, slots in a fixed order given by the caller. Pages, slots and candidates arrive as flat arrays with CSR
offsets (see `assign_primaries`); the dynamic state (primaries of this run per page-day, agency-wide uses in the last
24 h) lives in linked lists inside the kernel, so the result does not depend on any ordering assumption beyond the
processing order itself. Strings and hashes stay outside: caption identity is a global integer id per caption, the
ε draws arrive as arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from of_scheduler_assets.kernels.codes import ALREADY_PRIMARY_TODAY, FALLBACK_RELAXABLE_MASK, MAX_DAILY_USES_REACHED
from of_scheduler_assets.kernels.score import score_slot

#: out_kind values.
KIND_RANKED = 0
KIND_FALLBACK = 1
KIND_NONE = 2
#: 24 h in microseconds (the `max_daily_uses` window).
DAY_US = 86_400_000_000
#: Page parameter columns of `page_score` and `page_rules`.
SCORE_PARAMS = ("beta", "nu", "c", "cap_mult", "novelty_weight", "new_caption_boost", "mu_P", "mu_open_P")
RULE_PARAMS = ("explore_pool_size", "top_k", "max_daily_uses")
_HARD_MASK = ~FALLBACK_RELAXABLE_MASK & 0xFFFF


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
    lo = ts - DAY_US
    lo_u, hi_u = use_off[gid], use_off[gid + 1]
    cnt = 0
    if hi_u > lo_u:
        seg = use_ts[lo_u:hi_u]
        cnt = np.searchsorted(seg, ts, side="right") - np.searchsorted(seg, lo, side="right")
    k = run_head[gid]
    while k >= 0:
        t = run_ts[k]
        if lo < t and t <= ts:
            cnt += 1
        k = run_next[k]
    if cnt >= max_uses:
        m |= MAX_DAILY_USES_REACHED
    return m


@njit(cache=True, nogil=True, error_model="numpy")
def _ordered(idx, final, frow):
    """The valid entries of `idx` (>= 0, final > −inf) by final desc, then candidate index asc."""
    n = 0
    for j in range(idx.shape[0]):
        a = idx[j]
        if a >= 0 and final[frow + a] > -np.inf:
            n += 1
    sel = np.empty(n, dtype=np.int64)
    n = 0
    for j in range(idx.shape[0]):
        a = idx[j]
        if a >= 0 and final[frow + a] > -np.inf:
            sel[n] = a
            n += 1
    sel = np.sort(sel)
    key = np.empty(n, dtype=np.float64)
    for j in range(n):
        key[j] = -final[frow + sel[j]]
    return sel[np.argsort(key, kind="mergesort")]


@njit(cache=True, nogil=True, error_model="numpy")
def assign_primaries(
    order,
    slot_page,
    slot_ts,
    slot_day,
    u_eps,
    u_pick,
    top_idx,
    n_elig,
    slot_is_ppv,
    slot_price,
    slot_allowed,
    slot_tm,
    cand_off,
    slot_off,
    dense_off,
    final,
    final_pre,
    scorable,
    cand_gid,
    elig_mask,
    hours_since_use_page,
    cat_bits,
    p_buy,
    n_buy,
    q_bar,
    p_open,
    n_open,
    novelty_lvl,
    page_eps,
    page_score,
    page_rules,
    use_off,
    use_ts,
    top_m,
    k_max,
):
    """5.10 The global pass of §7.3 over every page's slots, in the order `order`.

    Layout (P pages, S slots in total, A candidates in total, G distinct captions):
      pages: cand_off int64[P+1] (candidates of page p are rows cand_off[p]:cand_off[p+1], in caption_id order; local
        index a = row − cand_off[p]), slot_off int64[P+1] (slots of page p, in the page's slot order; local slot
        index s = row − slot_off[p]), dense_off int64[P+1] (page p's dense [S_p, A_p] matrices start there, row-major);
        page_eps float64[P] (ε); page_score float64[P, 8] (`SCORE_PARAMS`: β, ν, c, cap_mult, novelty_weight,
        new_caption_boost, μ_P, μ_open,P, for the re-scoring with `score_slot`); page_rules int64[P, 3]
        (`RULE_PARAMS`: explore_pool_size, top_k, max_daily_uses).
      slots (S): slot_page int64; slot_ts int64 (UTC µs); slot_day int64 (the page's local date, any integer code);
        u_eps, u_pick float64 (hash_uniform(seed_key + "|eps" / "|pick")); top_idx int64[S, M] and n_elig int64 (the
        `score_slot` result of the page: top M local indices by final_pre, −1 padded, and the count of scorable
        eligible candidates); slot_is_ppv bool, slot_price float64, slot_allowed uint32, slot_tm float64 (the
        `score_slot` slot inputs).
      dense: final float64[·] (final score after diversity penalties, −inf when ineligible, banned or not scorable),
        final_pre float64[·] (score before penalties, eligibility ignored; only read for the fallback pool's range),
        scorable bool[·] (category fits the slot and final_pre is not NaN; eligibility ignored).
      candidates (A): cand_gid int64 (global caption id in [0, G)), elig_mask uint16 (§5.7 slot-independent mask),
        hours_since_use_page float64 (+inf = never), and the `score_slot` candidate inputs cat_bits uint32, p_buy,
        n_buy, q_bar, p_open, n_open, novelty_lvl float64.
      agency-wide uses before this run: use_off int64[G+1], use_ts int64[·] (UTC µs, sorted within each caption).
      order int64[T]: slot rows in processing order ((slot_ts_utc, username_page, slot_type) in the ranker).
      top_m: the M of `score_slot` for re-scoring; k_max >= every top_k.

    Per slot, in `order`: a candidate is blocked when it is already primary on the page's `slot_day`, or when its
    agency-wide uses in (ts − 24 h, ts] (before this run, plus the primaries of this run) reach max_daily_uses.
    1. allowed = the first max(explore_pool_size, top_k) unblocked candidates of top_idx ordered by final desc, index
       asc; if none while n_elig exceeds the valid entries of top_idx, the slot is re-scored by `score_slot` with the
       blocked candidates masked and allowed is taken from that top M the same way.
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

    for t in range(T):
        g_slot = order[t]
        p = slot_page[g_slot]
        co = cand_off[p]
        A = cand_off[p + 1] - co
        if A == 0:
            continue
        s_loc = g_slot - slot_off[p]
        frow = dense_off[p] + s_loc * A
        ts = slot_ts[g_slot]
        day = slot_day[g_slot]
        eps = page_eps[p]
        pool_size = page_rules[p, 0]
        top_k = page_rules[p, 1]
        max_uses = page_rules[p, 2]
        need = pool_size if pool_size > top_k else top_k

        cand = _ordered(top_idx[g_slot], final, frow)
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
            mask2 = elig_mask[co : co + A].copy()
            any_extra = False
            for a in range(A):
                b = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day, use_off,
                             use_ts, run_head, run_next, run_ts)  # fmt: skip
                if b != 0:
                    any_extra = True
                    mask2[a] |= np.uint16(b)
            if any_extra:
                ps = page_score[p]
                idx2, _, _, _ = score_slot(
                    mask2, cat_bits[co : co + A], p_buy[co : co + A], n_buy[co : co + A], q_bar[co : co + A],
                    p_open[co : co + A], n_open[co : co + A], novelty_lvl[co : co + A],
                    slot_is_ppv[g_slot : g_slot + 1], slot_price[g_slot : g_slot + 1],
                    slot_allowed[g_slot : g_slot + 1], slot_tm[g_slot : g_slot + 1],
                    ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], ps[6], ps[7], top_m,
                )  # fmt: skip
                cand = _ordered(idx2[0], final, frow)
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
            n_fb = 0
            for a in range(A):
                if (elig_mask[co + a] & _HARD_MASK) == 0 and scorable[frow + a]:
                    b = _blocked(co + a, cand_gid[co + a], day, ts, max_uses, prim_head, prim_next, prim_day,
                                 use_off, use_ts, run_head, run_next, run_ts)  # fmt: skip
                    if b == 0:
                        fb[n_fb] = a
                        n_fb += 1
            if n_fb > 0:
                fb = fb[:n_fb]
                key = np.empty(n_fb, dtype=np.float64)
                lo_v, hi_v = np.inf, -np.inf
                for j in range(n_fb):
                    key[j] = -hours_since_use_page[co + fb[j]]
                    v = final_pre[frow + fb[j]]
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
