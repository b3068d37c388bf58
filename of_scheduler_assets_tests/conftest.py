from __future__ import annotations

import os

import pytest

# Tests never touch a user's warehouse, mailbox or Dagster instance.
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own OF_SCHEDULER_HOME; nothing from the developer's environment leaks in."""
    home = tmp_path / "of_home"
    monkeypatch.setenv("OF_SCHEDULER_HOME", str(home))
    for var in (
        "OF_SCHEDULER_TARGET",
        "OF_SCHEDULER_WAREHOUSE",
        "OF_SCHEDULER_MAILBOX",
        "OF_SCHEDULER_EXPORTS",
        "OF_SCHEDULER_SEEDS",
        "OF_SCHEDULER_CONFIG",
        "DAGSTER_HOME",
        "OF_SCHEDULER_AS_OF",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def bigquery_session_backend():
    """One bqemulator for the whole session (started on 127.0.0.1, a free port; stopped at teardown)."""
    from of_scheduler_assets_tests.support.bigquery_backend import bigquery_backend

    with bigquery_backend() as backend:
        yield backend


@pytest.fixture(params=["duckdb", pytest.param("bigquery", marks=pytest.mark.bigquery)])
def warehouse_backend(request, tmp_path):
    """The IO contract runs against both targets: the local DuckDB file and BigQuery (emulated)."""
    if request.param == "duckdb":
        from of_scheduler_assets_tests.support.duckdb_backend import DuckDBBackend

        return DuckDBBackend(tmp_path / "warehouse.duckdb")
    return request.getfixturevalue("bigquery_session_backend")
