"""The warehouse IO contract, one suite for both targets (DuckDB file, BigQuery emulator).

Every write and read goes through real Dagster materializations with the project's IO managers. Tables get unique
names per test because the BigQuery emulator is shared by the session.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

SCHEMA = "layer_03_foundation"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
UTC = dt.UTC

# Every dtype the warehouse stores. Lists are never null in our tables (BigQuery REPEATED cannot hold NULL): use [].
CONTRACT_SCHEMA = {
    "message_send_key": pl.String,
    "caption_text": pl.String,
    "sent": pl.Int64,
    "view_rate": pl.Float64,
    "is_free": pl.Boolean,
    "send_date": pl.Date,
    "sending_ts_report_local": pl.Datetime("us"),
    "sending_ts_utc": pl.Datetime("us", "UTC"),
    "price_usd": pl.Decimal(10, 2),
    "earnings_usd": pl.Decimal(12, 2),
    "dq_flags": pl.List(pl.String),
}


def contract_frame(day: dt.date = dt.date(2026, 3, 8), tag: str = "a", n: int = 4) -> pl.DataFrame:
    texts = [
        "Good morning! ☕ Who wants to start the day with me? 💕",
        "New set just dropped 📸\nBeach day vibes… unlock to see the whole shoot 🌊\r\n\nline 4",
        "𝒯𝒽𝒶𝓃𝓀 𝓎𝑜𝓊 &amp; “curly” ‘quotes’ 👩\u200d❤️\u200d👨 \u00a0nbsp",
        None,
    ]
    rows = range(n)
    return pl.DataFrame(
        {
            "message_send_key": [f"{tag}-{i:03d}" for i in rows],
            "caption_text": [texts[i % len(texts)] for i in rows],
            "sent": [None if i == 3 else 50_312 + i for i in rows],
            "view_rate": [None if i == 2 else 0.011 * (i + 1) for i in rows],
            "is_free": [None if i == 1 else i % 2 == 0 for i in rows],
            "send_date": [day for _ in rows],
            # 02:30 on 2026-03-08 does not exist in America/Denver; naive values must come back untouched.
            "sending_ts_report_local": [dt.datetime.combine(day, dt.time(2, 30 + i)) for i in rows],
            "sending_ts_utc": [dt.datetime.combine(day, dt.time(9, i, 0, 123456), tzinfo=UTC) for i in rows],
            "price_usd": [Decimal("0.00"), Decimal("7.00"), None, Decimal("1234.50")][:n] + [Decimal("5.00")] * (n - 4),
            "earnings_usd": [Decimal("0.00"), Decimal("9999999999.99"), Decimal("9.00"), None][:n]
            + [Decimal("1.00")] * (n - 4),
            "dq_flags": [[], ["view_gt_sent", "earnings_imputed"], ["missing_count"], []][:n] + [[]] * (n - 4),
        },
        schema=CONTRACT_SCHEMA,
    )


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _materialize(assets, backend, **kwargs) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, resources={"io_manager": backend.io_manager}, **kwargs)
    assert result.success
    return result


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("message_send_key")


def test_every_dtype_round_trips_through_write_and_read(warehouse_backend):
    frame = contract_frame(n=6)
    table = _name("roundtrip")
    seen: list[pl.DataFrame] = []

    @dg.asset(name=table, key_prefix=[SCHEMA])
    def upstream() -> pl.DataFrame:
        return frame

    @dg.asset(name=table + "_reader", key_prefix=["layer_04_semantic"], ins={"upstream": dg.AssetIn(key=[SCHEMA, table])})
    def reader(upstream: pl.DataFrame) -> pl.DataFrame:
        seen.append(upstream)
        return upstream.select("message_send_key", "sent")

    _materialize([upstream, reader], warehouse_backend)

    assert_frame_equal(_sorted(seen[0]), frame)  # what a downstream asset receives
    assert_frame_equal(_sorted(warehouse_backend.read_table(SCHEMA, table)), frame)  # what the warehouse holds
    assert seen[0].schema == frame.schema


def test_empty_frame_creates_the_table_with_its_schema(warehouse_backend):
    table = _name("empty")
    empty = contract_frame().clear()

    @dg.asset(name=table, key_prefix=[SCHEMA])
    def nothing_yet() -> pl.DataFrame:
        return empty

    _materialize([nothing_yet], warehouse_backend)
    stored = warehouse_backend.read_table(SCHEMA, table)
    assert stored.height == 0
    assert stored.schema == empty.schema


def test_empty_frame_over_a_full_table_leaves_it_empty(warehouse_backend):
    table = _name("emptied")
    frames = [contract_frame(), contract_frame().clear()]

    @dg.asset(name=table, key_prefix=[SCHEMA])
    def shrinking() -> pl.DataFrame:
        return frames.pop(0)

    _materialize([shrinking], warehouse_backend)
    assert warehouse_backend.read_table(SCHEMA, table).height == 4
    _materialize([shrinking], warehouse_backend)
    assert warehouse_backend.read_table(SCHEMA, table).height == 0


def _partitioned_fact(table: str, rows_for: dict[str, pl.DataFrame], **metadata):
    @dg.asset(
        name=table,
        key_prefix=[SCHEMA],
        partitions_def=DAILY,
        metadata={"partition_expr": "send_date", **metadata},
    )
    def fact(context) -> pl.DataFrame:
        return rows_for[context.partition_key]

    return fact


def test_writing_one_partition_replaces_exactly_that_partition(warehouse_backend):
    table = _name("fact")
    rows_for = {
        "2026-03-07": contract_frame(dt.date(2026, 3, 7), "x", n=5),
        "2026-03-08": contract_frame(dt.date(2026, 3, 8), "y", n=4),
    }
    fact = _partitioned_fact(table, rows_for)
    for key in rows_for:
        _materialize([fact], warehouse_backend, partition_key=key)
    assert warehouse_backend.read_table(SCHEMA, table).height == 9

    rows_for["2026-03-08"] = contract_frame(dt.date(2026, 3, 8), "z", n=2)
    _materialize([fact], warehouse_backend, partition_key="2026-03-08")

    stored = _sorted(warehouse_backend.read_table(SCHEMA, table))
    assert_frame_equal(stored.filter(pl.col("send_date") == dt.date(2026, 3, 7)), rows_for["2026-03-07"])
    assert_frame_equal(stored.filter(pl.col("send_date") == dt.date(2026, 3, 8)), rows_for["2026-03-08"])

    # An empty partition write clears that partition only.
    rows_for["2026-03-08"] = contract_frame(dt.date(2026, 3, 8)).clear()
    _materialize([fact], warehouse_backend, partition_key="2026-03-08")
    stored = _sorted(warehouse_backend.read_table(SCHEMA, table))
    assert_frame_equal(stored, rows_for["2026-03-07"])


def test_rematerialization_gives_identical_tables(warehouse_backend):
    table, fact_table = _name("dim"), _name("fact")
    frame = contract_frame(n=7)
    rows_for = {"2026-03-08": contract_frame(dt.date(2026, 3, 8), "p", n=3)}

    @dg.asset(name=table, key_prefix=[SCHEMA])
    def dim() -> pl.DataFrame:
        return frame

    fact = _partitioned_fact(fact_table, rows_for)
    _materialize([dim], warehouse_backend)
    _materialize([fact], warehouse_backend, partition_key="2026-03-08")
    first = (warehouse_backend.read_table(SCHEMA, table), warehouse_backend.read_table(SCHEMA, fact_table))
    _materialize([dim], warehouse_backend)
    _materialize([fact], warehouse_backend, partition_key="2026-03-08")
    second = (warehouse_backend.read_table(SCHEMA, table), warehouse_backend.read_table(SCHEMA, fact_table))

    for before, after in zip(first, second, strict=True):
        assert_frame_equal(_sorted(before), _sorted(after))
    assert second[0].height == 7 and second[1].height == 3


def test_downstream_reads_one_partition_or_all_of_them(warehouse_backend):
    table = _name("fact")
    rows_for = {
        "2026-03-06": contract_frame(dt.date(2026, 3, 6), "a", n=1),
        "2026-03-07": contract_frame(dt.date(2026, 3, 7), "b", n=2),
        "2026-03-08": contract_frame(dt.date(2026, 3, 8), "c", n=3),
    }
    fact = _partitioned_fact(table, rows_for)
    seen: dict[str, pl.DataFrame] = {}

    @dg.asset(name=table + "_daily", key_prefix=["layer_04_semantic"], partitions_def=DAILY,
              metadata={"partition_expr": "send_date"}, ins={"fact": dg.AssetIn(key=[SCHEMA, table])})
    def daily(context, fact: pl.DataFrame) -> pl.DataFrame:
        seen[context.partition_key] = fact
        return fact.select("send_date", "message_send_key")

    @dg.asset(name=table + "_all", key_prefix=["layer_04_semantic"], ins={"fact": dg.AssetIn(key=[SCHEMA, table])})
    def everything(fact: pl.DataFrame) -> pl.DataFrame:
        seen["all"] = fact
        return fact.select("message_send_key")

    for key in rows_for:
        _materialize([fact], warehouse_backend, partition_key=key)
    _materialize([fact, daily], warehouse_backend, selection=[daily], partition_key="2026-03-07")
    _materialize([fact, everything], warehouse_backend, selection=[everything])

    assert_frame_equal(_sorted(seen["2026-03-07"]), rows_for["2026-03-07"])
    assert_frame_equal(_sorted(seen["all"]), pl.concat(list(rows_for.values())))


def test_time_partitioned_clustered_table_when_metadata_asks(warehouse_backend):
    table = _name("fact")
    rows_for = {"2026-03-08": contract_frame(dt.date(2026, 3, 8), "t", n=4)}
    fact = _partitioned_fact(
        table,
        rows_for,
        bigquery_time_partitioning={"field": "send_date", "type": "DAY"},
        bigquery_clustering_fields=["message_send_key", "is_free"],
    )
    _materialize([fact], warehouse_backend, partition_key="2026-03-08")
    assert_frame_equal(_sorted(warehouse_backend.read_table(SCHEMA, table)), rows_for["2026-03-08"])
    if warehouse_backend.name == "bigquery":
        info = warehouse_backend.partitioning(SCHEMA, table)
        assert info["time_partitioning_field"] == "send_date"
        assert info["time_partitioning_type"] == "DAY"
        assert info["clustering_fields"] == ["message_send_key", "is_free"]


# --- DuckDB: one transaction per write -------------------------------------------------------------------------------


@pytest.fixture
def duckdb_backend(tmp_path):
    from of_scheduler_assets_tests.support.duckdb_backend import DuckDBBackend

    return DuckDBBackend(tmp_path / "warehouse.duckdb")


def test_failed_partition_write_keeps_the_previous_partition(duckdb_backend):
    table = "fact_message_send"
    good = contract_frame(dt.date(2026, 3, 8), "old", n=4)
    rows_for = {"2026-03-08": good}
    fact = _partitioned_fact(table, rows_for)
    _materialize([fact], duckdb_backend, partition_key="2026-03-08")

    # The DELETE of the partition runs first; the insert of a frame whose schema drifted then fails.
    rows_for["2026-03-08"] = good.with_columns(pl.col("sent").cast(pl.String)).rename({"sent": "sent_text"})
    result = dg.materialize(
        [fact], resources={"io_manager": duckdb_backend.io_manager}, partition_key="2026-03-08", raise_on_error=False
    )
    assert not result.success
    assert "cannot change the table's schema" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert_frame_equal(_sorted(duckdb_backend.read_table(SCHEMA, table)), good)


def test_process_killed_mid_write_keeps_the_previous_partition(duckdb_backend):
    table = "fact_message_send"
    good = contract_frame(dt.date(2026, 3, 8), "old", n=4).select("send_date", "message_send_key", "sent")
    rows_for = {"2026-03-08": good}
    _materialize([_partitioned_fact(table, rows_for)], duckdb_backend, partition_key="2026-03-08")

    proc = subprocess.run(
        [sys.executable, "-m", "of_scheduler_assets_tests.support.crash_mid_write", str(duckdb_backend.path), table,
         "2026-03-08"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert "rows visible inside the open transaction: 3" in proc.stdout  # the old rows were deleted, new ones in
    assert_frame_equal(_sorted(duckdb_backend.read_table(SCHEMA, table)), good)


def test_full_table_write_with_a_new_schema_replaces_the_table(duckdb_backend):
    frames = [contract_frame(), contract_frame().drop("dq_flags").with_columns(extra=pl.lit(1))]

    @dg.asset(name="dim_caption", key_prefix=[SCHEMA])
    def evolving() -> pl.DataFrame:
        return frames[0]

    _materialize([evolving], duckdb_backend)
    frames.pop(0)
    _materialize([evolving], duckdb_backend)
    assert_frame_equal(_sorted(duckdb_backend.read_table(SCHEMA, "dim_caption")), frames[0])


def test_a_run_creates_every_layer_schema(duckdb_backend):
    from of_scheduler_assets import settings

    @dg.asset(name="anything", key_prefix=["ops"])
    def anything() -> pl.DataFrame:
        return pl.DataFrame({"a": [1]})

    _materialize([anything], duckdb_backend)
    assert set(settings.LAYER_SCHEMAS) <= duckdb_backend.schemas()


def test_reader_sees_what_the_io_manager_wrote_and_none_before(warehouse_backend):
    table = _name("state")
    reader = warehouse_backend.reader()
    assert reader.read_table(SCHEMA, table) is None

    @dg.asset(name=table, key_prefix=[SCHEMA])
    def state() -> pl.DataFrame:
        return contract_frame(n=5)

    _materialize([state], warehouse_backend)
    assert_frame_equal(_sorted(reader.read_table(SCHEMA, table)), contract_frame(n=5))
