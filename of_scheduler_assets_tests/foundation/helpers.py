"""Small hand-made frames that follow the real staging schemas (imported, never re-declared)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from of_scheduler_assets.identity import caption_hash, caption_id, caption_norm, sha256_hex
from of_scheduler_assets.layer_02_staging.reference import (
    STG_ASSIGNMENTS_SCHEMA,
    STG_CAPTION_BANK_SCHEMA,
    STG_CREATOR_STATS_SCHEMA,
)
from of_scheduler_assets.layer_02_staging.report_rows import STAGED_SCHEMA

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
EXPLICITNESS_MAP = pl.DataFrame(
    {"content_tag": ["OTHER", "G/G", "SOLO"], "explicitness_level": [None, 3, 2], "note": [None, None, None]},
    schema={"content_tag": pl.String, "explicitness_level": pl.Int64, "note": pl.String},
)


def ts(day: int, hour: int = 0, month: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def bank_row(text: str, **over) -> dict:
    h = caption_hash(text)
    row = {c: None for c in STG_CAPTION_BANK_SCHEMA}
    row.update(
        caption_hash=h,
        caption_id=caption_id(text),
        caption_norm=caption_norm(text),
        caption_text=text,
        caption_hash_raw=sha256_hex(text),
        bank_caption_id=sha256_hex(text),
        alias_ids=[sha256_hex(text)],
        categories=["bump"],
        primary_category="bump",
        source_category="bump",
        has_link=False,
        contains_renew=False,
        mentions_tip=False,
        tos_status="clean",
        tos_rule_ids=[],
        explicitness_tag=None,
        created_ts=ts(1),
        n_source_rows=1,
        rules_version="test",
    )
    row.update(over)
    return row


def bank(*rows: dict) -> pl.DataFrame:
    """stg_caption_bank rows; an ``ingested_at`` key (not part of the staging schema) is kept as an extra column."""
    schema = dict(STG_CAPTION_BANK_SCHEMA)
    if any("ingested_at" in r for r in rows):
        schema["ingested_at"] = pl.Datetime("us", "UTC")
        rows = tuple({**r, "ingested_at": r.get("ingested_at")} for r in rows)
    return pl.DataFrame(list(rows), schema=schema)


def event(
    text: str = "Unlock my new set now",
    *,
    page: str = "luna__paid",
    send: dt.datetime | None = None,
    price_cents: int = 1000,
    sent: int = 100,
    viewed: int = 50,
    purchased: int = 5,
    earnings: str = "50.00",
    message_id: str = "m1",
    received: dt.datetime | None = None,
    ingested: dt.datetime | None = None,
    row_number: int = 1,
    sender: str = "sd nova",
    dup_ordinal: int = 1,
    status: str = "sent",
    local_offset_hours: int = -4,
) -> dict:
    send = send or ts(10, 15)
    received = received or (send + dt.timedelta(hours=24))
    ingested = ingested or (received + dt.timedelta(minutes=5))
    local = (send + dt.timedelta(hours=local_offset_hours)).replace(tzinfo=None)
    h = caption_hash(text)
    msg_key = sha256_hex("|".join([page, send.strftime("%Y-%m-%dT%H:%MZ"), h, str(price_cents), sender]))
    row = {c: None for c in STAGED_SCHEMA}
    row.update(
        ingestion_run_id="run",
        ingested_at=ingested,
        message_id=message_id,
        report_received_at=received,
        archive_uri=f"file:///a/{message_id}.xlsx",
        file_sha256=sha256_hex(message_id),
        row_number=row_number,
        page_name_raw=page.split("__")[0],
        username_std=page.split("__")[0],
        page_type=page.split("__")[1],
        username_page=page,
        identity_source="dim_page",
        message_raw=text,
        caption_text=text,
        caption_norm=caption_norm(text),
        caption_hash=h,
        caption_hash_raw=sha256_hex(text),
        caption_id=caption_id(text),
        is_media_only=text == "",
        sending_ts_utc=send,
        sending_ts_local=local,
        sending_date_local=local.date(),
        sending_ts_report_local=local,
        report_timezone_used="America/New_York",
        dow_local=local.weekday(),
        hod_local=local.hour,
        sender_raw=sender,
        sender_std=sender,
        scheduler_code="NOVA",
        status=status,
        price_usd=Decimal(price_cents) / 100,
        price_cents=price_cents,
        is_free=price_cents == 0,
        sent=sent,
        viewed=viewed,
        purchased=purchased,
        earnings_raw=earnings,
        earnings_usd=Decimal(earnings),
        msg_key=msg_key,
        dup_ordinal=dup_ordinal,
        message_send_key=sha256_hex(f"{msg_key}|{dup_ordinal}"),
        dq_flags=[],
        report_received_date=received.date(),
    )
    return row


def events(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=STAGED_SCHEMA)


def stats_row(page: str, period_end: dt.date, **over) -> dict:
    row = {c: None for c in STG_CREATOR_STATS_SCHEMA}
    row.update(
        row_number=1,
        period_end=period_end,
        period_start=period_end - dt.timedelta(days=6),
        snapshot_ts_utc=dt.datetime.combine(period_end, dt.time(23, 59, 59), tzinfo=UTC),
        creator_display=page.upper(),
        source_file_sha256="s",
        ingested_at=NOW,
        dq_flags=[],
    )
    row.update(over)
    row.update(username_page=page, username_std=page.split("__")[0], page_type=page.split("__")[1])
    return row


def creator_stats(*rows: dict) -> pl.DataFrame:
    schema = {**STG_CREATOR_STATS_SCHEMA, "username_std": pl.String, "page_type": pl.String, "username_page": pl.String}
    return pl.DataFrame(list(rows), schema=schema)


def assignment(page: str, code: str, ingested: dt.datetime, row_number: int = 1) -> dict:
    row = {c: None for c in STG_ASSIGNMENTS_SCHEMA}
    row.update(
        row_number=row_number,
        scheduler_code=code,
        source_file_sha256=f"f{ingested.isoformat()}",
        ingested_at=ingested,
        username_page=page,
        username_std=page.split("__")[0],
        page_type=page.split("__")[1],
    )
    return row


def assignments(*rows: dict) -> pl.DataFrame:
    schema = {**STG_ASSIGNMENTS_SCHEMA, "username_std": pl.String, "page_type": pl.String, "username_page": pl.String}
    return pl.DataFrame(list(rows), schema=schema)
