"""pandera contracts of `layer_01_raw`: provenance present, keys unique, every cell kept as text."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from of_scheduler_assets.layer_01_raw.intake import CELL_COLUMNS

_UTC = pl.Datetime("us", "UTC")
SHA256 = r"^[0-9a-f]{64}$"


class ReportEmails(pa.DataFrameModel):
    message_id: str = pa.Field(nullable=False, unique=True)
    received_at: _UTC = pa.Field(nullable=False)
    fetch_status: str = pa.Field(nullable=False, isin=["read", "rejected", "failed", "aged_out"])
    attempts: int = pa.Field(nullable=False, ge=1)
    file_sha256: str = pa.Field(nullable=True, str_matches=SHA256)
    n_rows_read: int = pa.Field(nullable=True, ge=0)
    ingestion_run_id: str = pa.Field(nullable=False)


class ReportFiles(pa.DataFrameModel):
    message_id: str = pa.Field(nullable=False, unique=True)
    file_sha256: str = pa.Field(nullable=False, str_matches=SHA256)
    file_size: int = pa.Field(nullable=False, gt=0)
    detected_type: str = pa.Field(nullable=False, isin=["xlsx", "xls", "csv"])
    archive_uri: str = pa.Field(nullable=False, str_startswith="file://")


class MessageRowsRaw(pa.DataFrameModel):
    message_id: str = pa.Field(nullable=False)
    row_number: int = pa.Field(nullable=False, ge=1)
    report_received_at: _UTC = pa.Field(nullable=False)
    file_sha256: str = pa.Field(nullable=False, str_matches=SHA256)
    archive_uri: str = pa.Field(nullable=False)
    ingestion_run_id: str = pa.Field(nullable=False)

    class Config:
        unique = ["message_id", "row_number"]

    @pa.dataframe_check(error="every cell column is text")
    def cells_are_text(cls, data) -> pl.LazyFrame:
        frame = data.lazyframe
        schema = frame.collect_schema()
        ok = all(schema.get(c) == pl.String for c in CELL_COLUMNS)
        return frame.select(pl.lit(ok).alias("ok"))


class ReferenceRowsRaw(pa.DataFrameModel):
    file_sha256: str = pa.Field(nullable=False, str_matches=SHA256)
    file_name: str = pa.Field(nullable=False)
    row_number: int = pa.Field(nullable=False, ge=1)
    cells_json: str = pa.Field(nullable=False, str_startswith="[")
    archive_uri: str = pa.Field(nullable=False)
    arrival_order: int = pa.Field(nullable=False, ge=0)

    class Config:
        unique = ["file_sha256", "row_number"]
