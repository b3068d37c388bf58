"""BigQueryPolarsIOManager against the bqemulator, through real Dagster materializations.

One emulator serves the session (``bigquery_session_backend`` in conftest.py); every test uses unique table names.
Nothing here needs an environment variable, Google credentials or the network.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.bigquery

DATASET = "layer_03_foundation"
DOWNSTREAM = "layer_04_semantic"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
UTC = dt.UTC


@pytest.fixture
def backend(bigquery_session_backend):
    return bigquery_session_backend


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _materialize(assets, backend, **kwargs) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, resources={"io_manager": backend.io_manager}, **kwargs)
    assert result.success
    return result


# One column per dtype (plus a key to sort by). Nulls everywhere a BigQuery column can hold them.
COLUMNS: dict[str, tuple[pl.DataType, list]] = {
    "text": (
        pl.String(),
        ["emoji 😀👩\u200d❤️\u200d👨", "line\nbreak\r\nand\ttab", "", None],
    ),
    "int64": (pl.Int64(), [0, -(2**62), 2**62, None]),
    "float64": (pl.Float64(), [0.0, -1.5, 1e300, None]),
    "boolean": (pl.Boolean(), [True, False, True, None]),
    "date": (pl.Date(), [dt.date(2026, 3, 8), dt.date(1970, 1, 1), dt.date(2099, 12, 31), None]),
    "naive_datetime": (
        pl.Datetime("us"),
        [dt.datetime(2026, 3, 8, 2, 30), dt.datetime(1999, 12, 31, 23, 59, 59, 999999), dt.datetime(2026, 1, 1), None],
    ),
    "utc_datetime": (
        pl.Datetime("us", "UTC"),
        [
            dt.datetime(2026, 3, 8, 9, 0, 0, 123456, tzinfo=UTC),
            dt.datetime(1970, 1, 1, tzinfo=UTC),
            dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
            None,
        ],
    ),
    "decimal_12_2": (
        pl.Decimal(12, 2),
        [Decimal("0.00"), Decimal("9999999999.99"), Decimal("-1234.50"), None],
    ),
    "list_utf8": (pl.List(pl.String()), [[], ["a", "b😀"], ["line\nbreak"], []]),
    "list_int64": (pl.List(pl.Int64()), [[1, 2, 3], [], [-(2**40)], []]),
    "int32": (pl.Int32(), [1, -2, 2**31 - 1, None]),
    "berlin_datetime": (
        pl.Datetime("us", "Europe/Berlin"),
        [dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC), None, dt.datetime(2026, 7, 1, tzinfo=UTC), None],
    ),
}


def _frame(column: str) -> pl.DataFrame:
    dtype, values = COLUMNS[column]
    return pl.DataFrame({"k": list(range(len(values))), column: pl.Series(column, values, dtype=dtype)}).sort("k")


@pytest.mark.parametrize("column", list(COLUMNS))
def test_dtype_round_trips(backend, column):
    frame = _frame(column)
    table = _name(f"rt_{column}")
    seen: list[pl.DataFrame] = []

    @dg.asset(name=table, key_prefix=[DATASET])
    def upstream() -> pl.DataFrame:
        return frame

    @dg.asset(name=table + "_reader", key_prefix=[DOWNSTREAM], ins={"upstream": dg.AssetIn(key=[DATASET, table])})
    def reader(upstream: pl.DataFrame) -> pl.DataFrame:
        seen.append(upstream)
        return upstream

    result = _materialize([upstream, reader], backend)

    assert_frame_equal(seen[0].sort("k"), frame)  # what a downstream asset receives
    assert_frame_equal(backend.read_table(DATASET, table).sort("k"), frame)  # what the warehouse holds
    assert_frame_equal(backend.read_table(DOWNSTREAM, table + "_reader").sort("k"), frame)

    metadata = result.asset_materializations_for_node(upstream.op.name)[0].metadata
    assert metadata["dagster/row_count"].value == frame.height
    assert metadata["dagster/table_name"].value == f"{backend.project}.{DATASET}.{table}"
    assert [c.name for c in metadata["dagster/column_schema"].value.columns] == ["k", column]


def test_all_dtypes_in_one_table_and_column_selection(backend):
    frame = (
        pl.concat([_frame(c).drop("k") for c in COLUMNS], how="horizontal")
        .with_row_index("k")
        .with_columns(pl.col("k").cast(pl.Int64))
    )
    table = _name("wide")
    seen: list[pl.DataFrame] = []

    @dg.asset(name=table, key_prefix=[DATASET])
    def wide() -> pl.DataFrame:
        return frame

    @dg.asset(
        name=table + "_some",
        key_prefix=[DOWNSTREAM],
        ins={"wide": dg.AssetIn(key=[DATASET, table], metadata={"columns": ["k", "decimal_12_2", "utc_datetime"]})},
    )
    def some(wide: pl.DataFrame) -> pl.DataFrame:
        seen.append(wide)
        return wide

    _materialize([wide, some], backend)
    assert_frame_equal(backend.read_table(DATASET, table).sort("k"), frame)
    assert_frame_equal(seen[0].sort("k"), frame.select("k", "decimal_12_2", "utc_datetime"))


def test_empty_frame_creates_table_with_schema(backend):
    frame = pl.concat([_frame(c).drop("k") for c in COLUMNS], how="horizontal").clear()
    table = _name("empty")

    @dg.asset(name=table, key_prefix=[DATASET])
    def empty() -> pl.DataFrame:
        return frame

    result = _materialize([empty], backend)
    assert backend.table_exists(DATASET, table)
    stored = backend.read_table(DATASET, table)
    assert stored.height == 0
    assert stored.schema == frame.schema
    assert result.asset_materializations_for_node(empty.op.name)[0].metadata["dagster/row_count"].value == 0


def test_empty_frame_over_full_table_empties_it(backend):
    frames = [_frame("text"), _frame("text").clear()]
    table = _name("emptied")

    @dg.asset(name=table, key_prefix=[DATASET])
    def shrinking() -> pl.DataFrame:
        return frames.pop(0)

    _materialize([shrinking], backend)
    assert backend.read_table(DATASET, table).height == 4
    _materialize([shrinking], backend)
    stored = backend.read_table(DATASET, table)
    assert stored.height == 0 and stored.schema == _frame("text").schema


def _facts(day: dt.date, tag: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "send_date": [day] * n,
            "key": [f"{tag}-{i}" for i in range(n)],
            "sent_at": [dt.datetime.combine(day, dt.time(i % 24), tzinfo=UTC) for i in range(n)],
            "earnings": [Decimal(f"{i}.25") for i in range(n)],
            "flags": [[tag] * (i % 3) for i in range(n)],
        },
        schema={
            "send_date": pl.Date,
            "key": pl.String,
            "sent_at": pl.Datetime("us", "UTC"),
            "earnings": pl.Decimal(12, 2),
            "flags": pl.List(pl.String),
        },
    )


def _daily_asset(table: str, rows_for: dict[str, pl.DataFrame], partition_expr: str = "send_date", **metadata):
    @dg.asset(
        name=table,
        key_prefix=[DATASET],
        partitions_def=DAILY,
        metadata={"partition_expr": partition_expr, **metadata},
    )
    def fact(context) -> pl.DataFrame:
        return rows_for[context.partition_key]

    return fact


@pytest.mark.parametrize(
    ("partition_expr", "metadata"),
    [
        ("send_date", {}),
        ("sent_at", {}),  # TIMESTAMP partition column
        ("send_date", {"bigquery_time_partitioning": "send_date", "bigquery_clustering_fields": ["key"]}),
    ],
    ids=["date", "timestamp", "date-partitioned-table"],
)
def test_partition_write_replaces_only_that_partition(backend, partition_expr, metadata):
    table = _name("fact")
    rows_for = {"2026-03-07": _facts(dt.date(2026, 3, 7), "x", 5), "2026-03-08": _facts(dt.date(2026, 3, 8), "y", 4)}
    fact = _daily_asset(table, rows_for, partition_expr, **metadata)
    for key in rows_for:
        _materialize([fact], backend, partition_key=key)
    assert backend.read_table(DATASET, table).height == 9

    rows_for["2026-03-08"] = _facts(dt.date(2026, 3, 8), "z", 2)
    result = _materialize([fact], backend, partition_key="2026-03-08")
    md = result.asset_materializations_for_node(fact.op.name)[0].metadata
    assert md["dagster/partition_row_count"].value == 2
    assert md["dagster/row_count"].value == 7

    stored = backend.read_table(DATASET, table).sort("key")
    assert_frame_equal(stored.filter(pl.col("send_date") == dt.date(2026, 3, 7)), rows_for["2026-03-07"])
    assert_frame_equal(stored.filter(pl.col("send_date") == dt.date(2026, 3, 8)), rows_for["2026-03-08"])

    rows_for["2026-03-08"] = _facts(dt.date(2026, 3, 8), "e", 0)
    _materialize([fact], backend, partition_key="2026-03-08")
    assert_frame_equal(backend.read_table(DATASET, table).sort("key"), rows_for["2026-03-07"])


def test_rematerialization_is_identical(backend):
    dim_table, fact_table = _name("dim"), _name("fact")
    frame = pl.concat([_frame(c).drop("k") for c in COLUMNS], how="horizontal").with_row_index("k")
    rows_for = {"2026-03-08": _facts(dt.date(2026, 3, 8), "p", 3)}

    @dg.asset(name=dim_table, key_prefix=[DATASET])
    def dim() -> pl.DataFrame:
        return frame

    fact = _daily_asset(fact_table, rows_for)
    snapshots = []
    for _ in range(2):
        _materialize([dim], backend)
        _materialize([fact], backend, partition_key="2026-03-08")
        snapshots.append(
            (backend.read_table(DATASET, dim_table).sort("k"), backend.read_table(DATASET, fact_table).sort("key"))
        )
    for before, after in zip(*snapshots, strict=True):
        assert_frame_equal(before, after)
    assert snapshots[1][0].height == 4 and snapshots[1][1].height == 3
    assert_frame_equal(snapshots[1][0], frame.with_columns(pl.col("k").cast(pl.UInt32)))


def test_partitioned_clustered_table_metadata(backend):
    table, plain = _name("fact"), _name("plain")
    rows_for = {"2026-03-08": _facts(dt.date(2026, 3, 8), "t", 4)}
    fact = _daily_asset(
        table,
        rows_for,
        bigquery_time_partitioning={"field": "send_date", "type": "DAY"},
        bigquery_clustering_fields=["key", "sent_at"],
    )

    @dg.asset(name=plain, key_prefix=[DATASET])
    def plain_asset() -> pl.DataFrame:
        return rows_for["2026-03-08"]

    _materialize([fact], backend, partition_key="2026-03-08")
    _materialize([plain_asset], backend)
    assert backend.partitioning(DATASET, table) == {
        "time_partitioning_field": "send_date",
        "time_partitioning_type": "DAY",
        "clustering_fields": ["key", "sent_at"],
    }
    assert backend.partitioning(DATASET, plain) == {
        "time_partitioning_field": None,
        "time_partitioning_type": None,
        "clustering_fields": None,
    }
    assert_frame_equal(backend.read_table(DATASET, table).sort("key"), rows_for["2026-03-08"])

    # Writing another partition keeps the table (and its partitioning) as created.
    rows_for["2026-03-09"] = _facts(dt.date(2026, 3, 9), "u", 2)
    _materialize([fact], backend, partition_key="2026-03-09")
    assert backend.partitioning(DATASET, table)["time_partitioning_field"] == "send_date"
    assert backend.read_table(DATASET, table).height == 6


def test_downstream_reads_whole_partitioned_table_and_single_partition(backend):
    table = _name("fact")
    rows_for = {
        "2026-03-06": _facts(dt.date(2026, 3, 6), "a", 1),
        "2026-03-07": _facts(dt.date(2026, 3, 7), "b", 2),
        "2026-03-08": _facts(dt.date(2026, 3, 8), "c", 3),
    }
    fact = _daily_asset(table, rows_for, bigquery_time_partitioning="send_date")
    seen: dict[str, pl.DataFrame] = {}

    @dg.asset(
        name=table + "_daily",
        key_prefix=[DOWNSTREAM],
        partitions_def=DAILY,
        metadata={"partition_expr": "send_date"},
        ins={"fact": dg.AssetIn(key=[DATASET, table])},
    )
    def daily(context, fact: pl.DataFrame) -> pl.DataFrame:
        seen[context.partition_key] = fact
        return fact.select("send_date", "key")

    @dg.asset(name=table + "_all", key_prefix=[DOWNSTREAM], ins={"fact": dg.AssetIn(key=[DATASET, table])})
    def everything(fact: pl.DataFrame) -> pl.DataFrame:
        seen["all"] = fact
        return fact.select("key")

    for key in rows_for:
        _materialize([fact], backend, partition_key=key)
    _materialize([fact, daily], backend, selection=[daily], partition_key="2026-03-07")
    _materialize([fact, everything], backend, selection=[everything])

    assert_frame_equal(seen["2026-03-07"].sort("key"), rows_for["2026-03-07"])
    assert_frame_equal(seen["all"].sort("key"), pl.concat(list(rows_for.values())))
    assert_frame_equal(
        backend.read_table(DOWNSTREAM, table + "_daily").sort("key"), rows_for["2026-03-07"].select("send_date", "key")
    )


def test_full_table_write_with_new_schema_replaces_table(backend):
    frames = [_frame("text"), _frame("int64").rename({"int64": "other"})]
    table = _name("evolving")

    @dg.asset(name=table, key_prefix=[DATASET])
    def evolving() -> pl.DataFrame:
        return frames[0]

    _materialize([evolving], backend)
    frames.pop(0)
    _materialize([evolving], backend)
    assert_frame_equal(backend.read_table(DATASET, table).sort("k"), frames[0])


def test_io_manager_from_env_uses_env_vars(monkeypatch):
    from of_scheduler_assets.resources.bigquery import BigQueryPolarsIOManager, bigquery_io_manager_from_env

    for name in ("OF_SCHEDULER_BQ_LOCATION", "OF_SCHEDULER_BQ_CREDENTIALS", "OF_SCHEDULER_BQ_API_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OF_SCHEDULER_BQ_PROJECT", "some-project")
    manager = bigquery_io_manager_from_env()
    assert isinstance(manager, BigQueryPolarsIOManager)
    assert manager.location is None and manager.gcp_credentials is None and manager.api_endpoint is None

    monkeypatch.setenv("OF_SCHEDULER_BQ_LOCATION", "EU")
    monkeypatch.setenv("OF_SCHEDULER_BQ_CREDENTIALS", "c2VjcmV0")
    manager = bigquery_io_manager_from_env()
    # EnvVar objects, resolved only when a run starts: no value is baked into the definitions.
    assert (
        isinstance(manager.gcp_credentials, dg.EnvVar)
        and manager.gcp_credentials.env_var_name == "OF_SCHEDULER_BQ_CREDENTIALS"
    )
    assert isinstance(manager.location, dg.EnvVar)


def test_io_manager_from_env_points_at_emulator(backend, monkeypatch):
    from of_scheduler_assets.resources.bigquery import bigquery_io_manager_from_env

    monkeypatch.setenv("OF_SCHEDULER_BQ_PROJECT", backend.project)
    monkeypatch.setenv("OF_SCHEDULER_BQ_API_ENDPOINT", backend.emulator.endpoint)
    monkeypatch.delenv("OF_SCHEDULER_BQ_CREDENTIALS", raising=False)
    monkeypatch.delenv("OF_SCHEDULER_BQ_LOCATION", raising=False)
    table = _name("env")
    frame = _frame("date")

    @dg.asset(name=table, key_prefix=[DATASET])
    def from_env() -> pl.DataFrame:
        return frame

    assert dg.materialize([from_env], resources={"io_manager": bigquery_io_manager_from_env()}).success
    assert_frame_equal(backend.read_table(DATASET, table).sort("k"), frame)


def test_schema_conflict_on_partition_write_leaves_table_untouched(backend):
    table = _name("fact")
    good = _facts(dt.date(2026, 3, 8), "old", 4)
    rows_for = {"2026-03-08": good}
    fact = _daily_asset(table, rows_for)
    _materialize([fact], backend, partition_key="2026-03-08")

    rows_for["2026-03-08"] = good.with_columns(pl.col("key").cast(pl.Categorical).to_physical().cast(pl.Int64))
    result = dg.materialize(
        [fact], resources={"io_manager": backend.io_manager}, partition_key="2026-03-08", raise_on_error=False
    )
    assert not result.success
    assert "left unchanged" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert_frame_equal(backend.read_table(DATASET, table).sort("key"), good)


def test_failed_load_keeps_previous_partition_and_no_staging_table(backend, monkeypatch):
    import of_scheduler_assets.resources.bigquery as bq

    table = _name("fact")
    good = _facts(dt.date(2026, 3, 8), "old", 4)
    rows_for = {"2026-03-08": good}
    fact = _daily_asset(table, rows_for)
    _materialize([fact], backend, partition_key="2026-03-08")

    def broken_load(*args, **kwargs):
        raise RuntimeError("upload interrupted")

    monkeypatch.setattr(bq, "load_frame", broken_load)
    rows_for["2026-03-08"] = _facts(dt.date(2026, 3, 8), "new", 2)
    result = dg.materialize(
        [fact], resources={"io_manager": backend.io_manager}, partition_key="2026-03-08", raise_on_error=False
    )
    assert not result.success
    monkeypatch.undo()
    assert_frame_equal(backend.read_table(DATASET, table).sort("key"), good)
    names = [t.table_id for t in backend.client.list_tables(f"{backend.project}.{DATASET}")]
    assert not [n for n in names if n.startswith("_staging_")]
