"""Declarative automation and freshness policies (50-operations §2): a follower is requested when its (daily-
partitioned, mostly missing) upstream gets a new partition and not again until the next update; the code location
attaches the condition to its followers and carries the freshness targets of facts, features, rankings and health."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from of_scheduler_assets.automation import operations

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01")


@dg.asset(key=["layer_05_ml", "feature_store"], partitions_def=DAILY)
def feature_store_stand_in():
    return 1


@dg.asset(key=["ops_monitor", "top_captions"], deps=[dg.AssetKey(["layer_05_ml", "feature_store"])])
def top_captions_stand_in():
    return 1


def _requested(result) -> bool:
    return result.get_num_requested(dg.AssetKey(["ops_monitor", "top_captions"])) == 1


def test_follower_is_requested_once_per_upstream_update():
    assets = operations.with_declarative_automation([feature_store_stand_in, top_captions_stand_in])
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.evaluate_automation_conditions(defs=assets, instance=instance)
        assert not _requested(first)  # nothing updated yet
        dg.materialize([feature_store_stand_in], partition_key="2026-01-15", instance=instance)
        second = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=first.cursor)
        assert _requested(second)  # older partitions are missing: plain eager() would never fire here
        third = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=second.cursor)
        assert not _requested(third)


@pytest.fixture(scope="module")
def defs():
    from of_scheduler_assets.definitions import build_definitions

    return build_definitions()


def test_followers_in_the_code_location_carry_the_condition(defs):
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    for key in operations.FOLLOWERS:
        assert specs[key].automation_condition is not None, key
        assert specs[key].automation_condition.get_label() in ("follows_upstream", "eager"), key
    sensor = next(s for s in defs.get_repository_def().sensor_defs
                  if s.name == "default_automation_condition_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize("key, hours", [
    (("layer_03_foundation", "fact_message_send"), 24),
    (("layer_05_ml", "feature_store"), 26),
    (("layer_06_rankings", "caption_rank_next24"), 2),
    (("ops_monitor", "system_health"), 2),
])
def test_freshness_policies(defs, key, hours):
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(list(key)))
    assert spec.freshness_policy is not None, key
    assert spec.freshness_policy.fail_window.to_timedelta() == dt.timedelta(hours=hours)
