"""The warehouse IO managers: DuckDB locally (default), BigQuery in production, polars frames on both.

dagster-duckdb's `DbIOManager` stores an asset keyed `[schema, table]` in `schema.table`. The stock polars handler of
dagster-duckdb-polars cannot read on duckdb 2.x, so this module carries its own (Arrow in, Arrow out), and a DuckDB
client that runs every write (delete of the slice + insert) in ONE transaction: a write that fails part-way, or a
process killed mid-write, leaves the previous table or partition intact.

`warehouse_io_manager()` picks the target from `OF_SCHEDULER_TARGET` (`local` | `bigquery`); asset code never knows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from dagster._core.storage.db_io_manager import DbTypeHandler, TablePartitionDimension, TableSlice
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBIOManager
from dagster_duckdb.io_manager import DuckDbClient, _get_cleanup_statement
from pydantic import Field

from of_scheduler_assets import settings


def _qualified(table_slice: TableSlice) -> str:
    return f'"{table_slice.schema}"."{table_slice.table}"'


def open_duckdb(database: str, *, read_only: bool = False, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with the session zone pinned to UTC, so TIMESTAMPTZ columns come back as Datetime(UTC).

    Retries while another process holds the file lock (DuckDB allows one writing process per file).
    """
    conn = backoff(
        fn=duckdb.connect,
        retry_on=(RuntimeError, duckdb.IOException),
        kwargs={"database": database, "read_only": read_only, "config": {"custom_user_agent": "of_scheduler", **(config or {})}},
        max_retries=10,
    )
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def ensure_layer_schemas(conn: duckdb.DuckDBPyConnection) -> None:
    for schema in settings.LAYER_SCHEMAS:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def read_duckdb_table(conn: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    return pl.from_arrow(conn.sql(query).to_arrow_table())


def _table_columns(conn: duckdb.DuckDBPyConnection, table_slice: TableSlice) -> list[tuple[str, str]] | None:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [table_slice.schema, table_slice.table],
    ).fetchall()
    return [(name, dtype) for name, dtype in rows] or None


class TransactionalDuckDbClient(DuckDbClient):
    """dagster-duckdb's client, with one transaction per connection (commit on success, rollback on error)."""

    @staticmethod
    @contextmanager
    def connect(context, _table_slice) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = open_duckdb(context.resource_config["database"], config=context.resource_config["connection_config"])
        try:
            conn.execute("BEGIN TRANSACTION")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @staticmethod
    def ensure_schema_exists(context, table_slice: TableSlice, connection) -> None:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{table_slice.schema}"')

    @staticmethod
    def delete_table_slice(context, table_slice: TableSlice, connection) -> None:
        # The stock client swallows the missing-table error, which would abort our transaction: look first.
        if _table_columns(connection, table_slice) is not None:
            connection.execute(_get_cleanup_statement(table_slice))


class DuckDBPolarsTypeHandler(DbTypeHandler[pl.DataFrame]):
    """Writes and reads polars frames through Arrow; every dtype we use round-trips exactly.

    The first write creates the table from the frame's schema (also for an empty frame). A later full-table write whose
    schema differs replaces the table (the asset's definition changed); a partition write whose schema differs from
    the stored table is refused with a clear error, because silently re-typing the other partitions would lose data.
    """

    def handle_output(self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection):
        arrow = obj.to_arrow()
        connection.register("__of_frame", arrow)
        try:
            existing = _table_columns(connection, table_slice)
            target = _qualified(table_slice)
            if existing is not None:
                connection.execute("CREATE OR REPLACE TEMP TABLE __of_probe AS SELECT * FROM __of_frame LIMIT 0")
                incoming = [(n, t) for n, t, *_ in connection.execute("DESCRIBE __of_probe").fetchall()]
                connection.execute("DROP TABLE __of_probe")
                if incoming != existing:
                    if table_slice.partition_dimensions:
                        raise dg.Failure(
                            f"{target}: the frame's columns {incoming} differ from the stored table's {existing}. "
                            "A partition write cannot change the table's schema; drop the table and backfill."
                        )
                    connection.execute(f"DROP TABLE {target}")
                    existing = None
            if existing is None:
                connection.execute(f"CREATE TABLE {target} AS SELECT * FROM __of_frame")
            else:
                connection.execute(f"INSERT INTO {target} BY NAME SELECT * FROM __of_frame")
        finally:
            connection.unregister("__of_frame")
        return {
            "dagster/row_count": obj.height,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, str(dtype)) for name, dtype in obj.schema.items()]
            ),
        }

    def load_input(self, context: dg.InputContext, table_slice: TableSlice, connection) -> pl.DataFrame:
        return read_duckdb_table(connection, DuckDbClient.get_select_statement(table_slice))

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pl.DataFrame]


class DuckDBPolarsIOManager(DuckDBIOManager):
    """The local warehouse: one DuckDB file, one schema per layer (created on first use), polars frames."""

    create_layer_schemas: bool = Field(
        default=True, description="Create every layer schema when a run starts, so the layout is visible at once."
    )

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DuckDBPolarsTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pl.DataFrame

    def create_io_manager(self, context):
        from dagster._core.storage.db_io_manager import DbIOManager

        if self.create_layer_schemas:
            conn = open_duckdb(self.database, config=self.connection_config)
            try:
                ensure_layer_schemas(conn)
            finally:
                conn.close()
        return DbIOManager(
            db_client=TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="DuckDBPolarsIOManager",
        )


def duckdb_io_manager_from_env() -> DuckDBPolarsIOManager:
    path = settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBPolarsIOManager(database=str(path))


def warehouse_io_manager() -> dg.ConfigurableIOManagerFactory:
    """The IO manager of the configured target (`OF_SCHEDULER_TARGET`)."""
    if settings.target() == "bigquery":
        from of_scheduler_assets.resources.bigquery import bigquery_io_manager_from_env

        return bigquery_io_manager_from_env()
    return duckdb_io_manager_from_env()


class WarehouseReader(dg.ConfigurableResource):
    """Reads a table's current content on the configured target: for state tables (e.g. `ops/ingestion_state`) whose
    next version is built from the previous one. Returns None when the table does not exist yet.
    """

    target: str = Field(default="local", description="local (DuckDB) or bigquery")
    database: str | None = Field(default=None, description="DuckDB file (local)")
    project: str | None = Field(default=None, description="BigQuery project")
    location: str | None = Field(default=None, description="BigQuery location")
    gcp_credentials: str | None = Field(default=None, description="base64 service-account JSON (secret)")
    api_endpoint: str | None = Field(default=None, description="tests only: BigQuery emulator endpoint")

    def read_table(
        self, schema: str, table: str, columns: Sequence[str] | None = None,
        window: tuple[str, dt.datetime, dt.datetime] | None = None,
    ) -> pl.DataFrame | None:
        """The table (or only ``columns``; or only rows with ``start <= column < end`` for ``window = (column, start,
        end)``, UTC datetimes), None when it does not exist yet."""
        if self.target == "bigquery":
            return self._read_bigquery(schema, table, columns, window)
        if not self.database or not Path(self.database).exists():
            return None
        conn = open_duckdb(self.database)
        try:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
            ).fetchall()[0][0]
            if not exists:
                return None
            select = "*" if columns is None else ", ".join(f'"{c}"' for c in columns)
            query = f'SELECT {select} FROM "{schema}"."{table}"'
            if window is not None:
                column, start, end = window
                query += f""" WHERE "{column}" >= TIMESTAMPTZ '{start.isoformat()}' AND "{column}" < TIMESTAMPTZ '{end.isoformat()}'"""
            return read_duckdb_table(conn, query)
        finally:
            conn.close()

    def _read_bigquery(self, schema: str, table: str, columns: Sequence[str] | None,
                       window: tuple[str, dt.datetime, dt.datetime] | None) -> pl.DataFrame | None:
        from google.api_core.exceptions import NotFound

        from of_scheduler_assets.resources.bigquery import make_bigquery_client, read_table_as_polars

        if self.gcp_credentials and not self.api_endpoint:
            import base64
            import json

            from google.cloud import bigquery
            from google.oauth2 import service_account

            info = json.loads(base64.b64decode(self.gcp_credentials))
            client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=service_account.Credentials.from_service_account_info(info),
            )
        else:
            client = make_bigquery_client(self.project, self.location, self.api_endpoint)
        try:
            dims = None
            if window is not None:
                dims = [TablePartitionDimension(partition_expr=window[0], partitions=dg.TimeWindow(window[1], window[2]))]
            return read_table_as_polars(client, f"{self.project}.{schema}.{table}", columns=columns,
                                        partition_dimensions=dims)
        except NotFound:
            return None
        finally:
            client.close()


def warehouse_reader() -> WarehouseReader:
    if settings.target() == "bigquery":
        import os

        def optional(name: str):
            return dg.EnvVar(name) if os.environ.get(name) else None

        return WarehouseReader(
            target="bigquery",
            project=dg.EnvVar("OF_SCHEDULER_BQ_PROJECT"),
            location=optional("OF_SCHEDULER_BQ_LOCATION"),
            gcp_credentials=optional("OF_SCHEDULER_BQ_CREDENTIALS"),
            api_endpoint=optional("OF_SCHEDULER_BQ_API_ENDPOINT"),
        )
    return WarehouseReader(target="local", database=str(settings.warehouse_path()))
