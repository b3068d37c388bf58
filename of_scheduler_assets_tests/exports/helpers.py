"""Small hand-built frames for the export tests: a ranking (`RANK_SCHEMA`), pages, captions, features, priors."""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_06_rankings.ranker import RANK_SCHEMA

NOW = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)  # 10:30 in New York, 23:30 in Manila
UTC = pl.Datetime("us", "UTC")


def rank_row(page: str, slot_utc: dt.datetime, rank: int, caption: str | None, *, tz: str = "America/New_York",
             **over) -> dict:
    from zoneinfo import ZoneInfo

    local = slot_utc.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    std, ptype = page.rsplit("__", 1)
    row = {c: None for c in RANK_SCHEMA}
    row.update(
        run_id="run-1", generated_at=NOW, config_name="active", config_version="2026.11.1-abcdef12",
        model_version="ranker-v1", data_watermark=NOW, username_page=page, username_std=std, page_type=ptype,
        slot_ts_utc=slot_utc, slot_local=local, slot_date_local=local.date(), dow_local=local.weekday(),
        hod_local=local.hour, slot_type="ppv", price_usd=12.0, price_source="wilson", rank=rank,
        recommendation_tier="primary" if rank == 1 else "alternative", caption_id=caption, category="ppv",
        score_normalized=90.0 - 10 * rank, expected_rps=0.001234567, confidence=0.456, send_events_page=3,
        days_since_use_page=12.34, hours_since_use_any=40.7, fatigue_score=0.1, is_exploration=False,
        is_cold_start=False, is_fallback=False, reason_codes=["high_performer", "optimal_timing"],
        ucb_bonus=0.002, novelty_bonus=0.001, final_score=0.01,
    )
    row.update(over)
    return row


def rank_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RANK_SCHEMA, orient="row") if rows else pl.DataFrame(schema=RANK_SCHEMA)


def pages_frame(rows: list[tuple[str, str, str]] | None = None) -> pl.DataFrame:
    """(username_page, tz, scheduler_code) rows; display name = the creator name capitalised."""
    rows = rows or [("luna_example__paid", "America/New_York", "AB"), ("luna_example__free", "America/New_York", "AB"),
                    ("mia_test__vip", "Europe/Berlin", "unassigned")]
    return pl.DataFrame([{
        "username_page": p, "username_std": p.rsplit("__", 1)[0], "page_type": p.rsplit("__", 1)[1],
        "display_name": p.rsplit("__", 1)[0].split("_")[0].capitalize(), "tz": tz, "assigned_scheduler_code": code,
        "is_active": True, "lifecycle_state": "active",
    } for p, tz, code in rows])


def schedulers_frame() -> pl.DataFrame:
    return pl.DataFrame([
        {"scheduler_code": "AB", "display_name": "Ann", "is_active": True, "can_view_all": False},
        {"scheduler_code": "MGR", "display_name": "Boss", "is_active": True, "can_view_all": True},
    ])


def captions_frame(rows: list[dict]) -> pl.DataFrame:
    """dim_caption columns the exports read; each dict needs caption_id, may override the rest."""
    base = {"caption_hash": "0" * 64, "caption_text": "text", "primary_category": "ppv", "char_len": 4,
            "bank_ids": [], "is_active": True, "tos_status": "clean", "is_current": True}
    return pl.DataFrame([{**base, **r} for r in rows], schema={
        "caption_id": pl.String(), "caption_hash": pl.String(), "caption_text": pl.String(),
        "primary_category": pl.String(), "char_len": pl.Int64(), "bank_ids": pl.List(pl.String()),
        "is_active": pl.Boolean(), "tos_status": pl.String(), "is_current": pl.Boolean()})


FEATURE_SCHEMA = {
    "computed_date": pl.Date(), "username_page": pl.String(), "caption_id": pl.String(), "last_used_ts_page": UTC,
    "last_used_ts_any": UTC, "send_events_all_pages_365d": pl.Int64(), "send_events_30d": pl.Int64(),
    "is_eligible": pl.Boolean(), "base_score": pl.Float64(), "rps_smoothed_ref": pl.Float64(),
    "confidence_score": pl.Float64(), "fatigue_score": pl.Float64(),
}


def features_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"computed_date": NOW.date(), "last_used_ts_page": None, "last_used_ts_any": None,
            "send_events_all_pages_365d": 0, "send_events_30d": 0, "is_eligible": True, "base_score": 0.5,
            "rps_smoothed_ref": 0.01, "confidence_score": 0.3, "fatigue_score": 0.1}
    return pl.DataFrame([{**base, **r} for r in rows], schema=FEATURE_SCHEMA)


def priors_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"computed_date": pl.Date(), "username_page": pl.String(),
                                      "caption_id": pl.String(), "r_cp": pl.Float64(), "n_open_cp": pl.Float64(),
                                      "nu": pl.Float64()})
