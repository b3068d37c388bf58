"""Slot grid of the next `horizon_hours` per active page (30-ml-and-ranking §7.1), pure Python + polars.

Per active page (lifecycle_state != inactive, `is_active` when the column is present):

* hours: the UTC hours from the next full hour after `now` (an exact hour counts as "now", so the grid starts one hour
  later) for `horizon_hours` hours: exactly 24 hourly instants, never 25 (defect "25 inclusive slots"). DST changes do
  not add or drop hours because the grid steps in UTC. Hours whose local hour lies outside
  [`local_min_hour`, `local_max_hour`] are dropped (null → 0 / 23; swapped when min > max, as the planner does).
* slot types without a weekly plan: for every local date touched by the horizon, the page's window hours of that date
  are ranked by the RPS temporal multiplier (desc, ties → lower hour); the top `ppv_quota` are `ppv` hours and
  the ones inside the horizon become `ppv` slots. Every other hour of the grid is a `bump` slot. Ranking the whole
  local day (not only its part inside the horizon) keeps a day's PPV hours stable from one hourly run to the next.
  `ppv_quota = min(ppv_count[tier][dow_local], MAX_PPV_PER_DAY)` (40-planning §2; no learned nudges or overrides
  here); a null tier counts as LOW.
* `temporal_multiplier`: `page_dow_hod_profile.temporal_multiplier` (RPS profile) for ppv slots and
  `temporal_multiplier_open` for the others, from the page's (dow_local, hod_local) cell, else its all-days
  (dow_local null) cell for the hour, else 1.0.

TODO (issue 6): `weekly_plan` input (plan PPVs at their planned hour with `price_source = plan`, follow-up / planned
bumps, renew, link_drop, drip and tip slots). Passing a weekly plan raises NotImplementedError for now, so a caller can
never silently get a grid that ignores its plan.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

__all__ = ["DEFAULT_PPV_COUNT", "MAX_PPV_PER_DAY", "SLOT_GRID_SCHEMA", "slot_grid_next24"]

#: 40-planning §2 `scheduling_packs.ppv_count` defaults, tier -> [Mon … Sun].
DEFAULT_PPV_COUNT: dict[str, list[int]] = {
    "LOW": [1, 1, 1, 1, 1, 1, 1],
    "MED": [2, 2, 3, 2, 2, 2, 2],
    "HIGH": [5, 4, 5, 4, 5, 4, 4],
    "POWER": [12, 10, 8, 12, 10, 12, 8],
}
#: The template cap on PPVs per page and local day (40-planning §2, `max_ppv_per_day`).
MAX_PPV_PER_DAY = 10
DEFAULT_TZ = "America/New_York"

SLOT_GRID_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String(),
    "slot_ts_utc": pl.Datetime("us", "UTC"),
    "slot_local": pl.Datetime("us"),
    "slot_date_local": pl.Date(),
    "dow_local": pl.Int8(),
    "hod_local": pl.Int8(),
    "slot_type": pl.String(),
    "temporal_multiplier": pl.Float64(),
}


def _window(lo, hi) -> tuple[int, int]:
    lo = 0 if lo is None else int(lo)
    hi = 23 if hi is None else int(hi)
    return (hi, lo) if lo > hi else (lo, hi)


def _profiles(dow_hod: pl.DataFrame | None) -> dict[tuple[str, int | None, int], tuple[float, float]]:
    out: dict[tuple[str, int | None, int], tuple[float, float]] = {}
    if dow_hod is None or dow_hod.height == 0:
        return out
    cols = ["username_page", "dow_local", "hod_local", "temporal_multiplier", "temporal_multiplier_open"]
    df = dow_hod.select(cols).sort(["username_page", "dow_local", "hod_local"], nulls_last=True)
    for page, dow, hod, tm, tmo in df.iter_rows():
        key = (page, None if dow is None else int(dow), int(hod))
        out.setdefault(key, (1.0 if tm is None else float(tm), 1.0 if tmo is None else float(tmo)))
    return out


def _tm(prof, page: str, dow: int, hod: int) -> tuple[float, float]:
    return prof.get((page, dow, hod)) or prof.get((page, None, hod)) or (1.0, 1.0)


def slot_grid_next24(
    pages: pl.DataFrame,
    dow_hod: pl.DataFrame | None,
    *,
    now: dt.datetime,
    horizon_hours: int = 24,
    ppv_count: dict[str, list[int]] | None = None,
    weekly_plan: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`slot_grid_next24` rows (columns `SLOT_GRID_SCHEMA`), sorted by (username_page, slot_ts_utc, slot_type).

    `pages`: username_page, tz, local_min_hour, local_max_hour, tier, page_type, lifecycle_state (optional
    `is_active`). `dow_hod`: `page_dow_hod_profile` rows (None or empty → multipliers 1.0). `now`: aware datetime
    (naive is read as UTC). `ppv_count`: tier -> 7 daily counts (Monday first), default `DEFAULT_PPV_COUNT`.
    """
    if weekly_plan is not None:
        raise NotImplementedError("slot_grid_next24: weekly_plan input is not implemented yet (TODO issue 6)")
    if horizon_hours < 1:
        raise ValueError("horizon_hours must be >= 1")
    counts = DEFAULT_PPV_COUNT if ppv_count is None else ppv_count
    for tier, row in counts.items():
        if len(row) != 7:
            raise ValueError(f"ppv_count[{tier!r}] must have 7 values (Monday first)")
    now_utc = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    start = now_utc.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    instants = [start + dt.timedelta(hours=k) for k in range(horizon_hours)]
    prof = _profiles(dow_hod)

    def col(name: str, default=None):
        return pages[name].to_list() if name in pages.columns else [default] * pages.height

    rows: list[dict] = []
    seen: set[str] = set()
    recs = zip(
        col("username_page"), col("tz"), col("local_min_hour"), col("local_max_hour"), col("tier"),
        col("lifecycle_state", "active"), col("is_active", True), strict=True,
    )  # fmt: skip
    for page, tz, lo, hi, tier, life, active in sorted(recs, key=lambda r: r[0]):
        if page is None or page in seen:
            continue
        seen.add(page)
        if life == "inactive" or active is False:
            continue
        zone = ZoneInfo(tz or DEFAULT_TZ)
        lo, hi = _window(lo, hi)
        tier_row = counts.get(tier or "LOW", counts.get("LOW", [0] * 7))
        grid = []
        for t in instants:
            local = t.astimezone(zone)
            if lo <= local.hour <= hi:
                grid.append((t, local))
        ppv_hours: dict[dt.date, set[int]] = {}
        for d in sorted({local.date() for _, local in grid}):
            dow = d.weekday()
            quota = max(0, min(int(tier_row[dow]), MAX_PPV_PER_DAY))
            ranked = sorted(range(lo, hi + 1), key=lambda h, dow=dow: (-_tm(prof, page, dow, h)[0], h))
            ppv_hours[d] = set(ranked[:quota])
        for t, local in grid:
            dow, hod = local.weekday(), local.hour
            tm_rps, tm_open = _tm(prof, page, dow, hod)
            is_ppv = hod in ppv_hours[local.date()]
            rows.append(
                {
                    "username_page": page,
                    "slot_ts_utc": t,
                    "slot_local": local.replace(tzinfo=None),
                    "slot_date_local": local.date(),
                    "dow_local": dow,
                    "hod_local": hod,
                    "slot_type": "ppv" if is_ppv else "bump",
                    "temporal_multiplier": tm_rps if is_ppv else tm_open,
                }
            )
    if not rows:
        return pl.DataFrame(schema=SLOT_GRID_SCHEMA)
    return pl.DataFrame(rows, schema=SLOT_GRID_SCHEMA).sort(["username_page", "slot_ts_utc", "slot_type"])
