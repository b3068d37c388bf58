"""The code location loads, follows the layout rules, and changes its public surface only on purpose.

To accept an intended change of assets, checks, jobs, schedules or sensors:
    OF_SCHEDULER_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest of_scheduler_assets_tests/test_definitions.py
and commit the updated `snapshots/definitions.json` with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from of_scheduler_assets import settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _surface(defs: dg.Definitions) -> dict:
    repo = defs.get_repository_def()
    return {
        "assets": sorted(
            ({"key": s.key.to_user_string(), "group": s.group_name, "partitioned": s.partitions_def is not None}
             for s in defs.resolve_all_asset_specs()),
            key=lambda d: d["key"],
        ),
        "asset_checks": sorted(key.to_user_string() for key in repo.asset_graph.asset_check_keys),
        "jobs": sorted(job.name for job in repo.get_all_jobs() if not job.name.startswith("__")),
        "schedules": sorted(
            ({"name": s.name, "cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
             for s in repo.schedule_defs),
            key=lambda d: d["name"],
        ),
        "sensors": sorted(
            ({"name": s.name, "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else []} for s in repo.sensor_defs),
            key=lambda d: d["name"],
        ),
    }


@pytest.fixture
def defs():
    from of_scheduler_assets.definitions import build_definitions

    return build_definitions()


def test_definitions_load_and_validate(defs):
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_all_asset_specs(), "the code location has no assets"


def test_asset_keys_are_schema_and_table_and_group_equals_schema(defs):
    for spec in defs.resolve_all_asset_specs():
        assert len(spec.key.path) == 2, spec.key
        schema, _table = spec.key.path
        assert schema in settings.LAYER_SCHEMAS, spec.key
        assert spec.group_name == schema, spec.key


def test_public_surface_matches_the_snapshot(defs):
    surface = _surface(defs)
    if os.environ.get("OF_SCHEDULER_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(surface, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with OF_SCHEDULER_UPDATE_SNAPSHOT=1"
    assert surface == json.loads(SNAPSHOT.read_text()), (
        "assets, checks, jobs, schedules or sensors changed; if on purpose, refresh the snapshot "
        "(see this module's docstring)"
    )


def test_local_target_uses_the_duckdb_file_under_home(defs, _isolated_home):
    io_manager = defs.resources["io_manager"]
    assert type(io_manager).__name__ == "DuckDBPolarsIOManager"
    assert io_manager.database == str(_isolated_home / "warehouse.duckdb")


def test_warehouse_file_moves_with_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("OF_SCHEDULER_WAREHOUSE", str(tmp_path / "elsewhere" / "wh.duckdb"))
    from of_scheduler_assets.definitions import build_definitions

    assert build_definitions().resources["io_manager"].database == str(tmp_path / "elsewhere" / "wh.duckdb")


def test_a_warehouse_file_named_like_a_schema_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("OF_SCHEDULER_WAREHOUSE", str(tmp_path / "ops.duckdb"))
    with pytest.raises(ValueError, match="named like a schema"):
        settings.warehouse_path()


def test_bigquery_target_swaps_only_the_io_manager(monkeypatch, defs):
    monkeypatch.setenv("OF_SCHEDULER_TARGET", "bigquery")
    monkeypatch.setenv("OF_SCHEDULER_BQ_PROJECT", "agency-prod")
    monkeypatch.setenv("OF_SCHEDULER_BQ_LOCATION", "US")
    from of_scheduler_assets.definitions import build_definitions

    prod = build_definitions()
    assert type(prod.resources["io_manager"]).__name__ == "BigQueryPolarsIOManager"
    assert _surface(prod) == _surface(defs)


def test_unknown_target_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OF_SCHEDULER_TARGET", "snowflake")
    with pytest.raises(ValueError, match="OF_SCHEDULER_TARGET must be one of"):
        settings.target()
