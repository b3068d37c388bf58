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


CAPTION_ID_PATTERN = r"^CAP_[0-9a-f]{16}$"


class CooldownOverrides(_Provenance):
    """`cooldown_overrides` (30-ml §5.7): the window must not end before it starts."""

    username_page: str = pa.Field(nullable=False, str_matches=USERNAME_PAGE_PATTERN)
    caption_id: str = pa.Field(nullable=False, str_matches=CAPTION_ID_PATTERN)
    min_cooldown_hours: float = pa.Field(nullable=False, ge=0)
    effective_from: pl.Datetime("us", "UTC") = pa.Field(nullable=True)
    effective_to: pl.Datetime("us", "UTC") = pa.Field(nullable=True)
    note: str = pa.Field(nullable=True)

    @pa.dataframe_check(error="effective_to must be after effective_from")
    def window_is_not_empty(cls, data) -> pl.LazyFrame:
        frm, to = pl.col("effective_from"), pl.col("effective_to")
        return data.lazyframe.select((frm.is_null() | to.is_null() | (to > frm)).alias("ok"))
