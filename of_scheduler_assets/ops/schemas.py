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


class OnboardingQueue(pa.DataFrameModel):
    """``ops.onboarding_queue``: one row per page ever seen (40-planning §7)."""

    username_page: str = pa.Field(nullable=False, unique=True, str_matches=r"^[a-z0-9_]+__(free|paid|vip)$")
    page_type: str = pa.Field(nullable=False, isin=["free", "paid", "vip"])
    onboarded_at: pl.Datetime("us", "UTC") = pa.Field(nullable=False)
    lifecycle_state: str = pa.Field(nullable=False, isin=["new", "active", "inactive"])
    tier_initial: str = pa.Field(nullable=False, isin=["LOW", "MED", "HIGH", "POWER"])
    tier_source_initial: str = pa.Field(nullable=False, isin=["pending", "override"])
    source: str = pa.Field(nullable=False, isin=["registry", "creator_stats", "report", "assignment"])
    reviewed: bool = pa.Field(nullable=False)


class OnboardingChangelog(pa.DataFrameModel):
    """``ops_audit.onboarding_changelog``: append-only events."""

    changelog_id: str = pa.Field(nullable=False, unique=True)
    username_page: str = pa.Field(nullable=False)
    event: str = pa.Field(nullable=False, isin=["onboarded", "expired", "deactivated", "reactivated",
                                                  "lifecycle_changed", "reviewed"])
    created_at: pl.Datetime("us", "UTC") = pa.Field(nullable=False)


__all__ = ["IngestionState", "OnboardingChangelog", "OnboardingQueue", "QuarantineRows", "UnmappedUsernames"]
