"""Caption library helpers (10-ingestion §10.2, §10.4; 20-warehouse §3.4): the TOS audit of report captions and
the counts that describe the library. Pure polars, no Dagster.

The bank path audits its rows in ``reference.build_stg_caption_bank`` (one ``ops_audit.tos_audit`` row per flagged
input row, before dedup). ``report_tos_audit`` is its mirror for captions entering the library from reports: same
columns (``reference.TOS_AUDIT_SCHEMA``, contract ``reference_schemas.TosAuditRows``), same rule engine
(``tos.evaluate_tos``) and the same ``rules_version`` source (``tos.RULES_VERSION``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_02_staging.reference import MAX_CAPTION_LEN, MIN_CAPTION_LEN, TOS_AUDIT_SCHEMA
from of_scheduler_assets.layer_02_staging.tos import RULES_VERSION, evaluate_tos

UTC_US = pl.Datetime("us", "UTC")
REPORT_SOURCE_KIND = "report"


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def library_rows_filter() -> pl.Expr:
    """Report rows whose caption enters the library: 3 ≤ trimmed length ≤ 2,000 and no U+FFFD (the filter of
    ``transforms.report_captions``)."""
    text = pl.col("caption_text").fill_null("")
    return text.str.strip_chars().str.len_chars().is_between(MIN_CAPTION_LEN, MAX_CAPTION_LEN) & ~text.str.contains(
        "\ufffd", literal=True
    )


def report_tos_audit(
    stg_message_events: pl.DataFrame,
    *,
    checked_at: dt.datetime,
    rules_version: str = RULES_VERSION,
) -> pl.DataFrame:
    """``ops_audit.tos_audit`` rows for report captions (10-ingestion §10.4): one row per report row (snapshot) whose
    caption enters the library and whose text violates a TOS rule after the step-parent allowlist.

    Columns ``TOS_AUDIT_SCHEMA``: ``source_kind = "report"``, ``source_ref`` = the report's ``message_id``,
    ``row_number`` = the report row number, ``caption_text`` = the row's display text (the text the rules run on:
    the same text ``build_dim_caption`` evaluates for report-only captions), ``price_usd`` the row's price,
    ``violation_rule_ids`` / ``violation_reasons`` joined with ``"; "``. TOS runs once per distinct caption text and
    is joined back, so 1.7M rows cost one evaluation per distinct text. Sorted by (``source_ref``, ``row_number``)."""
    checked = _utc(checked_at)
    rows = stg_message_events.select("caption_id", "caption_text", "message_id", "row_number", "price_usd")
    if rows.is_empty():
        return pl.DataFrame(schema=TOS_AUDIT_SCHEMA)
    # the library filter and the rules both run once per distinct text, never per row
    texts = rows.select(pl.col("caption_text").unique(maintain_order=True)).filter(library_rows_filter()).to_series()
    tos = (
        evaluate_tos(texts)
        .filter(pl.col("tos_status") == "flagged")
        .select(
            caption_text="text",
            violation_rule_ids=pl.col("violation_rule_ids").list.join("; "),
            violation_reasons="violation_reasons",
        )
    )
    if tos.is_empty():
        return pl.DataFrame(schema=TOS_AUDIT_SCHEMA)
    return (
        rows.join(tos, on="caption_text", how="inner")
        .select(
            "caption_id",
            source_kind=pl.lit(REPORT_SOURCE_KIND),
            source_ref="message_id",
            row_number="row_number",
            caption_text="caption_text",
            price_usd=pl.col("price_usd").cast(pl.Float64),
            violation_rule_ids="violation_rule_ids",
            violation_reasons="violation_reasons",
            checked_at=pl.lit(checked, UTC_US),
            rules_version=pl.lit(rules_version),
        )
        .cast(TOS_AUDIT_SCHEMA)
        .sort("source_ref", "row_number")
    )


def caption_library_counts(
    stg_caption_bank: pl.DataFrame | None,
    dim_caption: pl.DataFrame | None,
    tos_audit: pl.DataFrame | None,
) -> dict[str, int]:
    """Counts describing the caption library (asset metadata and tests):

    ``bank_captions`` rows of ``stg_caption_bank`` (distinct bank captions after dedup); ``bank_alias_ids`` distinct
    non-null ids in its ``alias_ids`` (bank sha ids and logger ``C#####`` ids); ``library_captions`` current rows of
    ``dim_caption``; ``library_active`` current rows with ``is_active``; ``flagged_captions`` current rows with
    ``tos_status = flagged``; ``audit_rows`` rows of ``tos_audit`` (bank and report, one per flagged input row),
    split into ``audit_rows_bank`` and ``audit_rows_report``."""
    bank = stg_caption_bank if stg_caption_bank is not None else pl.DataFrame()
    dim = dim_caption if dim_caption is not None else pl.DataFrame()
    audit = tos_audit if tos_audit is not None else pl.DataFrame()
    alias_ids = (
        bank.get_column("alias_ids").explode().drop_nulls().n_unique()
        if "alias_ids" in bank.columns and bank.height
        else 0
    )
    current = dim.filter(pl.col("is_current")) if "is_current" in dim.columns else dim.clear()
    kinds = audit.get_column("source_kind").to_list() if "source_kind" in audit.columns else []
    return {
        "bank_captions": bank.height,
        "bank_alias_ids": int(alias_ids),
        "library_captions": current.height,
        "library_active": int(current.get_column("is_active").sum()) if current.height else 0,
        "flagged_captions": int((current.get_column("tos_status") == "flagged").sum()) if current.height else 0,
        "audit_rows": audit.height,
        "audit_rows_bank": kinds.count("caption_bank"),
        "audit_rows_report": kinds.count(REPORT_SOURCE_KIND),
    }
