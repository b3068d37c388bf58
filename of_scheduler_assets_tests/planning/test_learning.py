"""The performance learner (40-planning §10): rules, bounds, freeze dates, minimum data, change spacing, changelog."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from of_scheduler_assets.ops_config.learning import learn_page_knobs, settings_from_row
from of_scheduler_assets.resources.seeds import parse_seed, read_seed_bytes

NOW = dt.datetime(2026, 11, 2, 0, 30, tzinfo=dt.UTC)
SEED = parse_seed("learner_config", *read_seed_bytes("learner_config", None)).frame


def signals(**pages: dict) -> pl.DataFrame:
    base = {"ppv_events_28d": 60, "active_days_28d": 20, "earnings_lift": 0.0, "volume_boost": 1.0,
            "fatigue_ratio": 1.0, "page_fatigue_risk": 30.0, "corr_price_earnings_90d": 0.0, "sell_rate": 0.3}
    return pl.DataFrame([{"username_page": name, **{**base, **values}} for name, values in pages.items()])


def knobs_of(frame: pl.DataFrame) -> dict[str, tuple]:
    return {r["username_page"]: (r["quota_nudge"], r["hour_pool_nudge"], r["price_mode_bias"])
            for r in frame.iter_rows(named=True)}


def test_packaged_seed_holds_the_spec_defaults():
    st = settings_from_row(SEED.row(0, named=True))
    assert (st.auto_tune_enabled, st.freeze_until, st.quota_min, st.quota_max, st.quota_nudge_min, st.quota_nudge_max,
            st.hour_pool_min, st.hour_pool_max, st.hour_pool_nudge_min, st.hour_pool_nudge_max, st.min_ppv_events_28d,
            st.min_active_days_28d, st.min_days_between_changes, st.lift_up, st.lift_down) == (
        True, None, 0, 12, -3, 3, 6, 24, -6, 6, 20, 14, 7, 0.10, -0.10)


def test_one_step_per_run_up_down_or_unchanged_with_price_bias():
    sig = signals(
        up__paid={"earnings_lift": 0.18, "volume_boost": 1.15, "page_fatigue_risk": 40.0,
                  "corr_price_earnings_90d": 0.3, "sell_rate": 0.5},
        down__paid={"earnings_lift": -0.2, "corr_price_earnings_90d": -0.2},
        tired__paid={"earnings_lift": 0.3, "volume_boost": 1.2, "fatigue_ratio": 0.4},  # decrease wins
        risky__paid={"page_fatigue_risk": 85.0},
        flat__paid={"earnings_lift": 0.05, "corr_price_earnings_90d": 0.3, "sell_rate": 0.1},  # below median sell
    )
    knobs, changes = learn_page_knobs(sig, SEED, None, None, now=NOW, config_version="v1")
    assert knobs_of(knobs) == {"up__paid": (1, 2, "premium"), "down__paid": (-1, -2, "value"),
                               "tired__paid": (-1, -2, None), "risky__paid": (-1, -2, None),
                               "flat__paid": (0, 0, None)}
    up = changes.filter(pl.col("username_page") == "up__paid").sort("knob")
    assert up.select("knob", "old_value", "new_value").rows() == [
        ("hour_pool_nudge", "0", "2"), ("price_mode_bias", None, "premium"), ("quota_nudge", "0", "1")]
    row = up.row(0, named=True)
    assert row["reason"].startswith("lift +0.18, volume_boost 1.15") and row["confidence"] == pytest.approx(0.6)
    assert json.loads(row["signals_json"])["earnings_lift"] == 0.18
    assert (row["applied_at"], row["config_version"], row["learner_version"]) == (NOW, "v1", "learner-1")
    assert changes.filter(pl.col("username_page") == "flat__paid").is_empty()


def test_bounds_clamp_and_a_blocked_quota_step_moves_no_hour_pool():
    prev = pl.DataFrame([{"username_page": "up__paid", "quota_nudge": 3, "hour_pool_nudge": 6,
                          "price_mode_bias": None, "confidence": 0.5}])
    sig = signals(up__paid={"earnings_lift": 0.5, "volume_boost": 2.0})
    knobs, changes = learn_page_knobs(sig, SEED, prev, None, now=NOW)
    assert knobs_of(knobs)["up__paid"] == (3, 6, None) and changes.is_empty()


@pytest.mark.parametrize(("cfg", "sig", "why"), [
    ({"freeze_until": "2026-11-02"}, {}, "frozen until 2026-11-02"),
    ({"auto_tune_enabled": "false"}, {}, "auto-tune disabled"),
    ({}, {"ppv_events_28d": 19}, "insufficient data"),
    ({}, {"active_days_28d": 13}, "insufficient data"),
])
def test_skipped_pages_keep_their_knobs(cfg, sig, why):
    config = pl.concat([SEED, pl.DataFrame([{**{c: None for c in SEED.columns}, "username_page": "ann__paid",
                                             **cfg}], schema=SEED.schema)], how="vertical")
    prev = pl.DataFrame([{"username_page": "ann__paid", "quota_nudge": 2, "hour_pool_nudge": 4,
                          "price_mode_bias": "value", "confidence": 0.5}])
    knobs, changes = learn_page_knobs(signals(ann__paid={"earnings_lift": -0.5, **sig}), config, prev, None, now=NOW)
    assert knobs_of(knobs)["ann__paid"] == (2, 4, "value") and changes.is_empty()
    assert why in knobs["reason"][0]


def test_a_knob_changes_at_most_once_per_min_days_between_changes():
    sig = signals(ann__paid={"earnings_lift": -0.5})
    k1, c1 = learn_page_knobs(sig, SEED, None, None, now=NOW)
    assert knobs_of(k1)["ann__paid"] == (-1, -2, None)
    k2, c2 = learn_page_knobs(sig, SEED, k1, c1, now=NOW + dt.timedelta(hours=12))
    assert knobs_of(k2)["ann__paid"] == (-1, -2, None) and c2.is_empty()
    k3, c3 = learn_page_knobs(sig, SEED, k2, pl.concat([c1, c2]), now=NOW + dt.timedelta(days=7))
    assert knobs_of(k3)["ann__paid"] == (-2, -4, None) and c3["knob"].sort().to_list() == [
        "hour_pool_nudge", "quota_nudge"]
