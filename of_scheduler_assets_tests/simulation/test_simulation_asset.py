"""The `layer_05_ml/ranker_simulation` asset: plays the policies in a generated world and attaches the report."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from of_scheduler_assets.layer_05_ml.assets import ranker_simulation
from of_scheduler_assets_tests.support.world import generate_world

pytestmark = pytest.mark.slow


def test_simulation_asset_reports_ratios_against_every_baseline_with_a_plot(tmp_path):
    world = generate_world(tmp_path / "world", scale=0.02, days=40, seed=3)
    config = {"ops": {"layer_05_ml__ranker_simulation": {"config": {"world_dir": str(world), "days": 3,
                                                                      "seeds": [1]}}}}
    result = dg.materialize([ranker_simulation], run_config=config)
    ratios = result.output_for_node("layer_05_ml__ranker_simulation")
    assert set(ratios["baseline"]) == {"human_like", "greedy", "random"}
    assert (ratios["ci_low"] <= ratios["ratio"]).all() and (ratios["ratio"] <= ratios["ci_high"]).all()
    metadata = result.asset_materializations_for_node("layer_05_ml__ranker_simulation")[0].metadata
    report = metadata["report"].value
    assert "| human_like |" in report and "data:image/png;base64," in report


def test_simulation_asset_is_empty_without_a_ground_truth(tmp_path):
    config = {"ops": {"layer_05_ml__ranker_simulation": {"config": {"world_dir": str(tmp_path)}}}}
    result = dg.materialize([ranker_simulation], run_config=config)
    assert result.output_for_node("layer_05_ml__ranker_simulation").height == 0
    assert isinstance(result.output_for_node("layer_05_ml__ranker_simulation"), pl.DataFrame)
