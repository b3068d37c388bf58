"""Export tables (50-operations §3.3, §7.1-§7.3): their column contracts and the rules that fill them."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.checks.contracts import validate_contract
from of_scheduler_assets.identity import hash_uniform
from of_scheduler_assets.layer_07_export import schemas, transforms
from of_scheduler_assets_tests.exports.helpers import (
    NOW,
    captions_frame,
    features_frame,
    pages_frame,
    priors_frame,
    rank_frame,
    rank_row,
)

H = dt.timedelta(hours=1)
PAGE = "luna_example__paid"
SLOT = dt.datetime(2026, 11, 20, 16, tzinfo=dt.UTC)  # 11:00 in New York, the page's today

# The column order each consumer reads (spec text, restated): a change here is a change of the contract.
SPEC_COLUMNS = {
    "schedule_recommendations": [
        "username_page", "creator_username", "creator_page_type", "schedule_date", "schedule_hour", "caption_id",
        "caption_preview", "caption_category", "recommendation_rank", "ml_score", "predicted_rps", "confidence_score",
        "days_since_last_send", "recommendation_tier", "is_exploration_pick", "model_version", "generated_at",
        "config_name", "config_version", "slot_type", "price_usd", "schedule_date_local", "schedule_hour_local", "tz",
        "predicted_revenue_per_1k"],
    "caption_lookup": [
        "caption_id", "lookup_keys", "caption_hash", "caption_text", "caption_category", "caption_length",
        "username_page", "creator_username", "creator_page_type", "performance_tier", "is_available",
        "available_pages", "last_used_timestamp", "days_since_use", "expected_rps", "confidence_score", "is_active",
        "tos_status"],
    "api_captions": [
        "username_page", "username_page_legacy", "schedule_date", "caption_id", "caption_text", "final_score",
        "expected_rps", "confidence_score", "is_eligible", "hours_since_use", "total_sends", "performance_tier",
        "exploration_bonus", "caption_category", "strategy_score_explore", "strategy_score_balanced",
        "strategy_score_exploit"],
    "api_system_health": ["health_score", "alert_status", "data_age_hours", "eligibility_rate", "daily_sends",
                          "evaluated_at"],
    "top_captions": ["caption_id", "username_page", "rps", "confidence", "recent_sends", "rank", "status"],
}  # fmt: skip
STRATEGIES = {"explore": 0.25, "balanced": 0.10, "exploit": 0.05}


def _recommendations(previous=None, now=NOW):
    rows = [rank_row(PAGE, SLOT + i * H, r, f"CAP_{i}_{r}") for i in range(3) for r in range(1, 8)]
    rows.append(rank_row(PAGE, dt.datetime(2026, 11, 22, 15, tzinfo=dt.UTC), 1, "CAP_LATE"))  # the day after tomorrow
    caps = captions_frame([{"caption_id": "CAP_0_1", "caption_text": "x" * 250}])
    return transforms.schedule_recommendations(rank_frame(rows), pages_frame(), caps, now, previous)


def test_schedule_recommendations_columns_ranks_dates_and_precision():
    out = _recommendations()
    assert out.columns == SPEC_COLUMNS["schedule_recommendations"]
    assert validate_contract(schemas.ScheduleRecommendations, out)[0]
    assert out["recommendation_rank"].max() == 5 and out.height == 3 * 5  # ranks 6, 7 and the third day dropped
    assert "CAP_LATE" not in out["caption_id"].to_list()
    first = out.row(0, named=True)
    assert first["schedule_date"] == dt.date(2026, 11, 20) and first["schedule_hour"] == 16
    assert first["schedule_date_local"] == dt.date(2026, 11, 20) and first["schedule_hour_local"] == 11
    assert first["tz"] == "America/New_York" and first["creator_username"] == "luna_example"
    assert len(first["caption_preview"]) == 200
    # 6 dp: the 2-dp rounding used before printed 0.00 for every real caption
    assert first["predicted_rps"] == pytest.approx(0.001235) and first["predicted_rps"] > 0
    assert first["confidence_score"] == 0.46 and first["days_since_last_send"] == 12.3
    assert first["predicted_revenue_per_1k"] == pytest.approx(1.23)


def test_schedule_recommendations_keep_past_hours_of_today_only():
    earlier = _recommendations()
    later_now = NOW + 2 * H  # 17:30 UTC: the 16:00 and 17:00 slots are past, 18:00 is not
    later_rank = rank_frame([rank_row(PAGE, SLOT + 2 * H, r, f"NEW_{r}", generated_at=later_now) for r in range(1, 6)])
    out = transforms.schedule_recommendations(later_rank, pages_frame(), captions_frame([{"caption_id": "x"}]),
                                              later_now, earlier)
    by_hour = {h: sorted(g["caption_id"].to_list()) for (h,), g in out.group_by("schedule_hour")}
    assert by_hour[16] == [f"CAP_0_{r}" for r in range(1, 6)]  # past hour of today: kept from the last export
    assert by_hour[17] == [f"CAP_1_{r}" for r in range(1, 6)]
    assert by_hour[18] == [f"NEW_{r}" for r in range(1, 6)]  # re-ranked slot: this run's rows replace the old ones
    assert validate_contract(schemas.ScheduleRecommendations, out)[0]


def test_contracts_fail_on_a_renamed_missing_or_moved_column():
    out = _recommendations()
    assert not validate_contract(schemas.ScheduleRecommendations, out.rename({"predicted_rps": "rps"}))[0]
    assert not validate_contract(schemas.ScheduleRecommendations, out.drop("tz"))[0]
    moved = out.select(["creator_username", "username_page", *out.columns[2:]])
    assert not validate_contract(schemas.ScheduleRecommendations, moved)[0]


def _lookup():
    caps = captions_frame([
        {"caption_id": "CAP_NEW", "bank_ids": ["B-1"]},
        {"caption_id": "CAP_FEW"},
        *[{"caption_id": f"CAP_R{i}"} for i in range(10)],
        {"caption_id": "CAP_FLAG", "tos_status": "flagged", "is_active": False},
    ])
    used = NOW - dt.timedelta(days=3, hours=5)
    feats = [{"username_page": PAGE, "caption_id": "CAP_NEW"},
             {"username_page": PAGE, "caption_id": "CAP_FEW", "send_events_all_pages_365d": 4,
              "last_used_ts_any": used, "last_used_ts_page": used - H},
             {"username_page": "luna_example__free", "caption_id": "CAP_FEW", "send_events_all_pages_365d": 4,
              "last_used_ts_any": used, "last_used_ts_page": used, "is_eligible": False}]
    feats += [{"username_page": PAGE, "caption_id": f"CAP_R{i}", "send_events_all_pages_365d": 20,
               "last_used_ts_any": used, "last_used_ts_page": used} for i in range(10)]
    # R{i}: revenue i on 1000 recipients per page; nu = 100 recipients
    priors = priors_frame([{"computed_date": NOW.date(), "username_page": PAGE, "caption_id": f"CAP_R{i}",
                            "r_cp": float(i), "n_open_cp": 1000.0, "nu": 100.0} for i in range(10)]
                          + [{"computed_date": NOW.date(), "username_page": PAGE, "caption_id": None, "r_cp": 0.0,
                              "n_open_cp": 0.0, "nu": 100.0}])
    return transforms.caption_lookup(caps, features_frame(feats), priors, pages_frame(), NOW)


def test_caption_lookup_tiers_keys_and_caption_level_rps():
    out = _lookup()
    assert out.columns == SPEC_COLUMNS["caption_lookup"]
    assert validate_contract(schemas.CaptionLookup, out)[0]
    row = {r["caption_id"]: r for r in out.iter_rows(named=True)}
    assert row["CAP_NEW"]["performance_tier"] == "new" and row["CAP_NEW"]["lookup_keys"] == ["CAP_NEW", "B-1"]
    assert row["CAP_FEW"]["performance_tier"] == "explore"
    # page of last use: the page with the latest send of the caption; whole days since
    assert row["CAP_FEW"]["username_page"] == "luna_example__free" and row["CAP_FEW"]["days_since_use"] == 3
    assert row["CAP_FEW"]["available_pages"] == [PAGE] and row["CAP_FEW"]["is_available"]
    # percentiles among captions with ≥ 10 events: R9 top (1.0), R7 good (0.78), R3 average (0.33), R2 explore
    assert [row[f"CAP_R{i}"]["performance_tier"] for i in (9, 7, 3, 2)] == ["top", "good", "average", "explore"]
    g = sum(range(10)) / 10_000.0
    assert row["CAP_R5"]["expected_rps"] == pytest.approx(round((5 + 100 * g) / 1100, 6))
    assert row["CAP_R5"]["confidence_score"] == pytest.approx(0.91)
    assert row["CAP_NEW"]["expected_rps"] == pytest.approx(round(g, 6)) and row["CAP_NEW"]["confidence_score"] == 0
    assert not row["CAP_FLAG"]["is_available"] and row["CAP_FLAG"]["tos_status"] == "flagged"


def _api(strategies=STRATEGIES):
    rows = [
        rank_row(PAGE, SLOT, 1, "CAP_A", score_normalized=80.0),
        rank_row(PAGE, SLOT + H, 2, "CAP_A", score_normalized=95.0),  # best row of CAP_A
        rank_row(PAGE, SLOT + 2 * H, 1, "CAP_FB", is_fallback=True, score_normalized=99.0),  # fallback only
        rank_row(PAGE, SLOT + 20 * H, 1, "CAP_TOMORROW"),  # the page's tomorrow
    ]
    lookup = _lookup().vstack(transforms.caption_lookup(
        captions_frame([{"caption_id": c, "caption_text": c.lower()} for c in ("CAP_A", "CAP_FB", "CAP_TOMORROW")]),
        None, None, pages_frame(), NOW))
    feats = features_frame([{"username_page": PAGE, "caption_id": "CAP_A", "send_events_all_pages_365d": 33}])
    return transforms.api_captions(rank_frame(rows), pages_frame(), lookup, feats, strategies, NOW)


def test_api_captions_best_row_eligibility_and_legacy_key():
    out = _api()
    assert out.columns == SPEC_COLUMNS["api_captions"]
    assert validate_contract(schemas.ApiCaptions, out)[0]
    assert sorted(out["caption_id"].to_list()) == ["CAP_A", "CAP_FB"]  # tomorrow's caption is not today's
    a = out.filter(pl.col("caption_id") == "CAP_A").row(0, named=True)
    assert a["final_score"] == 95.0 and a["is_eligible"] and a["total_sends"] == 33
    assert a["username_page_legacy"] == "luna_example_paid" and a["schedule_date"] == dt.date(2026, 11, 20)
    assert a["exploration_bonus"] == pytest.approx(0.003) and a["caption_text"] == "cap_a"
    assert not out.filter(pl.col("caption_id") == "CAP_FB")["is_eligible"].item()


def test_strategy_scores_are_the_deterministic_replacement_of_rand():
    always = _api({"explore": 1.0, "balanced": 0.0, "exploit": 0.0})
    for r in always.iter_rows(named=True):
        k = f"{r['username_page']}|{r['schedule_date'].isoformat()}|{r['caption_id']}|explore"
        assert r["strategy_score_explore"] == pytest.approx(100 * hash_uniform(k + "|x"))
        assert r["strategy_score_balanced"] == r["final_score"] == r["strategy_score_exploit"]
    assert _api().equals(_api())  # same inputs, same scores: no client-side RAND()


def test_system_health_latest_row_and_empty_before_it_exists():
    assert transforms.api_system_health(None).columns == SPEC_COLUMNS["api_system_health"]
    assert transforms.api_system_health(None).is_empty()
    health = pl.DataFrame({
        "health_score": [60, 85], "alert_status": ["WARNING - Low Volume", "HEALTHY"], "data_age_hours": [30.0, 3.5],
        "eligibility_rate": [0.2, 0.45], "daily_sends": [5, 400], "open_alerts": [3, 1],
        "evaluated_at": [NOW - H, NOW]}).with_columns(pl.col("evaluated_at").cast(pl.Datetime("us", "UTC")))
    out = transforms.api_system_health(health)
    assert out.columns == SPEC_COLUMNS["api_system_health"] and out["health_score"].to_list() == [85]
    assert validate_contract(schemas.ApiSystemHealth, out)[0]
    assert not validate_contract(schemas.ApiSystemHealth, health.select(out.columns))[0]  # two rows


def test_top_captions_rank_limit_and_status():
    feats = features_frame(
        [{"username_page": PAGE, "caption_id": f"CAP_{i:03d}", "base_score": i / 1000, "send_events_30d": i % 7}
         for i in range(150)]
        + [{"username_page": "mia_test__vip", "caption_id": "CAP_FAT", "base_score": 0.9, "is_eligible": False,
            "fatigue_score": 0.85},
           {"username_page": "mia_test__vip", "caption_id": "CAP_COOL", "base_score": 0.8, "is_eligible": False}])
    out = transforms.top_captions(feats)
    assert out.columns == SPEC_COLUMNS["top_captions"] and out.height == 100
    assert out["rank"].to_list() == list(range(1, 101))
    assert out.head(3)["caption_id"].to_list() == ["CAP_FAT", "CAP_COOL", "CAP_149"]
    assert out.head(3)["status"].to_list() == ["Fatigued", "Cooling Down", "Eligible"]
    assert validate_contract(schemas.TopCaptions, out)[0]
    assert transforms.api_top_captions(out).equals(out)
