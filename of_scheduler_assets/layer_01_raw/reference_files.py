"""Reference-data drops (caption bank, creator statistics, scheduler assignments): pure functions, no Dagster.

Files dropped in `<inbox>/<kind>/` are archived content-addressed (`<archive>/reference/<kind>/<sha[:12]>_<name>`);
the raw tables index them and keep every record as text. A file keeps the `ingested_at` and arrival order of its
first sighting, so re-runs over the same folder give identical tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import polars as pl

from of_scheduler_assets.identity import safe
from of_scheduler_assets.layer_01_raw.archive import _atomic_write, read_archived
from of_scheduler_assets.layer_02_staging.reference import read_csv_text

KINDS = ("caption_bank", "creator_stats", "scheduler_assignments")

INDEX_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String,
    "file_name": pl.String,
    "file_sha256": pl.String,
    "file_size": pl.Int64,
    "archive_uri": pl.String,
    "arrival_order": pl.Int64,
    "ingested_at": pl.Datetime("us", "UTC"),
    "ingestion_run_id": pl.String,
}

ROWS_SCHEMA: dict[str, pl.DataType] = {
    "file_sha256": pl.String,
    "file_name": pl.String,
    "row_number": pl.Int64,
    "cells_json": pl.String,
    "header_json": pl.String,
}


def collect_files(
    inbox: Path, kind: str, archive_root: Path, previous: pl.DataFrame | None, *, run_id: str, now: datetime
) -> pl.DataFrame:
    """The index of every `.csv` ever dropped for `kind` (one row per distinct content)."""
    prior = {} if previous is None or previous.is_empty() else {r["file_sha256"]: r for r in previous.iter_rows(named=True)}
    rows = dict(prior)
    folder = inbox / kind
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if sha in rows:
            continue
        target = archive_root / "reference" / kind / f"{sha[:12]}_{safe(path.name)}"
        if not target.exists():
            _atomic_write(target, data)
        rows[sha] = {
            "kind": kind, "file_name": path.name, "file_sha256": sha, "file_size": len(data),
            "archive_uri": target.resolve().as_uri(), "arrival_order": None, "ingested_at": now,
            "ingestion_run_id": run_id,
        }
    index = pl.DataFrame(list(rows.values()), schema=INDEX_SCHEMA).sort("ingested_at", "file_name", "file_sha256")
    return index.with_columns(arrival_order=pl.int_range(pl.len(), dtype=pl.Int64))


def file_bytes(index_row: dict) -> bytes:
    return read_archived(index_row["archive_uri"])


def rows_as_text(index: pl.DataFrame) -> pl.DataFrame:
    """Every non-blank record of every indexed file as a JSON array of cell texts, with its row number."""
    parts = []
    for entry in index.iter_rows(named=True):
        header, records, meta = read_csv_text(file_bytes(entry))
        parts.append(
            pl.DataFrame(
                {
                    "file_sha256": entry["file_sha256"],
                    "file_name": entry["file_name"],
                    "row_number": meta["row_numbers"],
                    "cells_json": [json.dumps(r, ensure_ascii=False) for r in records],
                    "header_json": json.dumps(header, ensure_ascii=False),
                },
                schema=ROWS_SCHEMA,
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=ROWS_SCHEMA)
