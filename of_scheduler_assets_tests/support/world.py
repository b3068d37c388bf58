"""Generated worlds for end-to-end tests: write one with the sample generator, run the real asset graph on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.mailbox import MailboxResource
from of_scheduler_assets.resources.seeds import SeedsResource
from of_scheduler_assets.resources.storage import StorageResource
from of_scheduler_assets.resources.warehouse import (
    DuckDBPolarsIOManager,
    WarehouseReader,
    open_duckdb,
    read_duckdb_table,
)


def generate_world(home: Path, *, scale: float, days: int, faults: float = 0.0, seed: int = 7) -> Path:
    subprocess.run(
        [sys.executable, "-m", "of_scheduler_assets.sample", "--out", str(home), "--scale", str(scale), "--days",
         str(days), "--faults", str(faults), "--seed", str(seed), "--workers", "1"],
        check=True, capture_output=True,
    )
    return home


def resources_for(home: Path) -> dict:
    database = str(home / "warehouse.duckdb")
    return {
        "io_manager": DuckDBPolarsIOManager(database=database),
        "warehouse": WarehouseReader(target="local", database=database),
        "ops_config_file": OpsConfigResource(),
        "seeds": SeedsResource(override_dir=str(home / "seeds")),
        "mailbox": MailboxResource(mailbox=str(home / "inbox")),
        "storage": StorageResource(
            inbox_dir=str(home / "inbox"), archive_dir=str(home / "archive"), exports_dir=str(home / "exports")
        ),
    }


def materialize_all(home: Path, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    from of_scheduler_assets.definitions import ASSET_CHECKS, ASSETS

    return dg.materialize([*ASSETS, *ASSET_CHECKS], resources=resources_for(home), raise_on_error=raise_on_error)


def table(home: Path, schema: str, name: str) -> pl.DataFrame:
    conn = open_duckdb(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return read_duckdb_table(conn, f'SELECT * FROM "{schema}"."{name}"')
    finally:
        conn.close()


def all_tables(home: Path) -> dict[str, pl.DataFrame]:
    conn = open_duckdb(str(home / "warehouse.duckdb"), read_only=True)
    try:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN "
            "('information_schema', 'pg_catalog', 'main')"
        ).fetchall()
        return {f"{s}.{t}": read_duckdb_table(conn, f'SELECT * FROM "{s}"."{t}"') for s, t in names}
    finally:
        conn.close()
