"""Report rows -> ``stg_message_events`` + row-level quarantine (10-ingestion §3.4, §5, §8, §9). Pure polars.

Vectorised: every per-value Python function (caption_norm, NFKC of senders, sha256, fallback time formats, JSON of
quarantined rows) runs on the UNIQUE values of its input only and is joined back.

Quarantine reason precedence (the first that applies wins, ``QUARANTINE_PRECEDENCE``):
  summary_row > unparsable_timestamp > implausible_timestamp > future_timestamp > missing_sent >
  non_integer_count > negative_count (each checked over sent, viewed, purchased in that order) >
  unparsable_price > negative_amount > implausible_price (each checked over price, then earnings) >
  empty_free_message.

Choices where the spec is silent (documented in the final report as well):
- a non-numeric count cell (``abc``) -> ``non_integer_count``; ``nan``/``None`` count cells are empty.
- earnings: empty / ``nan`` / ``None`` / ``N/A`` -> imputed (``earnings_imputed``); ``-`` -> 0; an unparsable or
  out-of-range (>= 10^10 USD) earnings cell -> ``unparsable_price`` (the detail names the column).
- money with more than two decimals is rounded half-up to the cent.
- plausibility year = the year of the wall time as written (report-local; for an ISO-with-offset value, its
  report-zone wall time). For an ISO-with-offset value ``sending_ts_report_local`` is that instant in the report zone.
- ``unknown_status`` is raised for a non-empty status other than sent/unsent; an empty status is null, unflagged.
- ``withdrawn_by_other``: withdrawn_by_std set and different from sender_std (null sender counts as different).
- ``creator_column_mismatch``: the creator cell resolves (via ``creator_pages``) to exactly one username_page that
  differs from the report's; an unresolvable creator cell is not flagged.
- several roster entries claiming one sender alias -> the smallest scheduler_code.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from of_scheduler_assets.identity import (
    caption_hash_from_norm,
    caption_id_from_hash,
    caption_norm,
    collapse_ws,
    display_text,
    sha256_hex,
)
from of_scheduler_assets.layer_01_raw.workbook import RAW_CELL_COLUMNS

CELL_COLUMNS = list(RAW_CELL_COLUMNS)
PROVENANCE_COLUMNS = [
    "ingestion_run_id",
    "ingested_at",
    "message_id",
    "report_received_at",
    "archive_uri",
    "file_sha256",
    "row_number",
]

UTC_US = pl.Datetime("us", "UTC")
NAIVE_US = pl.Datetime("us")

STAGED_SCHEMA: dict[str, pl.DataType] = {
    "ingestion_run_id": pl.String(),
    "ingested_at": UTC_US,
    "message_id": pl.String(),
    "report_received_at": UTC_US,
    "archive_uri": pl.String(),
    "file_sha256": pl.String(),
    "row_number": pl.Int64(),
    "page_name_raw": pl.String(),
    "username_std": pl.String(),
    "page_type": pl.String(),
    "username_page": pl.String(),
    "identity_source": pl.String(),
    "message_raw": pl.String(),
    "caption_text": pl.String(),
    "caption_norm": pl.String(),
    "caption_hash": pl.String(),
    "caption_hash_raw": pl.String(),
    "caption_id": pl.String(),
    "is_media_only": pl.Boolean(),
    "sending_time_raw": pl.String(),
    "sending_time_trailing": pl.String(),
    "sending_ts_report_local": NAIVE_US,
    "report_timezone_used": pl.String(),
    "sending_ts_utc": UTC_US,
    "sending_ts_local": NAIVE_US,
    "sending_date_local": pl.Date(),
    "dow_local": pl.Int64(),
    "hod_local": pl.Int64(),
    "sender_raw": pl.String(),
    "sender_std": pl.String(),
    "scheduler_code": pl.String(),
    "status": pl.String(),
    "withdrawn_by_raw": pl.String(),
    "withdrawn_by_std": pl.String(),
    "price_raw": pl.String(),
    "price_usd": pl.Decimal(10, 2),
    "price_cents": pl.Int64(),
    "is_free": pl.Boolean(),
    "sent": pl.Int64(),
    "viewed": pl.Int64(),
    "purchased": pl.Int64(),
    "earnings_raw": pl.String(),
    "earnings_usd": pl.Decimal(12, 2),
    "msg_key": pl.String(),
    "dup_ordinal": pl.Int64(),
    "message_send_key": pl.String(),
    "dq_flags": pl.List(pl.String()),
    "extra_cols_json": pl.String(),
    "report_received_date": pl.Date(),
}
STAGED_COLUMNS = list(STAGED_SCHEMA)

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "quarantine_id": pl.String(),
    "source_kind": pl.String(),
    "source_ref": pl.String(),
    "archive_uri": pl.String(),
    "row_number": pl.Int64(),
    "reason_code": pl.String(),
    "reason_detail": pl.String(),
    "raw_row_json": pl.String(),
    "ingestion_run_id": pl.String(),
    "quarantined_at": UTC_US,
    "is_replayable": pl.Boolean(),
    "released_at": UTC_US,
    "released_by_run_id": pl.String(),
}

UNKNOWN_SENDERS_SCHEMA: dict[str, pl.DataType] = {
    "sender_std": pl.String(),
    "source": pl.String(),
    "occurrences": pl.Int64(),
    "n_reports": pl.Int64(),
    "first_seen_at": UTC_US,
    "last_seen_at": UTC_US,
    "sender_raw_example": pl.String(),
}

QUARANTINE_PRECEDENCE = (
    "summary_row",
    "unparsable_timestamp",
    "implausible_timestamp",
    "future_timestamp",
    "missing_sent",
    "non_integer_count",
    "negative_count",
    "unparsable_price",
    "negative_amount",
    "implausible_price",
    "empty_free_message",
)
REPLAYABLE_REASONS = frozenset({"implausible_timestamp"})

DQ_FLAG_ORDER = (
    "view_gt_sent",
    "purchase_gt_view",
    "earnings_mismatch",
    "free_with_purchases",
    "earnings_gt_max",
    "zero_sent_with_activity",
    "unsent_without_withdrawer",
    "withdrawn_by_other",
    "identical_row_in_report",
    "time_trailing_text",
    "dst_gap_shifted",
    "earnings_imputed",
    "missing_count",
    "unknown_status",
    "creator_column_mismatch",
)

DEFAULT_PAGE_TZ = "America/New_York"
MIN_PLAUSIBLE_YEAR = 2018
_EXCEL_EPOCH = datetime(1899, 12, 30)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REPORT_TIME_RE = r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}) at (\d{1,2}):(\d{2}) ?([AaPp][Mm])(.*)$"
_ISO_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
_FALLBACK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S")
_NULL_WORDS = ["nan", "none"]
_MONEY_ZERO_WORDS = ["-", "n/a", "nan", "none"]
_MONEY_EMPTY_WORDS = ["n/a", "nan", "none"]  # earnings: these are a missing value (imputed), "-" is zero
_MESSAGE_NULL_WORDS = ["nan", "None", "NaN"]
_SUMMARY_RE = r"(?i)^\s*total\b"
_EARNINGS_MAX_CENTS = 10**12  # Decimal(12,2)


@dataclass(frozen=True)
class StagedRows:
    staged: pl.DataFrame
    quarantined: pl.DataFrame
    unknown_senders: pl.DataFrame


# --- per-value Python (applied to unique values only) -----------------------------------------------------------------


def sender_std(value: str | None) -> str | None:
    """casefold(collapse_ws(NFKC(trim))); empty, ``nan`` and ``None`` -> null."""
    if value is None:
        return None
    s = value.strip()
    if not s or s.lower() in _NULL_WORDS:
        return None
    out = collapse_ws(unicodedata.normalize("NFKC", s)).casefold()
    return out or None


def _fallback_time(value: str) -> tuple[datetime | None, bool]:
    """§5 rule 4. Returns (naive datetime, is_absolute_utc)."""
    for fmt in _FALLBACK_FORMATS:
        try:
            return datetime.strptime(value, fmt), False
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, False
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, False
    return parsed.astimezone(UTC).replace(tzinfo=None), True


def _join_back(df: pl.DataFrame, src: str, lookup: pl.DataFrame) -> pl.DataFrame:
    """Attach the columns of ``lookup`` (keyed by ``src``, unique) to ``df`` through a narrow left join."""
    mapped = df.select(src).join(lookup, on=src, how="left", maintain_order="left", nulls_equal=True)
    return df.with_columns(mapped.drop(src))


def _map_unique(df: pl.DataFrame, src: str, outputs: dict[str, tuple[pl.DataType, object]]) -> pl.DataFrame:
    """Apply Python functions to the unique non-null values of ``src`` and join the results back (null -> null)."""
    uniq = df.get_column(src).drop_nulls().unique()
    values = uniq.to_list()
    cols = {src: uniq}
    for name, (dtype, fn) in outputs.items():
        cols[name] = pl.Series(name, [fn(v) for v in values], dtype=dtype)
    return _join_back(df, src, pl.DataFrame(cols))


def _parse_unique(df: pl.DataFrame, src: str, exprs: list[pl.Expr]) -> pl.DataFrame:
    """Evaluate vectorised parse expressions (reading only ``src``) once per unique value and join them back."""
    uniq = df.select(pl.col(src).unique()).with_columns(*exprs)
    return _join_back(df, src, uniq)


def _sha256_column(df: pl.DataFrame, src: str, out: str) -> pl.DataFrame:
    uniq = df.get_column(src).drop_nulls().unique()
    digests = [hashlib.sha256(v.encode("utf-8")).hexdigest() for v in uniq.to_list()]
    return _join_back(df, src, pl.DataFrame({src: uniq, out: pl.Series(out, digests, dtype=pl.String)}))


# --- vectorised parsers -----------------------------------------------------------------------------------------------


def _is_blank(expr: pl.Expr) -> pl.Expr:
    return expr.is_null() | (expr.str.strip_chars() == "")


def _money_exprs(col: str, zero_words: list[str], empty_words: list[str], p: str) -> list[pl.Expr]:
    """Columns ``{p}_state`` (zero|empty|ok|unparsable|overflow) and ``{p}_cents`` (signed Int64, rounded half-up)."""
    s = pl.col(col)
    low = s.str.strip_chars().str.to_lowercase()
    cleaned = s.str.replace_all(r"[\s$£€¥₹,]", "")
    cleaned = (
        pl.when(cleaned.str.contains(r"^\(.*\)$"))
        .then(pl.lit("-") + cleaned.str.slice(1, cleaned.str.len_chars() - 2))
        .otherwise(cleaned)
    )
    groups = cleaned.str.extract_groups(r"^([+-]?)(\d*)(?:\.(\d*))?$")
    sign = groups.struct.field("1")
    int_part = groups.struct.field("2")
    frac = groups.struct.field("3").fill_null("")
    has_digit = (int_part.str.len_chars() + frac.str.len_chars()) > 0
    int_digits = int_part.str.strip_chars_start("0")
    overflow = int_digits.str.len_chars() > 15
    int_val = pl.when(int_part == "").then(0).otherwise(int_part.cast(pl.Int64, strict=False))
    frac2 = (frac + pl.lit("00")).str.slice(0, 2).cast(pl.Int64, strict=False)
    round_up = (frac.str.slice(2, 1).fill_null("") >= pl.lit("5")) & (frac.str.len_chars() > 2)
    cents_abs = int_val * 100 + frac2 + round_up.cast(pl.Int64)
    cents = pl.when(sign == "-").then(-cents_abs).otherwise(cents_abs)
    state = (
        pl.when(s.is_null() | (low == "") | low.is_in(empty_words))
        .then(pl.lit("empty"))
        .when(low.is_in(zero_words) | cleaned.is_in(["", "-"]))
        .then(pl.lit("zero"))
        .when(int_part.is_null() | ~has_digit)
        .then(pl.lit("unparsable"))
        .when(overflow)
        .then(pl.lit("overflow"))
        .otherwise(pl.lit("ok"))
    )
    return [
        state.alias(f"{p}_state"),
        pl.when(state == "ok")
        .then(cents)
        .when(state == "zero")
        .then(0)
        .otherwise(None)
        .cast(pl.Int64)
        .alias(f"{p}_cents"),
    ]


def _count_exprs(col: str) -> list[pl.Expr]:
    """``{col}_state`` (empty|ok|non_integer|negative|overflow) and ``{col}_val`` (Int64)."""
    s = pl.col(col)
    cleaned = s.str.replace_all(r"[\s,]", "")
    groups = cleaned.str.extract_groups(r"^([+-]?)(\d+)(?:\.(\d+))?$")
    sign = groups.struct.field("1")
    int_part = groups.struct.field("2")
    frac = groups.struct.field("3")
    integral = frac.is_null() | frac.str.contains(r"^0+$")
    digits = int_part.str.strip_chars_start("0")
    value = int_part.cast(pl.Int64, strict=False)
    state = (
        pl.when(s.is_null() | (cleaned == "") | cleaned.str.to_lowercase().is_in(_NULL_WORDS))
        .then(pl.lit("empty"))
        .when(int_part.is_null() | ~integral)
        .then(pl.lit("non_integer"))
        .when(digits.str.len_chars() > 15)
        .then(pl.lit("overflow"))
        .when((sign == "-") & (value > 0))
        .then(pl.lit("negative"))
        .otherwise(pl.lit("ok"))
    )
    return [
        state.alias(f"{col}_state"),
        pl.when(state == "ok").then(value).otherwise(None).cast(pl.Int64).alias(f"{col}_val"),
    ]


def _parse_sending_time(df: pl.DataFrame) -> pl.DataFrame:
    """Adds ``_ts_naive`` (report-local), ``_ts_abs`` (UTC, ISO with offset) and ``sending_time_trailing``, parsing
    each distinct cell text once."""
    uniq = _parse_sending_time_unique(df.select(pl.col("sending_time").unique()))
    return _join_back(df, "sending_time", uniq.drop("_st"))


def _parse_sending_time_unique(df: pl.DataFrame) -> pl.DataFrame:
    st = pl.col("sending_time").str.replace_all(r"\s+", " ").str.strip_chars()
    df = df.with_columns(_st=st)
    st = pl.col("_st")
    null_like = st.is_null() | (st == "") | st.str.to_lowercase().is_in(["nan", "nat", "none"])
    # rule 1: ISO datetime cell
    iso = pl.when(st.str.contains(_ISO_NAIVE_RE)).then(
        pl.coalesce(
            st.str.strptime(NAIVE_US, "%Y-%m-%dT%H:%M:%S%.f", strict=False),
            st.str.strptime(NAIVE_US, "%Y-%m-%dT%H:%M:%S", strict=False),
            st.str.strptime(NAIVE_US, "%Y-%m-%dT%H:%M", strict=False),
        )
    )
    # rule 2: Excel serial day in [20000, 80000], rounded to the minute
    num = pl.when(st.str.contains(r"^\d+(\.\d+)?$")).then(st.cast(pl.Float64, strict=False))
    serial = pl.when((num >= 20000) & (num <= 80000)).then(
        pl.lit(_EXCEL_EPOCH, dtype=NAIVE_US) + pl.duration(minutes=(num * 1440).round(0).cast(pl.Int64))
    )
    # rule 3: "Sep 14, 2025 at 12:13 AM" (+ trailing text)
    g = st.str.extract_groups(_REPORT_TIME_RE)
    month = g.struct.field("1").replace_strict(list(_MONTHS), list(range(1, 13)), default=None, return_dtype=pl.Int64)
    hour12 = g.struct.field("4").cast(pl.Int64, strict=False)
    minute = g.struct.field("5").cast(pl.Int64, strict=False)
    pm = g.struct.field("6").str.to_lowercase() == "pm"
    hour24 = (hour12 % 12) + pl.when(pm).then(12).otherwise(0)
    valid = hour12.is_between(1, 12) & minute.is_between(0, 59) & month.is_not_null()
    text = pl.format("{}-{}-{} {}:{}", g.struct.field("3"), month, g.struct.field("2"), hour24, minute)
    report_fmt = pl.when(valid).then(text.str.strptime(NAIVE_US, "%Y-%m-%d %H:%M", strict=False))
    trailing = pl.when(report_fmt.is_not_null()).then(g.struct.field("7").str.strip_chars())
    df = df.with_columns(
        pl.when(null_like).then(None).otherwise(pl.coalesce(iso, serial, report_fmt)).alias("_ts_naive"),
        pl.when(trailing != "").then(trailing).otherwise(None).alias("sending_time_trailing"),
    )
    # rule 4: fallbacks, in Python on the unique residual strings only
    residual = df.filter(pl.col("_ts_naive").is_null() & ~null_like).select(pl.col("_st").unique().sort())
    values = residual.get_column("_st").to_list()
    parsed = [_fallback_time(v) for v in values]
    lookup = pl.DataFrame(
        {
            "_st": pl.Series(values, dtype=pl.String),
            "_fb_ts": pl.Series([p[0] for p in parsed], dtype=NAIVE_US),
            "_fb_abs": pl.Series([p[1] for p in parsed], dtype=pl.Boolean),
        }
    )
    df = df.join(lookup, on="_st", how="left", maintain_order="left")
    fb = pl.col("_ts_naive").is_null() & pl.col("_fb_ts").is_not_null()
    return df.with_columns(
        pl.when(fb & ~pl.col("_fb_abs")).then(pl.col("_fb_ts")).otherwise(pl.col("_ts_naive")).alias("_ts_naive"),
        pl.when(fb & pl.col("_fb_abs"))
        .then(pl.col("_fb_ts").dt.replace_time_zone("UTC"))
        .otherwise(None)
        .cast(UTC_US)
        .alias("_ts_abs"),
    ).drop("_fb_ts", "_fb_abs")


def _localise(df: pl.DataFrame) -> pl.DataFrame:
    """Report-local wall time -> UTC (fold 0 in the overlap, shifted forward by the gap), then page-local fields."""
    report_tzs = sorted(df.get_column("report_timezone_used").unique().drop_nulls().to_list())
    naive = pl.col("_ts_naive")
    utc_chain = None
    gap_chain = None
    for tz in report_tzs:
        in_tz = pl.col("report_timezone_used") == tz
        direct = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
        shifted = pl.coalesce(
            *[
                (
                    (naive - pl.duration(hours=h)).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
                    + pl.duration(hours=h)
                ).dt.convert_time_zone("UTC")
                for h in (3, 27)
            ]
        )
        value = pl.coalesce(direct, shifted)
        gap = naive.is_not_null() & direct.is_null()
        utc_chain = pl.when(in_tz).then(value) if utc_chain is None else utc_chain.when(in_tz).then(value)
        gap_chain = pl.when(in_tz).then(gap) if gap_chain is None else gap_chain.when(in_tz).then(gap)
    utc_expr = utc_chain.otherwise(None) if utc_chain is not None else pl.lit(None)
    gap_expr = gap_chain.otherwise(False) if gap_chain is not None else pl.lit(False)
    df = df.with_columns(
        pl.coalesce(pl.col("_ts_abs"), utc_expr.cast(UTC_US)).alias("sending_ts_utc"),
        (gap_expr.fill_null(False) & pl.col("_ts_abs").is_null()).alias("_dst_gap"),
    )
    # ISO-with-offset values: their report-zone wall time
    local_of_abs = None
    for tz in report_tzs:
        v = pl.col("_ts_abs").dt.convert_time_zone(tz).dt.replace_time_zone(None)
        cond = pl.col("report_timezone_used") == tz
        local_of_abs = pl.when(cond).then(v) if local_of_abs is None else local_of_abs.when(cond).then(v)
    if local_of_abs is not None:
        df = df.with_columns(
            pl.when(pl.col("_ts_abs").is_not_null())
            .then(local_of_abs)
            .otherwise(naive)
            .cast(NAIVE_US)
            .alias("sending_ts_report_local")
        )
    else:
        df = df.with_columns(naive.cast(NAIVE_US).alias("sending_ts_report_local"))
    page_tzs = sorted(df.get_column("_page_tz").unique().drop_nulls().to_list())
    local = None
    for tz in page_tzs:
        v = pl.col("sending_ts_utc").dt.convert_time_zone(tz).dt.replace_time_zone(None)
        cond = pl.col("_page_tz") == tz
        local = pl.when(cond).then(v) if local is None else local.when(cond).then(v)
    local_expr = (local.otherwise(None) if local is not None else pl.lit(None)).cast(NAIVE_US)
    df = df.with_columns(local_expr.alias("sending_ts_local"))
    return df.with_columns(
        pl.col("sending_ts_local").dt.date().alias("sending_date_local"),
        (pl.col("sending_ts_local").dt.weekday().cast(pl.Int64) - 1).alias("dow_local"),
        pl.col("sending_ts_local").dt.hour().cast(pl.Int64).alias("hod_local"),
    )


def _cents_to_decimal(expr: pl.Expr, precision: int) -> pl.Expr:
    return (expr.cast(pl.Decimal(38, 2)) / 100).cast(pl.Decimal(precision, 2))


# --- main --------------------------------------------------------------------------------------------------------------


def stage_report_rows(
    raw: pl.DataFrame,
    reports: pl.DataFrame,
    roster: pl.DataFrame,
    *,
    creator_pages: pl.DataFrame | None = None,
    default_report_tz: str = "America/Denver",
    max_price_usd: float = 1000.0,
    platform_year_max: int | None = None,
) -> StagedRows:
    """Parse, validate and key the raw report rows of already resolved reports (see module docstring)."""
    n_input = raw.height
    for col in CELL_COLUMNS:
        if col not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(col))
    df = raw.select(
        pl.col("ingestion_run_id").cast(pl.String),
        pl.col("ingested_at").cast(UTC_US),
        pl.col("message_id").cast(pl.String),
        pl.col("report_received_at").cast(UTC_US),
        pl.col("archive_uri").cast(pl.String),
        pl.col("file_sha256").cast(pl.String),
        pl.col("row_number").cast(pl.Int64),
        *[pl.col(c).cast(pl.String) for c in CELL_COLUMNS],
    ).sort(["message_id", "row_number"])
    if df.select(pl.struct("message_id", "row_number").is_duplicated().any()).item():
        raise ValueError("raw report rows: (message_id, row_number) is not unique")

    # --- report identity ---------------------------------------------------------------------------------------------
    rep = reports.select(
        pl.col("message_id").cast(pl.String),
        pl.col("page_name_raw").cast(pl.String),
        pl.col("username_std").cast(pl.String),
        pl.col("page_type").cast(pl.String),
        pl.coalesce(
            pl.col("username_page").cast(pl.String) if "username_page" in reports.columns else pl.lit(None, pl.String),
            pl.format("{}__{}", pl.col("username_std"), pl.col("page_type")),
        ).alias("username_page"),
        (pl.col("identity_source") if "identity_source" in reports.columns else pl.lit(None))
        .cast(pl.String)
        .alias("identity_source"),
        (pl.col("page_tz") if "page_tz" in reports.columns else pl.lit(None))
        .cast(pl.String)
        .fill_null(DEFAULT_PAGE_TZ)
        .alias("_page_tz"),
        (pl.col("report_tz") if "report_tz" in reports.columns else pl.lit(None))
        .cast(pl.String)
        .fill_null(default_report_tz)
        .alias("report_timezone_used"),
    )
    if rep.get_column("message_id").is_duplicated().any():
        raise ValueError("reports: message_id is not unique")
    missing = sorted(set(df.get_column("message_id").unique().to_list()) - set(rep.get_column("message_id").to_list()))
    if missing:
        raise ValueError(f"report rows of unresolved reports (not in `reports`): {missing[:5]}")
    df = df.join(rep, on="message_id", how="left", maintain_order="left")

    # --- timestamps ----------------------------------------------------------------------------------------------------
    df = _parse_sending_time(df)
    df = _localise(df)
    year_max = (
        pl.lit(platform_year_max, dtype=pl.Int64)
        if platform_year_max is not None
        else pl.col("report_received_at").dt.year().cast(pl.Int64)
    )
    df = df.with_columns(
        pl.col("sending_ts_report_local").dt.year().cast(pl.Int64).alias("_year"),
        year_max.alias("_year_max"),
    )

    # --- numbers -------------------------------------------------------------------------------------------------------
    df = _parse_unique(df, "price", _money_exprs("price", _MONEY_ZERO_WORDS, [], "_price"))
    df = _parse_unique(df, "earnings", _money_exprs("earnings", ["-"], _MONEY_EMPTY_WORDS, "_earn"))
    for count_col in ("sent", "viewed", "purchased"):
        df = _parse_unique(df, count_col, _count_exprs(count_col))
    df = _parse_unique(df, "status", [pl.col("status").str.strip_chars().str.to_lowercase().alias("_status")])
    # price: "empty" is zero for the price column
    df = df.with_columns(
        pl.when(pl.col("_price_state") == "empty")
        .then(pl.lit("zero"))
        .otherwise(pl.col("_price_state"))
        .alias("_price_state"),
        pl.when(pl.col("_price_state") == "empty")
        .then(0)
        .otherwise(pl.col("_price_cents"))
        .cast(pl.Int64)
        .alias("_price_cents"),
    )

    # --- text ----------------------------------------------------------------------------------------------------------
    msg_text = (
        pl.when(pl.col("message").is_null() | pl.col("message").str.strip_chars().is_in(_MESSAGE_NULL_WORDS))
        .then(pl.lit(""))
        .otherwise(pl.col("message"))
    )
    df = df.with_columns(msg_text.alias("_msg"))
    df = _map_unique(
        df,
        "_msg",
        {
            "caption_text": (pl.String(), display_text),
            "caption_norm": (pl.String(), caption_norm),
            "caption_hash_raw": (pl.String(), sha256_hex),
        },
    )
    df = _map_unique(df, "caption_norm", {"caption_hash": (pl.String(), caption_hash_from_norm)})
    df = _map_unique(df, "caption_hash", {"caption_id": (pl.String(), caption_id_from_hash)})
    df = df.with_columns(((pl.col("caption_text") == "") | (pl.col("caption_norm") == "")).alias("_empty_msg"))
    df = _map_unique(df, "sender", {"sender_std": (pl.String(), sender_std)})
    df = _map_unique(df, "withdrawn_by", {"withdrawn_by_std": (pl.String(), sender_std)})

    # --- summary row -----------------------------------------------------------------------------------------------
    numeric_present = pl.any_horizontal(
        *[~_is_blank(pl.col(c)) for c in ("price", "sent", "viewed", "purchased", "earnings")]
    )
    time_empty = _is_blank(pl.col("sending_time"))
    summary = (time_empty & pl.col("message").fill_null("").str.contains(_SUMMARY_RE)) | (
        _is_blank(pl.col("message")) & time_empty & _is_blank(pl.col("sender")) & numeric_present
    )

    # --- quarantine reasons in precedence order -------------------------------------------------------------------
    raw_or_empty = lambda c: pl.col(c).fill_null("")  # noqa: E731
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("summary_row", summary, pl.format("summary row without a send time (message '{}')", raw_or_empty("message"))),
        (
            "unparsable_timestamp",
            pl.col("sending_ts_utc").is_null(),
            pl.format("could not parse '{}'", raw_or_empty("sending_time")),
        ),
        (
            "implausible_timestamp",
            (pl.col("_year") < MIN_PLAUSIBLE_YEAR) | (pl.col("_year") > pl.col("_year_max")),
            pl.format(
                "year {} outside [{}, {}] in '{}'",
                pl.col("_year"),
                pl.lit(MIN_PLAUSIBLE_YEAR),
                pl.col("_year_max"),
                raw_or_empty("sending_time"),
            ),
        ),
        (
            "future_timestamp",
            pl.col("sending_ts_utc") > pl.col("report_received_at") + pl.duration(hours=24),
            pl.format(
                "send time {} is more than 24 h after report_received_at {} ('{}')",
                pl.col("sending_ts_utc").dt.strftime("%Y-%m-%dT%H:%MZ"),
                pl.col("report_received_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                raw_or_empty("sending_time"),
            ),
        ),
        ("missing_sent", pl.col("sent_state") == "empty", pl.lit("sent is empty")),
    ]
    for code, state in (
        ("non_integer_count", "non_integer"),
        ("non_integer_count", "overflow"),
        ("negative_count", "negative"),
    ):
        for c in ("sent", "viewed", "purchased"):
            detail = (
                "is not an integer"
                if state == "non_integer"
                else ("is out of range" if state == "overflow" else "is negative")
            )
            checks.append((code, pl.col(f"{c}_state") == state, pl.format(f"{c} '{{}}' {detail}", raw_or_empty(c))))
    max_cents = int(round(max_price_usd * 100))
    checks += [
        (
            "unparsable_price",
            pl.col("_price_state") == "unparsable",
            pl.format("could not parse price '{}'", raw_or_empty("price")),
        ),
        (
            "unparsable_price",
            pl.col("_earn_state").is_in(["unparsable", "overflow"])
            | (pl.col("_earn_cents").abs() >= _EARNINGS_MAX_CENTS),
            pl.format("could not parse earnings '{}' (or out of range)", raw_or_empty("earnings")),
        ),
        ("negative_amount", pl.col("_price_cents") < 0, pl.format("negative price '{}'", raw_or_empty("price"))),
        ("negative_amount", pl.col("_earn_cents") < 0, pl.format("negative earnings '{}'", raw_or_empty("earnings"))),
        (
            "implausible_price",
            (pl.col("_price_state") == "overflow") | (pl.col("_price_cents") > max_cents),
            pl.format("price '{}' exceeds max_price_usd {}", raw_or_empty("price"), pl.lit(str(max_price_usd))),
        ),
        (
            "empty_free_message",
            pl.col("_empty_msg") & (pl.col("_price_cents") == 0),
            pl.lit("empty message on a free (price 0) row"),
        ),
    ]
    assert [c for c, _, _ in checks] == sorted((c for c, _, _ in checks), key=QUARANTINE_PRECEDENCE.index)
    # index of the first failing check; code and detail are derived from it (details only for quarantined rows)
    first = pl.coalesce(
        [pl.when(cond.fill_null(False)).then(pl.lit(i, pl.Int32)) for i, (_, cond, _) in enumerate(checks)]
    )
    df = df.with_columns(first.alias("_check"))
    # identical rows (all raw cells equal) within one report
    df = df.with_columns(pl.struct(["message_id", *CELL_COLUMNS]).is_duplicated().alias("_identical"))

    staged_part = df.filter(pl.col("_check").is_null())
    quarantined_part = df.filter(pl.col("_check").is_not_null()).with_columns(
        pl.col("_check")
        .replace_strict(list(range(len(checks))), [c for c, _, _ in checks], return_dtype=pl.String)
        .alias("_reason"),
        pl.coalesce([pl.when(pl.col("_check") == i).then(detail) for i, (_, _, detail) in enumerate(checks)]).alias(
            "_reason_detail"
        ),
    )
    staged = _finish_staged(staged_part, roster, creator_pages)
    quarantined = _finish_quarantine(quarantined_part)
    unknown = _unknown_senders(staged)

    assert staged.height + quarantined.height == n_input, "every input row ends in exactly one of staged/quarantined"
    counts_in = raw.group_by("message_id").len().sort("message_id")
    counts_out = (
        pl.concat([staged.select("message_id"), quarantined.select(pl.col("source_ref").alias("message_id"))])
        .group_by("message_id")
        .len()
        .sort("message_id")
    )
    assert counts_in.equals(counts_out), "per-report row conservation failed"
    return StagedRows(staged=staged, quarantined=quarantined, unknown_senders=unknown)


def _finish_staged(df: pl.DataFrame, roster: pl.DataFrame, creator_pages: pl.DataFrame | None) -> pl.DataFrame:
    # scheduler_code via roster sender aliases (normalised like sender_std; several claimants -> smallest code)
    if roster.height:
        aliases = roster.select(pl.col("scheduler_code").cast(pl.String), pl.col("sender_aliases")).explode(
            "sender_aliases"
        )
        aliases = aliases.rename({"sender_aliases": "_alias"})
        aliases = _map_unique(aliases, "_alias", {"sender_std": (pl.String(), sender_std)})
        smap = aliases.drop_nulls("sender_std").group_by("sender_std").agg(pl.col("scheduler_code").min())
    else:
        smap = pl.DataFrame(schema={"sender_std": pl.String, "scheduler_code": pl.String})
    df = df.join(smap, on="sender_std", how="left", maintain_order="left")

    # creator column (the email wins; a different resolved page is only flagged)
    if creator_pages is not None and creator_pages.height:
        cmap = (
            creator_pages.select(pl.col("name_raw").cast(pl.String), pl.col("username_page").cast(pl.String))
            .drop_nulls()
            .group_by("name_raw")
            .agg(pl.col("username_page").unique())
            .filter(pl.col("username_page").list.len() == 1)
            .select("name_raw", pl.col("username_page").list.first().alias("_creator_page"))
            .rename({"name_raw": "creator"})
        )
        df = df.join(cmap, on="creator", how="left", maintain_order="left")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("_creator_page"))

    price_cents = pl.col("_price_cents")
    sent, viewed, purchased = pl.col("sent_val"), pl.col("viewed_val"), pl.col("purchased_val")
    imputed = pl.col("_earn_state") == "empty"
    imputed_f = price_cents.cast(pl.Float64) * purchased.cast(pl.Float64)
    earn_cents = (
        pl.when(imputed)
        .then(pl.when(imputed_f < _EARNINGS_MAX_CENTS).then(price_cents * purchased))
        .otherwise(pl.col("_earn_cents"))
    )
    df = df.with_columns(earn_cents.cast(pl.Int64).alias("_earn_final"))
    earn = pl.col("_earn_final").cast(pl.Float64)
    status = pl.col("_status")
    flags = {
        "view_gt_sent": viewed > sent,
        "purchase_gt_view": purchased > viewed,
        "earnings_mismatch": ~imputed & ((earn - price_cents.cast(pl.Float64) * purchased.cast(pl.Float64)).abs() > 1),
        "free_with_purchases": (price_cents == 0) & (purchased > 0),
        "earnings_gt_max": earn > price_cents.cast(pl.Float64) * sent.cast(pl.Float64),
        "zero_sent_with_activity": (sent == 0) & ((viewed > 0) | (purchased > 0)),
        "unsent_without_withdrawer": (status == "unsent") & pl.col("withdrawn_by_std").is_null(),
        "withdrawn_by_other": pl.col("withdrawn_by_std").is_not_null()
        & pl.col("withdrawn_by_std").ne_missing(pl.col("sender_std")),
        "identical_row_in_report": pl.col("_identical"),
        "time_trailing_text": pl.col("sending_time_trailing").is_not_null(),
        "dst_gap_shifted": pl.col("_dst_gap"),
        "earnings_imputed": imputed,
        "missing_count": (pl.col("viewed_state") == "empty") | (pl.col("purchased_state") == "empty"),
        "unknown_status": status.is_not_null() & (status != "") & ~status.is_in(["sent", "unsent"]),
        "creator_column_mismatch": ~_is_blank(pl.col("creator"))
        & pl.col("_creator_page").is_not_null()
        & (pl.col("_creator_page") != pl.col("username_page")),
    }
    assert tuple(flags) == DQ_FLAG_ORDER
    # flags as a bitmask (cheap), then the list of names once per distinct mask
    mask = pl.sum_horizontal([cond.fill_null(False).cast(pl.Int64) * (1 << i) for i, cond in enumerate(flags.values())])
    df = df.with_columns(mask.alias("_dq_mask"))
    masks = df.get_column("_dq_mask").unique()
    names = [[name for i, name in enumerate(DQ_FLAG_ORDER) if m >> i & 1] for m in masks.to_list()]
    df = _join_back(
        df, "_dq_mask", pl.DataFrame({"_dq_mask": masks, "dq_flags": pl.Series(names, dtype=pl.List(pl.String))})
    )
    df = df.with_columns(
        pl.when(status == "").then(None).otherwise(status).alias("status"),
        pl.col("message").alias("message_raw"),
        pl.col("sending_time").alias("sending_time_raw"),
        pl.col("sender").alias("sender_raw"),
        pl.col("withdrawn_by").alias("withdrawn_by_raw"),
        pl.col("price").alias("price_raw"),
        pl.col("earnings").alias("earnings_raw"),
        price_cents.alias("price_cents"),
        (price_cents == 0).alias("is_free"),
        sent.alias("sent"),
        viewed.alias("viewed"),
        purchased.alias("purchased"),
        (pl.col("_empty_msg") & (price_cents > 0)).alias("is_media_only"),
        pl.col("report_received_at").dt.date().alias("report_received_date"),
    )

    df = _parse_unique(df, "price_cents", [_cents_to_decimal(pl.col("price_cents"), 10).alias("price_usd")])
    df = _parse_unique(df, "_earn_final", [_cents_to_decimal(pl.col("_earn_final"), 12).alias("earnings_usd")])

    # msg_key / dup_ordinal / message_send_key (§8)
    df = df.with_columns(
        pl.concat_str(
            [
                pl.col("username_page").fill_null(""),
                pl.col("sending_ts_utc").dt.strftime("%Y-%m-%dT%H:%MZ").fill_null(""),
                pl.col("caption_hash").fill_null(""),
                pl.col("price_cents").cast(pl.String).fill_null(""),
                pl.col("sender_std").fill_null(""),
            ],
            separator="|",
        ).alias("_msg_key_src")
    )
    df = _sha256_column(df, "_msg_key_src", "msg_key")
    ordinal = (
        df.select(
            "message_id", "msg_key", "sent", "viewed", "purchased", "row_number", pl.int_range(pl.len()).alias("_i")
        )
        .sort(
            ["message_id", "msg_key", "sent", "viewed", "purchased", "row_number"],
            descending=[False, False, True, True, True, False],
            nulls_last=True,
        )
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(["message_id", "msg_key"]).alias("dup_ordinal")
        )
        .sort("_i")
    )
    df = df.with_columns(ordinal.get_column("dup_ordinal"))
    df = df.with_columns(pl.format("{}|{}", pl.col("msg_key"), pl.col("dup_ordinal")).alias("_msk_src"))
    df = _sha256_column(df, "_msk_src", "message_send_key")  # row order is still (message_id, row_number)
    return df.select([pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items()])


def _finish_quarantine(df: pl.DataFrame) -> pl.DataFrame:
    cells = df.select(sorted(CELL_COLUMNS)).to_dicts()
    raw_json = [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in cells]
    df = df.with_columns(pl.Series("raw_row_json", raw_json, dtype=pl.String))
    df = df.with_columns(
        pl.format("{}|{}|{}", pl.col("message_id"), pl.col("row_number"), pl.col("_reason")).alias("_qid_src")
    )
    df = _sha256_column(df, "_qid_src", "quarantine_id")
    out = df.select(
        pl.col("quarantine_id"),
        pl.lit("report").alias("source_kind"),
        pl.col("message_id").alias("source_ref"),
        pl.col("archive_uri"),
        pl.col("row_number"),
        pl.col("_reason").alias("reason_code"),
        pl.col("_reason_detail").alias("reason_detail"),
        pl.col("raw_row_json"),
        pl.col("ingestion_run_id"),
        pl.col("ingested_at").alias("quarantined_at"),
        pl.col("_reason").is_in(list(REPLAYABLE_REASONS)).alias("is_replayable"),
        pl.lit(None).alias("released_at"),
        pl.lit(None).alias("released_by_run_id"),
    )
    return out.sort(["source_ref", "row_number"]).select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])


def _unknown_senders(staged: pl.DataFrame) -> pl.DataFrame:
    out = (
        staged.filter(pl.col("sender_std").is_not_null() & pl.col("scheduler_code").is_null())
        .group_by("sender_std")
        .agg(
            pl.len().cast(pl.Int64).alias("occurrences"),
            pl.col("message_id").n_unique().cast(pl.Int64).alias("n_reports"),
            pl.col("report_received_at").min().alias("first_seen_at"),
            pl.col("report_received_at").max().alias("last_seen_at"),
            pl.col("sender_raw").drop_nulls().min().alias("sender_raw_example"),
        )
        .with_columns(pl.lit("sender").alias("source"))
        .sort("sender_std")
    )
    return out.select([pl.col(c).cast(t) for c, t in UNKNOWN_SENDERS_SCHEMA.items()])
