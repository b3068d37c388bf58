"""The four Apps Script calls (50-operations §7.3) answered from the export tables: headers, filters, order, limits,
statuses and the empty / error answers the script expects."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.layer_07_export import apps_script, transforms
from of_scheduler_assets_tests.exports.helpers import NOW

TODAY = dt.date(2026, 11, 20)


def _api_captions() -> pl.DataFrame:
    rows = []
    for i, (sends, conf, hours, eligible) in enumerate(
        [(3, 0.1234, None, True), (12, 0.5, 30.9, True), (60, 0.9, 100.2, True), (80, 0.99, 5.0, False)]
    ):
        rows.append({
            "username_page": "luna_example__paid", "username_page_legacy": "luna_example_paid", "schedule_date": TODAY,
            "caption_id": f"CAP_{i}", "caption_text": f"text {i}", "final_score": 50.0 + i, "expected_rps": 0.0012 * i,
            "confidence_score": conf, "is_eligible": eligible, "hours_since_use": hours, "total_sends": sends,
            "performance_tier": "explore", "exploration_bonus": 0.0, "caption_category": "ppv",
            "strategy_score_explore": float(10 - i), "strategy_score_balanced": 50.0 + i,
            "strategy_score_exploit": 50.0 + i,
        })
    rows.append({**rows[2], "schedule_date": TODAY - dt.timedelta(days=1), "caption_id": "CAP_OLD",
                 "strategy_score_balanced": 99.0})
    return pl.DataFrame(rows, schema=transforms.API_CAPTIONS_SCHEMA)


def test_get_captions_filters_orders_and_formats():
    table = _api_captions()
    out = apps_script.get_captions(table, "luna_example", "paid", 5, "balanced", today=TODAY)
    assert out[0] == ["Caption Text", "Expected RPS", "Confidence %", "Tier", "Status", "Hours Since Use"]
    # eligible rows of today only, by strategy_score_balanced desc; yesterday's and the ineligible row are left out
    assert [r[0] for r in out[1:]] == ["text 2", "text 1", "text 0"]
    assert out[1][1:] == [pytest.approx(0.0024), 90.0, "explore", "Proven", 100]
    assert out[2][4] == "Testing" and out[3][4] == "New"  # send events: < 10 New, < 50 Testing
    assert out[3][2] == 12.3 and out[3][5] == ""  # round(100 × confidence, 1); blank hours when never used
    explore = apps_script.get_captions(table, "luna_example", "paid", 2, "explore", today=TODAY)
    assert [r[0] for r in explore[1:]] == ["text 0", "text 1"]  # another order, and the limit
    legacy = table.with_columns(pl.lit("someone_else__paid").alias("username_page"))
    assert apps_script.get_captions(legacy, "luna_example", "paid", today=TODAY)[1:] != []  # legacy key matches


def test_get_captions_empty_and_errors():
    table = _api_captions()
    assert apps_script.get_captions(table, "luna_example", "vip", today=TODAY) == [["No eligible captions found"]]
    with pytest.raises(apps_script.AppsScriptError, match="Username is required"):
        apps_script.get_captions(table, "", "paid")
    with pytest.raises(apps_script.AppsScriptError):
        apps_script.get_captions(table, "luna_example", "premium")


def test_get_system_health_array():
    assert apps_script.get_system_health(None) == [["System health data unavailable"]]
    health = pl.DataFrame([{"health_score": 85, "alert_status": "HEALTHY", "data_age_hours": 3.7,
                            "eligibility_rate": 0.4567, "daily_sends": 412, "evaluated_at": NOW}],
                          schema=transforms.API_SYSTEM_HEALTH_SCHEMA)
    assert apps_script.get_system_health(health) == [
        ["Metric", "Value"], ["Health Score", 85], ["Status", "HEALTHY"], ["Data Age (hours)", 3],
        ["Eligibility Rate", "0.46"], ["Daily Sends", 412]]


def test_get_top_captions_by_rank_with_limit():
    assert apps_script.get_top_captions(None) == [["No caption data available"]]
    top = pl.DataFrame([{"caption_id": f"CAP_{r}", "username_page": "p__free", "rps": 0.01, "confidence": 0.5,
                         "recent_sends": r, "rank": r, "status": "Eligible"} for r in (3, 1, 2)],
                       schema=transforms.TOP_CAPTIONS_SCHEMA)
    out = apps_script.get_top_captions(top, 2)
    assert out == [["Caption ID", "Page", "RPS", "Confidence", "Recent Sends", "Rank", "Status"],
                   ["CAP_1", "p__free", 0.01, 0.5, 1, 1, "Eligible"], ["CAP_2", "p__free", 0.01, 0.5, 2, 2, "Eligible"]]


def test_lookup_caption_by_id_or_legacy_bank_id():
    lookup = pl.DataFrame([{
        "caption_id": "CAP_abc", "lookup_keys": ["CAP_abc", "BANK-17"], "caption_hash": "0" * 64,
        "caption_text": "hello", "caption_category": "ppv", "caption_length": 5, "username_page": "luna_example__paid",
        "creator_username": "luna_example", "creator_page_type": "paid", "performance_tier": "good",
        "is_available": False, "available_pages": [], "last_used_timestamp": NOW, "days_since_use": 4,
        "expected_rps": 0.0042, "confidence_score": 0.61, "is_active": True, "tos_status": "clean"}],
        schema=transforms.CAPTION_LOOKUP_SCHEMA)
    expected = [["Property", "Value"], ["Text", "hello"], ["Page", "luna_example__paid"], ["Tier", "good"],
                ["Available", "No"], ["Expected RPS", 0.0042], ["Confidence", 0.61], ["Days Since Use", 4]]
    assert apps_script.lookup_caption(lookup, "CAP_abc") == expected
    assert apps_script.lookup_caption(lookup, " BANK-17 ") == expected
    assert apps_script.lookup_caption(lookup, "BANK-18") == [["Caption not found"]]
