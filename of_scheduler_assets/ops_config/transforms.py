"""Pure transforms for the `ops_config` layer: typed seed tables and the flattened configuration (no Dagster)."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from of_scheduler_assets.resources.seeds import SeedFile

_TRUE = {"true", "1", "yes", "y", "t"}


def _bool(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_lowercase().is_in(list(_TRUE)).alias(col)


def _text(col: str) -> pl.Expr:
    stripped = pl.col(col).str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped).alias(col)


def _with_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The seed's columns in a fixed order; a column the file lacks is null (the contract decides if that is fine)."""
    return frame.select([pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in columns])


def _provenance(frame: pl.DataFrame, seed: SeedFile) -> pl.DataFrame:
    return frame.with_columns(seed_source=pl.lit(seed.source), seed_sha256=pl.lit(seed.sha256))


PAGE_ALIAS_COLUMNS = ["alias", "username_std", "page_type", "source", "note", "valid_from"]
ROSTER_COLUMNS = ["scheduler_code", "display_name", "email", "is_manager", "is_active", "can_view_all", "sender_aliases"]
EXPLICITNESS_COLUMNS = ["content_tag", "explicitness_level", "note"]


def page_aliases(seed: SeedFile) -> pl.DataFrame:
    frame = _with_columns(seed.frame, PAGE_ALIAS_COLUMNS).with_columns(
        *[_text(c) for c in ("alias", "username_std", "source", "note")],
        _text("page_type").str.to_lowercase().alias("page_type"),
        _text("valid_from").str.to_date(strict=False).alias("valid_from"),
    )
    return _provenance(frame, seed)


def scheduler_roster(seed: SeedFile) -> pl.DataFrame:
    frame = _with_columns(seed.frame, ROSTER_COLUMNS).with_columns(
        _text("scheduler_code").str.to_uppercase().alias("scheduler_code"),
        _text("display_name"),
        _text("email"),
        *[_bool(c) for c in ("is_manager", "is_active", "can_view_all")],
        pl.col("sender_aliases")
        .fill_null("")
        .str.split(";")
        .list.eval(pl.element().str.strip_chars().str.to_lowercase())
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("sender_aliases"),
    )
    return _provenance(frame, seed)


def explicitness_map(seed: SeedFile) -> pl.DataFrame:
    frame = _with_columns(seed.frame, EXPLICITNESS_COLUMNS).with_columns(
        _text("content_tag").str.to_uppercase().alias("content_tag"),
        _text("explicitness_level").cast(pl.Int64, strict=False).alias("explicitness_level"),
        _text("note"),
    )
    return _provenance(frame, seed)


def passthrough_seed(seed: SeedFile) -> pl.DataFrame:
    """A seed whose columns are not fixed yet: its text columns, trimmed, plus provenance."""
    return _provenance(seed.frame.with_columns(*[_text(c) for c in seed.frame.columns]), seed)


def flatten_config(raw: dict[str, Any], config_version: str, sha256: str) -> pl.DataFrame:
    """One row per leaf setting: `section`, `key` (dotted path below the section), `value_json`."""
    rows: list[tuple[str, str, str]] = []

    def walk(section: str, prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(section, f"{prefix}.{key}" if prefix else str(key), value[key])
        else:
            rows.append((section, prefix, json.dumps(value, sort_keys=True, default=str)))

    for section in sorted(raw):
        walk(section, "", raw[section])
    return pl.DataFrame(
        rows, schema={"section": pl.String, "key": pl.String, "value_json": pl.String}, orient="row"
    ).with_columns(config_version=pl.lit(config_version), config_sha256=pl.lit(sha256))
