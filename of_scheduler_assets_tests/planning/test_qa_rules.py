"""QA rules of 40-planning §8: for each rule a seeded violation is caught and a clean plan passes."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.checks import planning as qa
from of_scheduler_assets.layer_06_rankings import planning
from of_scheduler_assets_tests.planning.helpers import NOW, packs, page, pages

D = dt.date(2026, 11, 2)


def clean_plan() -> pl.DataFrame:
    return planning.build_weekly_template(pages(page("ann__paid", tier="HIGH", lo=8, hi=23)), None, None, packs(),
                                          now=NOW).plan


def with_ppv_hours(plan: pl.DataFrame, hours: list[int], *, lo=8, hi=23, quota=None) -> pl.DataFrame:
    """The plan with Monday's PPVs replaced by PPVs at `hours`."""
    monday = plan.filter((pl.col("slot_kind") == "ppv") & (pl.col("date_local") == D))
    proto = monday.row(0, named=True)
    rows = [{**proto, "hod_local": h, "minute_local": 0, "slot_order": i, "slot_rank": i,
             "window_min_h": lo, "window_max_h": hi, "ppv_quota": quota or len(hours)} for i, h in enumerate(hours)]
    rest = plan.filter(~((pl.col("slot_kind") == "ppv") & (pl.col("date_local") == D)))
    return pl.concat([rest, pl.DataFrame(rows, schema=plan.schema)])


def primaries(n: int = 40, **over) -> pl.DataFrame:
    base = dt.datetime(2026, 11, 2, 14, tzinfo=dt.UTC)
    rows = [{"username_page": "ann__paid", "slot_ts_utc": base + dt.timedelta(hours=5 * i),
             "slot_date_local": (base + dt.timedelta(hours=5 * i)).date(), "caption_id": f"CAP_{i:03d}",
             "is_fallback": False, "rank": 1} for i in range(n)]
    frame = pl.DataFrame(rows)
    for col, values in over.items():
        frame = frame.with_columns(pl.Series(col, values, dtype=frame.schema[col]))
    return frame


def test_clean_generated_plan_passes_the_gap_and_window_rules():
    plan = clean_plan()
    for rule in (qa.min_gap, qa.max_gap, qa.infeasible_window):
        outcome = rule(plan)
        assert outcome.passed and outcome.violations.is_empty(), outcome.name


def test_min_gap_catches_ppvs_less_than_two_hours_apart_including_the_same_hour():
    plan = with_ppv_hours(clean_plan(), [10, 11, 15, 15])
    outcome = qa.min_gap(plan)
    assert not outcome.passed and outcome.severity == "WARN"
    v = outcome.violations.sort("curr_h")
    assert v.select("prev_h", "curr_h", "gap_h").rows() == [(10, 11, 1.0), (15, 15, 0.0)]
    assert set(v["check_name"]) == {"MIN_GAP_LT_2H"} and v["date_local"].to_list() == [D, D]


def test_max_gap_catches_gaps_over_six_hours_only_inside_the_window():
    outcome = qa.max_gap(with_ppv_hours(clean_plan(), [9, 16, 19]))
    assert not outcome.passed
    assert outcome.violations.select("curr_h", "next_h", "gap_h").rows() == [(9, 16, 7.0)]
    # a PPV outside the window (an infeasible day moved early) does not count
    assert qa.max_gap(with_ppv_hours(clean_plan(), [2, 9, 11], lo=8, hi=11)).passed


def test_infeasible_window_is_reported_with_its_alert_text():
    plan = planning.build_weekly_template(pages(page("ann__paid", tier="HIGH", lo=20, hi=22)), None, None, packs(),
                                          now=NOW).plan
    outcome = qa.infeasible_window(plan)
    assert not outcome.passed and outcome.violations.height == 7  # HIGH: 4-5 PPVs a day never fit in [20, 22]
    first = outcome.violations.sort("date_local").row(0, named=True)
    assert (first["min_h"], first["max_h"], first["threshold"]) == (20, 22, 8.0)
    assert first["details"].startswith(f"Check schedule for {D.isoformat()}") and "Review timing" in first["details"]
    assert qa.min_gap(plan).passed  # the plan itself keeps its 2 h gaps


def test_cooldown_rate_catches_reuse_inside_the_plan_and_against_history():
    clean = primaries()
    assert qa.cooldown_violation_rate(clean, None).passed
    reused = primaries(caption_id=[f"CAP_{i:03d}" for i in range(39)] + ["CAP_000"])  # 1/40 > 0.01
    outcome = qa.cooldown_violation_rate(reused, None)
    assert not outcome.passed and outcome.metadata["violations"] == 1 and outcome.severity == "ERROR"
    assert "primary again" in outcome.violations["details"][0]
    # history: last used on the page 10 days ago (reuse block 28 d) → blocked; fallback rows are excluded
    feats = pl.DataFrame({"username_page": ["ann__paid"], "caption_id": ["CAP_005"],
                          "reuse_block_until": [dt.datetime(2026, 11, 20, tzinfo=dt.UTC)],
                          "cooldown_until_ts": [None]}, schema_overrides={"cooldown_until_ts": pl.Datetime("us", "UTC")})
    assert not qa.cooldown_violation_rate(clean, feats).passed
    assert qa.cooldown_violation_rate(clean.with_columns(is_fallback=pl.col("caption_id") == "CAP_005"), feats).passed
    cooling = feats.with_columns(reuse_block_until=None, cooldown_until_ts=pl.lit(dt.datetime(2026, 11, 4,
                                                                                               tzinfo=dt.UTC)))
    assert not qa.cooldown_violation_rate(clean, cooling).passed  # CAP_005 is planned on 3 Nov at 15:00 UTC
    ended = cooling.with_columns(cooldown_until_ts=pl.lit(dt.datetime(2026, 11, 3, tzinfo=dt.UTC)))
    assert qa.cooldown_violation_rate(clean, ended).passed  # the cooldown is over by the slot


def test_caption_diversity_rate():
    assert qa.caption_diversity_rate(primaries()).passed
    day = primaries(6, slot_date_local=[D] * 6, caption_id=["A", "A", "A", "B", "B", "C"])
    outcome = qa.caption_diversity_rate(day)
    assert not outcome.passed and outcome.metadata["rate"] == pytest.approx(0.5)
    assert outcome.violations["severity"].to_list() == ["WARN"]


def test_fallback_rate_is_blocking_above_three_percent():
    assert qa.fallback_rate(primaries(40, is_fallback=[True] + [False] * 39)).passed  # 2.5 %
    outcome = qa.fallback_rate(primaries(40, is_fallback=[True, True] + [False] * 38))  # 5 %
    assert not outcome.passed and outcome.blocking and outcome.violations["severity"].to_list() == ["ERROR"]


def test_null_caption_rate_is_blocking_above_one_in_a_thousand():
    assert qa.null_caption_rate(primaries()).passed
    outcome = qa.null_caption_rate(primaries(40, caption_id=[None] + [f"C{i}" for i in range(39)]))
    assert not outcome.passed and outcome.blocking and outcome.metadata["count"] == 1


def test_score_range_errors_outside_0_100_and_records_flat_slots_as_warnings():
    ts = dt.datetime(2026, 11, 2, 14, tzinfo=dt.UTC)

    def slot(scores, at=ts):
        return pl.DataFrame({"username_page": "ann__paid", "slot_ts_utc": at, "slot_type": "ppv",
                             "slot_date_local": D, "score_normalized": scores})

    spread = slot([100.0, 80.0, 55.0, 30.0, 10.0])
    ok = qa.score_range(spread)
    assert ok.passed and ok.violations.is_empty()
    bad = qa.score_range(pl.concat([spread, slot([101.0, 50.0, 0.0], ts + dt.timedelta(hours=3))]))
    assert not bad.passed and bad.severity == "ERROR" and bad.metadata["out_of_range"] == 1
    flat = qa.score_range(slot([100.0, 99.0, 98.5, 98.0]))
    assert flat.passed and flat.metadata["flat_or_zero_slots"] == 1 and flat.violations["severity"].to_list() == [
        "WARN"]


def test_evaluate_judges_the_plan_and_reports_the_next_24_hours_beside_it():
    plan = clean_plan()
    ts = plan.filter(pl.col("slot_kind") == "ppv")["scheduled_datetime_utc"].to_list()
    rank = pl.DataFrame({"username_page": "ann__paid", "slot_ts_utc": ts, "slot_type": "ppv",
                         "slot_date_local": [t.date() for t in ts], "rank": 1,
                         "caption_id": [f"C{i}" for i in range(len(ts))], "is_fallback": False,
                         "score_normalized": 100.0})
    next24 = rank.head(4).with_columns(caption_id=pl.lit(None, pl.String))
    outcomes, extra = qa.evaluate(plan, rank, next24_rank=next24)
    by = {o.name: o for o in outcomes}
    assert set(by) == set(qa.CHECK_DESCRIPTIONS) and all(o.passed for o in outcomes)
    assert by["null_caption_rate"].metadata["next24_passed"] is False
    assert extra.filter(pl.col("check_name") == "null_caption_rate")["details"][0].startswith("next24: ")
    assert {o.name for o in outcomes if o.blocking} == {"cooldown_violation_rate", "fallback_rate",
                                                        "null_caption_rate"}
