"""Warehouse data-quality checks (20-warehouse §1, §3.4, §3.5, §5), as pure polars functions.

Every function returns ``(passed, metadata)``. ``metadata`` holds plain counts and ``sample``: at most
``SAMPLE_SIZE`` offending keys as ``list[str]`` (sorted, so the same input always gives the same sample). The Dagster
wiring turns these into ``AssetCheckResult``s; nothing here imports Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

SAMPLE_SIZE = 20
UTC_US = pl.Datetime("us", "UTC")
OPEN_END = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
CLOCK_SKEW = dt.timedelta(minutes=5)
EARNINGS_MISMATCH_FLAG = "earnings_mismatch"
KEY_SEPARATOR = "|"


# --- helpers -----------------------------------------------------------------------------------------------------------


def _sample(values: pl.Series | list) -> list[str]:
    """Up to SAMPLE_SIZE distinct values as str, sorted (nulls rendered as ``<null>``)."""
    vals = values.to_list() if isinstance(values, pl.Series) else list(values)
    out = sorted({"<null>" if v is None else str(v) for v in vals})
    return out[:SAMPLE_SIZE]


def _key_expr(cols: Sequence[str]) -> pl.Expr:
    """One string per row naming the key (``a|b``; null parts rendered as ``<null>``)."""
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("<null>") for c in cols], separator=KEY_SEPARATOR)


def _row_key(frame: pl.DataFrame, key_cols: Sequence[str] | None) -> pl.Expr:
    """Key used in samples: the given columns, else ``message_send_key`` / ``caption_sk`` when present, else the row
    index (``row=<i>``; requires a ``_row`` column)."""
    if key_cols:
        return _key_expr(key_cols)
    for c in ("message_send_key", "caption_sk", "caption_id"):
        if c in frame.columns:
            return _key_expr([c])
    return pl.format("row={}", pl.col("_row"))


def _as_utc(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A datetime column as UTC (naive values are taken to be UTC already)."""
    dtype = frame.schema[col]
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return pl.col(col).dt.replace_time_zone("UTC").cast(UTC_US)
        return pl.col(col).dt.convert_time_zone("UTC").cast(UTC_US)
    if dtype == pl.Date:
        return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    raise TypeError(f"column {col!r} is {dtype}, not a datetime")


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


# --- keys --------------------------------------------------------------------------------------------------------------


def unique_key(frame: pl.DataFrame, cols: Sequence[str]) -> tuple[bool, dict]:
    """Primary key test (§1): no row with a null in any key column and no key value on more than one row.

    Metadata: ``rows``, ``null_key_rows``, ``duplicate_keys`` (distinct key values seen more than once),
    ``duplicate_rows`` (rows carrying such a key), ``sample`` (offending keys, ``a|b`` for composite keys)."""
    cols = list(cols)
    if not cols:
        raise ValueError("unique_key needs at least one column")
    has_null = pl.any_horizontal([pl.col(c).is_null() for c in cols])
    keyed = frame.select(_k=_key_expr(cols), _null=has_null)
    nulls = keyed.filter(pl.col("_null"))
    dup_rows = keyed.filter(~pl.col("_null") & pl.col("_k").is_duplicated())
    dup_keys = dup_rows.get_column("_k").unique()
    sample = _sample(pl.concat([dup_keys, nulls.get_column("_k")]))
    passed = nulls.height == 0 and dup_rows.height == 0
    return passed, {
        "rows": frame.height,
        "key_columns": cols,
        "null_key_rows": nulls.height,
        "duplicate_keys": dup_keys.len(),
        "duplicate_rows": dup_rows.height,
        "sample": sample,
    }


def foreign_key(
    frame: pl.DataFrame, col: str, dim: pl.DataFrame, dim_col: str, *, allow_null: bool = False
) -> tuple[bool, dict]:
    """Foreign key test (§1): every non-null ``frame[col]`` exists in ``dim[dim_col]``; nulls fail unless
    ``allow_null``.

    Metadata: ``rows``, ``null_rows``, ``orphan_rows``, ``orphan_values`` (distinct), ``sample`` (orphan values, plus
    ``<null>`` when nulls are not allowed and present)."""
    values = frame.get_column(col)
    known = dim.get_column(dim_col).drop_nulls().unique()
    present = values.drop_nulls()
    orphans = present.filter(~present.is_in(known.implode()))
    null_rows = values.null_count()
    orphan_values = orphans.unique()
    sample_src = orphan_values.to_list() + ([None] if null_rows and not allow_null else [])
    passed = orphans.len() == 0 and (allow_null or null_rows == 0)
    return passed, {
        "rows": frame.height,
        "column": col,
        "dimension_column": dim_col,
        "null_rows": null_rows,
        "allow_null": allow_null,
        "orphan_rows": orphans.len(),
        "orphan_values": orphan_values.len(),
        "sample": _sample(sample_src),
    }


# --- dim_caption SCD2 (§3.4) -------------------------------------------------------------------------------------------


def scd2_invariants(dim_caption: pl.DataFrame) -> tuple[bool, dict]:
    """SCD2 invariants of ``dim_caption`` (§3.4):

    1. per ``caption_id`` exactly one ``is_current`` row (``not_one_current``);
    2. the current row has ``valid_to = 9999-12-31 23:59:59 UTC`` (``current_not_open``);
    3. ``valid_from < valid_to`` on every row (``empty_interval``; null bounds count here too);
    4. no overlapping ``[valid_from, valid_to)`` within a ``caption_id``: sorted by ``valid_from``, each
       ``valid_from ≥`` the previous row's ``valid_to`` (``overlap``);
    5. ``caption_sk`` unique and not null (``duplicate_sk``).

    Metadata: ``rows``, ``captions``, one count per invariant (rows or captions as named), ``sample`` (offending
    ``caption_id``s, and ``sk:<caption_sk>`` for key duplicates)."""
    d = dim_caption.select(
        "caption_id",
        "caption_sk",
        "is_current",
        valid_from=_as_utc(dim_caption, "valid_from"),
        valid_to=_as_utc(dim_caption, "valid_to"),
    )
    open_end = pl.lit(OPEN_END, UTC_US)
    per_id = d.group_by("caption_id").agg(n_current=pl.col("is_current").fill_null(False).sum())
    not_one = per_id.filter(pl.col("n_current") != 1).get_column("caption_id")
    not_open = d.filter(pl.col("is_current").fill_null(False) & pl.col("valid_to").ne_missing(open_end)).get_column(
        "caption_id"
    )
    empty = d.filter(~(pl.col("valid_from") < pl.col("valid_to")).fill_null(False)).get_column("caption_id")
    overlap = (
        d.sort("caption_id", "valid_from", "valid_to", nulls_last=True)
        .with_columns(_prev_to=pl.col("valid_to").shift(1).over("caption_id"))
        .filter(pl.col("_prev_to").is_not_null() & ~(pl.col("valid_from") >= pl.col("_prev_to")).fill_null(False))
        .get_column("caption_id")
    )
    sk_bad = d.filter(pl.col("caption_sk").is_null() | pl.col("caption_sk").is_duplicated()).get_column("caption_sk")
    sample = _sample(
        [*not_one.to_list(), *not_open.to_list(), *empty.to_list(), *overlap.to_list()]
        + [f"sk:{s}" for s in sk_bad.unique().to_list()]
    )
    passed = not (not_one.len() or not_open.len() or empty.len() or overlap.len() or sk_bad.len())
    return passed, {
        "rows": d.height,
        "captions": per_id.height,
        "not_one_current": not_one.len(),
        "current_not_open": not_open.len(),
        "empty_interval": empty.len(),
        "overlap": overlap.unique().len(),
        "duplicate_sk": sk_bad.len(),
        "sample": sample,
    }


def fact_version_join(fact: pl.DataFrame, dim_caption: pl.DataFrame) -> tuple[bool, dict]:
    """Facts join the caption version valid at send time (§3.4, defect 1 of §6).

    Every fact row with a non-null ``caption_id`` must carry a ``caption_sk`` of the same ``caption_id`` whose
    version satisfies ``valid_from ≤ sending_ts_utc < valid_to``, or, when the send predates the caption's first
    version (a back-filled report), the first version's ``caption_sk`` (what ``transforms.caption_version_at``
    assigns).

    Not checked here: rows with a null ``caption_id``, and rows whose ``caption_id`` is absent from the dimension
    (counted in ``not_in_dimension``). The latter are expected: media-only sends (``caption_id`` of the empty text)
    and texts that never enter the library (U+FFFD, trimmed length outside [3, 2000]; 10-ingestion §10.2) keep their
    ``caption_id`` in the fact with a null ``caption_sk``. Orphans are the foreign-key check's job
    (``foreign_key(fact, "caption_sk", dim_caption, "caption_sk", allow_null=True)`` is exact for the fact: with
    this check it covers every row).

    Metadata: ``rows``, ``checked_rows``, ``not_in_dimension``, ``null_sk`` (caption in the dimension, caption_sk
    null), ``unknown_sk`` (sk absent from the dimension), ``caption_mismatch`` (sk of another caption),
    ``wrong_version`` (sk of the caption, not valid at send time), ``violations``, ``sample``
    (``message_send_key``s)."""
    f = fact.with_row_index("_row").filter(pl.col("caption_id").is_not_null())
    f = f.select(
        _key=_row_key(f, None),
        caption_id="caption_id",
        caption_sk="caption_sk",
        ts=_as_utc(f, "sending_ts_utc"),
    )
    d = dim_caption.select(
        "caption_id",
        "caption_sk",
        valid_from=_as_utc(dim_caption, "valid_from"),
        valid_to=_as_utc(dim_caption, "valid_to"),
    )
    first = (
        d.sort("caption_id", "valid_from")
        .group_by("caption_id", maintain_order=True)
        .agg(_first_sk=pl.col("caption_sk").first(), _first_from=pl.col("valid_from").first())
    )
    known = d.get_column("caption_id").unique().implode()
    in_dim = f.get_column("caption_id").is_in(known)
    not_in_dim = int((~in_dim).sum())
    f = f.filter(in_dim)
    j = (
        f.join(
            d.rename({"caption_id": "_dim_caption_id"}),
            on="caption_sk",
            how="left",
        )
        .join(first, on="caption_id", how="left")
        .with_columns(
            _null_sk=pl.col("caption_sk").is_null(),
            _unknown=pl.col("caption_sk").is_not_null() & pl.col("_dim_caption_id").is_null(),
        )
        .with_columns(
            _mismatch=~pl.col("_null_sk") & ~pl.col("_unknown") & (pl.col("_dim_caption_id") != pl.col("caption_id")),
        )
        .with_columns(
            _in_window=(pl.col("valid_from") <= pl.col("ts")) & (pl.col("ts") < pl.col("valid_to")),
            _early_first=(pl.col("ts") < pl.col("_first_from")) & (pl.col("caption_sk") == pl.col("_first_sk")),
        )
        .with_columns(
            _wrong=~pl.col("_null_sk")
            & ~pl.col("_unknown")
            & ~pl.col("_mismatch")
            & ~(pl.col("_in_window").fill_null(False) | pl.col("_early_first").fill_null(False))
        )
    )
    bad = j.filter(pl.col("_null_sk") | pl.col("_unknown") | pl.col("_mismatch") | pl.col("_wrong"))
    return bad.height == 0, {
        "rows": fact.height,
        "checked_rows": f.height,
        "not_in_dimension": not_in_dim,
        "null_sk": int(j.get_column("_null_sk").sum()),
        "unknown_sk": int(j.get_column("_unknown").sum()),
        "caption_mismatch": int(j.get_column("_mismatch").fill_null(False).sum()),
        "wrong_version": int(j.get_column("_wrong").fill_null(False).sum()),
        "violations": bad.height,
        "sample": _sample(bad.get_column("_key")),
    }


# --- metrics (§3.5, §5) ------------------------------------------------------------------------------------------------


def metric_identities(fact: pl.DataFrame, tolerance_usd: float = 0.01) -> tuple[bool, dict]:
    """Money identities of ``fact_message_send``.

    Gross rule. In real data ``Earnings = Price × Purchased`` exactly on every row (10-ingestion §3.3), and the sample
    generator produces earnings the same way (``truth.py``: ``earnings = price * purchased``; ``writers.py`` writes
    ``price * purch``; its ``earnings_imputed`` fault leaves the cell blank and staging imputes the same product).
    Staging never corrects a deviating value: it keeps it and flags the row ``earnings_mismatch`` (10-ingestion §5,
    |earnings − price × purchased| > $0.01, ``report_rows.py``). So the sound identity on the fact is:

        every row with |earnings_gross_usd − price_usd × purchased| > tolerance_usd carries ``earnings_mismatch``
        in ``dq_flags``.

    A mismatch without that flag means the value changed after staging (or staging lost the flag) and fails. A
    generic test such as "quality_flag != valid or any dq flag" would be unsound: the generator's
    ``earnings_mismatch`` fault rows are ``quality_flag = valid`` (their earnings stay ≤ price × sent), and an
    unrelated informational flag (``withdrawn_by_other``, ``time_trailing_text``) would hide a tampered amount.
    Rows with a null ``purchased`` or null gross earnings (``missing_count``, an imputation overflow) cannot be
    verified; they are counted in ``unverifiable_rows`` and do not fail.

    Net rule (exact, at cent precision): ``earnings_net_usd == round(earnings_gross_usd × (1 −
    platform_fee_applied), 2)`` on every row with a non-null gross (a null gross needs a null net).

    Metadata: ``rows``, ``gross_mismatch_rows`` (all deviating rows), ``gross_unflagged_rows`` (violations),
    ``unverifiable_rows``, ``net_violation_rows``, ``tolerance_usd``, ``sample`` (``message_send_key``s)."""
    f = fact.with_row_index("_row")
    gross = pl.col("earnings_gross_usd").cast(pl.Float64)
    price = pl.col("price_usd").cast(pl.Float64)
    purchased = pl.col("purchased").cast(pl.Float64)
    flags = pl.col("dq_flags").fill_null(pl.lit([], pl.List(pl.String)))
    expected_net = (gross * (1.0 - pl.col("platform_fee_applied").cast(pl.Float64))).round(2)
    net = pl.col("earnings_net_usd").cast(pl.Float64)
    f = f.with_columns(
        _key=_row_key(f, None),
        _unverifiable=gross.is_null() | purchased.is_null() | price.is_null(),
        _mismatch=((gross - price * purchased).abs() > tolerance_usd + 1e-9).fill_null(False),
        _flagged=flags.list.contains(EARNINGS_MISMATCH_FLAG),
        # cents compared as integers: exact, and immune to float representation of the stored decimals
        _net_bad=pl.when(gross.is_null())
        .then(net.is_not_null())
        .otherwise(((net * 100).round(0) != (expected_net * 100).round(0)).fill_null(True)),
    )
    gross_bad = f.filter(pl.col("_mismatch") & ~pl.col("_flagged"))
    net_bad = f.filter(pl.col("_net_bad"))
    sample = _sample(pl.concat([gross_bad.get_column("_key"), net_bad.get_column("_key")]))
    passed = gross_bad.height == 0 and net_bad.height == 0
    return passed, {
        "rows": fact.height,
        "tolerance_usd": tolerance_usd,
        "gross_mismatch_rows": int(f.get_column("_mismatch").sum()),
        "gross_unflagged_rows": gross_bad.height,
        "unverifiable_rows": int(f.get_column("_unverifiable").sum()),
        "net_violation_rows": net_bad.height,
        "sample": sample,
    }


# --- time --------------------------------------------------------------------------------------------------------------


def no_future_timestamps(
    frame: pl.DataFrame,
    ts_cols: Sequence[str],
    now: dt.datetime,
    *,
    skew: dt.timedelta = CLOCK_SKEW,
    key_cols: Sequence[str] | None = None,
) -> tuple[bool, dict]:
    """No value of ``ts_cols`` later than ``now + skew`` (default 5 minutes of clock skew). Nulls are not
    violations. Naive datetimes are taken as UTC; a naive ``now`` too.

    Metadata: ``rows``, ``now``, ``limit``, ``future_rows``, ``future_by_column`` (column → count), ``sample``
    (``<key>@<column>``; the key is ``key_cols`` joined with ``|``, else ``message_send_key`` / ``caption_sk`` /
    ``caption_id`` when present, else ``row=<index>``)."""
    limit = _utc(now) + skew
    lim = pl.lit(limit, UTC_US)
    f = frame.with_row_index("_row")
    f = f.with_columns(_key=_row_key(f, key_cols))
    by_col: dict[str, int] = {}
    offenders: list[str] = []
    future_rows = pl.lit(False)
    for c in ts_cols:
        is_future = (_as_utc(frame, c) > lim).fill_null(False)
        hit = f.filter(is_future)
        by_col[c] = hit.height
        offenders.extend(f"{k}@{c}" for k in hit.get_column("_key").head(SAMPLE_SIZE).to_list())
        future_rows = future_rows | is_future
    n_future = f.filter(future_rows).height if ts_cols else 0
    return n_future == 0, {
        "rows": frame.height,
        "now": _utc(now).isoformat(),
        "limit": limit.isoformat(),
        "future_rows": n_future,
        "future_by_column": by_col,
        "sample": _sample(offenders),
    }


def sends_before_reports(fact: pl.DataFrame, *, skew: dt.timedelta = dt.timedelta(0)) -> tuple[bool, dict]:
    """Every fact row was sent no later than the report that carries its metrics:
    ``sending_ts_utc ≤ latest_report_received_at (+ skew)``. A null on either side is a violation (the fact holds no
    row without a report). ``metrics_age_hours`` would be negative on a violating row.

    Metadata: ``rows``, ``null_rows``, ``violation_rows`` (nulls included), ``sample`` (``message_send_key``s)."""
    f = fact.with_row_index("_row")
    send = _as_utc(fact, "sending_ts_utc")
    rep = _as_utc(fact, "latest_report_received_at")
    f = f.with_columns(
        _key=_row_key(f, None),
        _null=send.is_null() | rep.is_null(),
        _late=(send > rep + pl.lit(skew)).fill_null(False),
    )
    bad = f.filter(pl.col("_null") | pl.col("_late"))
    return bad.height == 0, {
        "rows": fact.height,
        "null_rows": int(f.get_column("_null").sum()),
        "violation_rows": bad.height,
        "sample": _sample(bad.get_column("_key")),
    }
