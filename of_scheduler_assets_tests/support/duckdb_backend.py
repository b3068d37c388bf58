"""The local warehouse as a test backend: the twin of `bigquery_backend.BigQueryBackend`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, open_duckdb, read_duckdb_table


class DuckDBBackend:
    name = "duckdb"

    def __init__(self, path: Path):
        self.path = path
        self.io_manager = DuckDBPolarsIOManager(database=str(path))

    def read_table(self, dataset: str, table: str) -> pl.DataFrame:
        conn = open_duckdb(str(self.path), read_only=True)
        try:
            return read_duckdb_table(conn, f'SELECT * FROM "{dataset}"."{table}"')
        finally:
            conn.close()

    def table_exists(self, dataset: str, table: str) -> bool:
        if not self.path.exists():
            return False
        conn = open_duckdb(str(self.path), read_only=True)
        try:
            return bool(
                conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                    [dataset, table],
                ).fetchall()[0][0]
            )
        finally:
            conn.close()

    def schemas(self) -> set[str]:
        conn = open_duckdb(str(self.path), read_only=True)
        try:
            return {row[0] for row in conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        finally:
            conn.close()

    def reader(self):
        from of_scheduler_assets.resources.warehouse import WarehouseReader

        return WarehouseReader(target="local", database=str(self.path))
