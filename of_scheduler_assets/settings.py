"""Where local state lives and which warehouse target is active.

Pure functions over environment variables (no Dagster objects), so the CLI, the sample generator, the resources and
the tests resolve paths the same way. Every variable is listed in README.md with its default.
"""

from __future__ import annotations

import os
from pathlib import Path

# Warehouse schemas (DuckDB) / datasets (BigQuery), one per asset group; the group name equals the schema.
LAYER_SCHEMAS: tuple[str, ...] = (
    "layer_01_raw",
    "layer_02_staging",
    "layer_03_foundation",
    "layer_04_semantic",
    "layer_05_ml",
    "layer_06_rankings",
    "layer_07_export",
    "ops",
    "ops_config",
    "ops_monitor",
    "ops_audit",
)

TARGETS = ("local", "bigquery")


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def home() -> Path:
    """Root of local state: ``$OF_SCHEDULER_HOME``, default ``./.of_scheduler``."""
    return Path(_env("OF_SCHEDULER_HOME") or ".of_scheduler").expanduser().resolve()


def target() -> str:
    """Warehouse target: ``local`` (DuckDB, default) or ``bigquery``."""
    value = (_env("OF_SCHEDULER_TARGET") or "local").strip().lower()
    if value not in TARGETS:
        raise ValueError(f"OF_SCHEDULER_TARGET must be one of {TARGETS}, got {value!r}")
    return value


def warehouse_path() -> Path:
    """The local DuckDB file: ``$OF_SCHEDULER_WAREHOUSE``, default ``<home>/warehouse.duckdb``."""
    explicit = _env("OF_SCHEDULER_WAREHOUSE")
    path = Path(explicit).expanduser().resolve() if explicit else home() / "warehouse.duckdb"
    if path.stem in LAYER_SCHEMAS:
        # DuckDB names the catalog after the file stem; equal names make every schema reference ambiguous.
        raise ValueError(f"the warehouse file may not be named like a schema ({path.name}); choose another name")
    return path


def mailbox() -> str:
    """Mailbox: a folder of .eml files (default ``<home>/inbox``) or ``gmail:<address>``."""
    return _env("OF_SCHEDULER_MAILBOX") or str(home() / "inbox")


def inbox_dir() -> Path:
    """File drops (reference data: caption bank, creator statistics, scheduler assignments)."""
    return home() / "inbox"


def archive_dir() -> Path:
    return home() / "archive"


def exports_dir() -> Path:
    return Path(_env("OF_SCHEDULER_EXPORTS") or home() / "exports").expanduser().resolve()


def seeds_override_dir() -> Path:
    """Seed CSVs here replace the packaged ones of the same name (the sample world writes its alias seed here)."""
    return Path(_env("OF_SCHEDULER_SEEDS") or home() / "seeds").expanduser().resolve()


def dagster_home() -> Path:
    return Path(_env("DAGSTER_HOME") or home() / "dagster_home").expanduser().resolve()


def history_start() -> str:
    """First day of the daily partitions (facts, daily metrics): ``$OF_SCHEDULER_HISTORY_START``, default 2025-01-01.
    Sends before it cannot be stored in a partition; the fact reports them in its check metadata."""
    return _env("OF_SCHEDULER_HISTORY_START") or "2025-01-01"
