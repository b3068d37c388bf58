"""Column contracts of the weekly planning tables (40-planning §1, §8, §9, §10).

Tables (asset keys `[schema, table]`):

* `layer_06_rankings/weekly_template_7d` — the rolling 7-day plan, replaced on each build: every row kind (PPVs,
  follow-ups, standalone bumps, non-DM windows) of the next 7 local dates of every planned page.
* `layer_06_rankings/followup_bumps` — the rows of kind `ppv_pre_teaser`, `ppv_followup`, `bump` (same columns).
* `layer_06_rankings/non_dm_windows` — the rows of kind `drip_mm`, `drip_wall`, `renewal`, `link_drop` (same columns).
* `layer_06_rankings/weekly_plan` — the Monday snapshot: `weekly_template_7d` rows of the current week inserted when
  their key (`week_start`, `username_page`, `date_local`, `slot_kind`, `slot_rank`, `slot_order`) is absent; a re-run
  inserts nothing. Same columns as the template. Readers (exports) filter on `week_start`.

Plan columns (`PLAN_SCHEMA`, in this order):

| column | type | meaning |
|---|---|---|
| `username_page`, `username_std`, `page_type` | str | the page |
| `scheduler_code` | str | `dim_page.assigned_scheduler_code` (`unassigned` when none) |
| `tz` | str | the page's IANA zone |
| `week_start` | date | Monday of the row's local date |
| `date_local`, `dow_local` | date, int8 | the plan day (Monday = 0); follow-ups keep their PPV's plan day |
| `slot_kind` | str | `ppv`, `ppv_pre_teaser`, `ppv_followup`, `bump`, `drip_mm`, `drip_wall`, `renewal`, `link_drop` |
| `slot_rank` | int16 | PPV: rank of its hour by the (dow, hod) `rps_smooth` (0 = best); follow-ups: their PPV's slot_rank; others: index within the kind |
| `slot_order` | int16 | PPV: chronological index in the day; follow-ups: order 0 (pre-teaser), 1, 2; others: index within the kind |
| `hod_local`, `minute_local` | int8 | wall-clock time of the row |
| `planned_local_datetime` | datetime (no zone) | wall clock |
| `scheduled_datetime_utc` | datetime UTC | DST-aware instant |
| `channel` | str | `DM` (PPVs, follow-ups, bumps), `MM` or `Wall` (non-DM rows) |
| `price_usd` | decimal(10,2) | PPV price (§5); 0 for every other kind |
| `tracking_hash` | str | `sha256(username_page|date_local|HH:MM|slot_kind)[:16]` |
| `rec_caption_id` | str | tentative caption from the ranker (PPV rows; null on other kinds, which the hourly ranking fills) |
| `rec_is_fallback` | bool | the caption came from the ranker's fallback pool (null on non-PPV rows) |
| `rec_score_normalized` | float64 | the caption's `score_normalized` in its slot (null on non-PPV rows) |
| `reason` | str | PPV: "Prime slot - highest performance" / "Secondary peak hour" / "Coverage slot"; others: the kind's rule |
| `score` | float64 | the hour cell's `revenue_score` (null without a cell) |
| `tier`, `page_state`, `price_mode_eff` | str | effective tier, page state, price mode of the day |
| `ppv_quota` | int16 | the day's effective PPV quota after the cap of 10 |
| `window_min_h`, `window_max_h` | int8 | the page's local window used |
| `notes` | str | pack notes: stories, wall type, theme, tip event, dripsets |
| `config_version`, `run_id` | str | the build |

QA rows (`ops/qa_violations`, append-only, readers take the latest `run_at`): `QA_SCHEMA` (the spec's columns +
`run_id`; a re-run of the same run id replaces its own rows).
Learned knobs (`ops_config/page_knobs_learned`): `KNOBS_SCHEMA`; changelog (`ops_audit/learning_changelog`):
`CHANGELOG_SCHEMA`.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

PRICE_DTYPE = pl.Decimal(10, 2)

PLAN_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "username_std": pl.String(),
    "page_type": pl.String(),
    "scheduler_code": pl.String(),
    "tz": pl.String(),
    "week_start": pl.Date(),
    "date_local": pl.Date(),
    "dow_local": pl.Int8(),
    "slot_kind": pl.String(),
    "slot_rank": pl.Int16(),
    "slot_order": pl.Int16(),
    "hod_local": pl.Int8(),
    "minute_local": pl.Int8(),
    "planned_local_datetime": pl.Datetime("us"),
    "scheduled_datetime_utc": pl.Datetime("us", "UTC"),
    "channel": pl.String(),
    "price_usd": PRICE_DTYPE,
    "tracking_hash": pl.String(),
    "rec_caption_id": pl.String(),
    "rec_is_fallback": pl.Boolean(),
    "rec_score_normalized": pl.Float64(),
    "reason": pl.String(),
    "score": pl.Float64(),
    "tier": pl.String(),
    "page_state": pl.String(),
    "price_mode_eff": pl.String(),
    "ppv_quota": pl.Int16(),
    "window_min_h": pl.Int8(),
    "window_max_h": pl.Int8(),
    "notes": pl.String(),
    "config_version": pl.String(),
    "run_id": pl.String(),
}
PLAN_KEY = ["week_start", "username_page", "date_local", "slot_kind", "slot_rank", "slot_order"]
PPV_KINDS = ("ppv",)
FOLLOWUP_KINDS = ("ppv_pre_teaser", "ppv_followup", "bump")
NON_DM_KINDS = ("drip_mm", "drip_wall", "renewal", "link_drop")
SLOT_KINDS = (*PPV_KINDS, *FOLLOWUP_KINDS, *NON_DM_KINDS)

QA_SCHEMA: dict[str, pl.DataType] = {
    "run_at": pl.Datetime("us", "UTC"),
    "check_name": pl.String(),
    "severity": pl.String(),
    "username_page": pl.String(),
    "date_local": pl.Date(),
    "prev_h": pl.Int16(),
    "curr_h": pl.Int16(),
    "next_h": pl.Int16(),
    "gap_h": pl.Float64(),
    "min_h": pl.Int16(),
    "max_h": pl.Int16(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "details": pl.String(),
    "run_id": pl.String(),
}

KNOBS_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "quota_nudge": pl.Int16(),
    "hour_pool_nudge": pl.Int16(),
    "price_mode_bias": pl.String(),
    "confidence": pl.Float64(),
    "reason": pl.String(),
    "computed_at": pl.Datetime("us", "UTC"),
}

CHANGELOG_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "knob": pl.String(),
    "old_value": pl.String(),
    "new_value": pl.String(),
    "confidence": pl.Float64(),
    "reason": pl.String(),
    "signals_json": pl.String(),
    "computed_at": pl.Datetime("us", "UTC"),
    "applied_at": pl.Datetime("us", "UTC"),
    "config_version": pl.String(),
    "learner_version": pl.String(),
}


class WeeklyPlanRows(pa.DataFrameModel):
    """Contract of `weekly_template_7d`, `followup_bumps`, `non_dm_windows` and `weekly_plan`."""

    username_page: pl.String = pa.Field(nullable=False)
    week_start: pl.Date = pa.Field(nullable=False)
    date_local: pl.Date = pa.Field(nullable=False)
    dow_local: pl.Int8 = pa.Field(nullable=False, ge=0, le=6)
    slot_kind: pl.String = pa.Field(nullable=False, isin=list(SLOT_KINDS))
    slot_rank: pl.Int16 = pa.Field(nullable=False, ge=0)
    slot_order: pl.Int16 = pa.Field(nullable=False, ge=0)
    hod_local: pl.Int8 = pa.Field(nullable=False, ge=0, le=23)
    minute_local: pl.Int8 = pa.Field(nullable=False, ge=0, le=59)
    scheduled_datetime_utc: pl.Datetime(time_unit="us", time_zone="UTC") = pa.Field(nullable=False)
    tracking_hash: pl.String = pa.Field(nullable=False, str_length={"min_value": 16, "max_value": 16})
    ppv_quota: pl.Int16 = pa.Field(nullable=False, ge=0, le=10)

    class Config:
        strict = False
        unique = PLAN_KEY
