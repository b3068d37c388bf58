"""The BigQuery side of the IO contract tests: our IO manager pointed at a local bqemulator.

``bigquery_backend()`` starts the emulator (see ``bq_emulator.py``) and yields a ``BigQueryBackend``; the DuckDB twin
offers the same surface (``name``, ``io_manager``, ``read_table``, ``table_exists``, ``partitioning``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import polars as pl

from of_scheduler_assets.resources.bigquery import BigQueryPolarsIOManager, read_table_as_polars
from of_scheduler_assets_tests.support.bq_emulator import DEFAULT_PROJECT, BqEmulator, running_bqemulator


class BigQueryBackend:
    name = "bigquery"

    def __init__(self, emulator: BqEmulator) -> None:
        self.emulator = emulator
        self.project = emulator.project
        self.client = emulator.client()
        self.io_manager = BigQueryPolarsIOManager(project=emulator.project, api_endpoint=emulator.endpoint)

    def _table_id(self, dataset: str, table: str) -> str:
        return f"{self.project}.{dataset}.{table}"

    def read_table(self, dataset: str, table: str) -> pl.DataFrame:
        """The whole table, read through the client (no dagster) with the handler's dtype restoration."""
        return read_table_as_polars(self.client, self._table_id(dataset, table))

    def table_exists(self, dataset: str, table: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_table(self._table_id(dataset, table))
        except NotFound:
            return False
        return True

    def partitioning(self, dataset: str, table: str) -> dict[str, Any]:
        """Time partitioning and clustering as the API reports them (None where the table has none)::

        {"time_partitioning_field": "send_date", "time_partitioning_type": "DAY", "clustering_fields": ["a", "b"]}
        """
        t = self.client.get_table(self._table_id(dataset, table))
        tp = t.time_partitioning
        return {
            "time_partitioning_field": None if tp is None else tp.field,
            "time_partitioning_type": None if tp is None else (tp.type_ or "DAY").upper(),
            "clustering_fields": list(t.clustering_fields) if t.clustering_fields else None,
        }

    def reader(self):
        """The project's WarehouseReader resource on this emulator (None for tables that do not exist)."""
        from of_scheduler_assets.resources.warehouse import WarehouseReader

        return WarehouseReader(target="bigquery", project=self.project, api_endpoint=self.emulator.endpoint)

    def drop_dataset(self, dataset: str) -> None:
        """Remove a dataset and its tables (test isolation helper)."""
        self.client.delete_dataset(f"{self.project}.{dataset}", delete_contents=True, not_found_ok=True)


@contextlib.contextmanager
def bigquery_backend(project: str = DEFAULT_PROJECT) -> Iterator[BigQueryBackend]:
    with running_bqemulator(project) as emulator:
        backend = BigQueryBackend(emulator)
        try:
            yield backend
        finally:
            backend.client.close()


__all__ = ["BigQueryBackend", "bigquery_backend"]
