"""Materializing one new day touches only that day's partition of `fact_message_send`, on DuckDB and on the BigQuery
emulator (issue "Warehouse model", acceptance point 3).

The real fact asset runs against each backend; its upstream tables (staging, dim_caption, dim_page) are copied from a
generated world's warehouse into the backend first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from of_scheduler_assets.layer_03_foundation.assets import fact_message_send
from of_scheduler_assets.partitions import range_tags
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets_tests.support.world import generate_world, materialize_all, table, world_as_of, world_dates

pytestmark = pytest.mark.slow

UPSTREAM = {
    ("layer_02_staging", "stg_message_events"),
    ("layer_03_foundation", "dim_caption"),
    ("layer_03_foundation", "page_universe"),
}


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    home = generate_world(tmp_path_factory.mktemp("partitions"), scale=0.02, days=8, seed=3)
    from of_scheduler_assets.automation.jobs import INGESTION

    keys = [["layer_03_foundation", "dim_caption"], ["ops_audit", "tos_audit"], ["layer_03_foundation", "page_universe"]]
    assert materialize_all(home, tags={}, selection=INGESTION | dg.AssetSelection.assets(*keys)).success
    return home


def _loader(schema: str, name: str, frame: pl.DataFrame) -> dg.AssetsDefinition:
    @dg.asset(key=[schema, name], group_name=schema)
    def _load() -> pl.DataFrame:
        return frame

    return _load


def _run(backend, home: Path, upstream: dict, tags: dict | None = None, partition_key: str | None = None) -> None:
    loaders = [_loader(s, n, f) for (s, n), f in upstream.items()]
    resources = {
        "io_manager": backend.io_manager,
        "warehouse": backend.reader(),
        "ops_config_file": OpsConfigResource(),
        "clock": ClockResource(as_of=world_as_of(home).isoformat()),
    }
    dg.materialize([*loaders, fact_message_send], resources=resources, selection=[fact_message_send], tags=tags,
                   partition_key=partition_key)


def _store(backend, upstream: dict) -> None:
    """Write the upstream tables into the backend through its IO manager (unpartitioned writes)."""
    loaders = [_loader(s, n, f) for (s, n), f in upstream.items()]
    dg.materialize(loaders, resources={"io_manager": backend.io_manager})


def test_one_new_day_rewrites_only_its_partition(warehouse_backend, small_world):
    backend, home = warehouse_backend, small_world
    for schema in ("layer_02_staging", "layer_03_foundation"):
        if backend.name == "bigquery":
            backend.drop_dataset(schema)
    upstream = {(s, n): table(home, s, n) for s, n in UPSTREAM}
    first, last = world_dates(home)
    old_first, old_last = (first - dt.timedelta(days=8)).isoformat(), (last - dt.timedelta(days=1)).isoformat()
    new_day = last.isoformat()

    # Yesterday's state: the fact built over every day before the new one.
    stg = upstream[("layer_02_staging", "stg_message_events")]
    upstream_old = dict(upstream)
    upstream_old[("layer_02_staging", "stg_message_events")] = stg.filter(
        pl.col("sending_ts_utc").dt.date() < last)
    _store(backend, upstream_old)
    _run(backend, home, upstream_old, range_tags(old_first, old_last))
    before = backend.read_table("layer_03_foundation", "fact_message_send")
    assert before.height > 0 and before["send_date"].max() < last

    # Today's reports bring the new day AND later snapshots of older sends (more recipients); only the new day's
    # partition is materialized, so the older partitions must stay exactly as they were.
    restated = stg.with_columns(sent=pl.col("sent") + 1000)
    upstream_new = dict(upstream)
    upstream_new[("layer_02_staging", "stg_message_events")] = restated
    _store(backend, upstream_new)
    _run(backend, home, upstream_new, partition_key=new_day)
    after = backend.read_table("layer_03_foundation", "fact_message_send")

    untouched = after.filter(pl.col("send_date") < last)
    assert_frame_equal(untouched, before, check_row_order=False)
    fresh = after.filter(pl.col("send_date") == last)
    expected = restated.filter(pl.col("sending_ts_utc").dt.date() == last)
    assert fresh.height == expected["message_send_key"].n_unique() > 0
    assert fresh["sent"].min() >= 1000  # the new partition holds the restated snapshots

    # Rebuilding one old day picks up its late snapshots and still touches nothing else (defect 12).
    old_day = (last - dt.timedelta(days=2)).isoformat()
    _run(backend, home, upstream_new, partition_key=old_day)
    again = backend.read_table("layer_03_foundation", "fact_message_send")
    rebuilt = again.filter(pl.col("send_date") == dt.date.fromisoformat(old_day))
    assert rebuilt.height > 0 and rebuilt["sent"].min() >= 1000
    assert_frame_equal(again.filter(pl.col("send_date") != dt.date.fromisoformat(old_day)),
                       after.filter(pl.col("send_date") != dt.date.fromisoformat(old_day)), check_row_order=False)
