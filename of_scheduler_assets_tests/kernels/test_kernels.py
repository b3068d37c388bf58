"""Numba kernels (spec 30 §5) against their NumPy references, plus the kernel-level behaviour tests of §9."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from of_scheduler_assets.kernels import codes
from of_scheduler_assets.kernels import reference as ref
from of_scheduler_assets.kernels.bonuses import cooldown_hours, fatigue, novelty_bonus, novelty_level, ucb_bonus
from of_scheduler_assets.kernels.eligibility import eligibility
from of_scheduler_assets.kernels.price import choose_price, wilson_scores
from of_scheduler_assets.kernels.priors import cross_page_lift, decay_weights, eb_smooth, page_prior, prior_chain
from of_scheduler_assets.kernels.score import score_slot

PROPS = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
RTOL = 1e-12

sizes = st.integers(min_value=0, max_value=40)


def floats(lo: float, hi: float, **kw) -> st.SearchStrategy[float]:
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, **kw)


def farr(n: int, lo: float, hi: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, n, elements=floats(lo, hi))


def same(a, b) -> None:
    """Bit-for-bit equality (NaN equals NaN)."""
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), strict=True)


def close(a, b) -> None:
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True, strict=True)


# --- 5.1 decay_weights ---------------------------------------------------------------------------------------------
@PROPS
@given(
    age=hnp.arrays(
        np.float64, sizes, elements=st.one_of(floats(-30, 400), st.sampled_from([0.0, np.inf, np.nan, -np.inf]))
    ),
    hl=floats(0.5, 100),
)
def test_decay_weights_matches_reference(age, hl):
    got = decay_weights(age, hl)
    close(got, ref.decay_weights(age, hl))
    assert np.all(got[age < 0] == 1.0)
    assert np.all((got[~np.isnan(age)] >= 0) & (got[~np.isnan(age)] <= 1))


def test_decay_weights_half_life():
    same(decay_weights(np.array([0.0, 14.0, 28.0, -3.0, np.inf]), 14.0), [1.0, 0.5, 0.25, 1.0, 0.0])


# --- 5.2 eb_smooth and the prior chain -----------------------------------------------------------------------------
@st.composite
def eb_inputs(draw):
    k = draw(sizes)
    n = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.just(0.0), floats(0, 1e5))))
    frac = draw(farr(k, 0, 1))
    mu = draw(farr(k, 0, 1))
    nu = draw(st.one_of(st.just(0.0), floats(0, 1e4)))
    return n * frac, n, mu, nu


@PROPS
@given(eb_inputs())
def test_eb_smooth_matches_reference(args):
    x, n, mu, nu = args
    got = eb_smooth(x, n, mu, nu)
    same(got, ref.eb_smooth(x, n, mu, nu))
    empty = (n == 0) & (nu == 0)
    same(got[empty], mu[empty])  # nu = 0 and n = 0 -> mu


def test_eb_smooth_raw_rate_when_nu_zero():
    same(eb_smooth(np.array([1.0, 0.0]), np.array([4.0, 0.0]), np.array([0.9, 0.3]), 0.0), [0.25, 0.3])


@st.composite
def chain_inputs(draw):
    k = draw(sizes)
    n_cp = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.just(0.0), floats(0, 5e4))))
    x_cp = n_cp * draw(farr(k, 0, 0.5))
    e_other = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.just(0.0), floats(0, 500))))
    x_other = draw(farr(k, 0, 800)) * (e_other > 0)
    scal = dict(
        mu_G=draw(floats(0, 0.5)),
        x_P=draw(floats(0, 1e3)),
        n_P=draw(st.one_of(st.just(0.0), floats(0, 1e5))),
        nu_P=draw(st.one_of(st.just(0.0), floats(0, 1e4))),
        nu=draw(st.one_of(st.just(0.0), floats(0, 1e4))),
        lam=draw(st.one_of(st.just(2.0), floats(0, 10))),
    )
    return x_cp, n_cp, x_other, e_other, scal


@PROPS
@given(chain_inputs())
def test_prior_chain_matches_reference(args):
    x_cp, n_cp, x_other, e_other, sc = args
    got = prior_chain(x_cp, n_cp, x_other, e_other, **sc)
    same(got, ref.prior_chain(x_cp, n_cp, x_other, e_other, **sc))
    lift = cross_page_lift(x_other, e_other, sc["lam"])
    same(lift, ref.cross_page_lift(x_other, e_other, sc["lam"]))
    assert np.all((lift >= 0.25) & (lift <= 4.0))
    assert page_prior(sc["x_P"], sc["n_P"], sc["mu_G"], sc["nu_P"]) == ref.page_prior(
        sc["x_P"], sc["n_P"], sc["mu_G"], sc["nu_P"]
    )


def test_prior_chain_never_sent_rules():
    mu_G, x_P, n_P, nu_P, nu, lam = 0.02, 30.0, 1000.0, 500.0, 400.0, 2.0
    mu_P = (x_P + nu_P * mu_G) / (n_P + nu_P)
    assert page_prior(x_P, n_P, mu_G, nu_P) == mu_P
    assert page_prior(0.0, 0.0, mu_G, 0.0) == mu_G
    # caption 0: never sent anywhere -> mu_P; caption 1: never on this page, sent elsewhere -> mu_P × L_C;
    # caption 2: sent elsewhere far above expectation -> lift capped at 4; caption 3: history on the page.
    x_cp = np.array([0.0, 0.0, 0.0, 5.0])
    n_cp = np.array([0.0, 0.0, 0.0, 100.0])
    x_other = np.array([0.0, 6.0, 1000.0, 0.0])
    e_other = np.array([0.0, 2.0, 10.0, 0.0])
    p = prior_chain(x_cp, n_cp, x_other, e_other, mu_G, x_P, n_P, nu_P, nu, lam)
    assert p[0] == mu_P
    assert p[1] == mu_P * ((6.0 + lam) / (2.0 + lam))
    assert p[2] == mu_P * 4.0
    assert p[3] == (5.0 + nu * mu_P) / (100.0 + nu)
    # nu = 0: raw rate where sent, the prior itself where never sent
    p0 = prior_chain(x_cp, n_cp, x_other, e_other, mu_G, x_P, n_P, nu_P, 0.0, lam)
    assert p0[0] == mu_P and p0[1] == mu_P * 2.0 and p0[3] == 0.05


# --- 5.3 ucb_bonus -------------------------------------------------------------------------------------------------
@st.composite
def ucb_inputs(draw):
    k = draw(sizes)
    p = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.sampled_from([0.0, 1.0]), floats(0, 1))))
    n = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.just(0.0), floats(0, 1e5))))
    q = draw(st.one_of(st.sampled_from([0.0, 1.0]), floats(0.5, 200)))
    nu = draw(st.one_of(st.just(0.0), floats(0, 1e4)))
    c = draw(st.one_of(st.just(0.0), floats(0, 5)))
    cap = draw(floats(0, 5))
    return q, p, n, nu, c, cap


@PROPS
@given(ucb_inputs())
def test_ucb_bonus_matches_reference(args):
    q, p, n, nu, c, cap = args
    got = ucb_bonus(q, p, n, nu, c, cap)
    same(got, ref.ucb_bonus(q, p, n, nu, c, cap))
    if q == 0.0 or c == 0.0:
        assert np.all(got == 0.0)
    # the formula with c applied once
    d = n + nu
    for i in range(p.size):
        if q and c and d[i] > 0:
            assert got[i] == min(q * c * math.sqrt(p[i] * (1 - p[i]) / d[i]), cap * q * p[i])


@PROPS
@given(ucb_inputs())
def test_ucb_doubling_c_doubles_uncapped_bonus(args):
    q, p, n, nu, c, _ = args
    c = max(c, 1e-3)  # keep q × c out of the subnormal range, where rounding is not scale-invariant
    uncapped = np.inf
    ok = (n + nu) > 0
    one = ucb_bonus(q, p, n, nu, c, uncapped)
    two = ucb_bonus(q, p, n, nu, 2.0 * c, uncapped)
    same(two[ok], 2.0 * one[ok])


def test_ucb_cap_and_q_zero():
    p, n = np.array([0.5]), np.array([0.0])
    same(ucb_bonus(10.0, p, n, 0.0, 2.0, 2.0), [10.0])  # no evidence: the cap 2 × q × p
    same(ucb_bonus(0.0, p, n, 0.0, 2.0, 2.0), [0.0])
    same(ucb_bonus(10.0, np.array([0.5]), np.array([100.0]), 0.0, 1.0, 2.0), [0.5])  # 10 × 1 × sqrt(.25/100)


# --- 5.4 novelty, 5.5 fatigue, 5.6 cooldown ------------------------------------------------------------------------
@PROPS
@given(
    ev=hnp.arrays(
        np.float64,
        sizes,
        elements=st.one_of(floats(0, 500), st.sampled_from([9.0, 10.0, 49.0, 50.0, 99.0, 100.0, np.inf])),
    ),
    w=floats(0, 1),
    b=floats(0, 3),
    scale=floats(0, 100),
)
def test_novelty_matches_reference(ev, w, b, scale):
    same(novelty_level(ev), ref.novelty_level(ev))
    same(novelty_bonus(ev, w, b, scale), ref.novelty_bonus(ev, w, b, scale))


def test_novelty_levels():
    same(novelty_level(np.array([0.0, 9.0, 10.0, 49.0, 50.0, 99.0, 100.0, 1e6])), [1, 1, 0.5, 0.5, 0.2, 0.2, 0, 0.0])
    same(novelty_bonus(np.array([0.0, 20.0]), 0.1, 1.5, 10.0), [0.1 * 1.5 * 1.0 * 10.0, 0.1 * 1.5 * 0.5 * 10.0])


@PROPS
@given(a=hnp.arrays(np.float64, sizes, elements=st.one_of(floats(-5, 60), st.sampled_from([np.inf, -np.inf, np.nan]))))
def test_fatigue_matches_reference(a):
    close(fatigue(a), ref.fatigue(a))


def test_fatigue_thresholds():
    f = fatigue(np.array([0.0, 15.0, 18.0]))
    assert f[0] == pytest.approx(1 / (1 + math.exp(7.5)), rel=1e-15)
    assert f[1] == 0.5
    assert f[2] > 0.8


@PROPS
@given(
    u=hnp.arrays(np.float64, sizes, elements=st.one_of(st.integers(0, 3000).map(float), floats(0, 50))),
    base=floats(1, 24),
    factor=floats(1, 3),
    min_h=floats(0, 24),
    max_days=floats(1, 30),
)
def test_cooldown_hours_matches_reference(u, base, factor, min_h, max_days):
    got = cooldown_hours(u, base, factor, min_h, max_days)
    close(got, ref.cooldown_hours(u, base, factor, min_h, max_days))
    assert np.all(np.isfinite(got))
    assert np.all(got <= max(min_h, 24 * max_days))
    assert np.all(got >= min_h)


def test_cooldown_hours_values():
    got = cooldown_hours(np.array([0.0, 1.0, 2.0, 50.0]), 6.0, 1.5, 6.0, 21.0)
    same(got, [6.0, 9.0, 13.5, 504.0])


# --- 5.7 eligibility -----------------------------------------------------------------------------------------------
def _clean(k: int) -> dict:
    """k candidates that pass every rule (ppv category, ppv allowed)."""
    return dict(
        tos_flagged=np.zeros(k, bool),
        is_active=np.ones(k, bool),
        media_only=np.zeros(k, bool),
        category_bits=np.full(k, codes.CATEGORY_BITS["ppv"], np.uint32),
        allowed_bits=codes.SLOT_ALLOWED_BITS["ppv"],
        explicitness=np.full(k, 2.0),
        max_explicitness=3.0,
        hours_since_use_page=np.full(k, np.inf),
        min_reuse_days=28.0,
        hours_since_use_any=np.full(k, np.inf),
        cooldown_h=np.full(k, 6.0),
        fatigue_score=np.full(k, 0.1),
        fatigue_limit=0.8,
        override_min_hours=np.zeros(k),
        uses_24h=np.zeros(k),
        max_daily_uses=3.0,
        already_primary_today=np.zeros(k, bool),
    )


TRIGGERS = {
    "tos_flagged": {"tos_flagged": np.ones(1, bool)},
    "inactive_caption": {"is_active": np.zeros(1, bool)},
    "media_only": {"media_only": np.ones(1, bool)},
    "category_mismatch": {"category_bits": np.array([codes.CATEGORY_BITS["bump"]], np.uint32)},
    "explicitness_above_page_max": {"explicitness": np.array([4.0])},
    "reused_within_min_reuse_days": {"hours_since_use_page": np.array([27.9 * 24])},
    "cooldown_active": {"hours_since_use_any": np.array([5.0])},
    "fatigued": {"fatigue_score": np.array([0.81])},
    # an override of 31 days in effect; last used on the page 30 days ago (past min_reuse_days, inside the override)
    "blocked_by_override": {"hours_since_use_page": np.array([30 * 24.0]), "override_min_hours": np.array([31 * 24.0])},
    "max_daily_uses_reached": {"uses_24h": np.array([3.0])},
    "already_primary_today": {"already_primary_today": np.ones(1, bool)},
}


@pytest.mark.parametrize("code", list(codes.ELIGIBILITY_CODES))
def test_each_eligibility_bit_fires_on_its_own_condition(code):
    assert _call_elig(_clean(1))[0] == 0
    args = _clean(1)
    args.update(TRIGGERS[code])
    m = _call_elig(args)
    assert int(m[0]) == codes.ELIGIBILITY_CODES[code]
    assert codes.decode_mask(int(m[0])) == [code]
    same(m, ref.eligibility(**args))


def _call_elig(args: dict) -> np.ndarray:
    return eligibility(**args)


def test_unknown_explicitness_counts_as_three():
    args = _clean(1)
    args.update(explicitness=np.array([np.nan]), max_explicitness=2.0)
    assert int(_call_elig(args)[0]) == codes.EXPLICITNESS_ABOVE_PAGE_MAX
    args.update(max_explicitness=3.0)
    assert int(_call_elig(args)[0]) == 0


@st.composite
def elig_inputs(draw):
    k = draw(sizes)
    b = lambda: draw(hnp.arrays(np.bool_, k))  # noqa: E731
    hours = lambda: draw(hnp.arrays(np.float64, k, elements=st.one_of(floats(0, 2000), st.just(np.inf))))  # noqa: E731
    return dict(
        tos_flagged=b(),
        is_active=b(),
        media_only=b(),
        category_bits=draw(hnp.arrays(np.uint32, k, elements=st.integers(0, 63))),
        allowed_bits=draw(st.integers(0, 63)),
        explicitness=draw(hnp.arrays(np.float64, k, elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, np.nan]))),
        max_explicitness=draw(st.sampled_from([1.0, 2.0, 3.0, 4.0])),
        hours_since_use_page=hours(),
        min_reuse_days=draw(st.sampled_from([0.0, 7.0, 28.0])),
        hours_since_use_any=hours(),
        cooldown_h=draw(farr(k, 0, 504)),
        fatigue_score=draw(farr(k, 0, 1)),
        fatigue_limit=draw(floats(0.5, 1)),
        override_min_hours=draw(hnp.arrays(np.float64, k, elements=st.sampled_from([0.0, np.nan, 168.0, 1000.0]))),
        uses_24h=draw(hnp.arrays(np.float64, k, elements=st.integers(0, 6).map(float))),
        max_daily_uses=draw(st.sampled_from([2.0, 3.0, 5.0])),
        already_primary_today=b(),
    )


@PROPS
@given(elig_inputs())
def test_eligibility_matches_reference(args):
    got = _call_elig(args)
    assert got.dtype == np.uint16
    same(got, ref.eligibility(**args))
    for m in got:
        assert codes.encode_codes(codes.decode_mask(int(m))) == int(m)


def test_codes_module_does_not_import_numba():
    import subprocess
    import sys

    code = "import sys, of_scheduler_assets.kernels as k, of_scheduler_assets.kernels.codes; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_decode_mask_order_and_errors():
    m = codes.COOLDOWN_ACTIVE | codes.TOS_FLAGGED | codes.ALREADY_PRIMARY_TODAY
    assert codes.decode_mask(m) == ["tos_flagged", "cooldown_active", "already_primary_today"]
    assert codes.decode_mask(0) == []
    assert codes.decode_masks(np.array([0, codes.FATIGUED], np.uint16)) == [[], ["fatigued"]]
    with pytest.raises(ValueError):
        codes.decode_mask(1 << 15)
    assert len(set(codes.ELIGIBILITY_CODES.values())) == 11


# --- §9: cooldown never blocks forever --------------------------------------------------------------------------------
def test_caption_used_long_ago_is_eligible_again():
    """Used on ≥ 3 days long ago (uses_7d = 0 now): eligible once min_reuse_days and its cooldown have passed."""
    cfg = dict(base=6.0, factor=1.5, min_h=6.0, max_days=21.0)
    cd = cooldown_hours(np.array([0.0]), **cfg)
    assert cd[0] == 6.0
    args = _clean(1)
    args.update(cooldown_h=cd, hours_since_use_page=np.array([28 * 24.0]), hours_since_use_any=np.array([28 * 24.0]))
    assert int(_call_elig(args)[0]) == 0
    args.update(hours_since_use_page=np.array([28 * 24.0 - 1]))
    assert codes.decode_mask(int(_call_elig(args)[0])) == ["reused_within_min_reuse_days"]


@PROPS
@given(
    uses_7d=st.integers(0, 500).map(float),
    base=floats(1, 12),
    factor=floats(1, 3),
    min_h=floats(1, 12),
    max_days=floats(1, 30),
    min_reuse=st.sampled_from([0.0, 28.0]),
    extra=floats(0, 1e4),
)
def test_no_time_rule_blocks_forever(uses_7d, base, factor, min_h, max_days, min_reuse, extra):
    """Whatever the recent use, waiting out max(cooldown, min_reuse_days) clears every time-based bit."""
    cd = cooldown_hours(np.array([uses_7d]), base, factor, min_h, max_days)
    assert np.isfinite(cd[0])
    wait = max(cd[0], 24 * min_reuse) + extra
    args = _clean(1)
    args.update(
        cooldown_h=cd,
        min_reuse_days=min_reuse,
        hours_since_use_page=np.array([wait]),
        hours_since_use_any=np.array([wait]),
        override_min_hours=np.array([min(168.0, wait)]),
    )
    assert int(_call_elig(args)[0]) == 0


# --- 5.8 choose_price ----------------------------------------------------------------------------------------------
@st.composite
def price_inputs(draw):
    k = draw(st.integers(0, 8))
    prices = draw(hnp.arrays(np.float64, k, elements=st.sampled_from([5.0, 8.0, 10.0, 12.5, 15.0, 20.0, 25.0])))
    n = draw(hnp.arrays(np.float64, k, elements=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), floats(0, 5e4))))
    x = n * draw(farr(k, 0, 0.3))
    if draw(st.booleans()) and k > 1:  # duplicated statistics -> ties among equal or different prices
        x[:] = x[0]
        n[:] = n[0]
    return (
        prices,
        x,
        n,
        draw(floats(0, 0.3)),
        draw(st.sampled_from([0.0, 2.0, 500.0])),
        draw(st.sampled_from([0.0, 1.645, 1.96])),
    )


@PROPS
@given(price_inputs())
def test_choose_price_matches_reference(args):
    prices, x, n, mu, nu, z = args
    same(wilson_scores(prices, x, n, mu, nu, z), ref.wilson_scores(prices, x, n, mu, nu, z))
    i = choose_price(prices, x, n, mu, nu, z)
    assert i == ref.choose_price(prices, x, n, mu, nu, z)
    if prices.size:
        s = ref.wilson_scores(prices, x, n, mu, nu, z)
        best = np.nanmax(s)
        assert s[i] == best and prices[i] == prices[s == best].min()
    else:
        assert i == -1


def test_choose_price_ties_go_to_lower_price():
    # z = 0, nu = 0: LB = x / n; q × LB = 2.0 exactly at every price.
    prices = np.array([8.0, 4.0, 16.0])
    i = choose_price(prices, np.array([0.25, 0.5, 0.125]), np.ones(3), 0.0, 0.0, 0.0)
    assert i == 1
    # all-zero evidence: every score 0 -> the lowest price
    assert choose_price(np.array([20.0, 10.0, 15.0]), np.zeros(3), np.full(3, 100.0), 0.0, 0.0, 1.645) == 1


def test_choose_price_prefers_higher_lower_bound():
    prices = np.array([10.0, 20.0])
    # same buy rate 5 % at both prices, far more evidence at 20: the 20 point's bound is higher and its price too
    i = choose_price(prices, np.array([5.0, 500.0]), np.array([100.0, 10000.0]), 0.05, 0.0, 1.645)
    assert i == 1


# --- 5.9 score_slot -------------------------------------------------------------------------------------------------
def _problem(draw_or_rng, A: int, S: int, M: int, quantised: bool) -> dict:
    rng = draw_or_rng
    if quantised:  # few distinct values -> many exact ties
        p_buy = rng.choice([0.0, 0.01, 0.02, 0.04], A)
        p_open = rng.choice([0.1, 0.2, 0.3], A)
        n_buy = rng.choice([0.0, 100.0, 1000.0], A)
    else:
        p_buy = rng.beta(2, 50, A)
        p_open = rng.beta(4, 10, A)
        n_buy = rng.gamma(0.5, 3000, A) * (rng.random(A) < 0.6)
    is_ppv = rng.random(S) < 0.5
    return dict(
        elig_mask=np.where(rng.random(A) < 0.2, codes.COOLDOWN_ACTIVE, 0).astype(np.uint16),
        cat_bits=rng.integers(1, 64, A).astype(np.uint32),
        p_buy=p_buy,
        n_buy=n_buy,
        q_bar=rng.choice([8.0, 10.0, 15.0, 20.0], A),
        p_open=p_open,
        n_open=n_buy * 2.0,
        novelty_lvl=rng.choice([0.0, 0.2, 0.5, 1.0], A),
        slot_is_ppv=is_ppv,
        slot_price=np.where(is_ppv, rng.choice([0.0, 10.0, 15.0, 20.0], S), 0.0),
        slot_allowed=rng.integers(0, 64, S).astype(np.uint32),
        slot_tm=rng.choice([0.8, 1.0, 1.25], S),
        beta=float(rng.choice([0.0, 1.0, 0.7])),
        nu=float(rng.choice([0.0, 500.0])),
        c=float(rng.choice([0.0, 2.0])),
        cap_mult=2.0,
        novelty_weight=0.1,
        new_caption_boost=1.5,
        mu_P=0.02,
        mu_open_P=0.25,
        top_m=M,
    )


def _assert_score_slot_equal(prob: dict) -> None:
    got = score_slot(**prob)
    want = ref.score_slot(**prob)
    names = ["top_idx", "top_score", "top1", "n_eligible"]
    for name, g, w in zip(names, got, want, strict=True):
        assert g.dtype == w.dtype, name
        if name == "top_score":
            close(g, w)
        else:
            same(g, w)


@FEW
@given(
    seed=st.integers(0, 2**32 - 1),
    A=st.integers(0, 80),
    S=st.integers(0, 6),
    M=st.integers(0, 12),
    quantised=st.booleans(),
)
def test_score_slot_matches_reference_small(seed, A, S, M, quantised):
    _assert_score_slot_equal(_problem(np.random.default_rng(seed), A, S, M, quantised))


@pytest.mark.parametrize("quantised", [False, True])
@pytest.mark.parametrize(("A", "M"), [(3000, 64), (5000, 256), (700, 256), (20_000, 16)])
def test_score_slot_matches_reference_large(A, M, quantised):
    """Sizes that exercise the sampled threshold, buffer cut-backs and the rescan path, with and without ties."""
    _assert_score_slot_equal(_problem(np.random.default_rng(A + M + quantised), A, 12, M, quantised))


def test_score_slot_components_match_standalone_kernels():
    rng = np.random.default_rng(5)
    prob = _problem(rng, 300, 8, 300, quantised=False)
    prob.update(beta=0.8, c=2.0, nu=400.0, elig_mask=np.zeros(300, np.uint16), cat_bits=np.full(300, 63, np.uint32))
    prob["slot_allowed"] = np.full(8, 63, np.uint32)
    prob["slot_price"] = np.where(prob["slot_is_ppv"], 12.0, 0.0)
    top_idx, top_score, _, n_elig = score_slot(**prob)
    assert np.all(n_elig == 300)
    ev = np.where(
        prob["novelty_lvl"] == 1.0,
        0.0,
        np.where(prob["novelty_lvl"] == 0.5, 20.0, np.where(prob["novelty_lvl"] == 0.2, 60.0, 500.0)),
    )
    for s in range(8):
        order = np.argsort(top_idx[s])
        score_by_cand = top_score[s][order]
        tm = prob["slot_tm"][s]
        if prob["slot_is_ppv"][s]:
            q = 12.0
            exploit = q * prob["p_buy"] * (q / prob["q_bar"]) ** (-0.8)
            ucb = ucb_bonus(q, prob["p_buy"], prob["n_buy"], 400.0, 2.0, 2.0)
            nov = novelty_bonus(ev, 0.1, 1.5, q * prob["mu_P"])
        else:
            exploit = prob["p_open"]
            ucb = ucb_bonus(1.0, prob["p_open"], prob["n_open"], 400.0, 2.0, 2.0)
            nov = novelty_bonus(ev, 0.1, 1.5, prob["mu_open_P"])
        close(score_by_cand, tm * (exploit + ucb + nov))


def test_score_slot_order_ties_and_masks():
    # 4 identical candidates, candidate 1 masked, candidate 3 of the wrong category; M = 2
    A = 4
    prob = _problem(np.random.default_rng(0), A, 1, 2, quantised=True)
    prob.update(
        elig_mask=np.array([0, codes.FATIGUED, 0, 0], np.uint16),
        cat_bits=np.array([1, 1, 1, 2], np.uint32),
        p_buy=np.full(A, 0.02),
        n_buy=np.full(A, 100.0),
        q_bar=np.full(A, 10.0),
        p_open=np.full(A, 0.2),
        n_open=np.full(A, 100.0),
        novelty_lvl=np.full(A, 0.5),
        slot_is_ppv=np.array([True]),
        slot_price=np.array([10.0]),
        slot_allowed=np.array([1], np.uint32),
    )
    top_idx, top_score, top1, n_elig = score_slot(**prob)
    same(top_idx, [[0, 2]])
    same(top1, [0])
    same(n_elig, [2])
    assert top_score[0, 0] == top_score[0, 1] > -np.inf
    prob["top_m"] = 5
    top_idx, top_score, _, _ = score_slot(**prob)
    same(top_idx, [[0, 2, -1, -1, -1]])
    assert np.all(top_score[0, 2:] == -np.inf)


# --- §9: recency never raises a score --------------------------------------------------------------------------------
@FEW
@given(seed=st.integers(0, 2**32 - 1), A=st.integers(1, 40), shrink=floats(0, 1))
def test_scores_never_increase_as_hours_since_use_decreases(seed, A, shrink):
    rng = np.random.default_rng(seed)
    prob = _problem(rng, A, 5, A, quantised=False)
    base = _clean(A)
    base.update(
        category_bits=prob["cat_bits"],
        allowed_bits=63,
        cooldown_h=cooldown_hours(rng.integers(0, 6, A).astype(np.float64), 6.0, 1.5, 6.0, 21.0),
        override_min_hours=np.where(rng.random(A) < 0.2, 168.0, 0.0),
    )
    hours_page = np.where(rng.random(A) < 0.3, np.inf, rng.uniform(0, 2000, A))
    hours_any = np.minimum(hours_page, rng.uniform(0, 2000, A))

    def full_scores(hp, ha):
        args = dict(base, hours_since_use_page=hp, hours_since_use_any=ha)
        prob["elig_mask"] = eligibility(**args)
        idx, sc, _, _ = score_slot(**prob)
        out = np.full((5, A), -np.inf)
        for s in range(5):
            keep = idx[s] >= 0
            out[s, idx[s][keep]] = sc[s][keep]
        return out

    before = full_scores(hours_page, hours_any)
    finite_page = np.where(np.isinf(hours_page), 0.0, hours_page)
    recent_page = np.where(np.isinf(hours_page), np.inf, finite_page * shrink)  # never used stays never used
    after = full_scores(recent_page, hours_any * shrink)  # more recent use, all else equal
    assert np.all(after <= before)
