"""Reference-data staging (pure polars + stdlib, no Dagster): caption bank (10-ingestion §10), creator statistics
(§11) and scheduler assignments (§12).

Every non-blank input row ends in exactly one of the parsed output or the quarantine rows (§9.1); blank rows are
counted, never staged. Page *resolution* is not done here: names are normalised with ``identity.normalise_page_name``
and resolved downstream.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import polars as pl

from of_scheduler_assets.identity import (
    caption_hash_from_norm,
    caption_id_from_hash,
    caption_norm,
    collapse_ws,
    display_text,
    normalise_page_name,
    sha256_hex,
)
from of_scheduler_assets.layer_02_staging.report_rows import QUARANTINE_SCHEMA
from of_scheduler_assets.layer_02_staging.tos import RULE_IDS, RULES_VERSION, evaluate_tos

UTC = dt.UTC
DEFAULT_BANK_TIMEZONE = "America/Denver"
DEFAULT_STATS_TIMEZONE = "America/New_York"

# --- CSV reading (§3.1 / §10.1) --------------------------------------------------------------------------------------


def read_csv_text(data: bytes) -> tuple[list[str], list[list[str]], dict]:
    """RFC 4180 read of a whole file.

    Returns ``(header, rows, meta)``: ``header`` is the first non-blank record, ``rows`` the non-blank records after
    it. A record is blank when every cell is empty after trimming whitespace. ``meta``: ``encoding`` (``utf-8``,
    ``utf-8-sig`` when a BOM was present, or ``latin-1`` as fallback), ``had_bom``, ``n_records`` (records after the
    header, blanks included), ``n_blank_rows``, ``row_numbers`` (1-based record position after the header, blank rows
    counted, one per returned row), ``blank_row_numbers``.
    """
    had_bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8-sig")
        encoding = "utf-8-sig" if had_bom else "utf-8"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    records = list(csv.reader(io.StringIO(text, newline=""), strict=False))
    header: list[str] = []
    i = 0
    while i < len(records) and _is_blank(records[i]):
        i += 1
    leading_blank = i
    if i < len(records):
        header = records[i]
        i += 1
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    blank_numbers: list[int] = []
    for n, rec in enumerate(records[i:], start=1):
        if _is_blank(rec):
            blank_numbers.append(n)
        else:
            rows.append(rec)
            row_numbers.append(n)
    meta = {
        "encoding": encoding,
        "had_bom": had_bom,
        "n_records": len(records) - i if records else 0,
        "n_blank_rows": len(blank_numbers),
        "n_leading_blank_rows": leading_blank,
        "row_numbers": row_numbers,
        "blank_row_numbers": blank_numbers,
    }
    return header, rows, meta


def _is_blank(record: list[str]) -> bool:
    return all(not cell.strip() for cell in record)


def normalise_header(name: str) -> str:
    """Header normalisation of 10-ingestion §4 steps 1-6 (repeats are handled by the caller)."""
    s = name.strip().lower()
    s = re.sub(r"[\s\-.]+", "_", s)
    s = re.sub(r"[^\w]", "", s)
    s = re.sub(r"_+", "_", s).strip("_")
    return s or "column"


def _unique_headers(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


# --- quarantine rows (§9.1) ------------------------------------------------------------------------------------------



def quarantine_id(source_ref: str, row_number: int | None, reason_code: str) -> str:
    return sha256_hex(f"{source_ref}|{'' if row_number is None else row_number}|{reason_code}")


def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def make_quarantine_rows(
    items: list[dict[str, Any]],
    *,
    source_kind: str,
    quarantined_at: dt.datetime,
    ingestion_run_id: str | None = None,
) -> pl.DataFrame:
    """``items``: dicts with ``source_ref``, ``row_number``, ``reason_code``, ``reason_detail``, ``raw_row_json`` and
    optionally ``archive_uri``. None of the reference reasons is replayable by a config change here."""
    at = _utc(quarantined_at)
    rows = [
        {
            "quarantine_id": quarantine_id(it["source_ref"], it.get("row_number"), it["reason_code"]),
            "source_kind": source_kind,
            "source_ref": it["source_ref"],
            "archive_uri": it.get("archive_uri"),
            "row_number": it.get("row_number"),
            "reason_code": it["reason_code"],
            "reason_detail": it.get("reason_detail"),
            "raw_row_json": it.get("raw_row_json"),
            "ingestion_run_id": ingestion_run_id,
            "quarantined_at": at,
            "is_replayable": False,
            "released_at": None,
            "released_by_run_id": None,
        }
        for it in items
    ]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def _raw_json(header: list[str] | None, row: list[str]) -> str:
    if header is not None and len(header) == len(row):
        return json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False)
    return json.dumps(row, ensure_ascii=False)


# --- categories (§10.3) ----------------------------------------------------------------------------------------------

CATEGORY_ORDER = ("ppv", "renew", "tip", "link_drop", "bump", "drip")
CATEGORY_LABELS = {
    "ppv": "MassMessage PPV",
    "renew": "Renew campaign captions",
    "tip": "Tip campaign captions",
    "link_drop": "Link drop",
    "bump": "Follow Up MassMessage Bump",
    "drip": "Drip",
}
RENEW_PATTERN = r"\b(?:renew|renewal)\b|https://.*renew"
TIP_PATTERN = r"\btip\s+(?:me|for|to|if|\$)|send\s+(?:a\s+)?tip|tip\s+(?:and|to\s+get)|\$\d+\s+tip"
LINK_PATTERN = r"https://"
_RENEW_RX = re.compile(RENEW_PATTERN, re.DOTALL)
_TIP_RX = re.compile(TIP_PATTERN, re.DOTALL)


def classify_caption(text_lower: str | None, price_context: float | bool | None) -> str:
    """First matching rule of §10.3 on the lower-cased text; ``price_context`` > 0 (or True) means a PPV context."""
    t = text_lower or ""
    if price_context is not None and float(price_context) > 0:
        return "ppv"
    if _RENEW_RX.search(t):
        return "renew"
    if _TIP_RX.search(t):
        return "tip"
    if LINK_PATTERN in t:
        return "link_drop"
    return "bump"


def classify_frame(
    frame: pl.DataFrame, *, text_col: str = "caption_lower", price_col: str = "price_context"
) -> pl.DataFrame:
    """Vectorised §10.3: adds ``category``, ``has_link``, ``contains_renew``, ``mentions_tip``.
    ``text_col`` must be lower-cased text; ``price_col`` a number (> 0 means PPV) or a boolean."""
    t = pl.col(text_col).fill_null("")
    price = pl.col(price_col)
    is_ppv = (price.cast(pl.Float64) > 0).fill_null(False)
    renew = t.str.contains(RENEW_PATTERN)
    tip = t.str.contains(TIP_PATTERN)
    link = t.str.contains(LINK_PATTERN, literal=True)
    return frame.with_columns(
        category=pl.when(is_ppv)
        .then(pl.lit("ppv"))
        .when(renew)
        .then(pl.lit("renew"))
        .when(tip)
        .then(pl.lit("tip"))
        .when(link)
        .then(pl.lit("link_drop"))
        .otherwise(pl.lit("bump")),
        has_link=link,
        contains_renew=renew,
        mentions_tip=tip,
    )


# --- caption bank (§10) ----------------------------------------------------------------------------------------------

CURATED_POSITIONAL_FIELDS = (
    "bank_caption_id",
    "caption_text",
    "caption_type",
    "created_ts",
    "source_sheet",
    "status",
    "char_len",
    "word_count",
    "emoji_count",
    "has_hashtag",
    "has_mention",
    "has_price_placeholder",
    "has_name_placeholder",
    "is_paid",
    "is_mass_msg",
    "is_wallpost",
)
CURATED_HEADER_COUNT = 26
LOGGER_FIELDS = {
    "preview": "caption_text",
    "type": "caption_type",
    "pricelastsent": "price_last_sent",
    "id": "bank_caption_id",
    "lastuseddate": "last_used_date",
    "lastusedby": "last_used_by",
    "timesused": "times_used",
    "lastusedpage": "last_used_page",
    "explicitness": "explicitness",
}
FILE_TYPE_ORDER = ("ppv", "bump", "renew", "tip", "link", "drip", "unknown", "logger")
BANK_TYPE_CATEGORY = {
    "ppv": "ppv",
    "bump": "bump",
    "renew": "renew",
    "tip": "tip",
    "link": "link_drop",
    "link_drop": "link_drop",
    "drip": "drip",
}
MIN_CAPTION_LEN = 3
MAX_CAPTION_LEN = 2000

BANK_ROW_SCHEMA: dict[str, pl.DataType] = {
    "file_sha256": pl.String,
    "file_name": pl.String,
    "file_format": pl.String,  # curated | logger
    "file_type": pl.String,  # FILE_TYPE_ORDER member
    "arrival_order": pl.Int64,
    "row_number": pl.Int64,
    "bank_id": pl.String,
    "caption_raw": pl.String,
    "bank_type": pl.String,  # lower-cased caption_type / logger Type, null if absent
    "price_usd": pl.Float64,  # logger PriceLastSent; null for curated rows
    "created_ts": pl.Datetime("us", "UTC"),
    "last_used_date_raw": pl.String,
    "last_used_ts_utc": pl.Datetime("us", "UTC"),
    "last_used_by_std": pl.String,
    "last_used_page_raw": pl.String,
    "times_used": pl.Int64,
    "explicitness_tag": pl.String,
}


@dataclass
class BankFileResult:
    """One parsed bank file: accepted rows (``BANK_ROW_SCHEMA``) plus quarantine candidates (dicts with
    ``source_ref``, ``row_number``, ``reason_code``, ``reason_detail``, ``raw_row_json``, ``archive_uri``)."""

    file_name: str
    file_sha256: str
    arrival_order: int
    file_format: str
    file_type: str
    encoding: str
    n_input_rows: int  # non-blank data rows
    n_blank_rows: int
    rows: pl.DataFrame
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_reason: str | None = None  # header_field_mismatch when the whole file was rejected
    archive_uri: str | None = None


def _file_type_from_name(file_name: str) -> str | None:
    tokens = set(re.split(r"[^a-z]+", file_name.lower()))
    for t in FILE_TYPE_ORDER[:6]:
        if t in tokens or (t == "ppv" and "ppvs" in tokens) or (t == "bump" and "bumps" in tokens):
            return t
    return None


def _parse_created_ts(values: list[str | None]) -> list[dt.datetime | None]:
    out: list[dt.datetime | None] = []
    for v in values:
        s = (v or "").strip()
        ts = None
        if s:
            for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
                try:
                    ts = dt.datetime.strptime(s, fmt).replace(tzinfo=UTC)
                    break
                except ValueError:
                    continue
            if ts is None:
                try:
                    p = dt.datetime.fromisoformat(s)
                    ts = p.replace(tzinfo=UTC) if p.tzinfo is None else p.astimezone(UTC)
                except ValueError:
                    ts = None
        out.append(ts)
    return out


def parse_local_to_utc(value: str | None, tz: str) -> dt.datetime | None:
    """``YYYY-MM-DD HH:MM`` or ``MM/DD/YYYY`` (midnight) wall time in ``tz`` → UTC. DST: fold 0 (earlier offset for
    an ambiguous time; a non-existent time is read with the offset in force before the gap)."""
    s = collapse_ws(value or "")
    if not s:
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y %H:%M"):
        try:
            naive = dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC)
    return None


def _money(value: str | None) -> float | None:
    s = (value or "").strip()
    if s in ("", "-", "N/A", "n/a", "nan", "None"):
        return None
    neg = s.startswith("(") and s.endswith(")")
    s = re.sub(r"[\s$£€¥₹,()]", "", s)
    try:
        x = float(s)
    except ValueError:
        return None
    return -x if neg else x


def _int(value: str | None) -> int | None:
    s = re.sub(r"[\s,]", "", value or "")
    if not s:
        return None
    try:
        x = float(s)
    except ValueError:
        return None
    return int(x) if x.is_integer() else None


def _row_reason(text: str | None) -> tuple[str, str] | None:
    if text is None or not text.strip() or text.strip() in ("nan", "None", "NaN"):
        return "empty_caption", "caption cell is empty"
    if "\ufffd" in text:
        return "mojibake", "caption contains U+FFFD"
    n = len(text.strip())
    if n < MIN_CAPTION_LEN or n > MAX_CAPTION_LEN:
        return "caption_length_out_of_range", f"trimmed length {n} outside [{MIN_CAPTION_LEN}, {MAX_CAPTION_LEN}]"
    return None


def parse_caption_bank_file(
    data: bytes,
    *,
    file_name: str,
    file_sha256: str,
    arrival_order: int,
    bank_timezone: str = DEFAULT_BANK_TIMEZONE,
    archive_uri: str | None = None,
) -> BankFileResult:
    """Parse one curated bank CSV or caption-logger export (format detected from the header)."""
    header, rows, meta = read_csv_text(data)
    norm_header = [normalise_header(h).replace("_", "") for h in header]
    is_logger = "preview" in norm_header
    file_format = "logger" if is_logger else "curated"
    warnings: list[str] = []
    quarantine: list[dict[str, Any]] = []
    row_numbers: list[int] = meta["row_numbers"]

    def q(rn: int, row: list[str], keys: list[str] | None, code: str, detail: str) -> None:
        quarantine.append(
            {
                "source_ref": file_sha256,
                "row_number": rn,
                "reason_code": code,
                "reason_detail": detail,
                "raw_row_json": _raw_json(keys, row),
                "archive_uri": archive_uri,
            }
        )

    counts = Counter(len(r) for r in rows)
    n_header = len(header)
    keys: list[str] | None
    mode: str
    if not rows or set(counts) == {n_header}:
        mode = "header"
    elif not is_logger and n_header == CURATED_HEADER_COUNT and set(counts) == {len(CURATED_POSITIONAL_FIELDS)}:
        mode = "positional"
        warnings.append(
            f"header_field_mismatch: header names {n_header} columns, rows hold "
            f"{len(CURATED_POSITIONAL_FIELDS)} values; read by position"
        )
    else:
        mode = "reject"

    file_reason = None
    records: list[dict[str, Any]] = []
    if mode == "reject":
        file_reason = "header_field_mismatch"
        shape = ", ".join(f"{k} values: {v} rows" for k, v in sorted(counts.items()))
        warnings.append(f"header_field_mismatch: header names {n_header} columns; {shape}; file rejected")
        for rn, row in zip(row_numbers, rows, strict=True):
            q(
                rn,
                row,
                header,
                "header_field_mismatch",
                f"header has {n_header} names, row has {len(row)} values ({shape})",
            )
    else:
        if mode == "positional":
            keys = list(CURATED_POSITIONAL_FIELDS)
            getters = {k: i for i, k in enumerate(keys)}
        elif is_logger:
            keys = header
            getters = {}
            for i, h in enumerate(norm_header):
                std = LOGGER_FIELDS.get(h)
                if std is not None and std not in getters:
                    getters[std] = i
        else:
            keys = header
            getters = {}
            for i, h in enumerate(header):
                std = normalise_header(h)
                if std not in getters:
                    getters[std] = i
            if "caption_text" not in getters:
                for alt in ("caption", "text", "message", "message_text", "content"):
                    if alt in getters:
                        getters["caption_text"] = getters[alt]
                        break

        def get(row: list[str], name: str) -> str | None:
            i = getters.get(name)
            if i is None or i >= len(row):
                return None
            v = row[i]
            return v if v != "" else None

        for rn, row in zip(row_numbers, rows, strict=True):
            text = get(row, "caption_text")
            reason = _row_reason(text)
            if reason is not None:
                q(rn, row, keys, *reason)
                continue
            btype = (get(row, "caption_type") or "").strip().lower() or None
            if is_logger:
                page_raw = collapse_ws(get(row, "last_used_page") or "") or None
                last_raw = get(row, "last_used_date")
                by = get(row, "last_used_by")
                tag = collapse_ws(get(row, "explicitness") or "").upper() or None
                records.append(
                    {
                        "bank_id": (get(row, "bank_caption_id") or "").strip() or None,
                        "caption_raw": text,
                        "bank_type": btype,
                        "price_usd": _money(get(row, "price_last_sent")),
                        "created_raw": None,
                        "last_used_date_raw": last_raw,
                        "last_used_by_std": unicodedata.normalize("NFKC", collapse_ws(by)).casefold() if by else None,
                        "last_used_page_raw": page_raw,
                        "times_used": _int(get(row, "times_used")),
                        "explicitness_tag": tag,
                        "row_number": rn,
                    }
                )
            else:
                tag = collapse_ws(get(row, "explicitness") or "").upper() or None
                records.append(
                    {
                        "bank_id": (get(row, "bank_caption_id") or "").strip() or None,
                        "caption_raw": text,
                        "bank_type": btype,
                        "price_usd": None,
                        "created_raw": get(row, "created_ts"),
                        "last_used_date_raw": None,
                        "last_used_by_std": None,
                        "last_used_page_raw": None,
                        "times_used": None,
                        "explicitness_tag": tag,
                        "row_number": rn,
                    }
                )

    if is_logger:
        file_type = "logger"
    else:
        file_type = _file_type_from_name(file_name)
        if file_type is None:
            types = Counter(r["bank_type"] for r in records if r["bank_type"] in FILE_TYPE_ORDER[:6])
            file_type = types.most_common(1)[0][0] if types else "unknown"

    created = _parse_created_ts([r.pop("created_raw") for r in records])
    frame_rows = []
    for r, c in zip(records, created, strict=True):
        page = r["last_used_page_raw"]
        last_ts = parse_local_to_utc(r["last_used_date_raw"], bank_timezone)
        frame_rows.append(
            {
                **r,
                "file_sha256": file_sha256,
                "file_name": file_name,
                "file_format": file_format,
                "file_type": file_type,
                "arrival_order": arrival_order,
                "created_ts": c,
                "last_used_ts_utc": last_ts,
                "last_used_page_raw": page,
            }
        )
    frame = pl.DataFrame(frame_rows, schema=BANK_ROW_SCHEMA) if frame_rows else pl.DataFrame(schema=BANK_ROW_SCHEMA)
    return BankFileResult(
        file_name=file_name,
        file_sha256=file_sha256,
        arrival_order=arrival_order,
        file_format=file_format,
        file_type=file_type,
        encoding=meta["encoding"],
        n_input_rows=len(rows),
        n_blank_rows=meta["n_blank_rows"],
        rows=frame.select(list(BANK_ROW_SCHEMA)),
        quarantine=quarantine,
        warnings=warnings,
        file_reason=file_reason,
        archive_uri=archive_uri,
    )


STG_CAPTION_BANK_SCHEMA: dict[str, pl.DataType] = {
    "caption_hash": pl.String,
    "caption_id": pl.String,
    "caption_norm": pl.String,
    "caption_text": pl.String,
    "caption_hash_raw": pl.String,
    "bank_caption_id": pl.String,
    "alias_ids": pl.List(pl.String),
    "categories": pl.List(pl.String),
    "primary_category": pl.String,
    "source_category": pl.String,
    "has_link": pl.Boolean,
    "contains_renew": pl.Boolean,
    "mentions_tip": pl.Boolean,
    "tos_status": pl.String,
    "tos_rule_ids": pl.List(pl.String),
    "explicitness_tag": pl.String,
    "bank_price_usd": pl.Float64,
    "created_ts": pl.Datetime("us", "UTC"),
    "bank_last_used_ts_utc": pl.Datetime("us", "UTC"),
    "bank_last_used_by_std": pl.String,
    "bank_last_used_page_raw": pl.String,
    "bank_last_used_page_alias_key": pl.String,
    "bank_last_used_page_compact_key": pl.String,
    "bank_last_used_page_type_token": pl.String,
    "bank_last_used_page_both": pl.Boolean,
    "bank_times_used": pl.Int64,
    "first_seen_file_sha256": pl.String,
    "first_seen_file_name": pl.String,
    "first_seen_row_number": pl.Int64,
    "n_source_rows": pl.Int64,
    "rules_version": pl.String,
}

TOS_AUDIT_SCHEMA: dict[str, pl.DataType] = {
    "caption_id": pl.String,
    "source_kind": pl.String,
    "source_ref": pl.String,
    "row_number": pl.Int64,
    "caption_text": pl.String,
    "price_usd": pl.Float64,
    "violation_rule_ids": pl.String,
    "violation_reasons": pl.String,
    "checked_at": pl.Datetime("us", "UTC"),
    "rules_version": pl.String,
}


def build_stg_caption_bank(
    files: list[BankFileResult],
    *,
    checked_at: dt.datetime | None = None,
    ingestion_run_id: str | None = None,
    quarantined_at: dt.datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """§10.2: quarantine checks (already done per file) → TOS on every remaining row → normalise + hash → classify →
    dedup on ``caption_hash`` in deterministic first-seen order. Returns ``(stg_caption_bank, tos_audit_rows,
    quarantine_rows)``."""
    checked = _utc(checked_at) or dt.datetime.now(UTC)
    q_at = _utc(quarantined_at) or checked
    quarantine = make_quarantine_rows(
        [it for f in files for it in f.quarantine],
        source_kind="caption_bank",
        quarantined_at=q_at,
        ingestion_run_id=ingestion_run_id,
    )
    frames = [f.rows for f in files if f.rows.height]
    if not frames:
        return (pl.DataFrame(schema=STG_CAPTION_BANK_SCHEMA), pl.DataFrame(schema=TOS_AUDIT_SCHEMA), quarantine)
    rows = pl.concat(frames, how="vertical")
    type_rank = {t: i for i, t in enumerate(FILE_TYPE_ORDER)}
    rows = rows.with_columns(
        _type_rank=pl.col("file_type").replace_strict(type_rank, default=len(FILE_TYPE_ORDER), return_dtype=pl.Int64)
    ).sort(["_type_rank", "arrival_order", "file_sha256", "row_number"], maintain_order=True)
    rows = rows.with_row_index("_order")

    # TOS on every remaining row, before dedup (evaluated once per distinct text).
    tos = evaluate_tos(rows["caption_raw"])
    rows = rows.with_columns(
        tos_rule_ids=tos["violation_rule_ids"],
        violation_reasons=tos["violation_reasons"],
        row_tos_status=tos["tos_status"],
    )

    # Normalise and hash (identity.py is the only implementation).
    uniq = rows["caption_raw"].unique().to_list()
    norm = {t: caption_norm(t) for t in uniq}
    hashes = {n: caption_hash_from_norm(n) for n in set(norm.values())}
    rows = (
        rows.with_columns(
            caption_norm=pl.col("caption_raw").replace_strict(norm, return_dtype=pl.String),
            caption_hash_raw=pl.col("caption_raw").map_elements(sha256_hex, return_dtype=pl.String),
            caption_text=pl.col("caption_raw").map_elements(display_text, return_dtype=pl.String),
        )
        .with_columns(
            caption_hash=pl.col("caption_norm").replace_strict(hashes, return_dtype=pl.String),
        )
        .with_columns(
            caption_id=pl.col("caption_hash").replace_strict(
                {h: caption_id_from_hash(h) for h in hashes.values()}, return_dtype=pl.String
            ),
            caption_lower=pl.col("caption_raw").str.to_lowercase(),
            price_context=pl.when(pl.col("bank_type") == "ppv").then(pl.lit(1.0)).otherwise(pl.col("price_usd")),
        )
    )
    rows = classify_frame(rows, text_col="caption_lower", price_col="price_context")

    audit = (
        rows.filter(pl.col("row_tos_status") == "flagged")
        .select(
            "caption_id",
            source_kind=pl.lit("caption_bank"),
            source_ref="file_sha256",
            row_number="row_number",
            caption_text="caption_raw",
            price_usd="price_usd",
            violation_rule_ids=pl.col("tos_rule_ids").list.join("; "),
            violation_reasons="violation_reasons",
            checked_at=pl.lit(checked, dtype=pl.Datetime("us", "UTC")),
            rules_version=pl.lit(RULES_VERSION),
        )
        .cast(TOS_AUDIT_SCHEMA)
    )

    # Dedup on caption_hash; everything below aggregates in first-seen order.
    rows = rows.with_columns(
        bank_category=pl.col("bank_type").replace_strict(BANK_TYPE_CATEGORY, default=None, return_dtype=pl.String),
        _last_ok=pl.col("last_used_ts_utc").is_not_null()
        & ~(pl.col("last_used_page_raw").str.strip_chars().str.to_uppercase() == "TEST").fill_null(False),
    )
    cat_rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    last = (
        rows.filter(pl.col("_last_ok"))
        .sort(["last_used_ts_utc", "_order"], descending=[True, False])
        .group_by("caption_hash", maintain_order=True)
        .first()
        .select(
            "caption_hash",
            bank_last_used_ts_utc="last_used_ts_utc",
            bank_last_used_by_std="last_used_by_std",
            bank_last_used_page_raw="last_used_page_raw",
        )
    )
    g = (
        rows.sort("_order")
        .group_by("caption_hash", maintain_order=True)
        .agg(
            pl.col("caption_id").first(),
            pl.col("caption_norm").first(),
            pl.col("caption_text").first(),
            pl.col("caption_hash_raw").first(),
            bank_caption_id=pl.col("bank_id").first(),
            alias_ids=pl.col("bank_id").drop_nulls().unique(maintain_order=True),
            _cats=pl.concat_list(pl.col("category"), pl.col("bank_category")).explode().drop_nulls().unique(),
            _first_rule=pl.col("category").first(),
            _first_bank_category=pl.col("bank_category").first(),
            source_category=pl.col("bank_type").first(),
            has_link=pl.col("has_link").any(),
            contains_renew=pl.col("contains_renew").any(),
            mentions_tip=pl.col("mentions_tip").any(),
            _flagged=(pl.col("row_tos_status") == "flagged").any(),
            _rules=pl.col("tos_rule_ids").explode().drop_nulls().unique(),
            explicitness_tag=pl.col("explicitness_tag").drop_nulls().first(),
            bank_price_usd=pl.col("price_usd").drop_nulls().first(),
            created_ts=pl.col("created_ts").min(),
            bank_times_used=pl.col("times_used").sum(),
            first_seen_file_sha256=pl.col("file_sha256").first(),
            first_seen_file_name=pl.col("file_name").first(),
            first_seen_row_number=pl.col("row_number").first(),
            n_source_rows=pl.len().cast(pl.Int64),
            _has_times=pl.col("times_used").is_not_null().any(),
        )
    )
    rule_rank = {r: i for i, r in enumerate(RULE_IDS)}
    g = g.with_columns(
        categories=pl.col("_cats").list.eval(
            pl.element().sort_by(pl.element().replace_strict(cat_rank, default=99, return_dtype=pl.Int64))
        ),
        primary_category=pl.coalesce("_first_bank_category", "_first_rule"),
        tos_status=pl.when(pl.col("_flagged")).then(pl.lit("flagged")).otherwise(pl.lit("clean")),
        tos_rule_ids=pl.col("_rules").list.eval(
            pl.element().sort_by(pl.element().replace_strict(rule_rank, default=99, return_dtype=pl.Int64))
        ),
        bank_times_used=pl.when(pl.col("_has_times")).then(pl.col("bank_times_used")).otherwise(None),
        rules_version=pl.lit(RULES_VERSION),
    ).join(last, on="caption_hash", how="left", maintain_order="left")
    pages = {p: normalise_page_name(p) for p in g["bank_last_used_page_raw"].drop_nulls().unique().to_list()}
    g = g.with_columns(
        bank_last_used_page_alias_key=pl.col("bank_last_used_page_raw").replace_strict(
            {k: v.alias_key for k, v in pages.items()}, default=None, return_dtype=pl.String
        ),
        bank_last_used_page_compact_key=pl.col("bank_last_used_page_raw").replace_strict(
            {k: v.compact_key for k, v in pages.items()}, default=None, return_dtype=pl.String
        ),
        bank_last_used_page_type_token=pl.col("bank_last_used_page_raw").replace_strict(
            {k: v.page_type for k, v in pages.items()}, default=None, return_dtype=pl.String
        ),
        bank_last_used_page_both=pl.col("bank_last_used_page_raw").replace_strict(
            {k: v.both_marker for k, v in pages.items()}, default=None, return_dtype=pl.Boolean
        ),
    )
    stg = g.select(list(STG_CAPTION_BANK_SCHEMA)).cast(STG_CAPTION_BANK_SCHEMA)
    return stg, audit, quarantine


# --- creator statistics (§11) ----------------------------------------------------------------------------------------

STATS_COLUMNS = {
    "creator": "creator_display",
    "subscription_net": "subscription_net",
    "new_subscriptions_net": "new_subscriptions_net",
    "recurring_subscriptions_net": "recurring_subscriptions_net",
    "tips_net": "tips_net",
    "total_earnings_net": "total_earnings_net",
    "contribution": "contribution_rate",
    "of_ranking": "of_rank_percent",
    "following": "following_count",
    "fans_with_renew_on": "fans_with_renew_on",
    "renew_on": "renew_on_rate",
    "new_fans": "new_fans",
    "active_fans": "active_fans",
    "change_in_expired_fan_count": "change_expired_fans_count",
    "posts_net": "posts_net",
    "message_net": "message_net",
    "streams_net": "streams_net",
    "refund_net": "refund_net",
    "creator_group": "creator_group",
    "avg_spend_per_spender_net": "avg_spend_per_spender_net",
    "avg_spend_per_transaction_net": "avg_spend_per_transaction_net",
    "avg_earnings_per_fan_net": "avg_earnings_per_fan_net",
    "avg_subscription_length": "avg_subscription_length_days",
}
_MONEY_COLS = (
    "subscription_net",
    "new_subscriptions_net",
    "recurring_subscriptions_net",
    "tips_net",
    "total_earnings_net",
    "refund_net",
    "posts_net",
    "message_net",
    "streams_net",
    "avg_spend_per_spender_net",
    "avg_spend_per_transaction_net",
    "avg_earnings_per_fan_net",
)
_COUNT_COLS = ("following_count", "fans_with_renew_on", "new_fans", "active_fans", "change_expired_fans_count")
_RATE_COLS = ("contribution_rate", "renew_on_rate")

STG_CREATOR_STATS_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64,
    "period_raw": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "snapshot_ts_local": pl.Datetime("us"),
    "snapshot_ts_utc": pl.Datetime("us", "UTC"),
    "snapshot_tz": pl.String,
    "creator_display": pl.String,
    "alias_key": pl.String,
    "compact_key": pl.String,
    "page_type_token": pl.String,
    "both_marker": pl.Boolean,
    "several_page_types": pl.Boolean,
    "creator_group": pl.String,
    **{c: pl.Float64 for c in _MONEY_COLS[:5]},
    "refund_net": pl.Float64,
    "contribution_rate": pl.Float64,
    "of_rank_percent": pl.Float64,
    "following_count": pl.Int64,
    "fans_with_renew_on": pl.Int64,
    "renew_on_rate": pl.Float64,
    "new_fans": pl.Int64,
    "active_fans": pl.Int64,
    "change_expired_fans_count": pl.Int64,
    "posts_net": pl.Float64,
    "message_net": pl.Float64,
    "streams_net": pl.Float64,
    "avg_spend_per_spender_net": pl.Float64,
    "avg_spend_per_transaction_net": pl.Float64,
    "avg_earnings_per_fan_net": pl.Float64,
    "avg_subscription_length_days": pl.Float64,
    "is_paid_like": pl.Boolean,
    "reporting_currency": pl.String,
    "dq_flags": pl.List(pl.String),
    "source_file_sha256": pl.String,
    "ingested_at": pl.Datetime("us", "UTC"),
}

_P_ISO_RANGE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s*-\s*(\d{4}-\d{1,2}-\d{1,2})$")
_P_US_RANGE = re.compile(r"^(\d{1,2}/\d{1,2}/\d{4})\s+to\s+(\d{1,2}/\d{1,2}/\d{4})$", re.IGNORECASE)
_P_SINGLE = re.compile(r"^(\d{4}/\d{1,2}/\d{1,2})$")


def parse_period(value: str | None) -> tuple[dt.date, dt.date] | str:
    """``2025-08-26 - 2025-09-01`` | ``08/26/2025 to 09/01/2025`` | ``2025/09/01``; returns (start, end) or the
    reason code ``missing_period`` / ``unparsable_period``."""
    s = collapse_ws(value or "")
    if s.lower() in ("", "nan", "none", "nat", "n/a"):
        return "missing_period"
    try:
        if m := _P_ISO_RANGE.match(s):
            a = dt.datetime.strptime(m.group(1), "%Y-%m-%d").date()
            b = dt.datetime.strptime(m.group(2), "%Y-%m-%d").date()
        elif m := _P_US_RANGE.match(s):
            a = dt.datetime.strptime(m.group(1), "%m/%d/%Y").date()
            b = dt.datetime.strptime(m.group(2), "%m/%d/%Y").date()
        elif m := _P_SINGLE.match(s):
            a = b = dt.datetime.strptime(m.group(1), "%Y/%m/%d").date()
        else:
            return "unparsable_period"
    except ValueError:
        return "unparsable_period"
    if a > b:
        return "unparsable_period"
    return a, b


def zone_from_period_header(header: str) -> str | None:
    """``Date_Time America_New_York`` → ``America/New_York`` (an IANA zone whose ``/`` became ``_``)."""
    rest = re.sub(r"^\s*date[\s_]*time\s*", "", header, flags=re.IGNORECASE).strip()
    if not rest:
        return None
    if rest in available_timezones():
        return rest
    key = rest.replace(" ", "_").lower()
    matches = sorted(z for z in available_timezones() if z.replace("/", "_").lower() == key)
    return matches[0] if matches else None


def _rate(value: str | None) -> float | None:
    s = re.sub(r"[\s%,]", "", value or "")
    if s in ("", "-", "N/A", "n/a", "nan"):
        return None
    try:
        return round(float(s) / 100.0, 6)
    except ValueError:
        return None


def _rank(value: str | None) -> float | None:
    s = re.sub(r"[\s#%,]", "", value or "")
    if s in ("", "-", "N/A", "n/a", "nan"):
        return None
    try:
        return round(float(s), 6)
    except ValueError:
        return None


_LEN_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(day|days|d|week|weeks|month|months|mo|year|years)?$", re.IGNORECASE)
_LEN_FACTOR = {
    "day": 1,
    "days": 1,
    "d": 1,
    "week": 7,
    "weeks": 7,
    "month": 30,
    "months": 30,
    "mo": 30,
    "year": 365,
    "years": 365,
}


def subscription_length_days(value: str | None) -> float | None | str:
    """``N days`` → N, ``N months`` → 30 N, ``N/A``/empty → None; anything else → the string ``"unparsable"``."""
    s = collapse_ws(value or "")
    if s.lower() in ("", "n/a", "na", "-", "nan", "none"):
        return None
    m = _LEN_RE.match(s)
    if not m:
        return "unparsable"
    return float(m.group(1)) * _LEN_FACTOR[(m.group(2) or "days").lower()]


def parse_creator_stats(
    data: bytes,
    *,
    file_sha256: str,
    ingested_at: dt.datetime,
    ingestion_run_id: str | None = None,
    archive_uri: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One Creator Statistics export → (parsed rows, quarantine rows). Page resolution happens downstream."""
    header, rows, meta = read_csv_text(data)
    ingested = _utc(ingested_at)
    norm = _unique_headers([normalise_header(h) for h in header])
    period_idx = next((i for i, h in enumerate(norm) if h.startswith("date")), None)
    tz = (zone_from_period_header(header[period_idx]) if period_idx is not None else None) or DEFAULT_STATS_TIMEZONE
    idx = {std: norm.index(src) for src, std in STATS_COLUMNS.items() if src in norm}
    out: list[dict[str, Any]] = []
    qitems: list[dict[str, Any]] = []
    zone = ZoneInfo(tz)
    for rn, row in zip(meta["row_numbers"], rows, strict=True):

        def get(name: str, row: list[str] = row) -> str | None:
            i = idx.get(name)
            return row[i] if i is not None and i < len(row) else None

        period_raw = row[period_idx] if period_idx is not None and period_idx < len(row) else None
        period = parse_period(period_raw)
        if isinstance(period, str):
            qitems.append(
                {
                    "source_ref": file_sha256,
                    "row_number": rn,
                    "reason_code": period,
                    "reason_detail": f"could not parse period {period_raw!r}",
                    "raw_row_json": _raw_json(header, row),
                    "archive_uri": archive_uri,
                }
            )
            continue
        start, end = period
        local = dt.datetime.combine(end, dt.time(23, 59, 59))
        flags: list[str] = []
        rec: dict[str, Any] = {
            "row_number": rn,
            "period_raw": period_raw,
            "period_start": start,
            "period_end": end,
            "snapshot_ts_local": local,
            "snapshot_ts_utc": local.replace(tzinfo=zone, fold=0).astimezone(UTC),
            "snapshot_tz": tz,
        }
        creator = collapse_ws(get("creator_display") or "")
        pn = normalise_page_name(creator)
        rec.update(
            creator_display=creator,
            alias_key=pn.alias_key,
            compact_key=pn.compact_key,
            page_type_token=pn.page_type,
            both_marker=pn.both_marker,
            several_page_types=pn.several_page_types,
        )
        if pn.several_page_types:
            flags.append("several_page_types")
        grp = collapse_ws(get("creator_group") or "")
        rec["creator_group"] = grp or None
        for c in _MONEY_COLS:
            raw = get(c)
            rec[c] = _money(raw)
            if rec[c] is None and raw is not None and raw.strip() not in ("", "-", "N/A", "n/a", "nan", "None"):
                flags.append(f"unparsable_value:{c}")
        for c in _RATE_COLS:
            raw = get(c)
            rec[c] = _rate(raw)
            if rec[c] is None and raw is not None and raw.strip() not in ("", "-", "N/A", "n/a", "nan"):
                flags.append(f"unparsable_value:{c}")
        raw = get("of_rank_percent")
        rec["of_rank_percent"] = _rank(raw)
        if rec["of_rank_percent"] is None and raw is not None and raw.strip() not in ("", "-", "N/A", "n/a", "nan"):
            flags.append("unparsable_value:of_rank_percent")
        for c in _COUNT_COLS:
            raw = get(c)
            rec[c] = _int(raw)
            if rec[c] is None and raw is not None and raw.strip() != "":
                flags.append(f"unparsable_value:{c}")
        length = subscription_length_days(get("avg_subscription_length_days"))
        if length == "unparsable":
            flags.append("unparsable_value:avg_subscription_length_days")
            length = None
        rec["avg_subscription_length_days"] = length
        rec["is_paid_like"] = bool((rec["subscription_net"] or 0) > 0 or (rec["renew_on_rate"] or 0) > 0)
        rec["reporting_currency"] = "USD"
        rec["dq_flags"] = flags
        rec["source_file_sha256"] = file_sha256
        rec["ingested_at"] = ingested
        out.append(rec)
    parsed = (
        pl.DataFrame(out, schema=STG_CREATOR_STATS_SCHEMA) if out else pl.DataFrame(schema=STG_CREATOR_STATS_SCHEMA)
    )
    quarantine = make_quarantine_rows(
        qitems, source_kind="creator_stats", quarantined_at=ingested, ingestion_run_id=ingestion_run_id
    )
    return parsed.select(list(STG_CREATOR_STATS_SCHEMA)), quarantine


def latest_creator_stats(
    parsed: pl.DataFrame, keys: tuple[str, ...] = ("compact_key", "page_type_token")
) -> pl.DataFrame:
    """The current snapshot per page: latest ``period_end``, then latest ``ingested_at``, then the lowest
    ``row_number``. Before resolution the page key is (``compact_key``, ``page_type_token``); after resolution call
    it with ``keys=("username_page",)``."""
    return (
        parsed.sort(["period_end", "ingested_at", "row_number"], descending=[True, True, False], nulls_last=True)
        .group_by(list(keys), maintain_order=True)
        .first()
    )


# --- scheduler assignments (§12) -------------------------------------------------------------------------------------

STG_ASSIGNMENTS_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64,
    "scheduler_label_raw": pl.String,
    "scheduler_label": pl.String,
    "is_lead": pl.Boolean,
    "scheduler_code": pl.String,
    "page_name_raw": pl.String,
    "alias_key": pl.String,
    "compact_key": pl.String,
    "page_type_token": pl.String,
    "both_marker": pl.Boolean,
    "several_page_types": pl.Boolean,
    "source_file_sha256": pl.String,
    "ingested_at": pl.Datetime("us", "UTC"),
}

_LEAD_RE = re.compile(r"^lead(?:\s+sd)?(?:\s+|$)", re.IGNORECASE)
_SD_RE = re.compile(r"^sd(?:\s+|$)", re.IGNORECASE)


def parse_scheduler_label(label: str | None) -> tuple[bool, str]:
    """``Lead SD      KIT`` → (True, ``KIT``); ``SD nova`` → (False, ``NOVA``); ``rowan  b`` → (False, ``ROWAN B``).
    An empty code means the label is missing."""
    s = collapse_ws(unicodedata.normalize("NFKC", label or ""))
    is_lead = False
    if m := _LEAD_RE.match(s):
        is_lead = True
        s = s[m.end() :]
    if m := _SD_RE.match(s):
        s = s[m.end() :]
    return is_lead, s.strip().upper()


def parse_scheduler_assignments(
    data: bytes,
    *,
    file_sha256: str,
    ingested_at: dt.datetime,
    ingestion_run_id: str | None = None,
    archive_uri: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assignment export (first column: scheduler label, second: page name) → (parsed rows, quarantine rows)."""
    header, rows, meta = read_csv_text(data)
    ingested = _utc(ingested_at)
    out: list[dict[str, Any]] = []
    qitems: list[dict[str, Any]] = []
    for rn, row in zip(meta["row_numbers"], rows, strict=True):
        label_raw = row[0] if row else ""
        page_raw = row[1] if len(row) > 1 else ""
        is_lead, code = parse_scheduler_label(label_raw)
        if not code:
            qitems.append(
                {
                    "source_ref": file_sha256,
                    "row_number": rn,
                    "reason_code": "missing_scheduler",
                    "reason_detail": f"no scheduler code in label {label_raw!r}",
                    "raw_row_json": _raw_json(header, row),
                    "archive_uri": archive_uri,
                }
            )
            continue
        pn = normalise_page_name(page_raw)
        out.append(
            {
                "row_number": rn,
                "scheduler_label_raw": label_raw,
                "scheduler_label": collapse_ws(label_raw),
                "is_lead": is_lead,
                "scheduler_code": code,
                "page_name_raw": page_raw,
                "alias_key": pn.alias_key,
                "compact_key": pn.compact_key,
                "page_type_token": pn.page_type,
                "both_marker": pn.both_marker,
                "several_page_types": pn.several_page_types,
                "source_file_sha256": file_sha256,
                "ingested_at": ingested,
            }
        )
    parsed = pl.DataFrame(out, schema=STG_ASSIGNMENTS_SCHEMA) if out else pl.DataFrame(schema=STG_ASSIGNMENTS_SCHEMA)
    quarantine = make_quarantine_rows(
        qitems, source_kind="scheduler_assignments", quarantined_at=ingested, ingestion_run_id=ingestion_run_id
    )
    return parsed, quarantine


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
