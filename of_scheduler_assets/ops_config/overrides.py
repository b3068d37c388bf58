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


# --- cooldown_overrides (30-ml-and-ranking §5.7, `blocked_by_override`) ----------------------------------------------

COOLDOWN_OVERRIDE_COLUMNS = ["username_page", "caption_id", "min_cooldown_hours", "effective_from", "effective_to",
                             "note"]  # fmt: skip
COOLDOWN_OVERRIDES_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "caption_id": pl.String,
    "min_cooldown_hours": pl.Float64,
    "effective_from": UTC_US,
    "effective_to": UTC_US,
    "note": pl.String,
    "seed_source": pl.String,
    "seed_sha256": pl.String,
}
#: `min_cooldown_hours` of a row that leaves it blank (spec §5.7).
DEFAULT_MIN_COOLDOWN_HOURS = 168.0
_BARE_DATE = r"^\d{4}-\d{2}-\d{2}$"


def cooldown_overrides(seed: SeedFile) -> pl.DataFrame:
    """`ops_config.cooldown_overrides`: per (page, caption) a minimum time since the caption's last send on the page.

    Rows (several per key allowed): `username_page` (lower-cased), `caption_id` (`CAP_` + lower-case hex; the prefix
    may be typed in any case), `min_cooldown_hours` (blank → 168; not a number → null, which fails the contract),
    `effective_from` / `effective_to` (ISO date or datetime, an offset honoured, naive = UTC; blank = open). The
    override is in effect at t when effective_from ≤ t < effective_to; a bare date as `effective_to` covers that whole
    (UTC) day, i.e. ends at the next midnight. An unparseable date reads as blank (open), the side that blocks more.
    """
    frame = _seed_text(seed, COOLDOWN_OVERRIDE_COLUMNS)
    cid = _text("caption_id")
    hours = _text("min_cooldown_hours")
    frame = frame.with_columns(
        _text("username_page").str.to_lowercase().alias("username_page"),
        pl.when(cid.str.to_lowercase().str.starts_with("cap_"))
        .then(pl.concat_str(pl.lit("CAP_"), cid.str.slice(4).str.to_lowercase()))
        .otherwise(cid)
        .alias("caption_id"),
        pl.when(hours.is_null()).then(pl.lit(DEFAULT_MIN_COOLDOWN_HOURS))
        .otherwise(hours.cast(pl.Float64, strict=False)).alias("min_cooldown_hours"),
        utc_datetime("effective_from"),
        pl.when(_text("effective_to").str.contains(_BARE_DATE))
        .then(utc_datetime("effective_to") + pl.duration(days=1))
        .otherwise(utc_datetime("effective_to"))
        .alias("effective_to"),
        _text("note"),
    )  # fmt: skip
    return _provenance(frame, seed).select(list(COOLDOWN_OVERRIDES_SCHEMA)).cast(COOLDOWN_OVERRIDES_SCHEMA)


def cooldown_overrides_in_effect(overrides: pl.DataFrame | None, now) -> pl.DataFrame:
    """(username_page, caption_id, override_min_hours): the overrides in effect at `now` (effective_from ≤ now <
    effective_to, null bounds open), the largest `min_cooldown_hours` per key when several are (a null
    `min_cooldown_hours` counts as 168). Empty when `overrides` is None or empty."""
    out_schema = {"username_page": pl.String, "caption_id": pl.String, "override_min_hours": pl.Float64}
    if overrides is None or overrides.is_empty():
        return pl.DataFrame(schema=out_schema)
    at = pl.lit(now).cast(UTC_US)
    frm = pl.col("effective_from").cast(UTC_US)
    to = pl.col("effective_to").cast(UTC_US)
    return (
        overrides.filter(
            pl.col("username_page").is_not_null() & pl.col("caption_id").is_not_null()
            & (frm.is_null() | (frm <= at)) & (to.is_null() | (at < to))
        )
        .group_by("username_page", "caption_id")
        .agg(pl.col("min_cooldown_hours").cast(pl.Float64).fill_null(DEFAULT_MIN_COOLDOWN_HOURS).max()
             .alias("override_min_hours"))
        .cast(out_schema)
        .sort("username_page", "caption_id")
    )  # fmt: skip
