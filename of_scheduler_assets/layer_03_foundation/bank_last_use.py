"""The caption bank's last use per page (10-ingestion §10.2, last paragraph; 30-ml-and-ranking feature rows 44-45).
Pure polars (plus the per-unique-name Python of page resolution), no Dagster.

The caption logger's ``LastUsedDate`` (already read in ``bank_timezone`` and converted to UTC by staging:
``stg_caption_bank.bank_last_used_ts_utc``) and ``LastUsedPage`` (``bank_last_used_page_raw``) become one row per
(``username_page``, ``caption_id``) with the latest bank use. The feature store uses it for ``last_used_ts_page`` only
where the reports have no send of that caption on that page (``layer_05_ml.features``).

Page resolution is §6 (``layer_02_staging.pages.resolve_page_names``, source ``caption_logger``) against
``ops_config.page_aliases`` and the known pages (``page_universe``), with two differences that the bank needs:

* only pages that exist: a name that would register a provisional page (§6.3, ``auto_registered``) seeds nothing —
  the bank never creates pages;
* the *both* marker (``Pia Monroe (Both Pages)``) means both pages of the creator (§6.2.4): the creator is found
  with the §6.2 lookup (aliases, then the compact form of every ``username_std``) by resolving the name once per page
  type, and the creator's free page and paid page are seeded (its vip page stands in for a missing paid page).
  A creator with only one page gets that one.

``TEST`` (any name whose ``compact_key`` is ``test``) is ignored; staging already drops it from the last use. Every
other name that reaches no page is listed by ``caption_bank_last_use`` (second frame) with its reason and bank row
count, for the asset's metadata and log: the bank's last use has no quarantine of its own (its rows are staged).

The caption is the bank row's ``caption_id``, the canonical id of the caption library (``dim_caption`` keys bank
captions by it; the bank and logger ids are only its ``bank_ids`` aliases).
"""

from __future__ import annotations

import polars as pl

from of_scheduler_assets.identity import normalise_page_name
from of_scheduler_assets.layer_02_staging.pages import resolve_page_names

UTC_US = pl.Datetime("us", "UTC")
SOURCE = "caption_logger"
BOTH_QUERY_TYPES = ("paid", "vip", "free")

CAPTION_BANK_LAST_USE_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "caption_id": pl.String,
    "bank_last_used_ts_utc": UTC_US,
}
PAGE_RESOLUTION_SCHEMA: dict[str, pl.DataType] = {
    "name_raw": pl.String,
    "username_page": pl.String,
    "reason_code": pl.String,
}
UNRESOLVED_SCHEMA: dict[str, pl.DataType] = {"name_raw": pl.String, "reason_code": pl.String, "bank_rows": pl.Int64}
_ALIAS_SCHEMA = {"alias": pl.String, "username_std": pl.String, "page_type": pl.String}


def resolve_last_use_pages(names: pl.Series, page_aliases: pl.DataFrame | None, pages: pl.DataFrame) -> pl.DataFrame:
    """One row per (distinct bank page name, page it seeds): ``name_raw``, ``username_page``, ``reason_code`` null;
    a name that seeds no page has one row with ``username_page`` null and ``reason_code``: ``test_page``,
    ``page_name_not_found`` (empty key), ``ambiguous_page`` (several creators or page types), ``unknown_page`` (no
    such page: §6.3 would register a provisional one) or, for a *both* name, ``unknown_creator``. Sorted by
    (``name_raw``, ``username_page``)."""
    known = pages.select(
        pl.col("username_std").cast(pl.String), pl.col("page_type").cast(pl.String), pl.col("username_page").cast(pl.String)
    ).drop_nulls().unique()  # fmt: skip
    aliases = page_aliases if page_aliases is not None and page_aliases.height else pl.DataFrame(schema=_ALIAS_SCHEMA)
    distinct = sorted(set(names.cast(pl.String).drop_nulls().to_list()))
    parsed = {n: normalise_page_name(n) for n in distinct}
    queries: list[tuple[str, str]] = []  # (name_raw, name resolved by §6)
    test: list[str] = []
    for n in distinct:
        pn = parsed[n]
        if pn.compact_key == "test":
            test.append(n)
        elif pn.both_marker:
            queries += [(n, f"{pn.alias_key} {t}") for t in BOTH_QUERY_TYPES]
        else:
            queries.append((n, n))
    q = pl.DataFrame(queries, schema={"name_raw": pl.String, "query": pl.String}, orient="row")
    resolved = resolve_page_names(
        q.select(name_raw="query", source=pl.lit(SOURCE)).unique(), aliases, known
    ).select(query="name_raw", _username_page="username_page", _page_type="page_type", _resolution="resolution",
             _reason="reason_code")  # fmt: skip
    hits = q.join(resolved, on="query", how="left").with_columns(
        _ok=(pl.col("_resolution") == "resolved") & pl.col("_username_page").is_in(known["username_page"].implode())
    )
    # a both name: the free page, and the paid page (else the vip page); a plain name reaches at most one page
    seeded = (
        hits.filter(pl.col("_ok"))
        .with_columns(_side=pl.when(pl.col("_page_type") == "free").then(pl.lit("free")).otherwise(pl.lit("paid")))
        .sort("name_raw", "_side", pl.col("_page_type") == "vip", "_username_page")
        .unique(["name_raw", "_side"], keep="first", maintain_order=True)
        .select("name_raw", username_page="_username_page", reason_code=pl.lit(None, pl.String))
    )
    both = [n for n in distinct if n not in test and parsed[n].both_marker]
    missing = (
        hits.join(seeded.select("name_raw"), on="name_raw", how="anti")
        .group_by("name_raw")
        .agg(_reason=pl.col("_reason").drop_nulls().first())
        .select(
            "name_raw",
            username_page=pl.lit(None, pl.String),
            reason_code=pl.when(pl.col("name_raw").is_in(both))
            .then(pl.lit("unknown_creator"))
            .otherwise(pl.coalesce("_reason", pl.lit("unknown_page"))),
        )  # fmt: skip
    )
    tests = pl.DataFrame({"name_raw": test}, schema={"name_raw": pl.String}).with_columns(
        username_page=pl.lit(None, pl.String), reason_code=pl.lit("test_page")
    )
    return (
        pl.concat([seeded, missing, tests], how="vertical_relaxed")
        .cast(PAGE_RESOLUTION_SCHEMA)
        .sort("name_raw", "username_page", nulls_last=True)
    )


def caption_bank_last_use(
    stg_caption_bank: pl.DataFrame | None, page_aliases: pl.DataFrame | None, pages: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``caption_bank_last_use``, unresolved names). The table: one row per (``username_page``, ``caption_id``)
    with the latest ``bank_last_used_ts_utc`` of the bank rows whose last-use page resolves to that page (a *both*
    name seeds both pages of its creator); sorted by the key. Rows without a last-use time or page, and names that
    reach no page, seed nothing. Unresolved names: ``name_raw``, ``reason_code`` (see ``resolve_last_use_pages``),
    ``bank_rows`` (bank captions naming it), sorted by name."""
    empty = pl.DataFrame(schema=CAPTION_BANK_LAST_USE_SCHEMA)
    if (
        stg_caption_bank is None
        or stg_caption_bank.is_empty()
        or "bank_last_used_ts_utc" not in stg_caption_bank.columns
    ):
        return empty, pl.DataFrame(schema=UNRESOLVED_SCHEMA)
    used = stg_caption_bank.select(
        pl.col("caption_id").cast(pl.String),
        pl.col("bank_last_used_ts_utc").cast(UTC_US),
        name_raw=pl.col("bank_last_used_page_raw").cast(pl.String),
    ).drop_nulls()
    res = resolve_last_use_pages(used["name_raw"], page_aliases, pages)
    table = (
        used.join(res.filter(pl.col("username_page").is_not_null()), on="name_raw", how="inner")
        .group_by("username_page", "caption_id")
        .agg(pl.col("bank_last_used_ts_utc").max())
        .select(list(CAPTION_BANK_LAST_USE_SCHEMA))
        .cast(CAPTION_BANK_LAST_USE_SCHEMA)
        .sort("username_page", "caption_id")
    )
    unresolved = (
        res.filter(pl.col("username_page").is_null())
        .join(used.group_by("name_raw").agg(bank_rows=pl.len()), on="name_raw", how="left")
        .select("name_raw", "reason_code", pl.col("bank_rows").fill_null(0))
        .cast(UNRESOLVED_SCHEMA)
        .sort("name_raw")
    )
    return table, unresolved
