"""Exploration bonuses, fatigue and cooldown backoff (spec 30 §5.3-5.6).

All kernels: float64, no fastmath, single-threaded, pure. NaN in a data input propagates unless stated otherwise;
parameters (c, cap_mult, weights, bounds) must be finite.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _ucb(q, p, n, nu, c, cap_mult):
    if q == 0.0 or c == 0.0:
        return 0.0
    cap = cap_mult * q * p
    d = n + nu
    if d == 0.0:
        # No evidence and no prior weight: the width is unbounded, the cap binds.
        return cap
    v = q * c * math.sqrt(p * (1.0 - p) / d)
    return cap if cap < v else v


@njit(cache=True, nogil=True, error_model="numpy")
def ucb_bonus(q, p, n, nu, c, cap_mult):
    """5.3 Capped UCB bonus per candidate: `min(q × c × sqrt(p(1 − p)/(n + nu)), cap_mult × q × p)`.

    q: float, price in USD of the slot (>= 0); 1.0 for view-rate objectives (result is then a fraction).
    p: float64[k], smoothed rate in [0, 1]; n: float64[k], decayed recipients (>= 0); nu: float >= 0 prior strength.
    c: float >= 0, UCB width, applied ONCE; cap_mult: float >= 0, cap as a multiple of q × p.
    Returns float64[k] in USD per recipient (q × fraction). Exactly 0 when q = 0 or c = 0; `n + nu == 0` -> the cap.
    Uncapped, the bonus is linear in c (doubling c doubles it).
    """
    k = p.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = _ucb(q, p[i], n[i], nu, c, cap_mult)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _novelty_level(e):
    if e < 10.0:
        return 1.0
    if e < 50.0:
        return 0.5
    if e < 100.0:
        return 0.2
    if e >= 100.0:
        return 0.0
    return e  # NaN


@njit(cache=True, nogil=True, error_model="numpy")
def novelty_level(events_365d):
    """Novelty level per caption from its all-pages send events in 365 d (float64[k], counts, >= 0).

    < 10 -> 1.0, < 50 -> 0.5, < 100 -> 0.2, else 0.0 (so +inf -> 0.0); NaN -> NaN. Returns float64[k].
    """
    k = events_365d.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = _novelty_level(events_365d[i])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def novelty_bonus(events_365d, weight, boost, scale):
    """5.4 Novelty bonus per caption: `weight × boost × level × scale` (evaluated left to right).

    events_365d: float64[k] (see `novelty_level`); weight: `novelty_weight`; boost: `new_caption_boost`;
    scale: q × mu_P (PPV, USD per recipient) or mu_open_P (other slot types, fraction). Returns float64[k] in the unit
    of `scale`.
    """
    k = events_365d.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = weight * boost * _novelty_level(events_365d[i]) * scale
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def fatigue(active_days_30d):
    """5.5 Caption-on-page fatigue `1 / (1 + exp(−0.5 × (a − 15)))` per caption.

    active_days_30d: float64[k], distinct local send dates on the page in 30 d (0-30). 18 days -> 0.818, 0 days ->
    σ(−7.5) ≈ 5.5e-4; +inf -> 1, −inf -> 0, NaN -> NaN. Returns float64[k] in [0, 1].
    """
    k = active_days_30d.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = 1.0 / (1.0 + math.exp(-0.5 * (active_days_30d[i] - 15.0)))
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def cooldown_hours(uses_7d, base, factor, min_h, max_days):
    """5.6 Agency-wide backoff `max(min_h, min(base × factor ** uses_7d, 24 × max_days))` per caption, in hours.

    uses_7d: float64[k], sends of the caption on any page in the last 7 d (>= 0; the power is the float pow, so
    fractional values are allowed); base: `cooldown.base_hours`; factor: `backoff_factor` (> 0); min_h:
    `cooldown.min_hours`; max_days: `max_cooldown_days`. Overflow (+inf) -> 24 × max_days; NaN -> NaN.
    The result is finite and at most max(min_h, 24 × max_days): no caption cools down forever.
    """
    k = uses_7d.shape[0]
    cap = 24.0 * max_days
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        v = base * factor ** uses_7d[i]
        if v > cap:
            v = cap
        if v < min_h:
            v = min_h
        out[i] = v
    return out
