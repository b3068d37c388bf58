"""Wilson lower-bound price choice (spec 30 §5.8)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def wilson_scores(prices, w_purch, w_recip, mu_P, nu_price, z):
    """Per price point: `q × LB`, the objective that `choose_price` maximises (USD per recipient).

    p̂ = (x + nu_price × mu_P) / (n + nu_price) (n + nu_price = 0 -> mu_P); n_eff = max(n, 1);
    LB = (p̂ + z²/(2 n_eff) − z × sqrt(p̂(1 − p̂)/n_eff + z²/(4 n_eff²))) / (1 + z²/n_eff).
    NaN inputs give NaN scores.
    """
    k = prices.shape[0]
    out = np.empty(k, dtype=np.float64)
    zz = z * z
    for i in range(k):
        x = w_purch[i]
        n = w_recip[i]
        d = n + nu_price
        if d == 0.0:
            ph = mu_P
        else:
            ph = (x + nu_price * mu_P) / d
        ne = n if n > 1.0 else 1.0
        lb = (ph + zz / (2.0 * ne) - z * math.sqrt(ph * (1.0 - ph) / ne + zz / (4.0 * ne * ne))) / (1.0 + zz / ne)
        out[i] = prices[i] * lb
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def choose_price(prices, w_purch, w_recip, mu_P, nu_price, z):
    """5.8 Index of the tested price point that maximises q × Wilson lower bound of the buy rate.

    prices: float64[k] USD (> 0, any order, already filtered to points with >= `min_price_events`);
    w_purch / w_recip: float64[k], decayed purchases / recipients at each price (x, n); mu_P: page buy rate;
    nu_price: `price_prior_sends` prior strength (recipients); z: `wilson_z`.
    Ties on q × LB -> the lower price; equal prices too -> the lower index. NaN scores never win.
    Returns int64 index into prices, or −1 when k = 0 or every score is NaN.
    """
    s = wilson_scores(prices, w_purch, w_recip, mu_P, nu_price, z)
    best = -1
    for i in range(prices.shape[0]):
        v = s[i]
        if v != v:
            continue
        if best < 0 or v > s[best] or (v == s[best] and prices[i] < prices[best]):
            best = i
    return best
