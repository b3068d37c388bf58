"""The README's first command: `of-scheduler run` generates a world, materializes everything, says where to look."""

from __future__ import annotations

import argparse
import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets import cli, settings
from of_scheduler_assets_tests.support.world import table

pytestmark = pytest.mark.slow


def test_run_leaves_a_warehouse_with_every_layer_schema_and_prints_where_to_look(_isolated_home, capsys, monkeypatch, tmp_path):
    # A budget of 12 emails per run forces the run command to catch up over several runs, as it must at any scale.
    override = tmp_path / "override.yaml"
    override.write_text("ingestion:\n  max_new_messages_per_backfill: 12\n")
    monkeypatch.setenv("OF_SCHEDULER_CONFIG", str(override))
    assert cli.main(["run", "--scale", "0.02", "--days", "5"]) == 0
    out = capsys.readouterr().out

    from of_scheduler_assets.resources.warehouse import open_duckdb

    conn = open_duckdb(str(settings.warehouse_path()), read_only=True)
    schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    conn.close()
    assert set(settings.LAYER_SCHEMAS) <= schemas
    assert table(_isolated_home, "layer_02_staging", "stg_message_events").height > 0
    # the whole sample mailbox is ingested, not just one run's budget
    emails = len(list((_isolated_home / "inbox" / "reports").rglob("*.eml")))
    assert table(_isolated_home, "ops", "ingestion_state").filter(pl.col("status") == "loaded").height == emails
    # ... and the whole model after it: every staged send in the fact, every page evaluated
    staged = table(_isolated_home, "layer_02_staging", "stg_message_events")
    fact = table(_isolated_home, "layer_03_foundation", "fact_message_send")
    assert fact.height == staged["message_send_key"].n_unique() > 0
    pages = table(_isolated_home, "layer_03_foundation", "dim_page")
    assert pages.height > 0 and (pages["tier_source"] != "pending").all()
    assert table(_isolated_home, "layer_04_semantic", "caption_performance_daily").height > 0
    for where in (str(settings.warehouse_path()), str(settings.exports_dir()), "make ui", "http://127.0.0.1:3000"):
        assert where in out
    # it ends with every layer materialized: every asset of the code location has its table (the simulation is
    # `run --simulate` only) ...
    from of_scheduler_assets.definitions import defs

    conn = open_duckdb(str(settings.warehouse_path()), read_only=True)
    tables = {tuple(r) for r in conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    conn.close()
    assets = {tuple(k.path) for k in defs.resolve_asset_graph().materializable_asset_keys}
    assert assets - tables == {("layer_05_ml", "ranker_simulation")}
    # ... and a short summary: pages, planned slots, top picks, the team exports
    for line in ("pages ranked:", "weekly plan:", "top picks (PPV", "team sheets:"):
        assert line in out, line
    assert (settings.dagster_home() / "dagster.yaml").read_text().strip().endswith("enabled: false")

    # a second run reuses the same world instead of regenerating it (same seed, scale, days, end date, faults)
    end = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    args = argparse.Namespace(seed=7, scale=0.02, days=5, faults=0.0, end_date=end, regenerate=False)
    cli.generate_world(_isolated_home, args)
    assert "reusing" in capsys.readouterr().out
