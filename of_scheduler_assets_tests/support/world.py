"""Generated worlds for end-to-end tests: write one with the sample generator, run the real asset graph on it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from of_scheduler_assets.partitions import range_tags
from of_scheduler_assets.resources.alerting import AlertingResource
from of_scheduler_assets.resources.backup import WarehouseBackupResource
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.mailbox import MailboxResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.seeds import SeedsResource
from of_scheduler_assets.resources.sheets import SheetsResource
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


def world_dates(home: Path) -> tuple[dt.date, dt.date]:
    """(first, last) send date of a generated world, from its manifest."""
    meta = json.loads((home / "sample_manifest.json").read_text())
    end = dt.date.fromisoformat(meta["end_date"])
    return end - dt.timedelta(days=int(meta["days"]) - 1), end


def world_as_of(home: Path) -> dt.datetime:
    """The world's evaluation time: midnight UTC after its last day (every report has arrived by then)."""
    return dt.datetime.combine(world_dates(home)[1] + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)


def world_range_tags(home: Path) -> dict[str, str]:
    """A single run over every partition the world can touch: its first reports list sends of the week before its
    first day, and local dates reach one day either side of UTC."""
    if not (home / "sample_manifest.json").exists():  # a hand-made mailbox: today's partition only
        today = dt.datetime.now(dt.UTC).date().isoformat()
        return range_tags(today, today)
    first, last = world_dates(home)
    return range_tags((first - dt.timedelta(days=10)).isoformat(), world_as_of(home).date().isoformat())


def resources_for(home: Path, *, as_of: dt.datetime | None = None) -> dict:
    database = str(home / "warehouse.duckdb")
    if as_of is None and (home / "sample_manifest.json").exists():
        as_of = world_as_of(home)
    return {
        "clock": ClockResource(as_of=as_of.isoformat() if as_of else None),
        "ranker_config": RankerConfigResource(),
        "io_manager": DuckDBPolarsIOManager(database=database),
        "warehouse": WarehouseReader(target="local", database=database),
        "ops_config_file": OpsConfigResource(),
        "alerting": AlertingResource(),  # no channel: alerts are logged only
        "warehouse_backup": WarehouseBackupResource(target="local", database=database,
                                                    backups_dir=str(home / "exports" / "backups")),
        "seeds": SeedsResource(override_dir=str(home / "seeds")),
        "mailbox": MailboxResource(mailbox=str(home / "inbox")),
        "sheets": SheetsResource(target="xlsx", exports_dir=str(home / "exports")),
        "storage": StorageResource(
            inbox_dir=str(home / "inbox"), archive_dir=str(home / "archive"), exports_dir=str(home / "exports")
        ),
    }


class Runs:
    """The runs of one `materialize_all`, read like a single result."""

    def __init__(self, results: list[dg.ExecuteInProcessResult]):
        self.results = results

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def get_asset_check_evaluations(self) -> list:
        return [e for r in self.results for e in r.get_asset_check_evaluations()]


def materialize_all(home: Path, *, raise_on_error: bool = True, tags: dict | None = None, selection=None):
    """Every asset (with its checks), as the run command does: one run over the world's partition range for
    everything but the per-day decision layers, then one run of those for the world's evaluation date."""
    from of_scheduler_assets.automation.jobs import DAILY_DECISIONS, EVALUATION, SIMULATION
    from of_scheduler_assets.definitions import ASSET_CHECKS, ASSETS

    everything = [*ASSETS, *ASSET_CHECKS]
    resources = resources_for(home)
    if selection is not None:
        return dg.materialize(everything, resources=resources, raise_on_error=raise_on_error, tags=tags,
                              selection=selection)
    first = dg.materialize(everything, resources=resources, raise_on_error=raise_on_error,
                           tags=tags if tags is not None else world_range_tags(home),
                           selection=dg.AssetSelection.all() - DAILY_DECISIONS - EVALUATION - SIMULATION)
    if not first.success:
        return Runs([first])
    day = (resources["clock"].now()).date().isoformat()
    second = dg.materialize(everything, resources=resources, raise_on_error=raise_on_error, partition_key=day,
                            selection=DAILY_DECISIONS)
    if not second.success:
        return Runs([first, second])
    third = dg.materialize(everything, resources=resources, raise_on_error=raise_on_error, selection=EVALUATION)
    return Runs([first, second, third])


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


# Tables a re-run legitimately changes: append-only logs gain the run's rows; ranking rows carry the run's identity.
APPEND_ONLY_LOGS = ("ops_audit.recommendation_log", "ops_audit.config_assignment_log", "ops_audit.export_log",
                    "ops.qa_violations")  # every run appends its own rows (findings and writes are per run)
RUN_IDENTITY_COLUMNS = ("run_id", "generated_at")


# Tables that observe the platform itself (50-operations §2-§4: freshness by wall clock, health evaluations, alert
# deliveries, the run audit) and the alert rows they raise: a re-run is itself something they observe.
OBSERVATION_TABLES = ("ops_monitor.freshness_status", "ops_monitor.system_health", "ops_monitor.alert_deliveries",
                      "ops_audit.pipeline_runs", "ops_audit.pipeline_run_assets", "layer_07_export.api_system_health")
OBSERVATION_ALERT_SOURCES = ("system_health", "run_failure_alert_sensor", "asset_check_alert_sensor")


def comparable_tables(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """What a re-run over unchanged inputs must leave identical: every table but the append-only logs and the
    platform's observations of itself, without the columns naming the run that wrote them."""
    out = {name: frame.drop([c for c in RUN_IDENTITY_COLUMNS if c in frame.columns])
           for name, frame in tables.items() if name not in APPEND_ONLY_LOGS + OBSERVATION_TABLES}
    if "ops_monitor.alerts" in out:
        out["ops_monitor.alerts"] = out["ops_monitor.alerts"].filter(
            ~pl.col("source").is_in(list(OBSERVATION_ALERT_SOURCES)))
    if "layer_07_export.team_sheets" in out:  # the tabs that show those alerts and the health
        out["layer_07_export.team_sheets"] = out["layer_07_export.team_sheets"].filter(
            ~pl.col("tab").str.ends_with("Alerts") & (pl.col("tab") != "System Health"))
    return out
