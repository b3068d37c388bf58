"""pandera contracts of the export tables (50-operations §3.3, §7.1-§7.3).

Strict and ordered: the column names and their order are what the Apps Script and the team read, so an added,
missing, renamed or moved column fails the (blocking) contract check of the asset that writes it.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

UTC = pl.Datetime("us", "UTC")
PAGE_RE = r"^[a-z0-9_]+__(free|paid|vip)$"
LEGACY_RE = r"^[a-z0-9_]+_(free|paid|vip)$"
TIERS = ["new", "explore", "average", "good", "top"]


class ScheduleRecommendations(pa.DataFrameModel):
    """`layer_07_export.schedule_recommendations` (§7.1)."""

    username_page: pl.String = pa.Field(nullable=False, str_matches=PAGE_RE)
    creator_username: pl.String = pa.Field(nullable=False)
    creator_page_type: pl.String = pa.Field(nullable=False, isin=["free", "paid", "vip"])
    schedule_date: pl.Date = pa.Field(nullable=False)
    schedule_hour: pl.Int8 = pa.Field(nullable=False, ge=0, le=23)
    caption_id: pl.String = pa.Field(nullable=True)
    caption_preview: pl.String = pa.Field(nullable=True, str_length={"max_value": 200})
    caption_category: pl.String = pa.Field(nullable=True)
    recommendation_rank: pl.Int8 = pa.Field(nullable=False, ge=1, le=5)
    ml_score: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)
    predicted_rps: pl.Float64 = pa.Field(nullable=True, ge=0)
    confidence_score: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    days_since_last_send: pl.Float64 = pa.Field(nullable=True, ge=0)
    recommendation_tier: pl.String = pa.Field(nullable=True)
    is_exploration_pick: pl.Boolean = pa.Field(nullable=False)
    model_version: pl.String = pa.Field(nullable=True)
    generated_at: UTC = pa.Field(nullable=False)
    config_name: pl.String = pa.Field(nullable=False)
    config_version: pl.String = pa.Field(nullable=False)
    slot_type: pl.String = pa.Field(nullable=False)
    price_usd: pl.Float64 = pa.Field(nullable=True, ge=0)
    schedule_date_local: pl.Date = pa.Field(nullable=False)
    schedule_hour_local: pl.Int8 = pa.Field(nullable=False, ge=0, le=23)
    tz: pl.String = pa.Field(nullable=False)
    predicted_revenue_per_1k: pl.Float64 = pa.Field(nullable=True, ge=0)

    class Config:
        strict = True
        ordered = True
        unique = ["username_page", "schedule_date", "schedule_hour", "slot_type", "recommendation_rank"]


class CaptionLookup(pa.DataFrameModel):
    """`layer_07_export.caption_lookup` (§7.2)."""

    caption_id: pl.String = pa.Field(nullable=False, unique=True)
    lookup_keys: pl.List(pl.String) = pa.Field(nullable=False)
    caption_hash: pl.String = pa.Field(nullable=False)
    caption_text: pl.String = pa.Field(nullable=True)
    caption_category: pl.String = pa.Field(nullable=True)
    caption_length: pl.Int64 = pa.Field(nullable=False, ge=0)
    username_page: pl.String = pa.Field(nullable=True)
    creator_username: pl.String = pa.Field(nullable=True)
    creator_page_type: pl.String = pa.Field(nullable=True)
    performance_tier: pl.String = pa.Field(nullable=False, isin=TIERS)
    is_available: pl.Boolean = pa.Field(nullable=False)
    available_pages: pl.List(pl.String) = pa.Field(nullable=False)
    last_used_timestamp: UTC = pa.Field(nullable=True)
    days_since_use: pl.Int64 = pa.Field(nullable=True, ge=0)
    expected_rps: pl.Float64 = pa.Field(nullable=False, ge=0)
    confidence_score: pl.Float64 = pa.Field(nullable=False, ge=0, le=1)
    is_active: pl.Boolean = pa.Field(nullable=False)
    tos_status: pl.String = pa.Field(nullable=False, isin=["clean", "flagged"])

    class Config:
        strict = True
        ordered = True


class ApiCaptions(pa.DataFrameModel):
    """`layer_07_export.api_captions` (§7.3, read by getCaptions)."""

    username_page: pl.String = pa.Field(nullable=False, str_matches=PAGE_RE)
    username_page_legacy: pl.String = pa.Field(nullable=False, str_matches=LEGACY_RE)
    schedule_date: pl.Date = pa.Field(nullable=False)
    caption_id: pl.String = pa.Field(nullable=False)
    caption_text: pl.String = pa.Field(nullable=True)
    final_score: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)
    expected_rps: pl.Float64 = pa.Field(nullable=True, ge=0)
    confidence_score: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    is_eligible: pl.Boolean = pa.Field(nullable=False)
    hours_since_use: pl.Float64 = pa.Field(nullable=True, ge=0)
    total_sends: pl.Int64 = pa.Field(nullable=False, ge=0)
    performance_tier: pl.String = pa.Field(nullable=False, isin=TIERS)
    exploration_bonus: pl.Float64 = pa.Field(nullable=False, ge=0)
    caption_category: pl.String = pa.Field(nullable=True)
    strategy_score_explore: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)
    strategy_score_balanced: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)
    strategy_score_exploit: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)

    class Config:
        strict = True
        ordered = True
        unique = ["username_page", "schedule_date", "caption_id"]


class ApiSystemHealth(pa.DataFrameModel):
    """`layer_07_export.api_system_health` (§7.3, read by getSystemHealth): at most one row."""

    health_score: pl.Int64 = pa.Field(nullable=False, ge=0, le=100)
    alert_status: pl.String = pa.Field(nullable=False)
    data_age_hours: pl.Float64 = pa.Field(nullable=True)
    eligibility_rate: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    daily_sends: pl.Int64 = pa.Field(nullable=True, ge=0)
    evaluated_at: UTC = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check
    def at_most_one_row(cls, data) -> bool:  # noqa: N805 - pandera passes the class
        return data.lazyframe.select(pl.len() <= 1).collect().item()


class TopCaptions(pa.DataFrameModel):
    """`ops_monitor.top_captions` and `layer_07_export.api_top_captions` (§3.3, read by getTopCaptions)."""

    caption_id: pl.String = pa.Field(nullable=False)
    username_page: pl.String = pa.Field(nullable=False)
    rps: pl.Float64 = pa.Field(nullable=True, ge=0)
    confidence: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    recent_sends: pl.Int64 = pa.Field(nullable=False, ge=0)
    rank: pl.Int64 = pa.Field(nullable=False, ge=1, le=100, unique=True)
    status: pl.String = pa.Field(nullable=False, isin=["Eligible", "Fatigued", "Cooling Down"])

    class Config:
        strict = True
        ordered = True
        unique = ["username_page", "caption_id"]


__all__ = ["ApiCaptions", "ApiSystemHealth", "CaptionLookup", "ScheduleRecommendations", "TopCaptions"]
