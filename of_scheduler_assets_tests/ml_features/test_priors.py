"""caption_priors / page_priors (30-ml-and-ranking §3): hand-computed prior chain on tiny facts."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import polars as pl
import pytest

from of_scheduler_assets.layer_05_ml.priors import (
    CAPTION_LIFT_COLUMNS,
    CAPTION_PRIOR_COLUMNS,
    caption_prior_tables,
    caption_priors,
    dsum,
    expand_caption_priors,
    page_priors,
)
from of_scheduler_assets_tests.semantic.support import make_fact, pages_frame, ts

AS_OF = ts(2025, 9, 15, 12)  # computation time; sends at 12:00 UTC give whole-day ages
PAGES = pages_frame([{"username_page": "a__paid"}, {"username_page": "b__paid"}, {"username_page": "c__paid"}])
X, Y = "CAP_000000000000000x", "CAP_000000000000000y"
KEY = ["username_page", "caption_id"]


def _base_rows() -> list[dict]:
    return [
        # page a, caption X: age 14 d (w = 0.5) and age 0 (w = 1)
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=ts(2025, 9, 1, 12), sent=100, viewed=40,
             purchased=10, earnings=100),
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=100, viewed=60, purchased=30,
             earnings=300),
        # page b, caption Y, age 0
        dict(username_page="b__paid", caption_id=Y, sending_ts_utc=AS_OF, sent=200, viewed=100, purchased=20,
             earnings=200),
    ]  # fmt: skip


def _row(df: pl.DataFrame, page: str, cap: str | None) -> dict:
    sel = df.filter((pl.col("username_page") == page) & (pl.col("caption_id").is_null() if cap is None
                                                          else pl.col("caption_id") == cap))  # fmt: skip
    assert sel.height == 1
    return sel.row(0, named=True)


def test_chain_hand_computed():
    fact = make_fact(_base_rows())
    pp = page_priors(fact, PAGES, AS_OF)
    cp = caption_priors(fact, PAGES, AS_OF, pages=pp)
    assert cp.columns == CAPTION_PRIOR_COLUMNS
    mu_g = (0.5 * 10 + 30 + 20) / (0.5 * 100 + 100 + 200)
    mu_a = (35 + 200 * mu_g) / (150 + 200)  # m_a = 100, ν_P = 2 × 100
    mu_b = (20 + 400 * mu_g) / (200 + 400)  # m_b = 200
    a, b, c = (pp.filter(pl.col("username_page") == p).row(0, named=True) for p in ("a__paid", "b__paid", "c__paid"))
    assert a["mu_G"] == pytest.approx(mu_g, rel=1e-12)
    assert a["m_P"] == 100 and b["m_P"] == 200
    assert a["mu_P"] == pytest.approx(mu_a, rel=1e-12)
    assert b["mu_P"] == pytest.approx(mu_b, rel=1e-12)
    # a page without sends: agency median recipients, μ_P = μ_G
    assert c["m_P"] == 100 and c["mu_P"] == pytest.approx(mu_g, rel=1e-12)

    # caption X on page a: history only there -> L = 1
    xa = _row(cp, "a__paid", X)
    assert xa["prior_level"] == "caption_page" and xa["lift_buy"] == 1.0
    assert xa["x_cp"] == pytest.approx(35.0) and xa["n_cp"] == pytest.approx(150.0)
    assert xa["p_buy"] == pytest.approx((35 + 200 * mu_a) / (150 + 200), rel=1e-12)
    assert xa["buy_rate_decayed"] == pytest.approx(35 / 150, rel=1e-12)
    assert xa["smoothing_weight"] == pytest.approx(150 / 350, rel=1e-12)

    # caption Y on page a: never sent on a, sent on b -> cross-page lift, p = μ_a × L
    ya = _row(cp, "a__paid", Y)
    lift = (20 + 2) / (200 * mu_b + 2)
    assert ya["prior_level"] == "caption_other_pages"
    assert ya["lift_buy"] == pytest.approx(min(4.0, max(0.25, lift)), rel=1e-12)
    assert ya["p_buy"] == pytest.approx(mu_a * ya["lift_buy"], rel=1e-12)
    assert ya["n_cp"] == 0 and ya["smoothing_weight"] == 0

    # caption X seen from page b (sent elsewhere on a)
    xb = _row(cp, "b__paid", X)
    assert xb["lift_buy"] == pytest.approx(min(4.0, max(0.25, (35 + 2) / (150 * mu_a + 2))), rel=1e-12)

    # never sent anywhere: the page row, p = μ_P
    na = _row(cp, "a__paid", None)
    assert na["prior_level"] == "page" and na["p_buy"] == pytest.approx(mu_a) and na["lift_buy"] == 1.0
    assert na["p_open"] == pytest.approx(a["mu_open_P"])


def test_grain_one_row_per_page_caption_plus_page_rows():
    cp = caption_priors(make_fact(_base_rows()), PAGES, AS_OF)
    assert cp.height == 3 * 2 + 3
    assert cp.select(pl.struct("username_page", "caption_id").is_unique().all()).item()
    assert cp["p_buy"].null_count() == 0 and cp["p_open"].null_count() == 0
    for col in ("p_buy", "p_open", "smoothing_weight"):
        assert cp[col].min() >= 0 and cp[col].max() <= 1


def test_open_chain_uses_all_events_buy_chain_ppv_only():
    rows = _base_rows() + [
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=100, viewed=90, price=0),
    ]
    cp = caption_priors(make_fact(rows), PAGES, AS_OF, nu_sends=0, nu_page_sends=0)
    xa = _row(cp, "a__paid", X)
    assert xa["n_cp"] == pytest.approx(150.0)  # free event not in the buy chain
    assert xa["n_open_cp"] == pytest.approx(250.0)
    assert xa["x_open_cp"] == pytest.approx(0.5 * 40 + 60 + 90)
    # ν = 0 gives the raw decayed rates
    assert xa["p_buy"] == pytest.approx(35 / 150, rel=1e-12)
    assert xa["p_open"] == pytest.approx(170 / 250, rel=1e-12)


def test_rps_decayed_is_ratio_of_weighted_sums():
    """Defect 5: Σ(rev × w) / Σ(sent × w), not a mean of per-event RPS."""
    xa = _row(caption_priors(make_fact(_base_rows()), PAGES, AS_OF), "a__paid", X)
    assert xa["rps_decayed"] == pytest.approx((0.5 * 100 + 300) / (0.5 * 100 + 100), rel=1e-12)


def test_window_is_calendar_days_on_local_dates():
    """Defect 6: a send 90 local days back is out, 89 days back is in (row counts do not matter)."""
    old = [dict(username_page="a__paid", caption_id=Y, sending_ts_utc=AS_OF - dt.timedelta(days=d), sent=100,
                purchased=5, earnings=50) for d in (89, 90)]  # fmt: skip
    cp = caption_priors(make_fact(old), PAGES, AS_OF)
    ya = _row(cp, "a__paid", Y)
    w89 = 0.5 ** (89 / 14)
    assert ya["send_events_cp"] == 1
    assert ya["n_cp"] == pytest.approx(100 * w89, rel=1e-12)


def test_ineligible_and_media_only_rows():
    rows = _base_rows() + [
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=999, purchased=0, eligible=False),
        dict(username_page="a__paid", caption_id=Y, sending_ts_utc=AS_OF, sent=100, purchased=50, earnings=500,
             is_media_only=True),
    ]  # fmt: skip
    pp = page_priors(make_fact(rows), PAGES, AS_OF)
    cp = caption_priors(make_fact(rows), PAGES, AS_OF, pages=pp)
    xa = _row(cp, "a__paid", X)
    assert xa["n_cp"] == pytest.approx(150.0)  # ineligible row ignored
    # media-only PPV counts for the page, not for the caption
    a = pp.filter(pl.col("username_page") == "a__paid").row(0, named=True)
    assert a["n_P"] == pytest.approx(250.0) and a["x_P"] == pytest.approx(85.0)
    assert _row(cp, "a__paid", Y)["prior_level"] == "caption_other_pages"


def test_q_bar_recipient_weighted_price_and_page_p50_fallback():
    rows = [
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=100, price=10, purchased=1),
        dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=300, price=20, purchased=1),
        dict(username_page="b__paid", caption_id=Y, sending_ts_utc=AS_OF, sent=100, price=8, purchased=1),
    ]
    pp = page_priors(make_fact(rows), PAGES, AS_OF)
    cp = caption_priors(make_fact(rows), PAGES, AS_OF, pages=pp)
    assert _row(cp, "a__paid", X)["q_bar"] == pytest.approx(17.5)
    p50_a = pp.filter(pl.col("username_page") == "a__paid")["ref_price"].item()
    assert p50_a == 10.0  # lower order statistic of (10, 20)
    assert _row(cp, "a__paid", Y)["q_bar"] == p50_a  # never sent on a
    # a page without PPV events: agency median PPV price
    assert pp.filter(pl.col("username_page") == "c__paid")["ref_price"].item() == 10.0


def test_price_elasticity_fit_and_default():
    prices, sent, bought = [5, 10, 20, 40], [400, 400, 400, 400], [80, 40, 16, 4]
    rows = [dict(username_page="a__paid", caption_id=X, sending_ts_utc=AS_OF, sent=s, price=p, purchased=b)
            for p, s, b in zip(prices, sent, bought, strict=True)]  # fmt: skip
    rows.append(dict(username_page="b__paid", caption_id=Y, sending_ts_utc=AS_OF, sent=100, price=9, purchased=3))
    pp = page_priors(make_fact(rows), PAGES, AS_OF)
    a = pp.filter(pl.col("username_page") == "a__paid").row(0, named=True)
    r = (np.array(bought, float) + a["nu_P"] * a["mu_P"]) / (np.array(sent, float) + a["nu_P"])
    slope = np.polyfit(np.log(prices), np.log(r), 1, w=np.sqrt(np.array(sent, float)))[0]
    assert a["price_points"] == 4
    assert a["beta_P"] == pytest.approx(min(2.0, max(0.0, -slope)), rel=1e-9)
    assert 0 < a["beta_P"] <= 2
    assert pp.filter(pl.col("username_page") == "b__paid")["beta_P"].item() == 1.0  # < 3 price points
    assert pp.filter(pl.col("username_page") == "c__paid")["beta_P"].item() == 1.0


def test_lift_is_clamped():
    rows = [
        dict(username_page="b__paid", caption_id=Y, sending_ts_utc=AS_OF, sent=1000, purchased=1000, earnings=10000),
        dict(username_page="b__paid", caption_id=X, sending_ts_utc=AS_OF, sent=100000, purchased=0),
    ]
    cp = caption_priors(make_fact(rows), PAGES, AS_OF)
    assert _row(cp, "a__paid", Y)["lift_buy"] == 4.0
    assert _row(cp, "a__paid", X)["lift_buy"] == 0.25


def test_deterministic_under_shuffled_input():
    rows = _base_rows() * 3
    rows = [{**r, "message_send_key": f"k{i}"} for i, r in enumerate(rows)]
    fact = make_fact(rows)
    a = caption_priors(fact, PAGES, AS_OF)
    b = caption_priors(fact.sample(fraction=1.0, shuffle=True, seed=7), PAGES, AS_OF)
    assert a.equals(b)


def test_no_facts_at_all_never_null():
    cp = caption_priors(make_fact([]), PAGES, AS_OF)
    assert cp.height == 3 and cp["p_buy"].null_count() == 0 and (cp["p_buy"] == 0).all()


# ------------------------------------------------------------------------------------ compact tables, dsum


def test_compact_tables_store_only_own_rows_and_expand_to_the_full_frame():
    fact = make_fact(_base_rows())
    pp = page_priors(fact, PAGES, AS_OF)
    compact, lift = caption_prior_tables(fact, PAGES, AS_OF, pages=pp)
    assert compact.columns == CAPTION_PRIOR_COLUMNS and lift.columns == CAPTION_LIFT_COLUMNS
    # 3 page rows + (a, X) + (b, Y): no page × caption grid
    assert compact.height == 5
    assert sorted(compact["prior_level"].unique()) == ["caption_page", "page"]
    assert lift["caption_id"].to_list() == [X, Y] and lift["pages_cp"].to_list() == [1, 1]
    full = caption_priors(fact, PAGES, AS_OF, pages=pp)
    assert expand_caption_priors(compact, lift).sort(KEY, nulls_last=True).collect().equals(full)
    # the lift of a page without own events is the caption's row of caption_lift
    assert _row(full, "a__paid", Y)["lift_buy"] == lift.filter(pl.col("caption_id") == Y)["lift_buy"].item()
    assert _row(full, "c__paid", X)["lift_open"] == lift.filter(pl.col("caption_id") == X)["lift_open"].item()
    # expanding only some pairs: the own row as stored, the other-pages row computed, nothing else
    keys = pl.LazyFrame({"username_page": ["a__paid", "c__paid", "c__paid"], "caption_id": [X, Y, "CAP_nowhere"]})
    part = expand_caption_priors(compact, lift, keys).sort(KEY).collect()
    assert part.select(KEY).rows() == [("a__paid", X), ("c__paid", Y)]
    assert part.row(0, named=True) == _row(full, "a__paid", X)
    assert part.row(1, named=True) == _row(full, "c__paid", Y)


def test_own_page_lift_excludes_the_page_itself():
    """L_C of a page with own events sums the OTHER pages only (total − own, exact in fixed point)."""
    rows = _base_rows() + [
        dict(username_page="b__paid", caption_id=X, sending_ts_utc=AS_OF, sent=200, viewed=50, purchased=40,
             earnings=400),
        dict(username_page="c__paid", caption_id=X, sending_ts_utc=AS_OF, sent=100, viewed=10, purchased=1,
             earnings=10),
    ]  # fmt: skip
    pp = page_priors(make_fact(rows), PAGES, AS_OF)
    compact, lift = caption_prior_tables(make_fact(rows), PAGES, AS_OF, pages=pp)
    mu = dict(zip(pp["username_page"], pp["mu_P"], strict=True))
    x = {"a__paid": 35.0, "b__paid": 40.0, "c__paid": 1.0}
    n = {"a__paid": 150.0, "b__paid": 200.0, "c__paid": 100.0}
    for page in x:
        others = [p for p in x if p != page]
        expect = (sum(x[p] for p in others) + 2) / (sum(n[p] * mu[p] for p in others) + 2)
        got = _row(compact, page, X)["lift_buy"]
        assert got == pytest.approx(min(4.0, max(0.25, expect)), rel=1e-12), page
    total = (sum(x.values()) + 2) / (sum(n[p] * mu[p] for p in x) + 2)
    assert lift.filter(pl.col("caption_id") == X)["lift_buy"].item() == pytest.approx(total, rel=1e-12)
    assert lift.filter(pl.col("caption_id") == X)["pages_buy"].item() == 3


def test_dsum_bit_identical_under_shuffled_and_rechunked_input():
    """Fixed-point sums: any row order and chunk layout gives the same bits, equal to the correctly rounded exact
    sum of the terms rounded to multiples of 2^-64 (checked with Fractions)."""
    rng = np.random.default_rng(11)
    n = 20_000
    g = rng.integers(0, 40, n)
    # magnitudes 1e-6 … 1e6 with both signs: an ordered float sum depends on the order here
    x = rng.random(n) * 10.0 ** rng.integers(-6, 7, n) * rng.choice([-1.0, 1.0], n)
    df = pl.DataFrame({"g": g, "x": x})

    def sums(frame: pl.DataFrame) -> list[float]:
        return frame.lazy().group_by("g").agg(dsum(pl.col("x")).alias("s")).sort("g").collect()["s"].to_list()

    ref = sums(df)
    for seed in (1, 2, 3):
        sh = df.sample(fraction=1.0, shuffle=True, seed=seed)
        chunked = pl.concat([sh[i : i + 997] for i in range(0, n, 997)], rechunk=False)
        assert chunked.n_chunks() > 1
        assert sums(chunked) == ref  # exact float equality, element by element
    for k in range(40):
        exact = sum(Fraction(round(v * 2**64)) for v in x[g == k]) / 2**64
        assert ref[k] == float(exact)
    # nulls count as 0; an empty frame sums to 0
    assert pl.DataFrame({"x": [1.5, None, 2.25]}).select(dsum(pl.col("x"))).item() == 3.75
    assert pl.DataFrame({"x": []}, schema={"x": pl.Float64}).select(dsum(pl.col("x"))).item() == 0.0
