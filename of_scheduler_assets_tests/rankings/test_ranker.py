"""rank_next24 (30-ml-and-ranking §5.7–5.10, §7, §8, §9) on small worlds built with the real feature store."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from of_scheduler_assets.identity import hash_uniform
from of_scheduler_assets.layer_03_foundation.transforms import DIM_CAPTION_SCHEMA
from of_scheduler_assets.layer_04_semantic.transforms import page_price_points
from of_scheduler_assets.layer_05_ml.features import feature_store
from of_scheduler_assets.layer_05_ml.priors import caption_priors, page_priors
from of_scheduler_assets.layer_06_rankings.allocation import assign_configs
from of_scheduler_assets.layer_06_rankings.ranker import RANK_SCHEMA, rank_next24, seed_key
from of_scheduler_assets.layer_06_rankings.slots import slot_grid_next24
from of_scheduler_assets.resources.ranker_config import load_ranker_config
from of_scheduler_assets_tests.semantic.support import make_fact, ts

NOW = ts(2025, 9, 15, 12, 30)
AS_OF = ts(2025, 9, 15, 2)
CFG = load_ranker_config()
NEW = "CAP_0000000000000new"  # never sent anywhere
OLD = "CAP_0000000000000old"  # poor seller on a, last used 50 days ago
RECENT = "CAP_00000000000recnt"  # used on a 2 days ago: reuse-blocked on a
HOT = "CAP_00000000000000hot"  # used on b 3 times in 4 days: cooldown everywhere (agency-wide)
TIRED = "CAP_0000000000000tird"  # sent on a on 20 days of the last 30: fatigued on a
STAR = "CAP_0000000000000star"  # good seller on b


def _cap(cid: str, cats=("ppv",), **over) -> dict:
    row = {c: None for c in DIM_CAPTION_SCHEMA}
    row.update(caption_sk=f"sk_{cid[-4:]}", caption_id=cid, caption_norm=f"caption {cid}", caption_text="t",
               categories=list(cats), primary_category=cats[0], tos_status="clean", is_active=True, is_current=True,
               char_len=10, family_key=f"fam_{cid}", explicitness=1)  # fmt: skip
    row.update(over)
    return row


def _dim_caption() -> pl.DataFrame:
    rows = [_cap(c) for c in (NEW, OLD, RECENT, HOT, TIRED, STAR)]
    rows += [_cap(f"CAP_00000000000bump{i}", ("bump",)) for i in range(3)]
    rows += [_cap("CAP_000000000000flag", tos_status="flagged")]
    return pl.DataFrame(rows, schema=DIM_CAPTION_SCHEMA)


def _dim_page() -> pl.DataFrame:
    base = {"is_active": True, "tz": "America/New_York", "lifecycle_state": "active", "max_explicitness": 3,
            "local_min_hour": 8, "local_max_hour": 23, "tier": "MED", "page_type": "paid"}  # fmt: skip
    rows = [
        {"username_page": "a__paid"},
        {"username_page": "b__paid"},
        {"username_page": "c__free", "page_type": "free", "tier": "LOW"},
    ]
    return pl.DataFrame([{**base, **r} for r in rows]).with_columns(
        pl.col("username_page").str.split("__").list.first().alias("username_std")
    )


def _fact_rows() -> list[dict]:
    rows = []
    for d in (48, 50, 52):
        rows.append(dict(username_page="a__paid", caption_id=OLD, sending_ts_utc=NOW - dt.timedelta(days=d),
                         sent=1000, viewed=200, purchased=1, earnings=10))  # fmt: skip
    rows.append(dict(username_page="a__paid", caption_id=RECENT, sending_ts_utc=NOW - dt.timedelta(days=2), sent=500,
                     viewed=200, purchased=30, earnings=300))  # fmt: skip
    for h in (12, 48, 96):  # 3 uses in 7 d: backoff 6 × 1.5³ = 20.25 h from 00:30 -> still cooling down at NOW
        rows.append(dict(username_page="b__paid", caption_id=HOT, sending_ts_utc=NOW - dt.timedelta(hours=h),
                         sent=500, viewed=200, purchased=30, earnings=300))  # fmt: skip
    for d in range(1, 21):
        rows.append(dict(username_page="a__paid", caption_id=TIRED, sending_ts_utc=NOW - dt.timedelta(days=d, hours=30),
                         sent=100, viewed=30, purchased=2, earnings=20, price=0 if d % 2 else 10))  # fmt: skip
    for d in (35, 40, 45, 60):
        rows.append(dict(username_page="b__paid", caption_id=STAR, sending_ts_utc=NOW - dt.timedelta(days=d),
                         sent=800, viewed=400, purchased=120, earnings=1200, price=10 if d < 50 else 15))  # fmt: skip
    return [{**r, "message_send_key": f"k{i:04d}"} for i, r in enumerate(rows)]


def _world(extra_features: pl.DataFrame | None = None):
    fact = make_fact(_fact_rows())
    dp, dc = _dim_page(), _dim_caption()
    pp = page_priors(fact, dp, AS_OF)
    cp = caption_priors(fact, dp, AS_OF, pages=pp)
    feats = feature_store(fact, dc, dp, cp, pp, as_of=AS_OF, computed_at=AS_OF, config_name="active",
                          config_version=CFG.config_version)  # fmt: skip
    # a caption flagged after the daily refresh: still in today's store, must never be recommended
    flagged = feats.filter(pl.col("caption_id") == NEW).with_columns(
        pl.lit("CAP_000000000000flag").alias("caption_id"), pl.lit("clean").alias("tos_status")
    )
    feats = pl.concat([feats.with_columns(pl.lit("clean").alias("tos_status")),
                       flagged.with_columns(pl.lit("flagged").alias("tos_status"))]).sort(
        "username_page", "caption_id")  # fmt: skip
    if extra_features is not None:
        feats = pl.concat([feats, extra_features], how="diagonal_relaxed")
    slots = slot_grid_next24(dp, None, now=NOW)
    assign = assign_configs(dp, CFG, NOW.date())
    return {"fact": fact, "features": feats, "slots": slots, "pp": pp, "cp": cp, "assign": assign, "dp": dp}


def _rank(w, **kw) -> pl.DataFrame:
    args = dict(recent_primaries=None, caption_priors=w["cp"], generated_at=NOW)
    args.update(kw)
    return rank_next24(w["features"], w["slots"], w["pp"], None, w["assign"], CFG, now=NOW, run_id="run-1", **args)


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def ranked(world):
    return _rank(world)


def test_schema_and_one_primary_per_slot(ranked, world):
    assert dict(ranked.schema) == RANK_SCHEMA
    assert list(ranked.columns) == list(RANK_SCHEMA)
    keys = ["username_page", "slot_ts_utc", "slot_type"]
    per_slot = ranked.group_by(keys).agg(
        (pl.col("rank") == 1).sum().alias("n1"), pl.col("rank").sort().alias("ranks"), pl.len().alias("n")
    )
    assert per_slot.height == world["slots"].height  # every slot has rows
    assert (per_slot["n1"] == 1).all()
    for ranks in per_slot["ranks"].to_list():
        assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 10
    tiers = dict(zip(ranked["rank"].to_list(), ranked["recommendation_tier"].to_list(), strict=True))
    assert tiers[1] == "primary" and tiers.get(2, "secondary") == "secondary" and tiers.get(4, "backup") == "backup"
    r1 = ranked.filter(pl.col("rank") == 1)
    assert r1.filter(pl.col("caption_id").is_not_null())["selection_probability"].is_between(0, 1).all()
    assert ranked.filter(pl.col("rank") > 1)["selection_probability"].null_count() == ranked.filter(
        pl.col("rank") > 1).height  # fmt: skip


def test_hard_rules_hold_outside_fallback(ranked, world):
    f = world["features"]
    normal = ranked.filter(~pl.col("is_fallback"))
    assert normal.height > 0
    # TOS-flagged never at all, fallback included
    assert "CAP_000000000000flag" not in set(ranked["caption_id"].drop_nulls())
    info = {(r["username_page"], r["caption_id"]): r for r in f.iter_rows(named=True)}
    for r in normal.iter_rows(named=True):
        feat = info[(r["username_page"], r["caption_id"])]
        # category matches the slot type
        assert r["category"] in CFG.categories_for(r["slot_type"])
        # min_reuse_days on the page
        if feat["last_used_ts_page"] is not None:
            assert NOW - feat["last_used_ts_page"] >= dt.timedelta(days=28)
        # agency-wide cooldown and fatigue
        if feat["cooldown_until_ts"] is not None:
            assert NOW >= feat["cooldown_until_ts"]
        assert feat["fatigue_score"] <= CFG.config("active").fatigue_limit
    on_a = set(normal.filter(pl.col("username_page") == "a__paid")["caption_id"])
    assert RECENT not in on_a and TIRED not in on_a  # reuse / fatigue on a
    assert HOT not in set(normal["caption_id"])  # cooldown everywhere
    assert RECENT in set(normal.filter(pl.col("username_page") == "b__paid")["caption_id"])  # reuse is per page
    # no null final_score for eligible rows; scores in range
    assert normal["final_score"].null_count() == 0
    assert ranked["score_normalized"].drop_nulls().is_between(0.0, 100.0).all()


def test_primary_at_most_once_per_page_in_the_horizon(ranked):
    """The 28-day reuse rule spans the 24 h horizon: a caption primary at 23:00 local is not primary again at 01:00
    the next local date on that page (once per page and run, not only once per page and local date)."""
    prim = ranked.filter((pl.col("rank") == 1) & pl.col("caption_id").is_not_null() & ~pl.col("is_fallback"))
    assert prim["slot_date_local"].n_unique() > 1  # the horizon crosses a local midnight, so the rule is exercised
    dup = prim.group_by("username_page", "caption_id").len().filter(pl.col("len") > 1)
    assert dup.height == 0


def test_components_recompose_final_score(ranked):
    rows = ranked.filter(pl.col("caption_id").is_not_null())
    recomposed = rows["temporal_multiplier"] * (rows["exploit_value"] + rows["ucb_bonus"] + rows["novelty_bonus"]) - (
        rows["diversity_penalty"])  # fmt: skip
    assert ((recomposed - rows["final_score"]).abs() <= 1e-12).all()
    ppv = rows.filter(pl.col("slot_type") == "ppv")
    assert (ppv["expected_rps"] == ppv["exploit_value"]).all()
    assert (rows.filter(pl.col("slot_type") != "ppv")["expected_rps"] == 0.0).all()


def test_ranks_ordered_by_final_then_caption_id(ranked):
    for _, g in ranked.filter(~pl.col("is_fallback") & (pl.col("rank") > 1)).group_by(
        "username_page", "slot_ts_utc", "slot_type"
    ):
        g = g.sort("rank")
        keys = list(zip((-g["final_score"]).to_list(), g["caption_id"].to_list(), strict=True))
        assert keys == sorted(keys)


def test_cold_start_caption_wins(world):
    """Defect "cold start impossible": a never-sent caption wins a slot when its prior-based score is highest.

    On page a the only other eligible PPV caption is OLD, a poor seller (STAR, lifted by its sales on b, is removed)."""
    f = world["features"].filter(~((pl.col("username_page") == "a__paid") & (pl.col("caption_id") == STAR)))
    ranked = rank_next24(f, world["slots"], world["pp"], None, world["assign"], CFG, now=NOW, run_id="r",
                         caption_priors=world["cp"])  # fmt: skip
    a_ppv = ranked.filter(
        (pl.col("username_page") == "a__paid") & (pl.col("slot_type") == "ppv") & (pl.col("rank") == 1)
    )
    assert a_ppv.height > 0
    first = a_ppv.sort("slot_ts_utc").row(0, named=True)
    assert first["greedy_caption_id"] == NEW
    slot = ranked.filter((pl.col("username_page") == "a__paid") & (pl.col("slot_ts_utc") == first["slot_ts_utc"])
                         & (pl.col("slot_type") == "ppv"))  # fmt: skip
    best = slot.sort(["final_score", "caption_id"], descending=[True, False]).row(0, named=True)
    assert best["caption_id"] == NEW and best["is_cold_start"] and "cold_start" in best["reason_codes"]
    assert best["send_events_page"] == 0 and best["days_since_use_page"] is None
    won = ranked.filter((pl.col("rank") == 1) & (pl.col("caption_id") == NEW) & ~pl.col("is_fallback"))
    assert won.height > 0


def test_seed_key_epsilon_and_selection_probability(ranked):
    r1 = ranked.filter((pl.col("rank") == 1) & ~pl.col("is_fallback"))
    for r in r1.iter_rows(named=True):
        assert r["seed_key"] == seed_key(r["config_name"], r["config_version"], r["username_page"], r["slot_ts_utc"],
                                         r["slot_type"])  # fmt: skip
        eps = r["epsilon"]
        explored = hash_uniform(r["seed_key"] + "|eps") < eps
        assert ("epsilon_explore" in r["reason_codes"]) == explored
        g = r["caption_id"] == r["greedy_caption_id"]
        expect = (1 - eps) * g + eps / r["explore_pool_size"]
        assert r["selection_probability"] == pytest.approx(expect, rel=1e-12)
        if not explored:
            assert g


def test_reason_codes_order(ranked):
    from of_scheduler_assets.layer_06_rankings.ranker import REASON_ORDER

    order = {c: i for i, c in enumerate([*REASON_ORDER, "balanced_selection", "no_caption_available"])}
    for codes in ranked["reason_codes"].to_list():
        assert codes and [order[c] for c in codes] == sorted(order[c] for c in codes)
        assert ("balanced_selection" in codes) == (codes == ["balanced_selection"])


def test_prices_for_ppv_slots(ranked, world):
    ppv = ranked.filter(pl.col("slot_type") == "ppv")
    assert (ppv["price_usd"] > 0).all()
    assert set(ppv["price_source"]) <= {"page_p50", "default"}
    b = ppv.filter(pl.col("username_page") == "b__paid")
    p50_b = world["pp"].filter(pl.col("username_page") == "b__paid")["price_p50"].item()
    assert (b["price_source"] == "page_p50").all() and (b["price_usd"] == p50_b).all()
    other = ranked.filter(pl.col("slot_type") != "ppv")
    assert (other["price_usd"] == 0).all() and other["price_source"].null_count() == other.height
    # with price points: Wilson choice
    pts = page_price_points(world["fact"], AS_OF)
    out = _rank(world, price_points=pts)
    bw = out.filter((pl.col("username_page") == "b__paid") & (pl.col("slot_type") == "ppv"))
    assert (bw["price_source"] == "wilson").all() and (bw["price_wilson"] == bw["price_usd"]).all()
    assert set(bw["price_usd"]) <= {10.0, 15.0}
    assert bw["reason_codes"].list.contains("price_wilson").all()


def test_deterministic_rerun_and_shuffled_inputs(world, ranked):
    """Defect RAND()/timestamp seeds: byte-identical apart from run_id and generated_at."""
    again = rank_next24(world["features"], world["slots"], world["pp"], None, world["assign"], CFG, now=NOW,
                        run_id="run-2", caption_priors=world["cp"])  # fmt: skip
    drop = ["run_id", "generated_at"]
    assert again.drop(drop).equals(ranked.drop(drop))
    sh = {k: world[k].sample(fraction=1.0, shuffle=True, seed=7) for k in ("features", "slots", "pp", "assign", "cp")}
    shuffled = rank_next24(sh["features"], sh["slots"], sh["pp"], None, sh["assign"], CFG, now=NOW, run_id="run-3",
                           caption_priors=sh["cp"])  # fmt: skip
    assert shuffled.drop(drop).equals(ranked.drop(drop))
    assert shuffled.drop(drop).write_ipc(None).getvalue() == ranked.drop(drop).write_ipc(None).getvalue()


def test_fallback_oldest_first_and_no_caption(world):
    # every ppv caption of a blocked except by reuse/cooldown/fatigue: drop NEW and OLD and the flagged row from a
    f = world["features"].filter(~((pl.col("username_page") == "a__paid")
                                   & pl.col("caption_id").is_in([NEW, OLD, STAR, "CAP_000000000000flag"])))  # fmt: skip
    # page c has no bump captions at all
    f = f.filter(~((pl.col("username_page") == "c__free") & (pl.col("primary_category") == "bump")))
    out = rank_next24(f, world["slots"], world["pp"], None, world["assign"], CFG, now=NOW, run_id="r",
                      caption_priors=world["cp"])  # fmt: skip
    a_ppv = out.filter((pl.col("username_page") == "a__paid") & (pl.col("slot_type") == "ppv"))
    first = a_ppv.filter(pl.col("slot_ts_utc") == a_ppv["slot_ts_utc"].min()).sort("rank")
    assert first["is_fallback"].all()
    assert first["reason_codes"].list.contains("bank_exhausted_oldest_first").all()
    assert first["selection_probability"][0] == 1.0
    # oldest page use first: TIRED (last used ~ 2 days ago) after RECENT? hours_since_use_page desc
    hs = first["days_since_use_page"].fill_null(math.inf).to_list()
    assert hs == sorted(hs, reverse=True)
    assert set(first["caption_id"]) <= {RECENT, TIRED, HOT}
    assert "CAP_000000000000flag" not in set(out["caption_id"].drop_nulls())
    c_bump = out.filter((pl.col("username_page") == "c__free") & (pl.col("slot_type") == "bump"))
    assert c_bump.height > 0
    assert (c_bump["reason_codes"].list.first() == "no_caption_available").all()
    assert c_bump["caption_id"].null_count() == c_bump.height


def test_max_daily_uses_across_pages(world):
    """Agency-wide: a caption with max_daily_uses recent sends/primaries in the 24 h before a slot is not primary."""
    recent = pl.DataFrame({"caption_id": [NEW] * 3, "slot_ts_utc": [NOW - dt.timedelta(hours=h) for h in (1, 2, 3)]})
    out = _rank(world, recent_primaries=recent)
    first = out["slot_ts_utc"].min()
    early = out.filter((pl.col("slot_ts_utc") < first + dt.timedelta(hours=20)) & ~pl.col("is_fallback"))
    assert NEW not in set(early["caption_id"].drop_nulls())
    prim = out.filter((pl.col("rank") == 1) & pl.col("caption_id").is_not_null()).sort("slot_ts_utc")
    limit = CFG.config("active").cooldown.max_daily_uses
    times: dict[str, list[dt.datetime]] = {}
    for r in prim.iter_rows(named=True):
        t = r["slot_ts_utc"]
        prev = [x for x in times.get(r["caption_id"], []) if t - dt.timedelta(hours=24) < x <= t]
        assert len(prev) < limit
        times.setdefault(r["caption_id"], []).append(t)


def test_explored_share_within_epsilon():
    """ε-exploration over >= 10,000 slots: explored share within ε ± 0.01 (cheap synthetic features)."""
    n_pages, n_caps = 420, 26  # > 24 slots: a caption is primary once per page in the run (28-day rule)
    cfg = load_ranker_config(override_text="configs:\n  active:\n    top_k: 1\n")
    pages = [f"p{i:04d}__paid" for i in range(n_pages)]
    feats = pl.DataFrame(
        {
            "computed_date": [NOW.date()] * (n_pages * n_caps),
            "username_page": [p for p in pages for _ in range(n_caps)],
            "username_std": [p.split("__")[0] for p in pages for _ in range(n_caps)],
            "page_type": ["paid"] * (n_pages * n_caps),
            "caption_id": [f"CAP_{p}_{j:02d}" for p in pages for j in range(n_caps)],
            "caption_sk": [f"sk{j}" for _ in pages for j in range(n_caps)],
            "primary_category": ["bump"] * (n_pages * n_caps),
            "p_buy_smoothed": [0.05] * (n_pages * n_caps),
            "p_open_smoothed": [0.2 + 0.001 * j for _ in pages for j in range(n_caps)],
            "smoothing_weight": [0.5] * (n_pages * n_caps),
            "novelty_level": [0.0] * (n_pages * n_caps),
            "cooldown_hours": [6.0] * (n_pages * n_caps),
            "fatigue_score": [0.01] * (n_pages * n_caps),
            "last_used_ts_page": pl.Series([None] * (n_pages * n_caps), dtype=pl.Datetime("us", "UTC")),
            "last_used_ts_any": pl.Series([None] * (n_pages * n_caps), dtype=pl.Datetime("us", "UTC")),
        }
    )
    pp = pl.DataFrame({"username_page": pages, "mu_P": [0.05] * n_pages, "mu_open_P": [0.2] * n_pages,
                       "nu": [100.0] * n_pages, "beta_P": [1.0] * n_pages, "m_P": [50.0] * n_pages})  # fmt: skip
    dp = pl.DataFrame({"username_page": pages, "lifecycle_state": ["active"] * n_pages, "tier": ["LOW"] * n_pages,
                       "tz": ["UTC"] * n_pages, "local_min_hour": [0] * n_pages, "local_max_hour": [23] * n_pages})  # fmt: skip
    slots = slot_grid_next24(dp, None, now=NOW, ppv_count={"LOW": [0] * 7})
    assert slots.height >= 10_000
    out = rank_next24(feats, slots, pp, None, assign_configs(dp, cfg, NOW.date()), cfg, now=NOW, run_id="r")
    r1 = out.filter(pl.col("rank") == 1)
    assert r1.height == slots.height and not r1["is_fallback"].any()
    share = r1["reason_codes"].list.contains("epsilon_explore").mean()
    eps = cfg.config("active").epsilon
    assert abs(share - eps) <= 0.01
    greedy_share = (r1["caption_id"] == r1["greedy_caption_id"]).mean()
    assert greedy_share >= 1 - eps - 0.01


def test_diversity_penalties_follow_the_formula(ranked):
    active = CFG.config("active")
    rows = ranked.filter(pl.col("caption_id").is_not_null() & ~pl.col("is_fallback"))
    assert rows["reason_codes"].list.contains("cross_page_penalty").any()  # NEW is top-1 on several pages at once
    assert rows["reason_codes"].list.contains("same_day_penalty").any()
    for r in rows.iter_rows(named=True):
        base = max(r["temporal_multiplier"] * r["exploit_value"], 0.0005)
        expect = active.penalty_same_day_mult * base * ("same_day_penalty" in r["reason_codes"]) + (
            active.penalty_cross_page_mult * base * ("cross_page_penalty" in r["reason_codes"]))  # fmt: skip
        assert r["diversity_penalty"] == pytest.approx(expect, rel=1e-12, abs=1e-15)
    # "cooldown blocking forever": OLD, used on 3 days long ago, is eligible again on a
    assert OLD in set(rows.filter(pl.col("username_page") == "a__paid")["caption_id"])


def test_ban_mode_removes_cross_page_conflicts(world):
    cfg = load_ranker_config(override_text="configs:\n  active:\n    diversity_enforce_ban: true\n")
    out = rank_next24(world["features"], world["slots"], world["pp"], None, assign_configs(world["dp"], cfg,
                      NOW.date()), cfg, now=NOW, run_id="r", caption_priors=world["cp"])  # fmt: skip
    assert not out["reason_codes"].list.contains("cross_page_penalty").any()
    assert out.filter(pl.col("rank") == 1).height == world["slots"].height


# --- §9 defects "unreachable weights" and "hour proximity not cyclic"; §7.3 / acceptance hard rules -----------------
_EXPERIMENT_ON = """experiments:
  - id: exp_all_in
    config: experiment
    control: active
    traffic_share: 1.0
    start: 2025-01-01
    end: null
    eligible_lifecycle: [active]
"""


def test_defect_unreachable_weights_every_config_and_label_resolves_no_null_final_score(world):
    """Defect "unreachable weights" (state labels that matched no page state → null scores): every named config is
    reachable (a lifecycle default or an experiment's config), every lifecycle state, tier, slot type and category
    resolves, and no ranked row under any config or tier has a null (or non-finite) final_score."""
    from of_scheduler_assets.kernels.codes import CATEGORY_BITS
    from of_scheduler_assets.layer_04_semantic.schemas import TIERS
    from of_scheduler_assets.layer_06_rankings.slots import DEFAULT_PPV_COUNT
    from of_scheduler_assets.resources.ranker_config import CATEGORIES, LIFECYCLE_STATES, SLOT_TYPES, NamedRankerConfig

    model = CFG.model
    reachable = {s for s in LIFECYCLE_STATES if s != "inactive"} | {e.config for e in model.experiments}
    assert set(model.configs) == reachable  # no config that nothing can assign, none assigned that is missing
    assert set(SLOT_TYPES) == set(model.slot_type_categories)
    for slot_type in SLOT_TYPES:
        assert all(CATEGORY_BITS.get(c, 0) for c in CFG.categories_for(slot_type)), slot_type
    assert set(CATEGORIES) == set(CATEGORY_BITS)
    assert set(TIERS) == set(DEFAULT_PPV_COUNT)  # a tier without a ppv pack would silently plan as LOW

    keys = set(NamedRankerConfig.model_fields)
    seen_configs: set[str] = set()
    for override in (None, _EXPERIMENT_ON):
        cfg = load_ranker_config(override_text=override)
        for tier in TIERS:
            dp = world["dp"].with_columns(  # page c in its probation: lifecycle new
                pl.lit(tier).alias("tier"),
                pl.when(pl.col("username_page") == "c__free").then(pl.lit("new")).otherwise(pl.col("lifecycle_state"))
                .alias("lifecycle_state"),
            )  # fmt: skip
            assign = assign_configs(dp, cfg, NOW.date())
            assert set(assign["config_name"]) <= set(cfg.model.configs)
            for name in assign["config_name"]:  # every key of the named config is set (no silent default)
                assert keys <= set(cfg.config(name).model_dump()) and None not in cfg.config(name).model_dump().values()
            slots = slot_grid_next24(dp, None, now=NOW)
            out = rank_next24(world["features"], slots, world["pp"], None, assign, cfg, now=NOW, run_id="r",
                              caption_priors=world["cp"])  # fmt: skip
            assert out.select(pl.struct("username_page", "slot_ts_utc", "slot_type").n_unique()).item() == slots.height
            with_caption = out.filter(pl.col("caption_id").is_not_null())
            assert with_caption.height > 0
            for col in ("final_score", "exploit_value", "ucb_bonus", "novelty_bonus", "temporal_multiplier",
                        "diversity_penalty", "score_normalized"):  # fmt: skip
                assert with_caption[col].null_count() == 0, (tier, col)
                assert with_caption[col].is_finite().all(), (tier, col)
            # a null final_score only where there is no caption at all
            assert (out.filter(pl.col("final_score").is_null())["reason_codes"].list.first()
                    == "no_caption_available").all()  # fmt: skip
            seen_configs |= set(out["config_name"])
    assert seen_configs == set(CFG.model.configs)


def _hour_world(slot_hours: dict[str, int]):
    """Pages (tz UTC) each with ONE bump slot at the given hour offset from 2025-09-20 00:00 UTC, and the same two
    captions: X (clearly best, so the provisional top-1 everywhere) and Y."""
    day0 = dt.datetime(2025, 9, 20, tzinfo=dt.UTC)
    pages = sorted(slot_hours)
    feats = pl.DataFrame({
        "computed_date": [NOW.date()] * (2 * len(pages)),
        "username_page": [p for p in pages for _ in range(2)],
        "page_type": ["paid"] * (2 * len(pages)),
        "caption_id": ["CAP_X", "CAP_Y"] * len(pages),
        "primary_category": ["bump"] * (2 * len(pages)),
        "p_open_smoothed": [0.4, 0.1] * len(pages),
        "smoothing_weight": [0.9] * (2 * len(pages)),
        "novelty_level": [0.0] * (2 * len(pages)),
        "fatigue_score": [0.01] * (2 * len(pages)),
    })  # fmt: skip
    rows = []
    for p in pages:
        ts = day0 + dt.timedelta(hours=slot_hours[p])
        rows.append({"username_page": p, "slot_ts_utc": ts, "slot_local": ts.replace(tzinfo=None),
                     "slot_date_local": ts.date(), "dow_local": ts.weekday(), "hod_local": ts.hour,
                     "slot_type": "bump", "temporal_multiplier": 1.0})  # fmt: skip
    from of_scheduler_assets.layer_06_rankings.slots import SLOT_GRID_SCHEMA

    slots = pl.DataFrame(rows, schema=SLOT_GRID_SCHEMA)
    pp = pl.DataFrame({"username_page": pages, "mu_P": [0.02] * len(pages), "mu_open_P": [0.2] * len(pages),
                       "nu": [100.0] * len(pages), "beta_P": [1.0] * len(pages)})  # fmt: skip
    assign = pl.DataFrame({"username_page": pages, "config_name": ["active"] * len(pages)})
    cfg = load_ranker_config(override_text="strategies:\n  balanced: 0.0\nconfigs:\n  active:\n    epsilon: 0.0\n")
    return rank_next24(feats, slots, pp, None, assign, cfg, now=NOW, run_id="r")


def test_defect_hour_proximity_not_cyclic_cross_page_window_wraps_midnight():
    """Defect "hour proximity not cyclic": the only hour distance of the ranker is the cross-page window ±H
    (`cross_page_block_hours` = 6), measured between slot instants, so 23:00 and 00:00 of the next day are 1 h apart
    (a conflict) while 00:00 and 23:00 of the same day are 23 h apart (none); |hod − hod'| would get both wrong."""
    H = CFG.config("active").cross_page_block_hours
    assert H == 6
    # p_late at 23:00 day 0, p_next at 00:00 day 1 (1 h later, across midnight), p_early at 00:00 day 0 (23 h
    # before p_late), p_far at 17:00 day 1 (17 h after p_next; 7 h ... out of ±6 h of both others)
    out = _hour_world({"p_early__paid": 0, "p_late__paid": 23, "p_next__paid": 24, "p_far__paid": 41})
    x = {r["username_page"]: r for r in out.filter(pl.col("caption_id") == "CAP_X").iter_rows(named=True)}
    assert set(x) == {"p_early__paid", "p_late__paid", "p_next__paid", "p_far__paid"}
    penalised = {p for p, r in x.items() if "cross_page_penalty" in r["reason_codes"]}
    assert penalised == {"p_late__paid", "p_next__paid"}
    assert x["p_early__paid"]["diversity_penalty"] == 0.0 and x["p_far__paid"]["diversity_penalty"] == 0.0
    expect = CFG.config("active").penalty_cross_page_mult * max(x["p_next__paid"]["exploit_value"], 0.0005)
    assert x["p_next__paid"]["diversity_penalty"] == pytest.approx(expect, rel=1e-12)
    # the window edge: exactly H hours apart (22:00 → 04:00 next day) still conflicts, H + 1 does not
    edge = _hour_world({"p_a__paid": 22, "p_b__paid": 22 + int(H)})
    assert edge["reason_codes"].list.contains("cross_page_penalty").filter(edge["caption_id"] == "CAP_X").all()
    apart = _hour_world({"p_a__paid": 22, "p_b__paid": 23 + int(H)})
    assert not apart["reason_codes"].list.contains("cross_page_penalty").any()


@pytest.mark.parametrize("override", [None, "top_m: 1\n"], ids=["top_m_256", "top_m_1_rescoring"])
def test_acceptance_hard_rules_on_ranker_output(override):
    """§7.3 and the acceptance hard rules on one output: no TOS-flagged, inactive, media-only, too explicit or
    wrong-category caption in any row; no reuse-, cooldown-, fatigue- or override-blocked caption outside fallback
    rows; a caption primary at most once per page in the run (28-day rule > 24 h horizon); agency-wide primaries + recent sends < max_daily_uses
    in every 24 h. top_m = 1 forces the re-scoring path of the global pass."""
    from of_scheduler_assets.ops_config.overrides import COOLDOWN_OVERRIDES_SCHEMA

    base = _world()
    best = base["features"].filter(pl.col("caption_id") == NEW)  # the strongest candidate: copies would win
    bad = {"CAP_0000000inactive": {"is_active": False}, "CAP_00000000000media": {"is_media_only": True},
           "CAP_00000000explicit": {"explicitness": 3}}  # fmt: skip
    extra = pl.concat([best.with_columns(pl.lit(cid).alias("caption_id"), *[pl.lit(v).alias(k) for k, v in cols.items()])
                       for cid, cols in bad.items()], how="diagonal_relaxed")  # fmt: skip
    w = _world(extra)
    f = w["features"].with_columns(
        pl.col("is_active").fill_null(True), pl.col("is_media_only").fill_null(False),
        pl.col("explicitness").fill_null(1),
        pl.when(pl.col("username_page") == "a__paid").then(2).otherwise(3).alias("max_explicitness"),
    )  # fmt: skip
    overrides = pl.DataFrame([{"username_page": "b__paid", "caption_id": STAR, "min_cooldown_hours": 24.0 * 40,
                               "effective_from": None, "effective_to": None, "note": None, "seed_source": "t",
                               "seed_sha256": "0" * 64}], schema=COOLDOWN_OVERRIDES_SCHEMA)  # fmt: skip
    recent = pl.DataFrame({"caption_id": [NEW, NEW], "slot_ts_utc": [NOW - dt.timedelta(hours=h) for h in (2, 5)]})
    cfg = load_ranker_config(override_text=override)
    out = rank_next24(f, w["slots"], w["pp"], None, assign_configs(w["dp"], cfg, NOW.date()), cfg, now=NOW,
                      run_id="r", caption_priors=w["cp"], recent_primaries=recent, cooldown_overrides=overrides)  # fmt: skip
    ranked = out.filter(pl.col("caption_id").is_not_null())
    assert ranked.height > 0 and ranked.filter(~pl.col("is_fallback")).height > 0
    info = {(r["username_page"], r["caption_id"]): r for r in f.iter_rows(named=True)}
    for r in ranked.iter_rows(named=True):
        feat = info[(r["username_page"], r["caption_id"])]
        # never, fallback included
        assert feat["tos_status"] == "clean" and feat["is_active"] and not feat["is_media_only"]
        assert feat["explicitness"] <= feat["max_explicitness"]
        assert r["category"] in cfg.categories_for(r["slot_type"])
        assert not (r["username_page"] == "b__paid" and r["caption_id"] == STAR)  # override in effect
        if r["is_fallback"]:
            continue
        if feat["last_used_ts_page"] is not None:
            assert NOW - feat["last_used_ts_page"] >= dt.timedelta(days=cfg.config(r["config_name"]).min_reuse_days)
        if feat["cooldown_until_ts"] is not None:
            assert NOW >= feat["cooldown_until_ts"]
        assert feat["fatigue_score"] <= cfg.config(r["config_name"]).fatigue_limit
    assert not {"CAP_0000000inactive", "CAP_00000000000media"} & set(ranked["caption_id"])
    # explicitness 3: ranked where the page allows 3 (so it competes), never on page a (max 2)
    explicit = ranked.filter(pl.col("caption_id") == "CAP_00000000explicit")
    assert "a__paid" not in set(explicit["username_page"])
    assert explicit.height > 0 or override is not None  # with top M = 1 only the best candidate is kept per slot
    prim = ranked.filter(pl.col("rank") == 1)
    assert prim.filter(~pl.col("is_fallback")).group_by("username_page", "caption_id").len()["len"].max() == 1
    uses = sorted([(NOW - dt.timedelta(hours=h), NEW) for h in (2, 5)]
                  + [(r["slot_ts_utc"], r["caption_id"]) for r in prim.iter_rows(named=True)])  # fmt: skip
    limit = cfg.config("active").cooldown.max_daily_uses
    for t, cid in uses:
        window = [u for u, c in uses if c == cid and t - dt.timedelta(hours=24) < u <= t]
        assert len(window) <= limit
