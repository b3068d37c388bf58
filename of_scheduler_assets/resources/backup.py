"""Backup and restore of the warehouse (50-operations, operations requirement): the `warehouse_backup` resource.

Local (DuckDB): ``EXPORT DATABASE`` (Parquet + schema.sql + load.sql) into
``$OF_SCHEDULER_HOME/exports/backups/<YYYYmmddTHHMMSSZ>/`` with a ``manifest.json`` (tables and row counts); restore =
one transaction that drops every warehouse schema and runs ``IMPORT DATABASE`` from the chosen backup, so a failed
restore leaves the warehouse as it was. The newest ``keep`` backups are kept.

BigQuery: a table snapshot of every table of the layer datasets (copy job with ``operation_type=SNAPSHOT``, the API
form of ``CREATE SNAPSHOT TABLE … CLONE …``) into the dataset ``ops_backup`` as ``<dataset>__<table>__<stamp>``,
expiring after ``snapshot_expiration_days``; restore = copy job ``operation_type=RESTORE`` with ``WRITE_TRUNCATE``
back onto each table. Snapshots are cheap (only changed bytes are billed) and need no export bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
from pydantic import Field

from of_scheduler_assets import settings

STAMP = "%Y%m%dT%H%M%SZ"
SNAPSHOT_DATASET = "ops_backup"


def backup_id(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime(STAMP)


# ---------------------------------------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------------------------------------


def _user_schemas(conn) -> list[str]:
    return [s for (s,) in conn.execute(
        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() "
        "AND schema_name NOT IN ('information_schema', 'pg_catalog', 'main')").fetchall()]


def _table_counts(conn) -> dict[str, int]:
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
    return {f"{s}.{t}": conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0] for s, t in tables}


def backup_duckdb(database: str | Path, backups_dir: str | Path, now: dt.datetime, *, keep: int = 14) -> dict:
    """Export the whole warehouse to ``backups_dir/<stamp>/``; returns the manifest."""
    from of_scheduler_assets.resources.warehouse import open_duckdb

    target = Path(backups_dir) / backup_id(now)
    if target.exists():
        raise dg.Failure(f"backup {target.name} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    conn = open_duckdb(str(database), read_only=True)
    try:
        counts = _table_counts(conn)
        conn.execute(f"EXPORT DATABASE '{partial.as_posix()}' (FORMAT parquet)")
    finally:
        conn.close()
    manifest = {"backup_id": target.name, "target": "local", "created_at": now.astimezone(dt.UTC).isoformat(),
                "database": Path(database).name, "tables": counts}
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    partial.rename(target)  # a backup directory without ".partial" is complete
    for old in list_backups(backups_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(Path(backups_dir) / old)
    return manifest


def list_backups(backups_dir: str | Path) -> list[str]:
    """Complete local backups, oldest first."""
    root = Path(backups_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists())


def restore_duckdb(database: str | Path, backups_dir: str | Path, backup: str | None = None) -> dict:
    """Replace the warehouse's content by a backup (default: the newest), in one transaction."""
    from of_scheduler_assets.resources.warehouse import open_duckdb

    available = list_backups(backups_dir)
    if not available:
        raise dg.Failure(f"no backup in {backups_dir}")
    chosen = backup or available[-1]
    if chosen not in available:
        raise dg.Failure(f"backup {chosen!r} not found; available: {available[-5:]}")
    source = Path(backups_dir) / chosen
    manifest = json.loads((source / "manifest.json").read_text())
    conn = open_duckdb(str(database))
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            for schema in _user_schemas(conn):
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            for (table,) in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
                    "AND table_schema = 'main'").fetchall():
                conn.execute(f'DROP TABLE main."{table}"')
            conn.execute(f"IMPORT DATABASE '{source.as_posix()}'")
            restored = _table_counts(conn)
            if restored != manifest["tables"]:
                raise dg.Failure(f"restore of {chosen} does not match its manifest")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return {"backup_id": chosen, "target": "local", "tables": restored}


# ---------------------------------------------------------------------------------------------------------------------
# BigQuery
# ---------------------------------------------------------------------------------------------------------------------


def snapshot_name(dataset: str, table: str, stamp: str) -> str:
    return f"{dataset}__{table}__{stamp}"


def backup_bigquery(client, project: str, datasets: list[str], now: dt.datetime, *,
                    snapshot_dataset: str = SNAPSHOT_DATASET, expiration_days: int = 14) -> dict:
    """A snapshot of every table of ``datasets``; returns the manifest (snapshot table per source table)."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    stamp = backup_id(now)
    client.create_dataset(f"{project}.{snapshot_dataset}", exists_ok=True)
    expires = now.astimezone(dt.UTC) + dt.timedelta(days=expiration_days)
    snapshots: dict[str, str] = {}
    for dataset in datasets:
        try:
            tables = list(client.list_tables(f"{project}.{dataset}"))
        except NotFound:
            continue
        for item in tables:
            if item.table_type != "TABLE":
                continue
            dest = f"{project}.{snapshot_dataset}.{snapshot_name(dataset, item.table_id, stamp)}"
            config = bigquery.CopyJobConfig(operation_type="SNAPSHOT", destination_expiration_time=expires.isoformat())
            client.copy_table(f"{project}.{dataset}.{item.table_id}", dest, job_config=config).result()
            snapshots[f"{dataset}.{item.table_id}"] = dest
    return {"backup_id": stamp, "target": "bigquery", "created_at": now.astimezone(dt.UTC).isoformat(),
            "snapshots": snapshots}


def restore_bigquery(client, project: str, backup: str, *, snapshot_dataset: str = SNAPSHOT_DATASET) -> dict:
    """Every table snapshotted under ``backup`` (a stamp) is written back over its source table."""
    from google.cloud import bigquery

    suffix = f"__{backup}"
    restored = {}
    for item in client.list_tables(f"{project}.{snapshot_dataset}"):
        if not item.table_id.endswith(suffix):
            continue
        dataset, table = item.table_id[: -len(suffix)].split("__", 1)
        client.create_dataset(f"{project}.{dataset}", exists_ok=True)
        config = bigquery.CopyJobConfig(operation_type="RESTORE", write_disposition="WRITE_TRUNCATE")
        client.copy_table(f"{project}.{snapshot_dataset}.{item.table_id}", f"{project}.{dataset}.{table}",
                          job_config=config).result()
        restored[f"{dataset}.{table}"] = item.table_id
    if not restored:
        raise dg.Failure(f"no snapshot tables for backup {backup!r} in {snapshot_dataset}")
    return {"backup_id": backup, "target": "bigquery", "tables": restored}


def latest_bigquery_backup(client, project: str, snapshot_dataset: str = SNAPSHOT_DATASET) -> str | None:
    stamps = {t.table_id.rsplit("__", 1)[-1] for t in client.list_tables(f"{project}.{snapshot_dataset}")}
    return max(stamps) if stamps else None


# ---------------------------------------------------------------------------------------------------------------------
# The resource
# ---------------------------------------------------------------------------------------------------------------------


class WarehouseBackupResource(dg.ConfigurableResource):
    """Backs up / restores the configured warehouse target (`OF_SCHEDULER_TARGET`)."""

    target: str = Field(default="local", description="local (DuckDB) or bigquery")
    database: str | None = Field(default=None, description="DuckDB file (local)")
    backups_dir: str | None = Field(default=None, description="local backups folder (exports/backups)")
    keep: int = Field(default=14, ge=1, description="local backups kept")
    project: str | None = Field(default=None, description="BigQuery project")
    location: str | None = Field(default=None, description="BigQuery location")
    gcp_credentials: str | None = Field(default=None, description="base64 service-account JSON (secret)")
    api_endpoint: str | None = Field(default=None, description="tests only: BigQuery emulator endpoint")
    snapshot_dataset: str = Field(default=SNAPSHOT_DATASET)
    snapshot_expiration_days: int = Field(default=14, ge=1)

    def _client(self):
        from of_scheduler_assets.resources.bigquery import make_bigquery_client

        if self.gcp_credentials and not self.api_endpoint:
            import base64
            import json as json_

            from google.cloud import bigquery
            from google.oauth2 import service_account

            info = json_.loads(base64.b64decode(self.gcp_credentials))
            return bigquery.Client(project=self.project, location=self.location,
                                   credentials=service_account.Credentials.from_service_account_info(info))
        return make_bigquery_client(self.project, self.location, self.api_endpoint)

    def backup(self, now: dt.datetime) -> dict:
        if self.target == "bigquery":
            client = self._client()
            try:
                return backup_bigquery(client, self.project, list(settings.LAYER_SCHEMAS), now,
                                       snapshot_dataset=self.snapshot_dataset,
                                       expiration_days=self.snapshot_expiration_days)
            finally:
                client.close()
        return backup_duckdb(self.database, self.backups_dir, now, keep=self.keep)

    def restore(self, backup: str | None = None) -> dict:
        if self.target == "bigquery":
            client = self._client()
            try:
                chosen = backup or latest_bigquery_backup(client, self.project, self.snapshot_dataset)
                if chosen is None:
                    raise dg.Failure("no BigQuery snapshot to restore")
                return restore_bigquery(client, self.project, chosen, snapshot_dataset=self.snapshot_dataset)
            finally:
                client.close()
        return restore_duckdb(self.database, self.backups_dir, backup)


def backup_resource_from_env() -> WarehouseBackupResource:
    if settings.target() == "bigquery":
        import os

        def optional(name: str):
            return dg.EnvVar(name) if os.environ.get(name) else None

        return WarehouseBackupResource(target="bigquery", project=dg.EnvVar("OF_SCHEDULER_BQ_PROJECT"),
                                       location=optional("OF_SCHEDULER_BQ_LOCATION"),
                                       gcp_credentials=optional("OF_SCHEDULER_BQ_CREDENTIALS"),
                                       api_endpoint=optional("OF_SCHEDULER_BQ_API_ENDPOINT"))
    return WarehouseBackupResource(target="local", database=str(settings.warehouse_path()),
                                   backups_dir=str(settings.exports_dir() / "backups"))
