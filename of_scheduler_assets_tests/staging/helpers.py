"""Fixture builders for the staging tests: raw report rows in the exact layer_01_raw text format."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from of_scheduler_assets.layer_02_staging.report_rows import CELL_COLUMNS, StagedRows, stage_report_rows

RECEIVED = datetime(2025, 9, 14, 6, 0, tzinfo=UTC)
INGESTED = datetime(2025, 9, 14, 7, 0, tzinfo=UTC)

DEFAULT_ROW = {
    "message": "Good morning! ☕ Who wants to start the day with me? 💕",
    "sending_time": "Sep 13, 2025 at 09:05 AM",
    "sender": "SD Nova",
    "status": "sent",
    "price": "$15.00",
    "sent": "48215",
    "viewed": "612",
    "purchased": "1",
    "earnings": "$15.00",
    "withdrawn_by": None,
    "creator": None,
    "extra_cols_json": None,
}


def raw_frame(
    rows: list[dict], message_id: str = "m1", received: datetime = RECEIVED, run_id: str = "run1"
) -> pl.DataFrame:
    """Rows: dicts overriding DEFAULT_ROW cells; row_number is the 1-based position unless given."""
    records = []
    for i, overrides in enumerate(rows, 1):
        cells = {**DEFAULT_ROW, **overrides}
        records.append(
            {
                "ingestion_run_id": run_id,
                "ingested_at": INGESTED,
                "message_id": message_id,
                "report_received_at": received,
                "archive_uri": f"file:///archive/{message_id}.xlsx",
                "file_sha256": "f" * 64,
                "row_number": cells.pop("row_number", i),
                **{c: cells[c] for c in CELL_COLUMNS},
            }
        )
    schema = {
        "ingestion_run_id": pl.String,
        "ingested_at": pl.Datetime("us", "UTC"),
        "message_id": pl.String,
        "report_received_at": pl.Datetime("us", "UTC"),
        "archive_uri": pl.String,
        "file_sha256": pl.String,
        "row_number": pl.Int64,
        **{c: pl.String for c in CELL_COLUMNS},
    }
    return pl.DataFrame(records, schema=schema)


def reports_frame(
    message_ids: list[str],
    *,
    report_tz: str | None = None,
    page_tz: str | None = None,
    username_std: str = "luna_example",
    page_type: str = "paid",
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "message_id": message_ids,
            "page_name_raw": ["Luna Example Paid"] * len(message_ids),
            "username_std": [username_std] * len(message_ids),
            "page_type": [page_type] * len(message_ids),
            "username_page": [f"{username_std}__{page_type}"] * len(message_ids),
            "identity_source": ["dim_page"] * len(message_ids),
            "page_tz": [page_tz] * len(message_ids),
            "report_tz": [report_tz] * len(message_ids),
        },
        schema={
            "message_id": pl.String,
            "page_name_raw": pl.String,
            "username_std": pl.String,
            "page_type": pl.String,
            "username_page": pl.String,
            "identity_source": pl.String,
            "page_tz": pl.String,
            "report_tz": pl.String,
        },
    )


ROSTER = pl.DataFrame(
    {"scheduler_code": ["NOVA", "ROWAN"], "sender_aliases": [["sd nova", "nova"], ["rowan"]]},
    schema={"scheduler_code": pl.String, "sender_aliases": pl.List(pl.String)},
)


def stage(rows: list[dict], *, received: datetime = RECEIVED, **kwargs) -> StagedRows:
    report_kw = {k: kwargs.pop(k) for k in ("report_tz", "page_tz") if k in kwargs}
    raw = raw_frame(rows, received=received)
    return stage_report_rows(raw, reports_frame(["m1"], **report_kw), ROSTER, **kwargs)


def one(rows_or_row, **kwargs) -> tuple[dict | None, dict | None]:
    """Stage a single row; return (staged row dict or None, quarantine row dict or None)."""
    result = stage([rows_or_row], **kwargs)
    staged = result.staged.to_dicts()
    quarantined = result.quarantined.to_dicts()
    assert len(staged) + len(quarantined) == 1
    return (staged[0] if staged else None), (quarantined[0] if quarantined else None)
