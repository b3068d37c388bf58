"""slot_grid_next24 (30-ml-and-ranking §7.1, 40-planning §2)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from of_scheduler_assets.layer_06_rankings.slots import DEFAULT_PPV_COUNT, SLOT_GRID_SCHEMA, slot_grid_next24

NOW = dt.datetime(2025, 9, 15, 12, 30, tzinfo=dt.UTC)  # Monday


def _pages(*rows: dict) -> pl.DataFrame:
    base = {"tz": "America/New_York", "local_min_hour": 0, "local_max_hour": 23, "tier": "LOW", "page_type": "paid",
            "lifecycle_state": "active"}  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows])


def _profile(page: str, cells: dict[tuple[int | None, int], tuple[float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "username_page": page,
                "dow_local": d,
                "hod_local": h,
                "temporal_multiplier": tm,
                "temporal_multiplier_open": tmo,
            }
            for (d, h), (tm, tmo) in cells.items()
        ],  # fmt: skip
        schema={
            "username_page": pl.String,
            "dow_local": pl.Int8,
            "hod_local": pl.Int8,
            "temporal_multiplier": pl.Float64,
            "temporal_multiplier_open": pl.Float64,
        },  # fmt: skip
    )


def test_exactly_24_hourly_slots_inside_the_window():
    """Defect "25 inclusive hourly slots": exactly 24, from the next full hour, none at or before now."""
    g = slot_grid_next24(_pages({"username_page": "a__paid"}), None, now=NOW)
    assert dict(g.schema) == SLOT_GRID_SCHEMA
    assert g.height == 24
    ts = g["slot_ts_utc"].to_list()
    assert ts[0] == dt.datetime(2025, 9, 15, 13, tzinfo=dt.UTC)
    assert ts[-1] == dt.datetime(2025, 9, 16, 12, tzinfo=dt.UTC)
    assert all(b - a == dt.timedelta(hours=1) for a, b in zip(ts, ts[1:], strict=False))
    assert g["temporal_multiplier"].to_list() == [1.0] * 24  # no profile data
    # an exact hour is "now": the grid starts one hour later, still 24 slots
    g2 = slot_grid_next24(_pages({"username_page": "a__paid"}), None, now=dt.datetime(2025, 9, 15, 12, tzinfo=dt.UTC))
    assert g2.height == 24 and g2["slot_ts_utc"][0] == dt.datetime(2025, 9, 15, 13, tzinfo=dt.UTC)


def test_local_fields_and_window_restriction():
    g = slot_grid_next24(_pages({"username_page": "a__paid", "local_min_hour": 9, "local_max_hour": 21}), None,
                         now=NOW)  # fmt: skip
    assert g.height == 13  # 09..21 local once in the next 24 h
    assert g["hod_local"].min() == 9 and g["hod_local"].max() == 21
    z = ZoneInfo("America/New_York")
    for r in g.iter_rows(named=True):
        loc = r["slot_ts_utc"].astimezone(z)
        assert r["slot_local"] == loc.replace(tzinfo=None)
        assert (r["slot_date_local"], r["dow_local"], r["hod_local"]) == (loc.date(), loc.weekday(), loc.hour)
    # min > max is swapped (as the planner does)
    g2 = slot_grid_next24(_pages({"username_page": "a__paid", "local_min_hour": 21, "local_max_hour": 9}), None,
                          now=NOW)  # fmt: skip
    assert g2.height == 13


def test_ppv_quota_top_hours_by_temporal_multiplier():
    # Monday 2025-09-15 local (NY): 08:30 now -> hours 09..23 Monday, 00..08 Tuesday
    cells = {(0, 20): (1.4, 0.9), (0, 15): (1.4, 1.0), (0, 10): (1.2, 1.3), (None, 3): (1.3, 1.1), (1, 3): (0.6, 0.8)}
    g = slot_grid_next24(_pages({"username_page": "a__paid", "tier": "MED"}), _profile("a__paid", cells), now=NOW)
    ppv = g.filter(pl.col("slot_type") == "ppv")
    mon = ppv.filter(pl.col("dow_local") == 0)
    # MED Monday quota 2: 15 and 20 tie on 1.4 and both beat 10
    assert sorted(mon["hod_local"].to_list()) == [15, 20]
    assert mon["temporal_multiplier"].to_list() == [1.4, 1.4]
    # Tuesday (quota 2) ranks its whole window: 3 has its own cell 0.6 (< 1.0 default): hours 0 and 1 win the tie
    tue = ppv.filter(pl.col("dow_local") == 1)
    assert sorted(tue["hod_local"].to_list()) == [0, 1]
    # bump slots carry the open profile; the (dow, hod) cell wins over the all-days cell; 1.0 without data
    bump = {r["hod_local"]: r["temporal_multiplier"] for r in g.filter(pl.col("slot_type") == "bump").iter_rows(
        named=True)}  # fmt: skip
    assert bump[10] == 1.3 and bump[3] == 0.8 and bump[12] == 1.0
    assert g.height == 24


@pytest.mark.parametrize("tier", ["LOW", "MED", "HIGH", "POWER"])
def test_quota_per_local_day_from_the_pack(tier):
    g = slot_grid_next24(_pages({"username_page": "a__paid", "tier": tier}), None, now=NOW)
    per_day = g.filter(pl.col("slot_type") == "ppv").group_by("slot_date_local").len()
    for d, n in per_day.iter_rows():
        quota = min(DEFAULT_PPV_COUNT[tier][d.weekday()], 10)
        hours_in_grid = g.filter(pl.col("slot_date_local") == d).height
        # without a profile the top hours are the lowest ones (ties → lower hour) of the whole local day
        assert n == len([h for h in range(quota) if h in set(g.filter(pl.col("slot_date_local") == d)["hod_local"])])
        assert n <= min(quota, hours_in_grid)


def test_inactive_pages_skipped_and_sorted():
    pages = _pages({"username_page": "b__paid"}, {"username_page": "z__paid", "lifecycle_state": "inactive"},
                   {"username_page": "a__paid", "tier": None, "tz": None})  # fmt: skip
    g = slot_grid_next24(pages, None, now=NOW)
    assert g["username_page"].unique(maintain_order=True).to_list() == ["a__paid", "b__paid"]
    assert g.height == 48
    assert g.equals(g.sort(["username_page", "slot_ts_utc", "slot_type"]))


def test_dst_day_still_24_slots():
    # 2025-11-02 01:00 EDT -> 01:00 EST: 24 UTC hours, local hour 1 twice
    g = slot_grid_next24(_pages({"username_page": "a__paid"}), None,
                         now=dt.datetime(2025, 11, 2, 3, 10, tzinfo=dt.UTC))  # fmt: skip
    assert g.height == 24
    assert g["slot_ts_utc"].n_unique() == 24


def test_weekly_plan_not_implemented():
    with pytest.raises(NotImplementedError):
        slot_grid_next24(_pages({"username_page": "a__paid"}), None, now=NOW, weekly_plan=pl.DataFrame())
