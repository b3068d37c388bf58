"""pandera contracts of the `ops` tables."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from of_scheduler_assets.layer_02_staging.schemas import QuarantineRows


class IngestionState(pa.DataFrameModel):
    message_id: str = pa.Field(nullable=False, unique=True)
    status: str = pa.Field(nullable=False, isin=["pending", "loaded", "quarantined", "failed", "aged_out", "ignored"])
    attempts: int = pa.Field(nullable=False, ge=1)
    n_rows: int = pa.Field(nullable=False, ge=0)
    n_staged: int = pa.Field(nullable=False, ge=0)
    n_quarantined: int = pa.Field(nullable=False, ge=0)
    n_blank_rows: int = pa.Field(nullable=False, ge=0)
    received_at: pl.Datetime("us", "UTC") = pa.Field(nullable=False)


class UnmappedUsernames(pa.DataFrameModel):
    name_raw: str = pa.Field(nullable=True)
    source: str = pa.Field(nullable=False, isin=["email", "creator_stats", "scheduler_sheet", "scheduler", "sender", "caption_logger", "manual"])
    status: str = pa.Field(nullable=False, isin=["auto_registered", "needs_alias", "resolved", "ignored"])
    occurrences: int = pa.Field(nullable=False, ge=0)

    class Config:
        unique = ["name_raw", "source"]


__all__ = ["IngestionState", "QuarantineRows", "UnmappedUsernames"]
