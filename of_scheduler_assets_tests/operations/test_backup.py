"""Backup and restore of the warehouse: back up, change a table, restore, the table is back. DuckDB through the jobs
of the code location (EXPORT / IMPORT DATABASE); BigQuery through table snapshots on the emulator."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest

from of_scheduler_assets.automation import operations
from of_scheduler_assets.resources import backup as B
from of_scheduler_assets.resources.clock import ClockResource


def _seed(database: str) -> None:
    conn = duckdb.connect(database)
    conn.execute('CREATE SCHEMA ops_monitor; CREATE SCHEMA "layer_03_foundation"')
    conn.execute("CREATE TABLE ops_monitor.alerts AS SELECT 'a1' AS alert_id, 'CRITICAL' AS severity")
    conn.execute("CREATE TABLE layer_03_foundation.dim_page AS SELECT * FROM range(5) t(page_id)")
    conn.close()


def _rows(database: str, table: str) -> list:
    conn = duckdb.connect(database, read_only=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        conn.close()


def test_duckdb_backup_change_restore_through_the_jobs(tmp_path):
    database, backups = str(tmp_path / "wh.duckdb"), tmp_path / "exports" / "backups"
    _seed(database)
    resources = {"warehouse_backup": B.WarehouseBackupResource(target="local", database=database,
                                                               backups_dir=str(backups)),
                 "clock": ClockResource()}
    with dg.DagsterInstance.ephemeral() as instance:
        backup = operations.warehouse_backup_job.execute_in_process(instance=instance, resources=resources)
        assert backup.success
        (name,) = B.list_backups(backups)
        manifest = json.loads((backups / name / "manifest.json").read_text())
        assert manifest["tables"] == {"layer_03_foundation.dim_page": 5, "ops_monitor.alerts": 1}
        dt.datetime.strptime(name, B.STAMP)  # named by its UTC instant

        conn = duckdb.connect(database)
        conn.execute("DELETE FROM layer_03_foundation.dim_page WHERE page_id < 3")
        conn.execute("UPDATE ops_monitor.alerts SET severity = 'INFO'")
        conn.execute("CREATE TABLE ops_monitor.after_backup AS SELECT 1 AS x")
        conn.close()

        restore = operations.warehouse_restore_job.execute_in_process(
            instance=instance, resources=resources,
            run_config={"ops": {"restore_warehouse": {"config": {"backup_id": name}}}})
        assert restore.success
    assert _rows(database, "layer_03_foundation.dim_page") == [(i,) for i in range(5)]
    assert _rows(database, "ops_monitor.alerts") == [("a1", "CRITICAL")]
    conn = duckdb.connect(database, read_only=True)
    tables = {t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    conn.close()
    assert "after_backup" not in tables  # the warehouse is the backup's, not a merge


def test_restore_of_an_unknown_backup_changes_nothing_and_old_backups_are_pruned(tmp_path):
    database, backups = str(tmp_path / "wh.duckdb"), tmp_path / "backups"
    _seed(database)
    t0 = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)
    for i in range(3):
        B.backup_duckdb(database, backups, t0 + dt.timedelta(days=i), keep=2)
    assert B.list_backups(backups) == ["20261128T033000Z", "20261129T033000Z"]
    with pytest.raises(dg.Failure, match="not found"):
        B.restore_duckdb(database, backups, "20261127T033000Z")
    assert len(_rows(database, "layer_03_foundation.dim_page")) == 5


@pytest.mark.bigquery
def test_bigquery_snapshot_change_restore(bigquery_session_backend):
    backend = bigquery_session_backend
    client, project = backend.client, backend.project
    dataset = "ops_monitor"
    backend.drop_dataset(dataset)
    backend.drop_dataset(B.SNAPSHOT_DATASET)
    client.create_dataset(f"{project}.{dataset}")
    client.query(f"CREATE TABLE `{project}.{dataset}.alerts` AS "
                 "SELECT 'a1' AS alert_id, 'CRITICAL' AS severity UNION ALL SELECT 'a2', 'WARNING'").result()
    resource = B.WarehouseBackupResource(target="bigquery", project=project, api_endpoint=backend.emulator.endpoint)
    manifest = resource.backup(dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC))
    # (other tests of the session may leave tables in other layer datasets: only ours is asserted)
    assert manifest["snapshots"][f"{dataset}.alerts"] == (
        f"{project}.{B.SNAPSHOT_DATASET}.{dataset}__alerts__20261127T033000Z")
    snap = client.get_table(manifest["snapshots"][f"{dataset}.alerts"])
    assert snap.table_type == "SNAPSHOT"

    client.query(f"DELETE FROM `{project}.{dataset}.alerts` WHERE alert_id = 'a1'").result()
    result = resource.restore()  # the newest backup
    assert result["tables"][f"{dataset}.alerts"] == f"{dataset}__alerts__20261127T033000Z"
    rows = sorted(tuple(r.values()) for r in client.query(
        f"SELECT alert_id, severity FROM `{project}.{dataset}.alerts`").result())
    assert rows == [("a1", "CRITICAL"), ("a2", "WARNING")]
    backend.drop_dataset(dataset)
    backend.drop_dataset(B.SNAPSHOT_DATASET)
