"""Fact-frame builders for the semantic-layer tests (columns and dtypes of `20-warehouse.md` §3.5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from of_scheduler_assets.layer_02_staging.reference import STG_CREATOR_STATS_SCHEMA

UTC = dt.UTC
MONEY = pl.Decimal(12, 2)


def fact_schema() -> dict[str, pl.DataType]:
    return {
        "message_send_key": pl.String,
        "msg_key": pl.String,
        "dup_ordinal": pl.Int32,
        "username_page": pl.String,
        "username_std": pl.String,
        "page_type": pl.String,
        "caption_id": pl.String,
        "caption_hash": pl.String,
        "caption_sk": pl.String,
        "is_media_only": pl.Boolean,
        "sender_std": pl.String,
        "scheduler_code": pl.String,
        "sending_ts_utc": pl.Datetime("us", "UTC"),
        "send_date": pl.Date,
        "send_date_local": pl.Date,
        "dow_local": pl.Int8,
        "hod_local": pl.Int8,
        "iso_year": pl.Int32,
        "iso_week": pl.Int8,
        "price_usd": MONEY,
        "price_cents": pl.Int64,
        "is_free": pl.Boolean,
        "message_kind": pl.String,
        "sent": pl.Int64,
        "viewed": pl.Int64,
        "purchased": pl.Int64,
        "earnings_gross_usd": MONEY,
        "platform_fee_applied": pl.Float64,
        "earnings_net_usd": MONEY,
        "status": pl.String,
        "is_unsent": pl.Boolean,
        "withdrawn_by_std": pl.String,
        "status_flips": pl.Int32,
        "view_rate": pl.Float64,
        "buy_rate": pl.Float64,
        "conversion": pl.Float64,
        "rps_gross": pl.Float64,
        "rps_net": pl.Float64,
        "revenue_per_purchase": pl.Float64,
        "quality_flag": pl.String,
        "is_model_eligible": pl.Boolean,
        "dq_flags": pl.List(pl.String),
        "snapshot_count": pl.Int32,
        "first_report_received_at": pl.Datetime("us", "UTC"),
        "latest_report_received_at": pl.Datetime("us", "UTC"),
        "metrics_age_hours": pl.Float64,
        "is_mature": pl.Boolean,
        "latest_message_id": pl.String,
        "archive_uri": pl.String,
        "ingested_at": pl.Datetime("us", "UTC"),
    }


def _div(a, b):
    return a / b if b else None


def make_fact(rows: list[dict], tz: dict[str, str] | None = None) -> pl.DataFrame:
    """rows: dicts with at least ``username_page``, ``sending_ts_utc`` (aware datetime), ``sent``; optional
    ``caption_id`` (default CAP_0…01), ``price`` (USD, default 10), ``viewed``, ``purchased``, ``earnings`` (gross
    USD), ``is_media_only``, ``eligible``, ``is_unsent``, ``page_type``. Local fields are derived from the page tz
    (default America/New_York) exactly as the foundation does: once, in the fact."""
    from zoneinfo import ZoneInfo

    tz = tz or {}
    out = []
    for i, r in enumerate(rows):
        ts = r["sending_ts_utc"].astimezone(UTC)
        local = ts.astimezone(ZoneInfo(tz.get(r["username_page"], "America/New_York")))
        price = Decimal(str(r.get("price", 10))).quantize(Decimal("0.01"))
        gross = Decimal(str(r.get("earnings", 0))).quantize(Decimal("0.01"))
        sent, viewed, purchased = r["sent"], r.get("viewed", 0), r.get("purchased", 0)
        iso = local.isocalendar()
        out.append(
            {
                "message_send_key": r.get("message_send_key", f"k{i:06d}"),
                "msg_key": f"m{i:06d}",
                "dup_ordinal": 0,
                "username_page": r["username_page"],
                "username_std": r["username_page"].split("__")[0],
                "page_type": r.get("page_type", "paid"),
                "caption_id": r.get("caption_id", "CAP_0000000000000001"),
                "caption_hash": "h",
                "caption_sk": "sk",
                "is_media_only": r.get("is_media_only", False),
                "sender_std": "s",
                "scheduler_code": "SD",
                "sending_ts_utc": ts,
                "send_date": ts.date(),
                "send_date_local": local.date(),
                "dow_local": local.weekday(),
                "hod_local": local.hour,
                "iso_year": iso[0],
                "iso_week": iso[1],
                "price_usd": price,
                "price_cents": int(price * 100),
                "is_free": price == 0,
                "message_kind": "ppv" if price > 0 else "free",
                "sent": sent,
                "viewed": viewed,
                "purchased": purchased,
                "earnings_gross_usd": gross,
                "platform_fee_applied": 0.2,
                "earnings_net_usd": (gross * Decimal("0.8")).quantize(Decimal("0.01")),
                "status": "sent",
                "is_unsent": r.get("is_unsent", False),
                "withdrawn_by_std": None,
                "status_flips": 0,
                "view_rate": _div(viewed, sent),
                "buy_rate": _div(purchased, sent),
                "conversion": _div(purchased, viewed),
                "rps_gross": _div(float(gross), sent),
                "rps_net": _div(float(gross) * 0.8, sent),
                "revenue_per_purchase": _div(float(gross), purchased),
                "quality_flag": "valid",
                "is_model_eligible": r.get("eligible", True),
                "dq_flags": [],
                "snapshot_count": 1,
                "first_report_received_at": ts + dt.timedelta(days=1),
                "latest_report_received_at": ts + dt.timedelta(days=4),
                "metrics_age_hours": 96.0,
                "is_mature": True,
                "latest_message_id": f"msg{i}",
                "archive_uri": "file:///a",
                "ingested_at": ts + dt.timedelta(days=4),
            }
        )
    return pl.DataFrame(out, schema=fact_schema()) if out else pl.DataFrame(schema=fact_schema())


def ts(y, m, d, h=12, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=UTC)


def pages_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"tz": "America/New_York", "page_type": "paid", "is_active": True}
    return pl.DataFrame([{**base, **r} for r in rows]).select(
        "username_page",
        "tz",
        "page_type",
        pl.col("is_active").cast(pl.Boolean),
        *[c for c in ("lifecycle_state", "new_until") if c in rows[0]],
    )


def creator_stats_frame(rows: list[dict]) -> pl.DataFrame:
    """Staging creator statistics (STG_CREATOR_STATS_SCHEMA) resolved to ``username_page``."""
    full = []
    for i, r in enumerate(rows):
        row = {c: None for c in STG_CREATOR_STATS_SCHEMA}
        row.update(row_number=i, period_end=dt.date(2025, 9, 1), ingested_at=ts(2025, 9, 2))
        row.update(r)
        full.append(row)
    return pl.DataFrame(full, schema={**STG_CREATOR_STATS_SCHEMA, "username_page": pl.String})
