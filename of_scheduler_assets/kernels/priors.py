"""Decayed weights and the empirical-Bayes prior chain (spec 30 §3, kernels §5.1-5.2).

All kernels: float64 in and out, no fastmath, single-threaded, pure (inputs are never modified). NaN in a data input
propagates to the corresponding output unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Bounds of the cross-page lift L_C (§3).
LIFT_MIN = 0.25
LIFT_MAX = 4.0


@njit(cache=True, nogil=True, error_model="numpy")
def decay_weights(age_days, half_life):
    """5.1 Exponential-decay weights `0.5 ** (age_days / half_life)` per element.

    age_days: float64[n], age of each event in days (fractional allowed); age < 0 (clock skew, future events) -> 1.0;
        +inf -> 0.0; NaN -> NaN.
    half_life: float, days, > 0 (`stats_half_life_days`, 14).
    Returns float64[n] in [0, 1] (dimensionless).
    """
    n = age_days.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        a = age_days[i]
        if a < 0.0:
            out[i] = 1.0
        else:
            out[i] = 0.5 ** (a / half_life)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _eb(x, n, mu, nu):
    d = n + nu
    if d == 0.0:
        return mu
    return (x + nu * mu) / d


@njit(cache=True, nogil=True, error_model="numpy")
def eb_smooth(x, n, mu, nu):
    """5.2 Empirical-Bayes shrinkage `(x + nu * mu) / (n + nu)` per element.

    x: float64[k], decayed successes (purchases or views); n: float64[k], decayed trials (recipients), n >= 0;
    mu: float64[k], prior mean (fraction) per element; nu: float >= 0, prior strength in recipients.
    `n + nu == 0` (nu = 0 and n = 0: no data and no prior weight) -> mu exactly. Setting nu = 0 gives raw rates x / n.
    Returns float64[k] (fraction).
    """
    k = x.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = _eb(x[i], n[i], mu[i], nu)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def page_prior(x_P, n_P, mu_G, nu_P):
    """Page level of the chain (§3): `mu_P = (x_P + nu_P * mu_G) / (n_P + nu_P)`; `n_P + nu_P == 0` -> mu_G.

    x_P, n_P: decayed page successes / recipients; mu_G: global rate x_G / n_G (the caller decides the value when
    n_G = 0; NaN propagates); nu_P = `nu_page_sends` x m_P recipients. Returns a float (fraction).
    """
    return _eb(x_P, n_P, mu_G, nu_P)


@njit(cache=True, nogil=True, error_model="numpy")
def _lift(x_other, e_other, lam):
    # Never sent elsewhere (no expected events on other pages) -> no information -> 1.
    if not (e_other > 0.0):
        if e_other != e_other:  # NaN propagates
            return e_other
        return 1.0
    v = (x_other + lam) / (e_other + lam)
    if v < LIFT_MIN:
        v = LIFT_MIN
    elif v > LIFT_MAX:
        v = LIFT_MAX
    return v


@njit(cache=True, nogil=True, error_model="numpy")
def cross_page_lift(x_other, e_other, lam):
    """Cross-page lift L_C of §3 per caption: `clamp((x_other + lam) / (e_other + lam), 0.25, 4)`.

    x_other: float64[k], decayed successes of the caption on the other pages, Σ_{p≠P} x_{C,p};
    e_other: float64[k], expected successes there, Σ_{p≠P} n_{C,p} × mu_p (>= 0);
    lam: float >= 0, `lift_prior_events` (pseudo-successes).
    e_other <= 0 (never sent elsewhere in the window, or only on pages whose mean is 0) -> exactly 1.0.
    Returns float64[k] in [0.25, 4] (dimensionless); NaN in either input -> NaN.
    """
    k = x_other.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        out[i] = _lift(x_other[i], e_other[i], lam)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def prior_chain(x_cp, n_cp, x_other, e_other, mu_G, x_P, n_P, nu_P, nu, lam):
    """5.2 The §3 chain for the captions of ONE page: G -> P -> lift C -> caption on page CP.

    Per caption (arrays of length k, aligned):
      x_cp, n_cp: decayed successes / recipients of the caption on this page;
      x_other: Σ_{p≠P} x_{C,p}; e_other: Σ_{p≠P} n_{C,p} × mu_p (expected successes on the other pages).
    Page scalars: mu_G (global rate), x_P / n_P (decayed page successes / recipients), nu_P (`nu_page_sends` × m_P),
      nu (`nu_sends` × m_P), lam (`lift_prior_events`).
    mu_P = page_prior(x_P, n_P, mu_G, nu_P); L_C = cross_page_lift(x_other, e_other, lam);
    p = (x_cp + nu × (mu_P × L_C)) / (n_cp + nu).
    Never-sent rules: a caption never sent on the page (n_cp = 0, x_cp = 0) gets mu_P × L_C, and mu_P when never sent
    anywhere (e_other = 0 -> L_C = 1), also when nu = 0 (n_cp + nu = 0 -> the prior itself). Same chain for p_open with
    view counts. Returns float64[k] (fraction).
    """
    mu_P = _eb(x_P, n_P, mu_G, nu_P)
    k = x_cp.shape[0]
    out = np.empty(k, dtype=np.float64)
    for i in range(k):
        prior = mu_P * _lift(x_other[i], e_other[i], lam)
        out[i] = _eb(x_cp[i], n_cp[i], prior, nu)
    return out
