"""pandera contracts of the `ops_config` tables."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

PAGE_TYPES = ["free", "paid", "vip"]


class _Provenance(pa.DataFrameModel):
    seed_source: str = pa.Field(nullable=False)
    seed_sha256: str = pa.Field(nullable=False, str_matches=r"^[0-9a-f]{64}$")


class PageAliases(_Provenance):
    alias: str = pa.Field(nullable=False)
    username_std: str = pa.Field(nullable=False, str_matches=r"^[a-z0-9_]+$")
    page_type: str = pa.Field(nullable=True, isin=PAGE_TYPES)
    source: str = pa.Field(nullable=True)

    class Config:
        unique = ["alias", "page_type"]


class SchedulerRoster(_Provenance):
    scheduler_code: str = pa.Field(nullable=False, unique=True)
    display_name: str = pa.Field(nullable=True)
    is_manager: bool = pa.Field(nullable=False)
    is_active: bool = pa.Field(nullable=False)
    sender_aliases: pl.List(pl.String) = pa.Field(nullable=False)


class ExplicitnessMap(_Provenance):
    content_tag: str = pa.Field(nullable=False, unique=True)
    explicitness_level: int = pa.Field(nullable=True, isin=[1, 2, 3])


class OpsConfigTable(pa.DataFrameModel):
    section: str = pa.Field(nullable=False)
    key: str = pa.Field(nullable=False)
    value_json: str = pa.Field(nullable=False)
    config_version: str = pa.Field(nullable=False)

    class Config:
        unique = ["section", "key"]
