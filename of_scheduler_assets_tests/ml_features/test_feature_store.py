"""feature_store (30-ml-and-ranking §2, §4): universe, cold start, fills, ratio-of-sums checks, calendar windows."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import polars as pl
import pytest

from of_scheduler_assets.layer_03_foundation.transforms import DIM_CAPTION_SCHEMA
from of_scheduler_assets.layer_05_ml.features import FEATURE_CATALOGUE, FEATURE_COLUMNS, feature_store
from of_scheduler_assets.layer_05_ml.priors import caption_prior_tables, caption_priors, page_priors
from of_scheduler_assets_tests.semantic.support import make_fact, ts

AS_OF = ts(2025, 9, 15, 12)
AS_OF_DATE = dt.date(2025, 9, 15)
A, B, NEW = "CAP_000000000000000a", "CAP_000000000000000b", "CAP_00000000000000ff"


def _cap(cid: str, cats=("ppv",), **over) -> dict:
    row = {c: None for c in DIM_CAPTION_SCHEMA}
    row.update(caption_sk=f"sk{cid[-4:]}", caption_id=cid, caption_norm=f"caption {cid}", caption_text="t",
               categories=list(cats), primary_category=cats[0], tos_status="clean", is_active=True, is_current=True,
               char_len=10, family_key=f"fam_{cid}", explicitness=1)  # fmt: skip
    row.update(over)
    return row


def _dim_caption(*extra: dict) -> pl.DataFrame:
    rows = [_cap(A), _cap(B), _cap(NEW), _cap("CAP_00000000000000re", ("renew",)), *extra]
    return pl.DataFrame(rows, schema=DIM_CAPTION_SCHEMA)


def _dim_page(*extra: dict) -> pl.DataFrame:
    rows = [
        {"username_page": "a__paid", "page_type": "paid", "max_explicitness": 3},
        {"username_page": "b__paid", "page_type": "paid", "max_explicitness": 3},
        {"username_page": "f__free", "page_type": "free", "max_explicitness": 2},
        *extra,
    ]
    base = {"is_active": True, "tz": "America/New_York", "lifecycle_state": "active"}
    return pl.DataFrame([{**base, **r} for r in rows]).with_columns(
        pl.col("username_page").str.split("__").list.first().alias("username_std")
    )


def _rows() -> list[dict]:
    return [
        # caption A on page a: two events of different sizes on different days
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 9, 14, 12), sent=100, viewed=50,
             purchased=10, earnings=100),
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 9, 10, 12), sent=300, viewed=60,
             purchased=3, earnings=30),
        # a free send of A on a (open chain only, not in buy rate)
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 9, 12, 12), sent=100, viewed=80,
             price=0),
        # caption B only on page b
        dict(username_page="b__paid", caption_id=B, sending_ts_utc=ts(2025, 9, 13, 12), sent=200, viewed=100,
             purchased=20, earnings=200),
    ]  # fmt: skip


def _store(rows=None, dim_caption=None, dim_page=None, **kw) -> pl.DataFrame:
    fact = make_fact(_rows() if rows is None else rows)
    dp = _dim_page() if dim_page is None else dim_page
    pp = page_priors(fact, dp, AS_OF)
    cp = caption_priors(fact, dp, AS_OF, pages=pp)
    return feature_store(fact, _dim_caption() if dim_caption is None else dim_caption, dp, cp, pp, as_of=AS_OF,
                         config_name="active", config_version="2026.11.1-abcdef01", **kw)  # fmt: skip


def _get(df: pl.DataFrame, page: str, cap: str) -> dict:
    sel = df.filter((pl.col("username_page") == page) & (pl.col("caption_id") == cap))
    assert sel.height == 1
    return sel.row(0, named=True)


def test_catalogue_has_73_features_in_7_families():
    assert len(FEATURE_CATALOGUE) == 73
    assert len({f["family"] for f in FEATURE_CATALOGUE}) == 7
    assert len({f["name"] for f in FEATURE_CATALOGUE}) == 73
    for f in FEATURE_CATALOGUE:
        assert set(f) == {"name", "family", "formula", "unit", "window", "fill"}


def test_columns_grain_and_universe():
    df = _store()
    assert df.columns == FEATURE_COLUMNS
    assert df.select(pl.struct("computed_date", "username_page", "caption_id").is_unique().all()).item()
    key = ["username_page", "caption_id"]
    assert df.select(key).equals(df.select(key).sort(key))
    # 3 active pages; renew caption only on paid pages; never-sent caption NEW everywhere
    assert df.height == 4 + 4 + 3
    assert set(df.filter(pl.col("username_page") == "f__free")["caption_id"]) == {A, B, NEW}
    assert df["computed_date"].unique().to_list() == [AS_OF_DATE]
    assert df["config_name"].unique().to_list() == ["active"]


def test_universe_filters():
    extra = [
        _cap("CAP_00000000000000f1", tos_status="flagged"),
        _cap("CAP_00000000000000f2", is_active=False),
        _cap("CAP_00000000000000f3", caption_norm="", char_len=0),  # media-only
        _cap("CAP_00000000000000f4", explicitness=3),  # above free page max 2, fine on paid
        _cap("CAP_00000000000000f5", is_current=False),
        _cap("CAP_00000000000000f6", explicitness=None),  # unknown counts as 3
    ]
    dp = _dim_page({"username_page": "z__paid", "page_type": "paid", "is_active": False})
    df = _store(dim_caption=_dim_caption(*extra), dim_page=dp)
    caps = set(df["caption_id"])
    assert not caps & {"CAP_00000000000000f1", "CAP_00000000000000f2", "CAP_00000000000000f3",
                       "CAP_00000000000000f5"}  # fmt: skip
    for cid in ("CAP_00000000000000f4", "CAP_00000000000000f6"):
        pages = df.filter(pl.col("caption_id") == cid)["username_page"].to_list()
        assert sorted(pages) == ["a__paid", "b__paid"]
    assert "z__paid" not in set(df["username_page"])


def test_cold_start_caption_and_cross_page_lift():
    fact = make_fact(_rows())
    dp = _dim_page()
    pp = page_priors(fact, dp, AS_OF)
    cp = caption_priors(fact, dp, AS_OF, pages=pp)
    df = _store()
    mu = {r["username_page"]: r["mu_P"] for r in pp.iter_rows(named=True)}
    new = _get(df, "a__paid", NEW)
    assert new["p_buy_smoothed"] == pytest.approx(mu["a__paid"], rel=1e-12)  # never sent anywhere: μ_P
    # B never sent on a but sent on b: μ_P × L_C
    lift = cp.filter((pl.col("username_page") == "a__paid") & (pl.col("caption_id") == B))["lift_buy"].item()
    assert lift != 1.0
    b_on_a = _get(df, "a__paid", B)
    assert b_on_a["p_buy_smoothed"] == pytest.approx(mu["a__paid"] * lift, rel=1e-12)
    # fills of a never-sent caption
    assert new["send_events_30d"] == 0 and new["revenue_gross_30d"] == 0 and new["rps_30d"] is None
    assert new["stability_score"] == 0.5 and new["confidence_score"] == 0 and new["smoothing_weight"] == 0
    assert new["novelty_level"] == 1.0 and new["is_cold_start"] is True
    assert new["exploration_temperature"] == 0.5
    assert new["fatigue_score"] == pytest.approx(1 / (1 + math.exp(7.5)))
    assert new["hours_since_use_page"] is None and new["last_used_ts_page"] is None
    assert new["cooldown_hours"] == 6.0 and new["cooldown_until_ts"] is None
    assert new["ineligible_reasons"] == [] and new["is_eligible"] is True
    assert new["page_tier"] == "LOW" and new["page_state"] == "balance" and new["page_fatigue_risk"] == 50.0
    assert new["price_stance_bucket"] == "budget" and new["renew_on_rate"] is None
    assert new["rps_smoothed_ref"] == pytest.approx(new["p_buy_smoothed"] * pp.filter(
        pl.col("username_page") == "a__paid")["ref_price"].item(), rel=1e-12)  # fmt: skip
    assert new["ucb_bonus_ref"] > 0 and new["posterior_sd"] > 0


def test_ratios_of_sums_hand_computed():
    r = _get(_store(), "a__paid", A)
    assert r["send_events_7d"] == 3 and r["recipients_7d"] == 500
    assert r["purchases_30d"] == 13
    assert float(r["revenue_gross_30d"]) == 130.0 and float(r["revenue_net_30d"]) == 104.0
    assert r["rps_7d"] == pytest.approx(130 / 500, rel=1e-12)  # not the mean of per-event RPS
    assert r["buy_rate_30d"] == pytest.approx(13 / 400, rel=1e-12)  # PPV recipients only
    assert r["open_rate_30d"] == pytest.approx(190 / 500, rel=1e-12)
    # per-event RPS (1.0, 0.1, 0.0): lower order statistics
    assert r["rps_event_median_90d"] == pytest.approx(0.1)
    assert r["rps_event_p25_90d"] == pytest.approx(0.0) and r["rps_event_p75_90d"] == pytest.approx(0.1)
    assert r["rps_event_iqr_90d"] == pytest.approx(0.1)
    assert r["rps_event_stddev_90d"] == pytest.approx(statistics.stdev([1.0, 0.1, 0.0]), rel=1e-9)
    assert r["rps_event_cv_90d"] == pytest.approx(statistics.stdev([1.0, 0.1, 0.0]) / 0.1, rel=1e-9)
    assert r["stability_score"] == pytest.approx(1 - min(1, 0.1 / (2 * 130 / 500)))
    assert r["active_days_7d"] == 3 and r["uses_today"] == 0
    assert r["send_events_all_pages_365d"] == 3 and r["novelty_level"] == 1.0


def test_decayed_rps_is_weighted_ratio():
    """Defect 5: rps_decayed = Σ(rev × w) / Σ(sent × w)."""
    r = _get(_store(), "a__paid", A)
    w = [0.5 ** (d / 14) for d in (1, 5, 3)]
    rev, sent = [100, 30, 0], [100, 300, 100]
    expect = sum(a * b for a, b in zip(rev, w, strict=True)) / sum(a * b for a, b in zip(sent, w, strict=True))
    assert r["rps_decayed"] == pytest.approx(expect, rel=1e-12)
    assert r["buy_rate_decayed"] == pytest.approx((10 * w[0] + 3 * w[1]) / (100 * w[0] + 300 * w[1]), rel=1e-12)


def test_windows_are_calendar_days():
    """Defect 6: the 7-day window is local dates as_of−6 … as_of, whatever the number of rows."""
    rows = [
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 9, 9, 12), sent=100, earnings=10),
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 9, 8, 12), sent=100, earnings=10),
    ]
    rows += [dict(username_page="a__paid", caption_id=A, sending_ts_utc=ts(2025, 8, 17, 12), sent=100)] * 5
    r = _get(_store(rows=rows), "a__paid", A)
    assert r["send_events_7d"] == 1  # 9 Sep is day −6, 8 Sep is day −7
    assert r["send_events_30d"] == 7  # 17 Aug is day −29
    assert r["active_days_30d"] == 3


def test_rates_in_unit_interval_and_p_never_null():
    df = _store()
    assert df["p_buy_smoothed"].null_count() == 0
    for col in ("p_buy_smoothed", "p_open_smoothed", "buy_rate_30d", "buy_rate_90d", "open_rate_30d",
                "open_rate_90d", "buy_rate_decayed", "open_rate_decayed", "smoothing_weight", "stability_score",
                "confidence_score", "novelty_level", "fatigue_score", "rps_percentile", "category_percentile",
                "slump_risk_score", "night_owl_share", "exploration_temperature"):  # fmt: skip
        s = df[col].drop_nulls()
        assert s.len() == 0 or (s.min() >= 0 and s.max() <= 1), col
    assert (df["hours_since_use_page"].drop_nulls() >= 0).all()


def test_reuse_and_cooldown_eligibility():
    rows = [
        dict(username_page="a__paid", caption_id=A, sending_ts_utc=AS_OF - dt.timedelta(days=2), sent=100),
        dict(username_page="a__paid", caption_id=B, sending_ts_utc=AS_OF - dt.timedelta(days=40), sent=100),
    ]
    df = _store(rows=rows)
    a = _get(df, "a__paid", A)
    assert a["is_eligible"] is False and a["ineligible_reasons"] == ["reused_within_min_reuse_days"]
    assert a["hours_since_use_page"] == pytest.approx(48.0)
    assert a["reuse_block_until"] == a["last_used_ts_page"] + dt.timedelta(days=28)
    # on another page: no page reuse, agency-wide backoff 6 × 1.5^1 = 9 h has passed
    a_b = _get(df, "b__paid", A)
    assert a_b["uses_7d_all_pages"] == 1 and a_b["cooldown_hours"] == pytest.approx(9.0)
    assert a_b["is_eligible"] is True and a_b["cross_page_usage_7d"] == 1
    assert _get(df, "a__paid", B)["is_eligible"] is True


def test_semantic_inputs_used():
    df = _store(
        page_tier_assignment=pl.DataFrame({"username_page": ["a__paid"], "tier": ["HIGH"]}),
        page_state_daily=pl.DataFrame({"username_page": ["a__paid"], "page_state": ["monetize"]}),
        page_health_7d=pl.DataFrame(
            {"username_page": ["a__paid"], "avg_spend_per_txn_7d": [30.0], "renew_on_rate": [0.4]}
        ),  # fmt: skip
        page_volume_profile=pl.DataFrame({"username_page": ["a__paid"], "page_fatigue_risk": [70.0]}),
    )
    r = _get(df, "a__paid", NEW)
    assert (r["page_tier"], r["page_state"], r["price_stance_bucket"]) == ("HIGH", "monetize", "standard")
    assert r["renew_on_rate"] == 0.4 and r["page_fatigue_risk"] == 70.0
    assert _get(df, "b__paid", NEW)["page_tier"] == "LOW"


def test_deterministic_under_shuffled_input():
    rows = [{**r, "message_send_key": f"k{i}"} for i, r in enumerate(_rows() * 3)]
    fact = make_fact(rows)
    dp = _dim_page()
    pp = page_priors(fact, dp, AS_OF)
    cp = caption_priors(fact, dp, AS_OF, pages=pp)
    a = feature_store(fact, _dim_caption(), dp, cp, pp, as_of=AS_OF)
    shuffled = fact.sample(fraction=1.0, shuffle=True, seed=3)
    pp2 = page_priors(shuffled, dp, AS_OF)
    cp2 = caption_priors(shuffled, dp, AS_OF, pages=pp2)
    b = feature_store(shuffled, _dim_caption(), dp, cp2, pp2, as_of=AS_OF)
    diff = [c for c in a.columns if not a[c].equals(b[c])]
    assert diff == []


def test_store_from_the_compact_pair_equals_the_full_frame():
    """The stored compact caption_priors + caption_lift give the same store, bit for bit, as the full frame."""
    fact = make_fact(_rows())
    dp, dc = _dim_page(), _dim_caption()
    pp = page_priors(fact, dp, AS_OF)
    full = caption_priors(fact, dp, AS_OF, pages=pp)
    compact, lift = caption_prior_tables(fact, dp, AS_OF, pages=pp)
    assert compact.height < full.height  # no page × caption grid stored
    a = feature_store(fact, dc, dp, full, pp, as_of=AS_OF)
    b = feature_store(fact, dc, dp, compact, pp, as_of=AS_OF, caption_lift=lift)
    assert [c for c in a.columns if not a[c].equals(b[c])] == []
    # the lift input matters: without it B on page a (sent only on b) would take the page prior μ_a
    c = feature_store(fact, dc, dp, compact, pp, as_of=AS_OF)
    mu_a = pp.filter(pl.col("username_page") == "a__paid")["mu_P"].item()
    assert _get(c, "a__paid", B)["p_buy_smoothed"] == pytest.approx(mu_a, rel=1e-12)
    assert _get(b, "a__paid", B)["p_buy_smoothed"] != pytest.approx(mu_a, rel=1e-6)


def test_ranker_ranks_the_same_from_the_compact_caption_priors():
    """rank_next24 reads n_CP / n_open / q̄ from caption_priors; a pair absent from the compact table (sent only on
    other pages) falls back to n = 0 and the page reference price, which is what the full frame holds."""
    from of_scheduler_assets.layer_06_rankings.allocation import assign_configs
    from of_scheduler_assets.layer_06_rankings.ranker import rank_next24
    from of_scheduler_assets.layer_06_rankings.slots import slot_grid_next24
    from of_scheduler_assets.resources.ranker_config import load_ranker_config

    cfg = load_ranker_config()
    now = AS_OF + dt.timedelta(minutes=30)
    fact = make_fact(_rows())
    dp = _dim_page().with_columns(local_min_hour=pl.lit(8), local_max_hour=pl.lit(23), tier=pl.lit("MED"))
    pp = page_priors(fact, dp, AS_OF)
    full = caption_priors(fact, dp, AS_OF, pages=pp)
    compact, lift = caption_prior_tables(fact, dp, AS_OF, pages=pp)
    assert compact.filter(pl.col("prior_level") == "caption_other_pages").height == 0
    assert full.filter(pl.col("prior_level") == "caption_other_pages").height > 0
    feats = feature_store(fact, _dim_caption(), dp, compact, pp, as_of=AS_OF, caption_lift=lift, computed_at=AS_OF,
                          config_name="active", config_version=cfg.config_version)  # fmt: skip
    slots = slot_grid_next24(dp, None, now=now)
    assign = assign_configs(dp, cfg, now.date())

    def rank(cp: pl.DataFrame) -> pl.DataFrame:
        return rank_next24(feats, slots, pp, None, assign, cfg, now=now, run_id="r", caption_priors=cp,
                           generated_at=now)  # fmt: skip

    a, b = rank(full), rank(compact)
    # B ranked on page a, where it has no row in the compact table
    assert a.filter((pl.col("username_page") == "a__paid") & (pl.col("caption_id") == B)).height > 0
    assert [c for c in a.columns if not a[c].equals(b[c])] == []


def _bank(*rows: tuple[str, str, dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"username_page": pl.String, "caption_id": pl.String,
                                      "bank_last_used_ts_utc": pl.Datetime("us", "UTC")}, orient="row")  # fmt: skip


def test_bank_last_use_is_the_page_last_use_only_where_reports_have_none():
    rows = [dict(username_page="a__paid", caption_id=A, sending_ts_utc=AS_OF - dt.timedelta(days=40), sent=100)]
    bank = _bank(
        ("a__paid", B, AS_OF - dt.timedelta(days=5)),  # no report send of B on a: the bank's use counts
        ("a__paid", A, AS_OF - dt.timedelta(days=5)),  # a report send 40 days ago: the report wins
        ("b__paid", NEW, AS_OF + dt.timedelta(hours=1)),  # after the computation time: ignored
        ("b__paid", A, AS_OF - dt.timedelta(days=366)),  # outside the 365-day window: ignored
        ("gone__paid", A, AS_OF - dt.timedelta(days=1)),  # a page outside the universe: nothing
    )
    with_bank, without = _store(rows=rows, bank_last_use=bank), _store(rows=rows)

    b = _get(with_bank, "a__paid", B)
    assert b["last_used_ts_page"] == AS_OF - dt.timedelta(days=5)
    assert b["hours_since_use_page"] == pytest.approx(120.0)
    assert b["reuse_block_until"] == AS_OF + dt.timedelta(days=23)
    assert b["is_eligible"] is False and b["ineligible_reasons"] == ["reused_within_min_reuse_days"]
    assert b["exploration_temperature"] == pytest.approx(1.0 / (1.0 + math.exp(-0.1 * 25.0)))
    b0 = _get(without, "a__paid", B)
    assert b0["last_used_ts_page"] is None and b0["is_eligible"] is True

    a = _get(with_bank, "a__paid", A)
    assert a["last_used_ts_page"] == AS_OF - dt.timedelta(days=40) and a["is_eligible"] is True
    for cap in (NEW, A):
        r = _get(with_bank, "b__paid", cap)
        assert r["last_used_ts_page"] is None and r["is_eligible"] is True

    # only the last use on the page and what derives from it change: nothing that counts sends sees a bank use
    derived = {"last_used_ts_page", "hours_since_use_page", "reuse_block_until", "exploration_temperature",
               "is_eligible", "ineligible_reasons"}  # fmt: skip
    changed = {c for c in FEATURE_COLUMNS if not with_bank[c].equals(without[c], check_names=True)}
    assert changed == derived
    counts = ["send_events_7d", "send_events_30d", "send_events_90d", "active_days_7d", "active_days_30d",
              "active_days_90d", "uses_today", "uses_7d_all_pages", "send_events_all_pages_365d", "novelty_level",
              "cross_page_usage_7d", "family_recent_uses_28d", "last_used_ts_any", "cooldown_until_ts"]  # fmt: skip
    assert with_bank.select(counts).equals(without.select(counts))
    assert _get(with_bank, "a__paid", B)["send_events_all_pages_365d"] == 0


def test_bank_last_use_seeds_each_page_it_names():
    # the foundation table of a 'both' name holds one row per page: each page's candidate takes its own row
    bank = _bank(("a__paid", NEW, AS_OF - dt.timedelta(days=2)), ("f__free", NEW, AS_OF - dt.timedelta(days=3)))
    df = _store(rows=[], bank_last_use=bank)
    assert _get(df, "a__paid", NEW)["hours_since_use_page"] == pytest.approx(48.0)
    assert _get(df, "f__free", NEW)["hours_since_use_page"] == pytest.approx(72.0)
    assert _get(df, "b__paid", NEW)["hours_since_use_page"] is None
    assert not _get(df, "a__paid", NEW)["is_eligible"] and _get(df, "b__paid", NEW)["is_eligible"]
