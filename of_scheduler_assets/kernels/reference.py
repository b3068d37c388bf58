"""Plain NumPy/Python reference implementations of the Numba kernels (spec 30 §5).

Each function has the same signature and contract as its kernel (see the kernel docstrings) and evaluates the same
arithmetic in the same order, so results are bit-identical wherever only +, −, ×, ÷ and sqrt are involved, and equal to
within libm rounding where pow/exp are. Used by the property tests and as the benchmark baseline; not on the hot path.
"""

from __future__ import annotations

import numpy as np

from of_scheduler_assets.kernels import codes
from of_scheduler_assets.kernels.priors import LIFT_MAX, LIFT_MIN

_F = np.float64


def decay_weights(age_days, half_life):
    a = np.asarray(age_days, dtype=_F)
    with np.errstate(all="ignore"):
        w = np.power(0.5, a / half_life)
    return np.where(a < 0.0, 1.0, w)


def _eb(x, n, mu, nu):
    d = n + nu
    with np.errstate(all="ignore"):
        v = (x + nu * mu) / d
    return np.where(d == 0.0, mu, v)


def eb_smooth(x, n, mu, nu):
    return _eb(np.asarray(x, _F), np.asarray(n, _F), np.asarray(mu, _F), _F(nu)).astype(_F)


def page_prior(x_P, n_P, mu_G, nu_P):
    if n_P + nu_P == 0.0:
        return float(mu_G)
    return float((x_P + nu_P * mu_G) / (n_P + nu_P))


def cross_page_lift(x_other, e_other, lam):
    x = np.asarray(x_other, _F)
    e = np.asarray(e_other, _F)
    with np.errstate(all="ignore"):
        v = np.clip((x + lam) / (e + lam), LIFT_MIN, LIFT_MAX)
    v = np.where(e > 0.0, v, 1.0)
    return np.where(np.isnan(e), np.nan, v)


def prior_chain(x_cp, n_cp, x_other, e_other, mu_G, x_P, n_P, nu_P, nu, lam):
    mu_P = page_prior(x_P, n_P, mu_G, nu_P)
    prior = mu_P * cross_page_lift(x_other, e_other, lam)
    return _eb(np.asarray(x_cp, _F), np.asarray(n_cp, _F), prior, _F(nu))


def ucb_bonus(q, p, n, nu, c, cap_mult):
    p = np.asarray(p, _F)
    n = np.asarray(n, _F)
    if q == 0.0 or c == 0.0:
        return np.zeros_like(p)
    cap = cap_mult * q * p
    d = n + nu
    with np.errstate(all="ignore"):
        v = q * c * np.sqrt(p * (1.0 - p) / d)
    out = np.where(cap < v, cap, v)
    return np.where(d == 0.0, cap, out)


def novelty_level(events_365d):
    e = np.asarray(events_365d, _F)
    lvl = np.select([e < 10.0, e < 50.0, e < 100.0, e >= 100.0], [1.0, 0.5, 0.2, 0.0], default=np.nan)
    return lvl.astype(_F)


def novelty_bonus(events_365d, weight, boost, scale):
    return weight * boost * novelty_level(events_365d) * scale


def fatigue(active_days_30d):
    a = np.asarray(active_days_30d, _F)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-0.5 * (a - 15.0)))


def cooldown_hours(uses_7d, base, factor, min_h, max_days):
    u = np.asarray(uses_7d, _F)
    cap = 24.0 * max_days
    with np.errstate(over="ignore"):
        v = base * np.power(_F(factor), u)
    v = np.where(v > cap, cap, v)
    return np.where(v < min_h, _F(min_h), v)


def eligibility(
    tos_flagged,
    is_active,
    media_only,
    category_bits,
    allowed_bits,
    explicitness,
    max_explicitness,
    hours_since_use_page,
    min_reuse_days,
    hours_since_use_any,
    cooldown_h,
    fatigue_score,
    fatigue_limit,
    override_min_hours,
    uses_24h,
    max_daily_uses,
    already_primary_today,
):
    k = len(tos_flagged)
    m = np.zeros(k, dtype=np.uint16)
    expl = np.where(np.isnan(explicitness), codes.UNKNOWN_EXPLICITNESS, explicitness)
    hp = np.asarray(hours_since_use_page, _F)
    rules = [
        (codes.TOS_FLAGGED, np.asarray(tos_flagged, bool)),
        (codes.INACTIVE_CAPTION, ~np.asarray(is_active, bool)),
        (codes.MEDIA_ONLY, np.asarray(media_only, bool)),
        (codes.CATEGORY_MISMATCH, (np.asarray(category_bits, np.uint64) & np.uint64(allowed_bits)) == 0),
        (codes.EXPLICITNESS_ABOVE_PAGE_MAX, expl > max_explicitness),
        (codes.REUSED_WITHIN_MIN_REUSE_DAYS, hp < 24.0 * min_reuse_days),
        (codes.COOLDOWN_ACTIVE, np.asarray(hours_since_use_any, _F) < np.asarray(cooldown_h, _F)),
        (codes.FATIGUED, np.asarray(fatigue_score, _F) > fatigue_limit),
        (codes.BLOCKED_BY_OVERRIDE, hp < np.asarray(override_min_hours, _F)),
        (codes.MAX_DAILY_USES_REACHED, np.asarray(uses_24h, _F) >= max_daily_uses),
        (codes.ALREADY_PRIMARY_TODAY, np.asarray(already_primary_today, bool)),
    ]
    for bit, cond in rules:
        m[cond] |= np.uint16(bit)
    return m


def wilson_scores(prices, w_purch, w_recip, mu_P, nu_price, z):
    prices = np.asarray(prices, _F)
    x = np.asarray(w_purch, _F)
    n = np.asarray(w_recip, _F)
    zz = z * z
    d = n + nu_price
    with np.errstate(all="ignore"):
        ph = np.where(d == 0.0, mu_P, (x + nu_price * mu_P) / d)
        ne = np.where(n > 1.0, n, 1.0)
        lb = (ph + zz / (2.0 * ne) - z * np.sqrt(ph * (1.0 - ph) / ne + zz / (4.0 * ne * ne))) / (1.0 + zz / ne)
    return prices * lb


def choose_price(prices, w_purch, w_recip, mu_P, nu_price, z):
    s = wilson_scores(prices, w_purch, w_recip, mu_P, nu_price, z)
    valid = np.flatnonzero(~np.isnan(s))
    if valid.size == 0:
        return -1
    # Best score, then lower price, then lower index.
    order = np.lexsort((valid, np.asarray(prices, _F)[valid], -s[valid]))
    return int(valid[order[0]])


def _ucb_unit(p, n, nu, c, cap_mult):
    if c == 0.0:
        return np.zeros_like(p)
    cap = cap_mult * p
    d = n + nu
    with np.errstate(all="ignore"):
        v = c * np.sqrt(p * (1.0 - p) / d)
    return np.where(d == 0.0, cap, np.where(cap < v, cap, v))


def score_matrix(
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
):
    """final_pre as a dense float64[S, A] matrix (−inf where masked or NaN); the §5.9 formulas, vectorised."""
    padj = p_buy * np.power(q_bar, beta)
    u_buy = _ucb_unit(p_buy, n_buy, nu, c, cap_mult)
    nov = (novelty_weight * new_caption_boost) * novelty_lvl
    base_open = p_open + _ucb_unit(p_open, n_open, nu, c, cap_mult) + nov * mu_open_P
    pos = slot_is_ppv & (slot_price > 0.0)
    with np.errstate(all="ignore"):
        qf = np.where(pos, np.power(slot_price, 1.0 - beta), 0.0)
    qq = np.where(pos, slot_price, 0.0)
    sc = np.where(pos, slot_price * mu_P, 0.0)
    S, A = slot_price.shape[0], p_buy.shape[0]
    val = np.empty((S, A), dtype=_F)
    ppv = np.flatnonzero(slot_is_ppv)
    oth = np.flatnonzero(~slot_is_ppv)
    with np.errstate(all="ignore"):
        if ppv.size:
            val[ppv] = slot_tm[ppv, None] * (
                qf[ppv, None] * padj[None, :] + qq[ppv, None] * u_buy[None, :] + nov[None, :] * sc[ppv, None]
            )
        if oth.size:
            val[oth] = slot_tm[oth, None] * base_open[None, :]
    ok = (elig_mask == 0)[None, :] & (
        (cat_bits.astype(np.uint64)[None, :] & slot_allowed.astype(np.uint64)[:, None]) != 0
    )
    return np.where(ok & ~np.isnan(val), val, -np.inf)


def top_m_from_matrix(final, top_m):
    """Per row the top `top_m` finite-or-+inf entries by value desc, index asc; padded with −1 / −inf."""
    S, A = final.shape
    M = top_m
    top_idx = np.full((S, M), -1, dtype=np.int64)
    top_score = np.full((S, M), -np.inf, dtype=_F)
    n_elig = (final > -np.inf).sum(axis=1).astype(np.int64)
    if M == 0 or A == 0:
        return top_idx, top_score, top_idx[:, 0] if M else np.full(S, -1, np.int64), n_elig
    kth = min(M, A) - 1
    thr = -np.partition(-final, kth, axis=1)[:, kth]
    for s in range(S):
        row = final[s]
        cand = np.flatnonzero((row >= thr[s]) & (row > -np.inf))
        order = np.argsort(-row[cand], kind="stable")[:M]
        sel = cand[order]
        top_idx[s, : sel.size] = sel
        top_score[s, : sel.size] = row[sel]
    return top_idx, top_score, top_idx[:, 0].copy(), n_elig


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
    final = score_matrix(
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
    )
    return top_m_from_matrix(final, top_m)


def pair_matrices(g0, S, co, A, p, slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f, elig_mask,
                  best_off, best_slot, cross_row, cross_flags, page_pen):  # fmt: skip
    """`assign.pair_values` of every pair of page p (slot rows g0…g0+S−1, candidate rows co…co+A−1) as dense [S, A]
    matrices: dict exploit, ucb, novelty, final_pre, scorable, ok, same, cross, penalty, final."""
    sl, cl = slice(g0, g0 + S), slice(co, co + A)
    f, cf = np.asarray(slot_f[sl], _F), np.asarray(cand_f[cl], _F)
    ppv = np.asarray(slot_is_ppv[sl], bool)
    pos = ppv & (f[:, 0] > 0.0)
    with np.errstate(all="ignore"):
        exploit = np.where(ppv[:, None], np.where(pos[:, None], f[:, 1:2] * cf[None, :, 0], 0.0), cf[None, :, 3])
        ucb = np.where(ppv[:, None], np.where(pos[:, None], f[:, 0:1] * cf[None, :, 1], 0.0), cf[None, :, 2])
        nov = np.where(ppv[:, None] & ~pos[:, None], 0.0, cf[None, :, 4] * f[:, 2:3])
        pre = f[:, 3:4] * (exploit + ucb + nov)
    scorable = (np.asarray(cat_bits[cl], np.uint64)[None, :] & np.asarray(slot_allowed[sl], np.uint64)[:, None]) != 0
    scorable &= ~np.isnan(pre)
    ok = scorable & (np.asarray(elig_mask[cl]) == 0)[None, :]
    if A:
        best = np.asarray(best_slot[best_off[p] : best_off[p + 1]]).reshape(-1, A)
        same = ok & (best[np.asarray(slot_dayidx[sl])] != np.arange(S)[:, None])
    else:
        same = np.zeros((S, 0), bool)
    rows = np.asarray(cross_row[cl])
    cross = np.zeros((S, A), bool)
    has = rows >= 0
    if has.any():
        cross[:, has] = np.asarray(cross_flags)[rows[has]][:, :S].T
    cross &= ok
    base = np.maximum(f[:, 3:4] * exploit, 0.0005)
    ms, mc, ban = (float(v) for v in page_pen[p])
    pen = ms * base * same
    if ban:
        final = np.where(ok & ~cross, pre - pen, -np.inf)
    else:
        pen = pen + mc * base * cross
        final = np.where(ok, pre - pen, -np.inf)
    return {"exploit": exploit, "ucb": ucb, "novelty": nov, "final_pre": pre, "scorable": scorable, "ok": ok,
            "same": same & (ms > 0.0), "cross": cross, "penalty": np.where(ok, pen, 0.0), "final": final}  # fmt: skip


def best_slots(g0, S, co, A, slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f, elig_mask, n_days):
    no_days = np.zeros(len(slot_dayidx), np.int64)  # the penalties are not needed: one date, best slot 0
    m = pair_matrices(g0, S, co, A, 0, slot_is_ppv, slot_allowed, slot_f, no_days, cat_bits, cand_f, elig_mask,
                      np.array([0, A]), np.zeros(A, np.int64), np.full(co + A, -1), np.zeros((0, S), bool),
                      np.zeros((1, 3)))  # fmt: skip
    fp = np.where(m["ok"], m["final_pre"], -np.inf)
    out = np.full(n_days * A, -1, np.int32)
    days = np.asarray(slot_dayidx[g0 : g0 + S])
    for d in range(n_days):
        rows = np.flatnonzero(days == d)
        if rows.size:
            out[d * A : (d + 1) * A] = rows[np.argmax(fp[rows], axis=0)]
    return out


def cross_page_flags(gids, slot_ts, page, occ_off, occ_ts, occ_page, h_us):
    row = np.full(len(gids), -1, np.int64)
    flags = []
    for a, g in enumerate(int(x) for x in gids):
        occ = [(int(t), int(q)) for t, q in zip(occ_ts[occ_off[g] : occ_off[g + 1]], occ_page[occ_off[g] : occ_off[g + 1]], strict=True)]  # fmt: skip
        if not occ:
            continue
        f = [any(q != page and t - h_us <= ot <= t + h_us for ot, q in occ) for t in (int(x) for x in slot_ts)]
        if any(f):
            row[a] = len(flags)
            flags.append(f)
    return row, np.array(flags, dtype=bool).reshape(len(flags), len(slot_ts))


def _page_matrices(p, slot_off, cand_off, *pen_args):
    g0, co = int(slot_off[p]), int(cand_off[p])
    return pair_matrices(g0, int(slot_off[p + 1]) - g0, co, int(cand_off[p + 1]) - co, p, *pen_args)


def final_ranges(slot_page, slot_off, cand_off, *pen_args):
    S = len(slot_page)
    lo, hi = np.full(S, np.inf), np.full(S, -np.inf)
    for p in range(len(slot_off) - 1):
        m = _page_matrices(p, slot_off, cand_off, *pen_args)
        for s in range(int(slot_off[p + 1] - slot_off[p])):
            v = m["final"][s][m["ok"][s]]
            v = v[np.isfinite(v)]
            if v.size:
                lo[slot_off[p] + s], hi[slot_off[p] + s] = v.min(), v.max()
    return lo, hi


def pair_components(pair_slot, pair_cand, slot_page, slot_off, cand_off, *pen_args):
    vals = np.empty((len(pair_slot), 6))
    flags = np.zeros((len(pair_slot), 2), bool)
    for i, (g, a) in enumerate(zip(pair_slot, pair_cand, strict=True)):
        p = int(slot_page[g])
        m = _page_matrices(p, slot_off, cand_off, *pen_args)
        s = int(g - slot_off[p])
        vals[i] = [m[k][s, a] for k in ("exploit", "ucb", "novelty", "final_pre", "penalty", "final")]
        flags[i] = m["same"][s, a], m["cross"][s, a]
    return vals, flags


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
    """5.10 in plain Python (`slot_sig`, `sig_off`, `page_last_day`, `page_end_ts`, the kernel's shared re-scoring
    orders, change nothing here): dense per-page matrices (`pair_matrices`), sets of (page, day, caption) primaries and
    per-caption lists of use times."""
    S = len(slot_page)
    kind = np.full(S, 2, dtype=np.int8)
    rows = np.full((S, k_max), -1, dtype=np.int64)
    greedy = np.full(S, -1, dtype=np.int64)
    pool_n = np.full(S, -1, dtype=np.int64)
    explored = np.zeros(S, dtype=np.bool_)
    prob = np.full(S, np.nan, dtype=_F)
    fb_lo = np.full(S, np.nan, dtype=_F)
    fb_hi = np.full(S, np.nan, dtype=_F)
    uses: dict[int, list[int]] = {
        g: [int(t) for t in use_ts[use_off[g] : use_off[g + 1]]] for g in range(len(use_off) - 1)
    }
    primaries: set[tuple[int, int, int]] = set()
    hard_mask = ~codes.FALLBACK_RELAXABLE_MASK & 0xFFFF
    day_us = 86_400_000_000
    pen_args = (slot_is_ppv, slot_allowed, slot_f, slot_dayidx, cat_bits, cand_f, elig_mask, best_off, best_slot,
                cross_row, cross_flags, page_pen)  # fmt: skip
    mats = {p: _page_matrices(p, slot_off, cand_off, *pen_args) for p in range(len(slot_off) - 1)}

    for g_slot in (int(x) for x in order):
        p = int(slot_page[g_slot])
        co, A = int(cand_off[p]), int(cand_off[p + 1] - cand_off[p])
        if A == 0:
            continue
        si = g_slot - int(slot_off[p])
        fin, pre, sco = mats[p]["final"][si], mats[p]["final_pre"][si], mats[p]["scorable"][si]
        ts, day = int(slot_ts[g_slot]), int(slot_day[g_slot])
        eps = float(page_eps[p])
        pool_size, top_k, max_uses = (int(v) for v in page_rules[p])
        cids = [int(x) for x in cand_gid[co : co + A]]

        def blocked(a, cids=cids, p=p, day=day, ts=ts, max_uses=max_uses):
            m = codes.ALREADY_PRIMARY_TODAY if (p, day, a) in primaries else 0
            if sum(1 for t in uses.get(cids[a], []) if ts - day_us < t <= ts) >= max_uses:
                m |= codes.MAX_DAILY_USES_REACHED
            return m

        def ordered(idx, fin=fin):
            idx = [int(a) for a in idx if a >= 0 and fin[a] > -np.inf]
            return sorted(idx, key=lambda a: (-fin[a], a))

        need = max(pool_size, top_k)

        def first_allowed(cand, need=need, blocked=blocked):
            return [a for a in cand if blocked(a) == 0][:need]

        cand = ordered(top_idx[g_slot])
        allowed = first_allowed(cand)
        if not allowed and n_elig[g_slot] > len(cand):
            extra = np.array([blocked(a) for a in range(A)], dtype=np.uint16)
            if extra.any():
                keep = ((np.asarray(elig_mask[co : co + A]) | extra) == 0) & sco
                idx, _, _, _ = top_m_from_matrix(np.where(keep, pre, -np.inf)[None, :], top_m)
                allowed = first_allowed(ordered(idx[0]))
        chosen = None
        if allowed:
            g = allowed[0]
            pool = sorted(allowed[:pool_size])
            expl = bool(u_eps[g_slot] < eps)
            primary = pool[min(len(pool) - 1, int(u_pick[g_slot] * len(pool)))] if expl else g
            kind[g_slot], greedy[g_slot], pool_n[g_slot], explored[g_slot] = 0, g, len(pool), expl
            prob[g_slot] = (1.0 - eps) * (primary == g) + eps / len(pool)
            ranked = [primary, *[a for a in allowed if a != primary][: top_k - 1]]
            rows[g_slot, : len(ranked)] = ranked
            chosen = primary
        else:
            fb = [a for a in range(A) if (int(elig_mask[co + a]) & hard_mask) == 0 and sco[a] and blocked(a) == 0]
            if fb:
                fb.sort(key=lambda a, co=co: (-hours_since_use_page[co + a], a))
                kind[g_slot], prob[g_slot] = 1, 1.0
                vals = pre[fb][np.isfinite(pre[fb])]
                fb_lo[g_slot] = vals.min() if vals.size else np.inf
                fb_hi[g_slot] = vals.max() if vals.size else -np.inf
                rows[g_slot, : min(top_k, len(fb))] = fb[:top_k]
                chosen = fb[0]
        if chosen is not None:
            primaries.add((p, day, chosen))
            uses.setdefault(cids[chosen], []).append(ts)
    return kind, rows, greedy, pool_n, explored, prob, fb_lo, fb_hi
