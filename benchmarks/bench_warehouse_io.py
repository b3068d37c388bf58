"""Warehouse IO throughput: a 1M-row frame through our DuckDB IO manager vs plain duckdb + pl.from_arrow.

    .venv/bin/python benchmarks/bench_warehouse_io.py [--rows 1000000] [--repeat 3]

Both sides write the same frame (every dtype of the IO contract) into a fresh DuckDB file and read it back, in the
same process; the best of --repeat runs is reported. The IO-manager side includes what a materialization pays:
one transaction, the slice delete, the schema probe and the metadata. A third line times a whole `dg.materialize`
(orchestration included) for scale.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, open_duckdb, read_duckdb_table

KEY = dg.AssetKey(["layer_03_foundation", "bench_fact"])


def make_frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    base = dt.datetime(2026, 5, 1)
    captions = np.array(["Good morning ☕ who wants to start the day 💕", "New set 📸\nBeach day vibes…", "𝒯𝒽𝒶𝓃𝓀 𝓎𝑜𝓊 &amp; “hi”"])
    minutes = rng.integers(0, 180 * 1440, rows)
    ts = pl.Series("minutes", minutes).cast(pl.Int64) * 60_000_000 + int(base.timestamp() * 1_000_000)
    frame = pl.DataFrame(
        {
            "message_send_key": pl.int_range(rows, eager=True).cast(pl.String).str.zfill(16),
            "caption_text": captions[rng.integers(0, 3, rows)],
            "sent": rng.integers(4_000, 51_000, rows),
            "view_rate": rng.random(rows) * 0.05,
            "is_free": rng.random(rows) < 0.58,
            "sending_ts_report_local": ts.cast(pl.Datetime("us")),
            "price_cents": rng.integers(0, 5_000, rows),
        }
    ).with_columns(
        sending_ts_utc=pl.col("sending_ts_report_local").dt.replace_time_zone("UTC"),
        send_date=pl.col("sending_ts_report_local").dt.date(),
        price_usd=(pl.col("price_cents") / 100).cast(pl.Decimal(10, 2)),
        dq_flags=pl.when(pl.col("sent") % 10 == 0).then(pl.lit(["view_gt_sent"])).otherwise(pl.lit([], pl.List(pl.String))),
    )
    return frame


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    mb = frame.estimated_size("mb")
    workdir = Path(tempfile.mkdtemp(prefix="of_bench_io_"))

    # --- our IO manager, called the way Dagster calls it --------------------------------------------------------
    ours_db = str(workdir / "ours.duckdb")
    factory = DuckDBPolarsIOManager(database=ours_db, create_layer_schemas=False)
    resource_config = {"database": ours_db, "connection_config": {}, "schema": None}
    io = factory.create_io_manager(None)
    instance = dg.DagsterInstance.ephemeral()  # built once: contexts would otherwise make one per call
    frame_type = dg.DagsterType(lambda _c, _v: True, name="PolarsFrame", typing_type=pl.DataFrame)

    # Contexts are built once: constructing them is Dagster's cost per step, not the IO manager's per byte.
    out_ctx = dg.build_output_context(asset_key=KEY, resource_config=resource_config, instance=instance)
    in_ctx = dg.build_input_context(asset_key=KEY, upstream_output=out_ctx, resource_config=resource_config,
                                    instance=instance, dagster_type=frame_type)

    def ours_write():
        out_ctx._user_generated_metadata = {}  # the same context is reused; Dagster refuses duplicate metadata keys
        io.handle_output(out_ctx, frame)

    def ours_read():
        return io.load_input(in_ctx)

    # --- baseline: plain duckdb + pl.from_arrow -----------------------------------------------------------------
    base_db = str(workdir / "plain.duckdb")

    def plain_write():
        conn = open_duckdb(base_db)
        conn.execute("CREATE SCHEMA IF NOT EXISTS layer_03_foundation")
        conn.register("frame", frame.to_arrow())
        conn.execute("CREATE OR REPLACE TABLE layer_03_foundation.bench_fact AS SELECT * FROM frame")
        conn.close()

    def plain_read():
        conn = open_duckdb(base_db, read_only=True)
        out = read_duckdb_table(conn, "SELECT * FROM layer_03_foundation.bench_fact")
        conn.close()
        return out

    ours_write(), plain_write()  # warm-up: first table creation and import costs are not throughput
    t_ours_w, _ = best_of(args.repeat, ours_write)
    t_plain_w, _ = best_of(args.repeat, plain_write)
    t_ours_r, got_ours = best_of(args.repeat, ours_read)
    t_plain_r, got_plain = best_of(args.repeat, plain_read)
    assert got_ours.height == frame.height and got_ours.schema == frame.schema, "IO manager read-back differs"
    assert got_plain.height == frame.height

    @dg.asset(key=KEY)
    def bench_fact() -> pl.DataFrame:
        return frame

    mat_db = str(workdir / "materialize.duckdb")
    t_mat, _ = best_of(args.repeat, lambda: dg.materialize([bench_fact], resources={"io_manager": DuckDBPolarsIOManager(database=mat_db)}))

    print(f"frame: {frame.height:,} rows x {frame.width} columns, {mb:.0f} MB in memory")
    print(f"{'':28s}{'seconds':>9s}{'rows/s':>14s}{'MB/s':>9s}")
    for label, seconds in [
        ("write: IO manager", t_ours_w), ("write: plain duckdb", t_plain_w),
        ("read:  IO manager", t_ours_r), ("read:  plain duckdb", t_plain_r),
        ("write: dg.materialize", t_mat),
    ]:
        print(f"{label:28s}{seconds:9.3f}{frame.height / seconds:14,.0f}{mb / seconds:9.0f}")
    print(f"ratio IO manager / plain: write {t_ours_w / t_plain_w:.2f}x, read {t_ours_r / t_plain_r:.2f}x (1.00 = no overhead)")


if __name__ == "__main__":
    main()
