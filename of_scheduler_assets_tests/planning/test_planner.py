"""The weekly template (40-planning §2, §4–§6) on hand-built pages and profiles."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from of_scheduler_assets.identity import sha256_hex
from of_scheduler_assets.layer_06_rankings import planning
from of_scheduler_assets_tests.planning.helpers import NOW, packs, page, pages, prices, profile

PACKS = packs()


def build(rows, dow_hod=None, price=None, **kw):
    return planning.build_weekly_template(pages(*rows), dow_hod, price, PACKS, now=kw.pop("now", NOW), **kw)


def ppv_hours(plan: pl.DataFrame, name: str) -> dict[dt.date, list[int]]:
    ppv = plan.filter((pl.col("slot_kind") == "ppv") & (pl.col("username_page") == name)).sort("hod_local")
    return {d: g["hod_local"].to_list() for (d,), g in ppv.group_by("date_local", maintain_order=True)}


def test_quota_per_tier_and_weekday_from_the_packs():
    plan = build([page("low__free", tier="LOW", lo=0, hi=23), page("med__paid", tier="MED", lo=0, hi=23),
                  page("high__paid", tier="HIGH", lo=0, hi=23)]).plan
    days = [NOW.date() + dt.timedelta(days=k) for k in range(7)]  # Monday first
    for name, expected in (("low__free", [1] * 7), ("med__paid", [2, 2, 3, 2, 2, 2, 2]),
                           ("high__paid", [5, 4, 5, 4, 5, 4, 4])):
        hours = ppv_hours(plan, name)
        assert [len(hours.get(d, [])) for d in days] == expected, name


def test_power_days_are_capped_at_ten_ppvs_with_a_finding():
    result = build([page("pow__paid", tier="POWER", lo=0, hi=23)])
    counts = [len(h) for _, h in sorted(ppv_hours(result.plan, "pow__paid").items())]
    assert counts == [10, 10, 8, 10, 10, 10, 8]
    capped = result.findings.filter(pl.col("check_name") == "QUOTA_CAPPED")
    assert capped["date_local"].dt.weekday().to_list() == [1, 4, 6]  # polars: Monday = 1 → Mon, Thu, Sat
    assert set(capped["value"]) == {12.0} and set(capped["severity"]) == {"INFO"}


@settings(max_examples=40, deadline=None)
@given(lo=st.integers(0, 23), width=st.integers(0, 23), tier=st.sampled_from(["LOW", "MED", "HIGH", "POWER"]),
       cells=st.dictionaries(st.tuples(st.one_of(st.none(), st.integers(0, 6)), st.integers(0, 23)),
                             st.floats(0.0, 5.0), max_size=30))
def test_gaps_are_two_to_six_hours_inside_any_window_that_allows_it(lo, width, tier, cells):
    hi = min(23, lo + width)
    plan = build([page("p__paid", tier=tier, lo=lo, hi=hi)], profile("p__paid", cells)).plan
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    for (d,), g in ppv.group_by("date_local"):
        hours = sorted(g["hod_local"].to_list())
        q = g["ppv_quota"][0]
        assert len(hours) == len(set(hours)) and len(hours) <= 10  # never two PPVs in one hour
        if hi - lo >= 2 * (q - 1):
            assert len(hours) == q
            assert all(lo <= h <= hi for h in hours)
            gaps = [b - a for a, b in zip(hours, hours[1:], strict=False)]
            assert all(2 <= gap <= 6 for gap in gaps), (d, hours, lo, hi)
        else:  # infeasible: the 2 h spacing is kept, the window is left early or slots dropped (both reported)
            gaps = [b - a for a, b in zip(hours, hours[1:], strict=False)]
            assert all(gap >= 2 for gap in gaps)


def test_ranked_hours_take_the_day_cells_then_all_days_then_the_default_list_inside_the_window():
    day = {14: (2.0, 0.0), 9: (3.0, 0.0), 22: (2.0, 0.0), 3: (9.0, 0.0)}
    alld = {10: (5.0, 0.0), 9: (1.0, 0.0)}
    ranked = planning.rank_hours(day, alld, 8, 22)
    assert ranked[:4] == [9, 14, 22, 10]  # 3 is outside; 14 before 22 on the tie; 9 only once
    assert ranked[4:8] == [21, 20, 18, 15]  # then the default list
    assert len(ranked) == len(set(ranked)) == 15  # every window hour appears once


def test_anchors_follow_the_formula_with_round_half_up_and_jitter():
    assert planning.anchors(1, 9, 20, seed_day=5) == [15]  # rnd(14.5) = 15, no jitter for one PPV
    seed = 7  # (7 + pos) mod 3 - 1 = 0, +1, -1
    assert planning.anchors(3, 10, 20, seed_day=seed) == [10, 16, 19]  # seg_w = rnd(10 / 2) = 5
    assert planning.anchors(4, 10, 11, seed_day=0) == [9, 12, 15, 15]  # seg_w clamped up to 2


def test_spacing_fixes_close_and_far_picks():
    assert planning.space_hours([9, 10, 20], 8, 23) == ([9, 11, 17], [])
    assert planning.space_hours([20, 21, 22], 20, 22) == ([18, 20, 22], [])  # infeasible: starts before min_h
    kept, dropped = planning.space_hours([0, 0, 1], 0, 1)
    assert kept == [0] and dropped == [0, 1]  # -3, -1, 1 clamped to 0, 0, 1: a duplicate and a 1 h gap dropped


def test_slot_rank_prime_slot_price_ladder_and_labels():
    cells = {(0, h): v for h, v in ((21, 1.0), (15, 4.0), (18, 2.0), (12, 3.0), (9, 0.5))}
    plan = build([page("ann__paid", tier="HIGH", lo=8, hi=23, page_state="monetize")], profile("ann__paid", cells),
                 prices("ann__paid", p75=20.0)).plan
    monday = plan.filter((pl.col("slot_kind") == "ppv") & (pl.col("dow_local") == 0)).sort("slot_rank")
    assert monday.height == 5
    best = monday.row(0, named=True)
    rps = {h: v for (_, h), v in cells.items()}
    by_rps = sorted(monday["hod_local"].to_list(), key=lambda h: (h not in rps, -rps.get(h, 0.0), h))
    assert monday["hod_local"].to_list() == by_rps  # hours with a better (dow, hod) rps_smooth rank first
    assert best["reason"] == "Prime slot - highest performance"
    assert monday["reason"][1] == "Secondary peak hour" and set(monday["reason"][2:]) == {"Coverage slot"}
    # balanced mode, monetize: p75 → p60 → $8; then + $1 per earlier slot at the same price, by slot_rank
    assert [float(p) for p in monday["price_usd"]] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert monday.sort("hod_local")["slot_order"].to_list() == [0, 1, 2, 3, 4]
    assert best["score"] == pytest.approx(10 * rps[best["hod_local"]])  # the cell's revenue_score


@pytest.mark.parametrize(("mode", "state", "q", "burst", "expected"), [
    ("premium", "grow", {"p60": 12.4}, False, 12),
    ("premium", "retain", {"p60": 12.5}, False, 13),  # p75 missing → p60, round half up
    ("value", "monetize", {}, False, 7),
    ("balanced", "retain", {"p60": 1.0}, False, 3),  # floor
    ("value", "grow", {"p60": 500.0, "p85": 500.0}, True, 100),  # burst day → premium chain; cap
    (None, None, {"p75": 30.0}, False, 30),  # no mode → balanced; no state → balance
])
def test_base_price_fallback_chains(mode, state, q, burst, expected):
    assert planning.base_price(mode, state, q, burst=burst) == expected


def test_dollar_deduplication():
    assert planning.dedupe_prices([14, 14, 14]) == [14, 15, 16]
    assert planning.dedupe_prices([14, 15, 14]) == [14, 15, 16]
    assert planning.dedupe_prices([9, 8, 8]) == [9, 8, 10]  # 8, 8 → 8, 9; then 9 repeats the first slot → 10


def _minutes(ts: dt.datetime, d: dt.date, hod: int) -> int:
    return int((ts - dt.datetime.combine(d, dt.time(hod))).total_seconds() // 60)


@pytest.mark.parametrize(("p85", "p50", "level", "ranges"), [
    (25.0, 14.0, "mid", {0: (-20, -15), 1: (15, 20), 2: (45, 45)}),
    (20.0, 14.0, "premium", {0: (-20, -15), 1: (20, 30), 2: (40, 55)}),
    (90.0, 80.0, "teaser", {1: (20, 45)}),
])
def test_followups_by_price_level_within_their_offsets(p85, p50, level, ranges):
    plan = build([page("ann__paid", tier="MED", lo=8, hi=23)], None, prices("ann__paid", p75=20.0, p85=p85,
                                                                            p50=p50)).plan
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    fol = plan.filter(pl.col("slot_kind").is_in(["ppv_pre_teaser", "ppv_followup"]))
    assert fol.height == ppv.height * len(ranges)
    for r in ppv.iter_rows(named=True):
        mine = fol.filter((pl.col("date_local") == r["date_local"]) & (pl.col("slot_rank") == r["slot_rank"]))
        assert sorted(mine["slot_order"].to_list()) == sorted(ranges)
        for f in mine.iter_rows(named=True):
            lo, hi = ranges[f["slot_order"]]
            assert lo <= _minutes(f["planned_local_datetime"], r["date_local"], r["hod_local"]) <= hi
            assert f["reason"].startswith(level) and float(f["price_usd"]) == 0.0
            assert f["slot_kind"] == ("ppv_pre_teaser" if f["slot_order"] == 0 else "ppv_followup")


def test_standalone_bumps_keep_an_hour_from_every_dm_row():
    plan = build([page("pow__paid", tier="HIGH", lo=6, hi=23)], None, prices("pow__paid")).plan
    bumps = plan.filter(pl.col("slot_kind") == "bump")
    # HIGH bump_count Mon..Sun = 2, 1, 2, 1, 2, 1, 1
    assert bumps.group_by("dow_local").len().sort("dow_local")["len"].to_list() == [2, 1, 2, 1, 2, 1, 1]
    dm = plan.filter(pl.col("channel") == "DM")
    for b in bumps.iter_rows(named=True):
        others = dm.filter((pl.col("date_local") == b["date_local"]) & (
            pl.col("tracking_hash") != b["tracking_hash"]))["planned_local_datetime"].to_list()
        assert all(abs((b["planned_local_datetime"] - t).total_seconds()) >= 3600 for t in others)


def test_non_dm_windows_drips_renewals_on_paid_pages_only_and_link_drops():
    plan = build([page("ann__paid", tier="LOW"), page("ann__free", tier="LOW")]).plan
    for name, renewals in (("ann__paid", 3), ("ann__free", 0)):
        day = plan.filter((pl.col("username_page") == name) & (pl.col("dow_local") == 2))
        kinds = dict(day.group_by("slot_kind").len().iter_rows())
        assert (kinds["drip_mm"], kinds["drip_wall"], kinds.get("renewal", 0), kinds["link_drop"]) == (
            2, 2, renewals, 2)
        d = day["date_local"][0]
        for r in day.filter(pl.col("slot_kind").str.starts_with("drip")).iter_rows(named=True):
            base = 10 if r["slot_rank"] == 0 else 20
            assert -45 <= _minutes(r["planned_local_datetime"], d, base) <= 45
            assert r["channel"] == ("MM" if r["slot_kind"] == "drip_mm" else "Wall")
        links = day.filter(pl.col("slot_kind") == "link_drop").sort("slot_rank")
        assert 0 <= _minutes(links["planned_local_datetime"][0], d, 12) <= 60
        assert 0 <= _minutes(links["planned_local_datetime"][1], d, 19) <= 60


def test_lifecycle_inactive_pages_get_no_plan_and_new_pages_plan_as_low():
    plan = build([page("gone__paid", tier="HIGH", lifecycle_state="inactive"),
                  page("off__paid", tier="HIGH", is_active=False),
                  page("fresh__paid", tier="HIGH", lifecycle_state="new", tier_source="pending"),
                  page("vip__vip", tier="HIGH", lifecycle_state="new", tier_source="override")]).plan
    assert set(plan["username_page"]) == {"fresh__paid", "vip__vip"}
    assert set(plan.filter(pl.col("username_page") == "fresh__paid")["tier"]) == {"LOW"}
    assert set(plan.filter(pl.col("username_page") == "vip__vip")["tier"]) == {"HIGH"}


def test_utc_times_are_dst_aware_and_the_tracking_hash_follows_the_spec():
    thursday = dt.datetime(2026, 10, 29, 12, tzinfo=dt.UTC)  # the week holds Sunday 1 November (DST ends)
    plan = build([page("ann__paid", tier="LOW", lo=0, hi=23)], now=thursday).plan
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    for r in ppv.iter_rows(named=True):
        offset = 4 if r["date_local"] < dt.date(2026, 11, 1) else 5
        assert r["scheduled_datetime_utc"] == (r["planned_local_datetime"] + dt.timedelta(hours=offset)).replace(
            tzinfo=dt.UTC)
        hhmm = f"{r['hod_local']:02d}:{r['minute_local']:02d}"
        assert r["tracking_hash"] == sha256_hex(f"ann__paid|{r['date_local'].isoformat()}|{hhmm}|ppv")[:16]
        assert r["week_start"] == r["date_local"] - dt.timedelta(days=r["date_local"].weekday())
    assert ppv["date_local"].min() == dt.date(2026, 10, 29) and ppv.height == 7


def test_learned_knobs_bounds_and_overrides_change_quota_and_price_mode():
    knobs = pl.DataFrame([{"username_page": "ann__paid", "quota_nudge": 2, "hour_pool_nudge": 0,
                           "price_mode_bias": "premium"}])
    plan = build([page("ann__paid", tier="MED", lo=0, hi=23)], None, prices("ann__paid"), knobs=knobs).plan
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    assert [len(h) for _, h in sorted(ppv_hours(plan, "ann__paid").items())] == [4, 4, 5, 4, 4, 4, 4]
    assert set(ppv["price_mode_eff"]) == {"premium"}
    assert float(ppv.filter(pl.col("slot_rank") == 0)["price_usd"][0]) == 25.0  # premium, monetize → p85
    bounds = pl.DataFrame([{"username_page": "*", "quota_min": "0", "quota_max": "3"}])
    capped = build([page("ann__paid", tier="MED", lo=0, hi=23)], knobs=knobs, learner_config=bounds).plan
    assert {len(h) for h in ppv_hours(capped, "ann__paid").values()} == {3}
    override = pl.DataFrame([{"username_page": "ann__paid", "quota_min": 1, "quota_max": 1, "updated_at": None}])
    one = build([page("ann__paid", tier="MED", lo=0, hi=23)], knobs=knobs, learner_config=bounds,
                overrides=override).plan
    assert {len(h) for h in ppv_hours(one, "ann__paid").values()} == {1}


def test_captions_are_assigned_day_by_day_without_reuse_on_a_page_within_the_week():
    plan = build([page("ann__paid", tier="HIGH", lo=0, hi=23)]).plan
    features = pl.DataFrame({"username_page": ["ann__paid"] * 40, "caption_id": [f"CAP_{i:02d}" for i in range(40)]})
    seen_slots = []

    def fake_rank(feats, slots, recent):  # always the lowest caption ids still offered, one per slot
        seen_slots.append(slots.height)
        cids = sorted(feats.filter(pl.col("username_page") == "ann__paid")["caption_id"].to_list())
        return slots.with_columns(rank=pl.lit(1), caption_id=pl.Series(cids[: slots.height]),
                                  is_fallback=pl.lit(False), score_normalized=pl.lit(100.0))

    out, rank = planning.assign_captions(plan, None, fake_rank, features)
    ppv = out.filter(pl.col("slot_kind") == "ppv")
    assert len(seen_slots) == 7 and sum(seen_slots) == ppv.height == 31
    assert ppv["rec_caption_id"].null_count() == 0 and ppv["rec_caption_id"].n_unique() == 31
    assert out.filter(pl.col("slot_kind") != "ppv")["rec_caption_id"].null_count() == out.height - 31
    assert ppv["rec_is_fallback"].to_list() == [False] * 31 and rank.height == 31
