"""Typed `page_overrides` and `active_overrides` seed tables (20-warehouse §3.1, §3.6, §4.4), pure polars (no Dagster).

Both seeds are append-style: several rows per `username_page` are allowed and consumers take the latest `updated_at`
(ties: the later row in the file). Values are typed leniently (`strict=False`): an unparseable value becomes null and
the pandera contracts of `override_schemas` decide whether that is acceptable.
"""

from __future__ import annotations

import polars as pl

from of_scheduler_assets.ops_config.transforms import _bool, _provenance, _text, _with_columns
from of_scheduler_assets.resources.seeds import SeedFile

UTC_US = pl.Datetime("us", "UTC")
TIERS = ["LOW", "MED", "HIGH", "POWER"]

PAGE_OVERRIDE_COLUMNS = [
    "username_page",
    "tier_override",
    "assigned_scheduler_code",
    "local_min_hour",
    "local_max_hour",
    "max_explicitness",
    "tz",
    "report_tz",
    "note",
    "updated_at",
]
ACTIVE_OVERRIDE_COLUMNS = ["username_page", "include", "note", "updated_at"]

PAGE_OVERRIDES_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "tier_override": pl.String,
    "assigned_scheduler_code": pl.String,
    "local_min_hour": pl.Int64,
    "local_max_hour": pl.Int64,
    "max_explicitness": pl.Int64,
    "tz": pl.String,
    "report_tz": pl.String,
    "note": pl.String,
    "updated_at": UTC_US,
    "seed_source": pl.String,
    "seed_sha256": pl.String,
}
ACTIVE_OVERRIDES_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "include": pl.Boolean,
    "note": pl.String,
    "updated_at": UTC_US,
    "seed_source": pl.String,
    "seed_sha256": pl.String,
}

_TZ_FORMATS = [
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%:z",
    "%Y-%m-%d %H:%M%:z",
]
_NAIVE_FORMATS = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


def utc_datetime(col: str) -> pl.Expr:
    """ISO datetime or date text → Datetime("us", "UTC"); an offset is honoured, a naive value is UTC; junk → null."""
    text = _text(col).str.replace(r"[zZ]$", "+00:00")
    parsed = [text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False) for f in _TZ_FORMATS]
    parsed += [text.str.to_datetime(f, time_unit="us", strict=False).dt.replace_time_zone("UTC") for f in _NAIVE_FORMATS]
    parsed.append(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    return pl.coalesce(parsed).cast(UTC_US).alias(col)


def _seed_text(seed: SeedFile, columns: list[str]) -> pl.DataFrame:
    """The seed's text columns in a fixed order; a zero-byte file (no header) is an empty table, not one null row."""
    if seed.frame.width == 0:
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    return _with_columns(seed.frame, columns)


def _int(col: str) -> pl.Expr:
    return _text(col).cast(pl.Int64, strict=False).alias(col)


def page_overrides(seed: SeedFile) -> pl.DataFrame:
    """`ops_config.page_overrides`: per-page tier / scheduler / send window / explicitness / tz overrides."""
    frame = _seed_text(seed, PAGE_OVERRIDE_COLUMNS).with_columns(
        _text("username_page").str.to_lowercase().alias("username_page"),
        _text("tier_override").str.to_uppercase().alias("tier_override"),
        _text("assigned_scheduler_code").str.to_uppercase().alias("assigned_scheduler_code"),
        *[_int(c) for c in ("local_min_hour", "local_max_hour", "max_explicitness")],
        *[_text(c) for c in ("tz", "report_tz", "note")],
        utc_datetime("updated_at"),
    )
    return _provenance(frame, seed).select(list(PAGE_OVERRIDES_SCHEMA)).cast(PAGE_OVERRIDES_SCHEMA)


def active_overrides(seed: SeedFile) -> pl.DataFrame:
    """`ops_config.active_overrides`: force a page in (`include = true`) or out (`include = false`) of activity."""
    frame = _seed_text(seed, ACTIVE_OVERRIDE_COLUMNS).with_columns(
        _text("username_page").str.to_lowercase().alias("username_page"),
        _bool("include"),
        _text("note"),
        utc_datetime("updated_at"),
    )
    return _provenance(frame, seed).select(list(ACTIVE_OVERRIDES_SCHEMA)).cast(ACTIVE_OVERRIDES_SCHEMA)
