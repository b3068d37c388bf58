"""Fused per-page scorer: candidates × slots -> per-slot top M and provisional top-1 (spec 30 §5.9, §7.2)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Stride of the sample that seeds the top-M threshold of a slot.
_SAMPLE_STRIDE = 16


@njit(cache=True, nogil=True, error_model="numpy")
def _ucb_unit(p, n, nu, c, cap_mult):
    # ucb_bonus(q, ...) / q for q > 0: min(c × sqrt(p(1 − p)/(n + nu)), cap_mult × p).
    if c == 0.0:
        return 0.0
    cap = cap_mult * p
    d = n + nu
    if d == 0.0:
        return cap
    v = c * math.sqrt(p * (1.0 - p) / d)
    return cap if cap < v else v


@njit(cache=True, nogil=True, error_model="numpy")
def _compact(bs, bi, n, m):
    """Keep the best m of the n buffered entries (index order preserved); return (m, score of the m-th best).

    The buffer holds entries in increasing candidate index, so among scores equal to the m-th best the first ones
    (lower indices) are the better ones.
    """
    v_star = np.partition(bs[:n].copy(), n - m)[n - m]
    n_gt = 0
    for j in range(n):
        if bs[j] > v_star:
            n_gt += 1
    need_eq = m - n_gt
    w = 0
    for j in range(n):
        v = bs[j]
        if v > v_star:
            bs[w] = v
            bi[w] = bi[j]
            w += 1
        elif v == v_star and need_eq > 0:
            need_eq -= 1
            bs[w] = v
            bi[w] = bi[j]
            w += 1
    return w, v_star


@njit(cache=True, nogil=True, error_model="numpy")
def _scan(buf, bs, bi, thr, m):
    """Threshold insertion of every entry of buf > thr into the buffer (bs, bi) of 2m; returns the buffered count."""
    cap = bs.shape[0]
    n = 0
    for a in range(buf.shape[0]):
        v = buf[a]
        if v > thr:
            bs[n] = v
            bi[n] = a
            n += 1
            if n == cap:
                n, thr = _compact(bs, bi, n, m)
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def score_slot(
    elig_mask,
    cat_bits,
    p_buy,
    n_buy,
    q_bar,
    p_open,
    n_open,
    novelty_lvl,
    slot_is_ppv,
    slot_price,
    slot_allowed,
    slot_tm,
    beta,
    nu,
    c,
    cap_mult,
    novelty_weight,
    new_caption_boost,
    mu_P,
    mu_open_P,
    top_m,
):
    """5.9 Score every (candidate, slot) of ONE page and keep the top `top_m` per slot.

    Candidates (length A, pre-sorted by caption_id, so index order = caption_id order):
      elig_mask: uint16[A], slot-independent eligibility mask of §5.7 (any bit set -> masked in every slot);
      cat_bits: uint32[A], category bitset (`codes.CATEGORY_BITS`);
      p_buy, n_buy: float64[A], smoothed buy rate p (§3, at the caption's own prices) and decayed PPV recipients n_CP;
      q_bar: float64[A], q̄_CP in USD (> 0; page p50 when never sent);
      p_open, n_open: float64[A], smoothed open rate and decayed recipients of all events;
      novelty_lvl: float64[A], novelty level (`novelty_level`, 1.0/0.5/0.2/0).
    Slots (length S): slot_is_ppv bool[S]; slot_price float64[S] (q_s USD, > 0 for PPV slots, ignored otherwise);
      slot_allowed uint32[S] (categories allowed for the slot type, `codes.SLOT_ALLOWED_BITS`); slot_tm float64[S]
      (temporal multiplier, > 0).
    Page scalars: beta (price elasticity β_P in [0, 2]; 0 = `price_adjustment: none`), nu (prior strength, used in the
      UCB width), c (`ucb_c`), cap_mult (`ucb_cap_mult`), novelty_weight, new_caption_boost, mu_P, mu_open_P.

    final_pre(a, s) = tm_s × (exploit + ucb + novelty), −inf when masked
      (elig_mask[a] != 0 or cat_bits[a] & slot_allowed[s] == 0), where
      PPV:   exploit = q^(1−β) × (p × q̄^β)   [= q × p × (q/q̄)^(−β), factorised so no pow runs per pair]
             ucb     = q × min(c × sqrt(p(1−p)/(n+ν)), cap_mult × p)   [= ucb_bonus(q, p, n, ν, c, cap_mult)]
             novelty = (novelty_weight × new_caption_boost × level) × (q × mu_P)
             (a PPV slot with q <= 0 scores exploit = ucb = novelty = 0);
      other: exploit = p_open, ucb = min(c × sqrt(p_open(1−p_open)/(n_open+ν)), cap_mult × p_open),
             novelty = (novelty_weight × new_caption_boost × level) × mu_open_P.
    The factorised PPV forms equal the §7.2 formulas up to rounding (relative 1e-15); the NumPy reference evaluates the
    same factorised forms, so both agree bit for bit. A NaN final_pre is treated as masked.

    Returns (top_idx int64[S, M], top_score float64[S, M], top1 int64[S], n_eligible int64[S]) with M = top_m:
    per slot the candidates with final_pre > −inf, by final_pre desc then index asc, padded with −1 / −inf;
    top1 = top_idx[:, 0]; n_eligible = number of candidates with final_pre > −inf. Threshold insertion into a
    buffer of 2M with O(M) cut-backs: O(A + M log(A/M)) expected per slot.
    """
    A = p_buy.shape[0]
    S = slot_price.shape[0]
    M = top_m
    neg_inf = -np.inf

    # Per-candidate terms (slot independent).
    padj = np.empty(A, dtype=np.float64)
    u_buy = np.empty(A, dtype=np.float64)
    nov = np.empty(A, dtype=np.float64)
    base_open = np.empty(A, dtype=np.float64)
    okbits = np.empty(A, dtype=np.uint32)
    wb = novelty_weight * new_caption_boost
    for a in range(A):
        # Category bits of eligible candidates, 0 for masked ones: one AND per pair decides the mask.
        okbits[a] = cat_bits[a] if elig_mask[a] == 0 else 0
    ppv_union = np.uint32(0)
    for s in range(S):
        if slot_is_ppv[s]:
            ppv_union |= np.uint32(slot_allowed[s])
    # Price adjustment q̄^β, only where some PPV slot can score the candidate (elsewhere it is never read: 0);
    # pow(x, 0) = 1 and pow(x, 1) = x exactly, so the shortcuts change no bit.
    for a in range(A):
        if (okbits[a] & ppv_union) == 0:
            padj[a] = 0.0
        elif beta == 0.0:
            padj[a] = p_buy[a]
        elif beta == 1.0:
            padj[a] = p_buy[a] * q_bar[a]
        else:
            padj[a] = p_buy[a] * q_bar[a] ** beta
    # Branch-free (vectorisable) forms of _ucb_unit.
    if c == 0.0:
        for a in range(A):
            u_buy[a] = 0.0
            nv = wb * novelty_lvl[a]
            nov[a] = nv
            base_open[a] = p_open[a] + 0.0 + nv * mu_open_P
    else:
        for a in range(A):
            pb = p_buy[a]
            d = n_buy[a] + nu
            cap = cap_mult * pb
            v = c * math.sqrt(pb * (1.0 - pb) / d)
            r = cap if cap < v else v
            u_buy[a] = cap if d == 0.0 else r
        for a in range(A):
            po = p_open[a]
            d = n_open[a] + nu
            cap = cap_mult * po
            v = c * math.sqrt(po * (1.0 - po) / d)
            r = cap if cap < v else v
            u = cap if d == 0.0 else r
            nv = wb * novelty_lvl[a]
            nov[a] = nv
            base_open[a] = po + u + nv * mu_open_P

    top_idx = np.full((S, M), -1, dtype=np.int64)
    top_score = np.full((S, M), neg_inf, dtype=np.float64)
    top1 = np.full(S, -1, dtype=np.int64)
    n_elig = np.zeros(S, dtype=np.int64)

    buf = np.empty(A, dtype=np.float64)
    cap = 2 * M if M > 0 else 1
    bs = np.empty(cap, dtype=np.float64)
    bi = np.empty(cap, dtype=np.int64)

    for s in range(S):
        tm = slot_tm[s]
        allowed = np.uint32(slot_allowed[s])
        cnt = 0
        # Pass 1: branch-free scoring (vectorisable); masked -> -inf; NaN stays NaN and is never selected.
        if slot_is_ppv[s]:
            q = slot_price[s]
            if q > 0.0:
                qf = q ** (1.0 - beta)
                qq = q
                sc = q * mu_P
            else:
                qf = 0.0
                qq = 0.0
                sc = 0.0
            for a in range(A):
                v = tm * (qf * padj[a] + qq * u_buy[a] + nov[a] * sc)
                w = v if (okbits[a] & allowed) != 0 else neg_inf
                buf[a] = w
                cnt += w > neg_inf
        else:
            for a in range(A):
                v = tm * base_open[a]
                w = v if (okbits[a] & allowed) != 0 else neg_inf
                buf[a] = w
                cnt += w > neg_inf
        n_elig[s] = cnt
        if M == 0:
            continue
        # Pass 2: threshold insertion (`_scan`). Candidates above the running threshold (the M-th best so far) are
        # appended to a buffer of 2M in index order; a full buffer is cut back to its best M (O(M) selection),
        # raising the threshold. Masked (-inf) and NaN entries never pass `v > thr`. A later candidate has a higher
        # index than every buffered one, so a score equal to the threshold never enters.
        # The threshold is seeded from a strided sample (the value with ~1.5M expected entries above it in the row);
        # if fewer than M candidates beat the seed, the row is scanned again from -inf. Either way the result is exact.
        thr0 = neg_inf
        if A >= 4 * M:
            samp = buf[::_SAMPLE_STRIDE].copy()
            ns = samp.shape[0]
            r = (3 * M) // (2 * _SAMPLE_STRIDE) + 1
            thr0 = np.partition(samp, ns - r)[ns - r]
        n = _scan(buf, bs, bi, thr0, M)
        if n < M and thr0 > neg_inf:
            n = _scan(buf, bs, bi, neg_inf, M)
        # Final order: score desc; the stable sort keeps index order among equal scores.
        order = np.argsort(-bs[:n], kind="mergesort")
        k = n if n < M else M
        for j in range(k):
            top_idx[s, j] = bi[order[j]]
            top_score[s, j] = bs[order[j]]
        if k > 0:
            top1[s] = top_idx[s, 0]
    return top_idx, top_score, top1, n_elig
