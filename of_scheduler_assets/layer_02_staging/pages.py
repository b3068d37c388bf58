"""Page-name resolution (10-ingestion §6.2, §6.3): pure polars + per-unique-name Python, no Dagster.

Rules, applied to each distinct (name_raw, source):

1. ``normalise_page_name`` (identity.py) gives alias_key, compact_key, the page-type token, the *both* marker.
2. An empty key -> ``page_name_not_found`` / ``needs_alias``.
3. Creator lookup (exact ``compact_key`` only, never fuzzy):
   a. ``ops_config.page_aliases`` rows whose alias has the same compact_key. For a name with a page-type token, the
      row pinning that type wins, then a row without page_type, then any pinned row; for a name without one (bare
      or *both*), pinned rows win, then unpinned ones. Alias rows that disagree on ``username_std`` (for the chosen
      tier) -> ``ambiguous_page``.
   b. else the compact form of every known ``username_std`` in ``pages``; several different usernames with one
      compact form -> ``ambiguous_page``.
4. Page type (first that applies): the name's token; else the alias's pinned page_type; else the creator's only page
   in ``pages``; else, for a creator not in ``pages``, the stats hint (exactly one distinct ``is_paid_like`` for the
   compact_key: True -> paid, False -> free); else unresolved -> ``ambiguous_page`` / ``needs_alias``.
   The *both* marker: resolvable only when the chosen alias pins a page type (the pin then decides); otherwise
   ``ambiguous_page`` / ``needs_alias``.
5. Outcome: alias hit -> identity_source ``alias``, resolution ``resolved``; a (username_std, page_type) present in
   ``pages`` -> ``dim_page`` / ``resolved``; otherwise (unknown creator, or a new page type of a known creator) a
   provisional page ``username_std = alias_key`` (or the known username) -> ``auto`` / ``auto_registered``.
6. ``suggestions``: known ``username_std`` values (pages and aliases) within Levenshtein distance <= 2 of the
   alias_key, for every row not ``resolved``; sorted by (distance, name); review only, never applied.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from of_scheduler_assets.identity import normalise_page_name, username_page

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "name_raw": pl.String(),
    "source": pl.String(),
    "alias_key": pl.String(),
    "compact_key": pl.String(),
    "page_type_token": pl.String(),
    "both_marker": pl.Boolean(),
    "several_page_types": pl.Boolean(),
    "username_std": pl.String(),
    "page_type": pl.String(),
    "username_page": pl.String(),
    "identity_source": pl.String(),
    "resolution": pl.String(),
    "reason_code": pl.String(),
    "suggestions": pl.List(pl.String()),
}

_MAX_SUGGESTION_DISTANCE = 2


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Plain edit distance (insert/delete/substitute = 1). With ``limit`` it may stop early returning > limit."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _suggest(alias_key: str, known: list[str]) -> list[str]:
    if not alias_key:
        return []
    scored = []
    for name in known:
        if name == alias_key:
            continue
        d = levenshtein(alias_key, name, _MAX_SUGGESTION_DISTANCE)
        if d <= _MAX_SUGGESTION_DISTANCE:
            scored.append((d, name))
    return [name for _, name in sorted(scored)]


def _text_or_empty(value: object) -> str:
    return "" if value is None else str(value)


def resolve_page_names(
    names: pl.DataFrame,
    aliases: pl.DataFrame,
    pages: pl.DataFrame,
    stats_hint: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per distinct (name_raw, source); see the module docstring for the rules."""
    distinct = names.select(pl.col("name_raw").cast(pl.String), pl.col("source").cast(pl.String)).unique()
    distinct = distinct.sort(["name_raw", "source"], nulls_last=True)

    # --- aliases: compact_key -> rows (username_std, page_type) ---------------------------------------------------
    alias_rows: dict[str, list[tuple[str, str | None, str]]] = defaultdict(list)
    if aliases.height:
        alias_cols = aliases.select(
            pl.col("alias").cast(pl.String),
            pl.col("username_std").cast(pl.String),
            (pl.col("page_type") if "page_type" in aliases.columns else pl.lit(None))
            .cast(pl.String)
            .alias("page_type"),
        ).unique()
        unique_alias = alias_cols.get_column("alias").unique().to_list()
        alias_ck = {a: normalise_page_name(_text_or_empty(a)).compact_key for a in unique_alias}
        for alias, user, ptype in alias_cols.sort(["alias", "username_std", "page_type"], nulls_last=True).iter_rows():
            ck = alias_ck[alias]
            if ck and user:
                ptype = ptype.strip().lower() if isinstance(ptype, str) and ptype.strip() else None
                alias_rows[ck].append((user, ptype, alias))

    # --- known pages ------------------------------------------------------------------------------------------------
    page_types_of: dict[str, set[str]] = defaultdict(set)
    page_id_of: dict[tuple[str, str], str] = {}
    if pages.height:
        has_up = "username_page" in pages.columns
        cols = [pl.col("username_std").cast(pl.String), pl.col("page_type").cast(pl.String)]
        cols.append(
            pl.col("username_page").cast(pl.String) if has_up else pl.lit(None, pl.String).alias("username_page")
        )
        for user, ptype, up in (
            pages.select(cols).unique().sort(["username_std", "page_type"], nulls_last=True).iter_rows()
        ):
            if not user or not ptype:
                continue
            page_types_of[user].add(ptype)
            page_id_of[(user, ptype)] = up if up else username_page(user, ptype)
    compact_users: dict[str, set[str]] = defaultdict(set)
    for user in page_types_of:
        compact_users[user.replace("_", "")].add(user)
    known_usernames = sorted(set(page_types_of) | {u for rows in alias_rows.values() for u, _, _ in rows})

    # --- stats hint: compact_key -> page type when unambiguous ----------------------------------------------------
    hint_type: dict[str, str] = {}
    if stats_hint is not None and stats_hint.height:
        grouped = (
            stats_hint.select(pl.col("compact_key").cast(pl.String), pl.col("is_paid_like").cast(pl.Boolean))
            .drop_nulls()
            .group_by("compact_key")
            .agg(pl.col("is_paid_like").unique().alias("v"))
        )
        for ck, values in grouped.iter_rows():
            if len(values) == 1:
                hint_type[ck] = "paid" if values[0] else "free"

    # --- per unique name ----------------------------------------------------------------------------------------------
    norm_cache: dict[str, object] = {}
    out: list[dict[str, object]] = []
    for name_raw, source in distinct.iter_rows():
        key = _text_or_empty(name_raw)
        if key not in norm_cache:
            norm_cache[key] = normalise_page_name(key)
        pn = norm_cache[key]
        row: dict[str, object] = {
            "name_raw": name_raw,
            "source": source,
            "alias_key": pn.alias_key,
            "compact_key": pn.compact_key,
            "page_type_token": pn.page_type,
            "both_marker": pn.both_marker,
            "several_page_types": pn.several_page_types,
            "username_std": None,
            "page_type": None,
            "username_page": None,
            "identity_source": None,
            "resolution": "needs_alias",
            "reason_code": None,
            "suggestions": [],
        }
        out.append(row)
        if not pn.compact_key:
            row["reason_code"] = "page_name_not_found"
            continue

        token = pn.page_type
        user: str | None = None
        pinned: str | None = None
        via_alias = False
        ambiguous = False
        candidates = alias_rows.get(pn.compact_key, [])
        if candidates:
            # With a page-type token in the name, the alias row of that type, then an unpinned one; without one
            # (a bare name or "(Both Pages)"), a pinning row first: only a pin can name the page (§6.2.1, §6.2.4).
            pinned_rows = [c for c in candidates if c[1] is not None]
            unpinned_rows = [c for c in candidates if c[1] is None]
            if token is not None:
                tiers = ([c for c in pinned_rows if c[1] == token], unpinned_rows, pinned_rows)
            else:
                tiers = (pinned_rows, unpinned_rows)
            chosen = next(t for t in tiers if t) if any(tiers) else []
            users = {c[0] for c in chosen}
            pins = {c[1] for c in chosen if c[1] is not None}
            if len(users) != 1 or (token is None and len(pins) > 1):
                ambiguous = True
            else:
                user = next(iter(users))
                pinned = next(iter(pins)) if len(pins) == 1 else None
                via_alias = True
        else:
            matches = compact_users.get(pn.compact_key, set())
            if len(matches) > 1:
                ambiguous = True
            elif matches:
                user = next(iter(matches))

        if ambiguous or (pn.both_marker and pinned is None):
            row["reason_code"] = "ambiguous_page"
            continue

        # page type: token > alias pin > the creator's only page > stats hint (unknown creators only)
        if pn.both_marker:
            page_type = pinned
        elif token is not None:
            page_type = token
        elif pinned is not None:
            page_type = pinned
        elif user is not None and len(page_types_of.get(user, ())) == 1:
            page_type = next(iter(page_types_of[user]))
        elif (user is None or user not in page_types_of) and pn.compact_key in hint_type:
            page_type = hint_type[pn.compact_key]
        else:
            page_type = None
        if page_type is None:
            row["reason_code"] = "ambiguous_page"
            continue

        username_std = user if user is not None else pn.alias_key
        row["username_std"] = username_std
        row["page_type"] = page_type
        row["username_page"] = page_id_of.get((username_std, page_type)) or username_page(username_std, page_type)
        if via_alias:
            row["identity_source"], row["resolution"] = "alias", "resolved"
        elif (username_std, page_type) in page_id_of:
            row["identity_source"], row["resolution"] = "dim_page", "resolved"
        else:
            row["identity_source"], row["resolution"] = "auto", "auto_registered"

    suggestion_cache: dict[str, list[str]] = {}
    for row in out:
        if row["resolution"] != "resolved":
            ak = row["alias_key"]
            if ak not in suggestion_cache:
                suggestion_cache[ak] = _suggest(ak, known_usernames)
            row["suggestions"] = suggestion_cache[ak]

    return pl.DataFrame(out, schema=OUTPUT_SCHEMA) if out else pl.DataFrame(schema=OUTPUT_SCHEMA)
