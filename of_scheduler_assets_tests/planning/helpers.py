"""Small hand-built inputs for the planning tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_06_rankings import planning
from of_scheduler_assets.resources.seeds import parse_seed, read_seed_bytes

# A Monday, 12:00 UTC (07:00 in New York): the plan covers Monday … Sunday local.
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def packs() -> dict:
    seed = parse_seed("scheduling_packs", *read_seed_bytes("scheduling_packs", None))
    return planning.parse_packs(seed.frame)


def page(name: str = "ann__paid", *, tier: str = "HIGH", lo: int | None = 8, hi: int | None = 23, **kw) -> dict:
    std, ptype = name.split("__")
    row = {"username_page": name, "username_std": std, "page_type": ptype, "tz": "America/New_York",
           "local_min_hour": lo, "local_max_hour": hi, "tier": tier, "tier_source": "engine", "page_state": "monetize",
           "lifecycle_state": "active", "is_active": True, "assigned_scheduler_code": "KIT"}
    row.update(kw)
    return row


def pages(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={
        "username_page": pl.String, "username_std": pl.String, "page_type": pl.String, "tz": pl.String,
        "local_min_hour": pl.Int64, "local_max_hour": pl.Int64, "tier": pl.String, "tier_source": pl.String,
        "page_state": pl.String, "lifecycle_state": pl.String, "is_active": pl.Boolean,
        "assigned_scheduler_code": pl.String})


def profile(page_name: str, cells: dict[tuple[int | None, int], float]) -> pl.DataFrame:
    """`page_dow_hod_profile` rows: (dow or None, hod) -> rps_smooth (revenue_score = 10 × rps)."""
    rows = [{"username_page": page_name, "dow_local": dow, "hod_local": hod, "send_events": 3, "rps_smooth": rps,
             "revenue_score": 10 * rps, "temporal_multiplier": 1.0} for (dow, hod), rps in cells.items()]
    return pl.DataFrame(rows, schema={"username_page": pl.String, "dow_local": pl.Int8, "hod_local": pl.Int8,
                                      "send_events": pl.Int64, "rps_smooth": pl.Float64,
                                      "revenue_score": pl.Float64, "temporal_multiplier": pl.Float64})


def prices(page_name: str, **q: float) -> pl.DataFrame:
    base = {"p25": 10.0, "p30": 11.0, "p50": 14.0, "p60": 16.0, "p75": 20.0, "p85": 25.0, "price_mode": "balanced"}
    base.update(q)
    return pl.DataFrame([{"username_page": page_name, **base}])
