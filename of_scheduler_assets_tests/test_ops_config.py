"""ops_config: the versioned YAML, the seed tables with their override folder, and their blocking contracts."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from of_scheduler_assets.ops_config import assets as ops_config_assets
from of_scheduler_assets.resources.config import ConfigError, OpsConfigResource, load_config, packaged_config_text
from of_scheduler_assets.resources.seeds import SeedsResource
from of_scheduler_assets_tests.support.duckdb_backend import DuckDBBackend


def test_config_version_is_version_plus_content_hash_and_moves_with_an_override():
    base = load_config(packaged_config_text())
    assert base.config_version.startswith(base.model.version + "-")
    assert len(base.config_version.split("-")[-1]) == 8
    assert load_config(packaged_config_text()).config_version == base.config_version  # deterministic

    overridden = load_config(packaged_config_text(), "platform:\n  platform_fee: 0.25\n")
    assert overridden.model.platform.platform_fee == 0.25
    assert overridden.model.platform.report_timezone == "America/Denver"  # untouched keys survive the merge
    assert overridden.config_version != base.config_version


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("platform:\n  report_timezone: Mars/Olympus\n", "platform.report_timezone"),
        ("platform:\n  platform_fee: 1.5\n", "platform.platform_fee"),
        ("gmail:\n  list_page_size: 900\n", "gmail.list_page_size"),
        ("platform:\n  unknown_knob: 1\n", "platform.unknown_knob"),
        ("platform: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_offending_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(packaged_config_text(), override)


def _run(backend, seeds_dir=None, override_path=None):
    return dg.materialize(
        ops_config_assets.ASSETS + ops_config_assets.CHECKS,
        resources={
            "io_manager": backend.io_manager,
            "seeds": SeedsResource(override_dir=str(seeds_dir) if seeds_dir else None),
            "ops_config_file": OpsConfigResource(override_path=str(override_path) if override_path else None),
        },
        raise_on_error=False,
    )


def test_packaged_seeds_and_config_materialize_with_passing_contracts(tmp_path):
    backend = DuckDBBackend(tmp_path / "wh.duckdb")
    result = _run(backend)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    explicitness = backend.read_table("ops_config", "explicitness_map")
    assert explicitness.filter(pl.col("content_tag") == "OTHER")["explicitness_level"].to_list() == [None]
    assert explicitness.filter(pl.col("content_tag") == "DOM/SUB")["explicitness_level"].to_list() == [3]
    config = backend.read_table("ops_config", "ops_config")
    fee = config.filter((pl.col("section") == "platform") & (pl.col("key") == "platform_fee"))
    assert fee["value_json"].to_list() == ["0.2"]
    assert config["config_version"].n_unique() == 1


def test_override_folder_replaces_a_packaged_seed(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "scheduler_roster.csv").write_text(
        "scheduler_code,display_name,email,is_manager,is_active,can_view_all,sender_aliases\n"
        "nova,Nova,nova@example.com,False,True,False,SD Nova; sd nova ;\n"
        "KIT,Kit,,True,True,True,\n"
    )
    backend = DuckDBBackend(tmp_path / "wh.duckdb")
    assert _run(backend, seeds_dir=seeds).success
    roster = backend.read_table("ops_config", "scheduler_roster").sort("scheduler_code")
    assert roster["scheduler_code"].to_list() == ["KIT", "NOVA"]
    assert roster["sender_aliases"].to_list() == [[], ["sd nova", "sd nova"]]
    assert roster["is_manager"].to_list() == [True, False]
    assert roster["seed_source"].to_list() == [str(seeds / "scheduler_roster.csv")] * 2


def test_a_seed_breaking_its_contract_fails_the_blocking_check_with_failure_cases(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "page_aliases.csv").write_text(
        "alias,username_std,page_type,source,note,valid_from\n"
        "Luna Example Paid,luna_example,paid,email,,2026-01-01\n"
        "Luna Example Paid,luna_example,paid,manual,dup,2026-02-01\n"  # duplicate (alias, page_type)
        "Mia Demo,Mia Demo,premium,email,,\n"  # bad username_std and page_type
    )
    backend = DuckDBBackend(tmp_path / "wh.duckdb")
    result = _run(backend, seeds_dir=seeds)
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "page_aliases_contract"
    )
    assert not evaluation.passed
    assert evaluation.metadata["failure_count"].value >= 3
    sample = evaluation.metadata["failure_cases_sample"].value
    assert "premium" in sample and "Mia Demo" in sample


def test_an_invalid_override_file_fails_the_config_asset(tmp_path):
    bad = tmp_path / "override.yaml"
    bad.write_text("platform:\n  report_timezone: Nowhere/Land\n")
    result = _run(DuckDBBackend(tmp_path / "wh.duckdb"), override_path=bad)
    assert not result.success
    failures = [str(e.event_specific_data.error) for e in result.get_step_failure_events()]
    assert any("platform.report_timezone" in f for f in failures)
