"""pandera contracts of the `ops_config.page_overrides` and `ops_config.active_overrides` seed tables."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from of_scheduler_assets.ops_config.schemas import _Provenance

TIERS = ["LOW", "MED", "HIGH", "POWER"]
USERNAME_PAGE_PATTERN = r"^[a-z0-9_]+__(free|paid|vip)$"


class PageOverrides(_Provenance):
    username_page: str = pa.Field(nullable=False, str_matches=USERNAME_PAGE_PATTERN)
    tier_override: str = pa.Field(nullable=True, isin=TIERS)
    assigned_scheduler_code: str = pa.Field(nullable=True)
    local_min_hour: int = pa.Field(nullable=True, ge=0, le=23)
    local_max_hour: int = pa.Field(nullable=True, ge=0, le=23)
    max_explicitness: int = pa.Field(nullable=True, ge=1, le=3)
    tz: str = pa.Field(nullable=True)
    report_tz: str = pa.Field(nullable=True)
    note: str = pa.Field(nullable=True)
    updated_at: pl.Datetime("us", "UTC") = pa.Field(nullable=True)


class ActiveOverrides(_Provenance):
    username_page: str = pa.Field(nullable=False, str_matches=USERNAME_PAGE_PATTERN)
    include: bool = pa.Field(nullable=False)
    note: str = pa.Field(nullable=True)
    updated_at: pl.Datetime("us", "UTC") = pa.Field(nullable=True)
