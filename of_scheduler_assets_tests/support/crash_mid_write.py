"""Run as a separate process by the IO contract suite: write a partition and die (SIGKILL) before the commit.

`python -m of_scheduler_assets_tests.support.crash_mid_write DB TABLE PARTITION` rewrites PARTITION of
`layer_03_foundation.TABLE` with new rows; the type handler inserts them (after the old rows were deleted) and then
kills its own process, so the transaction is neither committed nor rolled back.
"""

from __future__ import annotations

import os
import signal
import sys

import dagster as dg
import polars as pl

from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, DuckDBPolarsTypeHandler


class _DieAfterInsert(DuckDBPolarsTypeHandler):
    def handle_output(self, context, table_slice, obj, connection):
        super().handle_output(context, table_slice, obj, connection)
        still_open = connection.execute(f'SELECT count(*) FROM "{table_slice.schema}"."{table_slice.table}"').fetchall()[0]
        print(f"inserted, rows visible inside the open transaction: {still_open[0]}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


class _DyingIOManager(DuckDBPolarsIOManager):
    @staticmethod
    def type_handlers():
        return [_DieAfterInsert()]


def main(database: str, table: str, partition: str) -> None:
    @dg.asset(
        name=table,
        key_prefix=["layer_03_foundation"],
        partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"),
        metadata={"partition_expr": "send_date"},
    )
    def _fact(context) -> pl.DataFrame:
        day = context.partition_time_window.start.date()
        return pl.DataFrame({"send_date": [day] * 3, "message_send_key": ["new-1", "new-2", "new-3"], "sent": [9, 9, 9]})

    dg.materialize([_fact], resources={"io_manager": _DyingIOManager(database=database)}, partition_key=partition)


if __name__ == "__main__":
    main(*sys.argv[1:4])
