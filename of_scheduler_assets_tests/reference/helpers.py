"""Fixture builders for the reference-data tests (exact raw formats of 10-ingestion §10-12)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io

CURATED_HEADER_26 = [
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
    "tone",
    "theme",
    "explicitness",
    "price_tier",
    "last_used_ts",
    "times_used",
    "performance_score",
    "notes",
    "updated_ts",
    "owner",
]
LOGGER_HEADER = [
    "Preview",
    "Type",
    "PriceLastSent",
    "ID",
    "WordCount",
    "LengthCat",
    "BestTime",
    "Theme | Tags",
    "LastUsedDate",
    "LastUsedBy",
    "TimesUsed",
    "LastUsedPage",
    "Explicitness",
]
STATS_HEADER = [
    "Date_Time America_New_York",
    "Creator",
    "Subscription Net",
    "New subscriptions Net",
    "Recurring subscriptions Net",
    "Tips Net",
    "Total earnings Net",
    "Contribution %",
    "OF ranking",
    "Following",
    "Fans with renew on",
    "Renew on %",
    "New fans",
    "Active fans",
    "Change in expired fan count",
    "Posts Net",
    "Message Net",
    "Streams Net",
    "Refund Net",
    "Creator group",
    "Avg spend per spender Net",
    "Avg spend per transaction Net",
    "Avg earnings per fan Net",
    "Avg subscription length",
]
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def csv_bytes(rows: list[list[str] | None], *, bom: bool = False, crlf: bool = True, encoding: str = "utf-8") -> bytes:
    """``None`` rows become blank lines."""
    term = "\r\n" if crlf else "\n"
    s = io.StringIO()
    w = csv.writer(s, lineterminator=term)
    for r in rows:
        if r is None:
            s.write(term)
        else:
            w.writerow(r)
    return (b"\xef\xbb\xbf" if bom else b"") + s.getvalue().encode(encoding)


def bank_row(
    text: str, typ: str = "PPV", created: str = "2025-02-03T10:00:00Z", bank_id: str | None = None
) -> list[str]:
    """16 values, as the curated bank writes them."""
    return [
        bank_id or sha(text),
        text,
        typ,
        created,
        "Sheet.xlsx",
        "ACTIVE",
        str(len(text)),
        str(len(text.split())),
        "0",
        "False",
        "False",
        "False",
        "False",
        str(typ == "PPV"),
        str(typ != "TIP"),
        str(typ == "TIP"),
    ]


def bank_file(rows: list[list[str] | None], *, header: list[str] | None = None, bom: bool = True) -> bytes:
    return csv_bytes([header or CURATED_HEADER_26, *rows], bom=bom)


def logger_row(
    text: str,
    typ: str = "BUMP",
    price: str = "$0",
    cid: str = "C10001",
    last: str = "",
    by: str = "",
    page: str = "",
    tag: str = "OTHER",
    times: str = "1",
) -> list[str]:
    return [text, typ, price, cid, str(len(text.split())), "Short", "Morning", "", last, by, times, page, tag]


def logger_file(rows: list[list[str] | None], *, bom: bool = False) -> bytes:
    return csv_bytes([LOGGER_HEADER, *rows], bom=bom)


def stats_row(period: str, creator: str, **over: str) -> list[str]:
    base = {
        "Subscription Net": "$1,234.50",
        "New subscriptions Net": "$800.00",
        "Recurring subscriptions Net": "$434.50",
        "Tips Net": "$55.00",
        "Total earnings Net": "$2,000.00",
        "Contribution %": "44.44%",
        "OF ranking": "5.2%",
        "Following": "120",
        "Fans with renew on": "300",
        "Renew on %": "12.5%",
        "New fans": "-99",
        "Active fans": "1,500",
        "Change in expired fan count": "-12",
        "Posts Net": "$0.00",
        "Message Net": "$710.50",
        "Streams Net": "$0.00",
        "Refund Net": "$0.00",
        "Creator group": "",
        "Avg spend per spender Net": "$20.00",
        "Avg spend per transaction Net": "$10.00",
        "Avg earnings per fan Net": "$1.33",
        "Avg subscription length": "12 days",
    }
    base.update(over)
    return [period, creator, *[base[h] for h in STATS_HEADER[2:]]]
