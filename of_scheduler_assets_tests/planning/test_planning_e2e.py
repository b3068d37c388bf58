"""Weekly planning end to end on the smallest generated world (issue 6 acceptance): the plan keeps its gaps wherever
the page's window allows, and a page whose override leaves too short a window gets a feasibility alert."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from of_scheduler_assets_tests.support.world import generate_world, materialize_all, resources_for, table

pytestmark = pytest.mark.slow

OVERRIDE_HEADER = ("username_page,tier_override,assigned_scheduler_code,local_min_hour,local_max_hour,max_explicitness,"
                   "tz,report_tz,note,updated_at\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = generate_world(tmp_path_factory.mktemp("planning"), scale=0.02, days=14, seed=3)
    names = sorted(pl.read_csv(home / "seeds" / "page_registry.csv")["username_page"])
    narrow, moderate = names[0], names[1]
    # HIGH (4-5 PPVs a day, ±1 learned) in [20, 22] cannot keep 2 h gaps; MED in [12, 20] can.
    (home / "seeds" / "page_overrides.csv").write_text(
        OVERRIDE_HEADER + f"{narrow},HIGH,,20,22,,,,short window,2026-01-01\n{moderate},MED,,12,20,,,,,2026-01-01\n")
    result = materialize_all(home)
    return home, result, narrow, moderate


def _checks(result) -> dict[str, bool]:
    return {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()
            if e.asset_check_key.asset_key.to_user_string() == "layer_06_rankings/weekly_template_7d"}


def test_plan_keeps_gaps_where_the_window_allows_and_alerts_where_it_does_not(world):
    home, result, narrow, moderate = world
    assert result.success
    checks = _checks(result)
    assert checks["INFEASIBLE_WINDOW"] is False  # WARN, not blocking: the run went on
    assert all(checks[name] for name in ("MIN_GAP_LT_2H", "MAX_GAP_GT_6H_IN_WINDOW", "cooldown_violation_rate",
                                         "fallback_rate", "null_caption_rate", "weekly_template_7d_contract"))
    plan = table(home, "layer_06_rankings", "weekly_template_7d")
    pages = table(home, "layer_03_foundation", "dim_page").filter(pl.col("is_active"))
    assert set(plan["username_page"]) == set(pages["username_page"])
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    assert ppv["rec_caption_id"].null_count() == 0  # every planned PPV got a caption through the ranker
    for (page, day), g in ppv.group_by("username_page", "date_local"):
        hours = sorted(g["hod_local"].to_list())
        lo, hi, quota = g["window_min_h"][0], g["window_max_h"][0], g["ppv_quota"][0]
        gaps = [b - a for a, b in zip(hours, hours[1:], strict=False)]
        assert len(hours) <= 10 and all(gap >= 2 for gap in gaps), (page, day, hours)
        if page == narrow:
            assert (lo, hi) == (20, 22) and hi - lo < 2 * (quota - 1)
        else:
            assert hi - lo >= 2 * (quota - 1) and len(hours) == quota
            assert all(lo <= h <= hi for h in hours) and all(gap <= 6 for gap in gaps), (page, day, hours)
    assert {tuple(r) for r in ppv.filter(pl.col("username_page") == moderate).select(
        "window_min_h", "window_max_h").unique().rows()} == {(12, 20)}

    qa = table(home, "ops", "qa_violations")
    latest = qa.filter(pl.col("run_at") == qa["run_at"].max())
    infeasible = latest.filter(pl.col("check_name") == "INFEASIBLE_WINDOW")
    assert set(infeasible["username_page"]) == {narrow}
    assert sorted(infeasible["date_local"]) == sorted(ppv.filter(pl.col("username_page") == narrow)["date_local"]
                                                       .unique())
    assert infeasible["details"].str.starts_with("Check schedule for").all()
    assert latest.filter(pl.col("check_name").is_in(["MIN_GAP_LT_2H", "MAX_GAP_GT_6H_IN_WINDOW"])).is_empty()


def test_monday_snapshot_is_idempotent(world):
    home, _result, _narrow, _moderate = world
    from of_scheduler_assets.definitions import ASSET_CHECKS, ASSETS

    snap = table(home, "layer_06_rankings", "weekly_plan")
    template = table(home, "layer_06_rankings", "weekly_template_7d")
    week = snap["week_start"].unique().to_list()
    assert len(week) == 1 and snap.height == template.filter(pl.col("week_start") == week[0]).height > 0
    again = dg.materialize([*ASSETS, *ASSET_CHECKS], resources=resources_for(home),
                           selection=dg.AssetSelection.assets(["layer_06_rankings", "weekly_plan"]))
    assert again.success
    assert table(home, "layer_06_rankings", "weekly_plan").sort("tracking_hash").equals(snap.sort("tracking_hash"))
