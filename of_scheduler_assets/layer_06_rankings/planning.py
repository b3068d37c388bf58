"""The weekly PPV plan per page (40-planning §2, §4–§6), pure Python + polars; columns in `planning_schemas`.

`build_weekly_template(pages, dow_hod, price_profile, packs, now=...)` returns a `WeeklyTemplate` with

* `plan`: every row of the next 7 local dates (today in the page's zone + 0 … 6) of every planned page: PPVs
  (§4 steps 1–8, price ladder §5), follow-ups and pre-teasers (§6.1), standalone bumps (§6.2) and non-DM windows
  (§6.3), in `PLAN_SCHEMA` order, without captions (`assign_captions` fills them through the ranker, §4 step 9);
* `findings`: the planner's own QA rows (`QA_SCHEMA` without `run_at`): `QUOTA_CAPPED` (quota above
  `max_ppv_per_day`) and `SLOT_DROPPED_INFEASIBLE` (a duplicate hour dropped, or no window hour left), both INFO.
  The gap and window rules (`MIN_GAP_LT_2H`, `MAX_GAP_GT_6H_IN_WINDOW`, `INFEASIBLE_WINDOW`) are judged on the plan by
  `of_scheduler_assets.checks.planning`.

Effective values per page and day (§2): `ppv_quota = clamp(ppv_count + quota_nudge, quota_min, quota_max)` capped at
`max_ppv_per_day`; `quota_min`/`quota_max` from `page_overrides` when the columns exist and are set, else from the
page's `learner_config` row (or its `*` row; default 0 / 12); `hour_pool = clamp(override ?? pack hour_pool +
hour_pool_nudge, 6, 24)`; `price_mode_eff = price_mode_bias ?? pack price_mode_default ?? profile price_mode`
(`balanced` when the page has no price profile). Lifecycle `inactive` (or `is_active = false`) → no plan; `new` →
tier LOW unless the tier comes from an override (`tier_source = override`). Every page type is planned
(`ppv_on_free_pages: true`).

Decisions where the spec is silent:
* an infeasible window follows the §4 step 7 formula literally: hours keep their 2 h spacing and may start before
  `min_h`; `INFEASIBLE_WINDOW` reports the page-day. Where the clamp at 0 squeezes hours together, a later hour less
  than 2 h after the previous kept one is dropped like a duplicate (`SLOT_DROPPED_INFEASIBLE`): the exports must
  never contradict the 2 h rule (50-operations §6), and the spec drops only equal hours;
* follow-ups, pre-teasers and bumps keep their PPV's plan day in `date_local` even when their time crosses midnight
  (the key stays stable); `planned_local_datetime` holds the true wall clock;
* a PPV hour without a (dow, hod) profile cell ranks after the hours with one (then by hour); `score` falls back to
  the all-days cell's `revenue_score`, else null;
* standalone bumps that fit no ranked hour are not placed; non-DM rows are planned on the days that have PPVs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import polars as pl

from of_scheduler_assets.identity import hash_u64, sha256_hex
from of_scheduler_assets.layer_06_rankings.planning_schemas import PLAN_SCHEMA, PRICE_DTYPE, QA_SCHEMA

__all__ = [
    "DEFAULT_HOURS",
    "Pack",
    "PlanningConfig",
    "WeeklyTemplate",
    "anchors",
    "assign_captions",
    "base_price",
    "build_weekly_template",
    "dedupe_prices",
    "parse_packs",
    "pick_hours",
    "rank_hours",
    "rnd",
    "space_hours",
    "tracking_hash",
]

#: §4 step 2 (c): the default hour list after the page's own data.
DEFAULT_HOURS = (21, 20, 18, 15, 12, 22, 19, 16, 13, 10, 23, 14, 17, 9, 8, 11)
DEFAULT_TZ = "America/New_York"
FINDING_SCHEMA = {k: v for k, v in QA_SCHEMA.items() if k not in ("run_at", "run_id")}
TIERS = ("LOW", "MED", "HIGH", "POWER")


@dataclasses.dataclass(frozen=True)
class PlanningConfig:
    """The `planning` settings of 40-planning (defaults of the spec)."""

    max_ppv_per_day: int = 10
    price_floor_usd: float = 3.0
    price_cap_usd: float = 100.0
    followup_extra_jitter_minutes: int = 0
    drip_slots: str = "10:00|MM,10:00|Wall,20:00|MM,20:00|Wall"
    renewal_times: str = "08:00,16:00,00:00"
    link_drop_times: str = "12:00-13:00,19:00-20:00"
    randomize_offset_minutes: int = 45
    horizon_days: int = 7
    quota_min_default: int = 0
    quota_max_default: int = 12
    hour_pool_min: int = 6
    hour_pool_max: int = 24
    default_tz: str = DEFAULT_TZ


@dataclasses.dataclass(frozen=True)
class Pack:
    """One `scheduling_packs` row (tier × dow)."""

    ppv_count: int
    bump_count: int = 0
    story_count: int = 0
    dripset_count: int = 2
    tip_event_flag: bool = False
    wall_type: str | None = None
    theme_focus: str | None = None
    is_burst_dow: bool = False
    hour_pool: int | None = None
    price_mode_default: str | None = None

    @property
    def hour_pool_eff(self) -> int:
        return self.hour_pool if self.hour_pool is not None else min(max(3 * self.ppv_count, 8), 24)


@dataclasses.dataclass
class WeeklyTemplate:
    plan: pl.DataFrame
    findings: pl.DataFrame


def rnd(x: float) -> int:
    """Round half up."""
    return int(math.floor(x + 0.5))


def _clamp(x, lo, hi):
    return max(lo, min(hi, x))


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v))


def _bool(v) -> bool:
    return (not _blank(v)) and str(v).strip().lower() in ("true", "1", "yes", "y", "t")


def _int(v) -> int | None:
    return None if _blank(v) else int(float(v))


def _str(v) -> str | None:
    return None if _blank(v) else str(v).strip()


def parse_packs(frame: pl.DataFrame) -> dict[tuple[str, int], Pack]:
    """`scheduling_packs` rows (text or typed) → {(tier, dow): Pack}. Tiers and dows must be complete."""
    out: dict[tuple[str, int], Pack] = {}
    for r in frame.iter_rows(named=True):
        tier = str(r["tier"]).strip().upper()
        dow = int(r["dow"])
        out[(tier, dow)] = Pack(
            ppv_count=_int(r.get("ppv_count")) or 0,
            bump_count=_int(r.get("bump_count")) or 0,
            story_count=_int(r.get("story_count")) or 0,
            dripset_count=2 if _int(r.get("dripset_count")) is None else int(_int(r.get("dripset_count"))),
            tip_event_flag=_bool(r.get("tip_event_flag")),
            wall_type=_str(r.get("wall_type")),
            theme_focus=_str(r.get("theme_focus")),
            is_burst_dow=_bool(r.get("is_burst_dow")),
            hour_pool=_int(r.get("hour_pool")),
            price_mode_default=_str(r.get("price_mode_default")),
        )
    missing = [(t, d) for t in TIERS for d in range(7) if (t, d) not in out]
    if missing:
        raise ValueError(f"scheduling_packs: missing (tier, dow) rows {missing[:5]}")
    return out


# ------------------------------------------------------------------------------------------------ §4 algorithm


def window(lo, hi) -> tuple[int, int]:
    """§4 step 1: null → 0 / 23; swapped when min > max."""
    lo = 0 if lo is None else int(lo)
    hi = 23 if hi is None else int(hi)
    return (hi, lo) if lo > hi else (lo, hi)


Cell = tuple[float | None, float | None]  # (rps_smooth, revenue_score)


def rank_hours(day_cells: dict[int, Cell], all_cells: dict[int, Cell], min_h: int, max_h: int) -> list[int]:
    """§4 step 2: hours with data of the (dow, hod) cells by rps_smooth desc, hour asc; then the all-days cells; then
    `DEFAULT_HOURS`; first occurrence only, inside the window, at most 24."""

    def order(cells: dict[int, Cell]) -> list[int]:
        return [h for h, _ in sorted(cells.items(), key=lambda kv: (kv[1][0] is None, -(kv[1][0] or 0.0), kv[0]))]

    out: list[int] = []
    for h in (*order(day_cells), *order(all_cells), *DEFAULT_HOURS):
        if min_h <= h <= max_h and h not in out:
            out.append(h)
    return out[:24]


def anchors(q: int, a_start: int, a_end: int, seed_day: int) -> list[int]:
    """§4 step 5."""
    if q <= 0:
        return []
    if q == 1:
        return [rnd((a_start + a_end) / 2)]
    seg_w = _clamp(rnd(max(a_end - a_start, 2) / (q - 1)), 2, 6)
    return [rnd(a_start + pos * seg_w + ((seed_day + pos) % 3) - 1) for pos in range(q)]


def pick_hours(anchor_list: list[int], pool: list[int], ranked: list[int], min_h: int, max_h: int) -> list[int]:
    """§4 step 6: per anchor the nearest unused pool hour (ties → better rank, then lower hour); when the pool is used
    up, any unused window hour by the same rule (hours outside `ranked` rank after it). Fewer picks than anchors when
    the window runs out of hours."""
    rank_of = {h: i for i, h in enumerate(ranked)}
    used: set[int] = set()
    picks: list[int] = []
    window_hours = list(range(min_h, max_h + 1))
    for a in anchor_list:
        cands = [h for h in pool if h not in used] or [h for h in window_hours if h not in used]
        if not cands:
            break
        best = min(cands, key=lambda h: (abs(h - a), rank_of.get(h, len(ranked) + h), h))
        used.add(best)
        picks.append(best)
    return picks


def space_hours(picks: Iterable[int], min_h: int, max_h: int) -> tuple[list[int], list[int]]:
    """§4 step 7: the spaced hours (sorted, at least 2 h apart) and the dropped ones."""
    h = sorted(picks)
    n = len(h)
    if n == 0:
        return [], []
    y: list[int] = []
    run_max = -10**9
    for i in range(1, n + 1):
        run_max = max(run_max, h[i - 1] - 2 * i)
        y.append(max(h[i - 1], 2 * i + run_max, min_h + 2 * (i - 1)))
    out: list[int] = []
    run_min = 10**9
    for i in range(1, n + 1):
        run_min = min(run_min, y[i - 1] - 6 * i)
        cap6 = 6 * i + run_min
        cap2 = max_h - 2 * (n - i)
        out.append(_clamp(min(max(y[i - 1], min_h), cap6, cap2, max_h), 0, 23))
    kept: list[int] = []
    dropped: list[int] = []
    for v in out:  # equal hours (and, after the clamp at 0, hours < 2 h apart) only arise in infeasible windows
        (dropped if kept and v - kept[-1] < 2 else kept).append(v)
    return kept, dropped


# ------------------------------------------------------------------------------------------------ §5 prices

_CHAINS = {
    ("premium", "grow"): (("p60", "p50", "p30"), 6.0),
    ("premium", "retain"): (("p75", "p60", "p50"), 8.0),
    ("premium", "other"): (("p85", "p75", "p60"), 9.0),
    ("value", "grow"): (("p30", "p50"), 5.0),
    ("value", "retain"): (("p50", "p60"), 6.0),
    ("value", "other"): (("p60", "p50"), 7.0),
    ("balanced", "grow"): (("p50", "p30"), 5.0),
    ("balanced", "retain"): (("p60", "p50"), 6.0),
    ("balanced", "other"): (("p75", "p60"), 8.0),
}


def base_price(mode: str | None, page_state: str | None, quantiles: dict | None, *, burst: bool = False,
               floor: float = 3.0, cap: float = 100.0) -> int:
    """§5: the first non-null quantile of the (mode, state) chain, else its dollar amount; round half up; clamp."""
    m = "premium" if burst else (mode if mode in ("premium", "value", "balanced") else "balanced")
    s = page_state if page_state in ("grow", "retain") else "other"
    chain, dollars = _CHAINS[(m, s)]
    q = quantiles or {}
    value = next((float(q[c]) for c in chain if q.get(c) is not None), dollars)
    return int(_clamp(rnd(value), floor, cap))


def dedupe_prices(prices: list[int], passes: int = 10) -> list[int]:
    """§5 $1 de-duplication over prices ordered by slot_rank: + $1 per earlier slot at the same price, repeated."""
    cur = list(prices)
    for _ in range(passes):
        if len(set(cur)) == len(cur):
            break
        cur = [p + sum(1 for q in cur[:i] if q == p) for i, p in enumerate(cur)]
    return cur


# ------------------------------------------------------------------------------------------------ helpers


def tracking_hash(username_page: str, date_local: dt.date, hhmm: str, slot_kind: str) -> str:
    return sha256_hex(f"{username_page}|{date_local.isoformat()}|{hhmm}|{slot_kind}")[:16]


def _hhmm(ts: dt.datetime) -> str:
    return f"{ts.hour:02d}:{ts.minute:02d}"


def _parse_hhmm(text: str) -> int:
    hh, mm = text.strip().split(":")
    return int(hh) * 60 + int(mm)


_FOLLOWUP_OFFSETS = {
    "teaser": {1: (20, 45)},
    "mid": {0: (-20, -15), 1: (15, 20), 2: (45, 45)},
    "premium": {0: (-20, -15), 1: (20, 30), 2: (40, 55)},
}


def _latest_by_page(frame: pl.DataFrame | None) -> dict[str, dict]:
    if frame is None or frame.height == 0 or "username_page" not in frame.columns:
        return {}
    if "updated_at" in frame.columns:
        frame = frame.sort("updated_at", nulls_last=False)
    out: dict[str, dict] = {}
    for r in frame.iter_rows(named=True):
        out[r["username_page"]] = r
    return out


# ------------------------------------------------------------------------------------------------ the builder


def build_weekly_template(
    pages: pl.DataFrame,
    dow_hod: pl.DataFrame | None,
    price_profile: pl.DataFrame | None,
    packs: dict[tuple[str, int], Pack] | pl.DataFrame,
    *,
    now: dt.datetime,
    overrides: pl.DataFrame | None = None,
    knobs: pl.DataFrame | None = None,
    learner_config: pl.DataFrame | None = None,
    config: PlanningConfig | None = None,
    config_version: str = "",
    run_id: str = "",
) -> WeeklyTemplate:
    """The 7-day plan of every planned page (see the module docstring). `pages`: `dim_page` rows (username_page,
    username_std, page_type, tz, local_min_hour, local_max_hour, tier, tier_source, page_state, lifecycle_state,
    is_active, assigned_scheduler_code; missing columns default). `dow_hod`: `page_dow_hod_profile`;
    `price_profile`: `page_price_profile`; `knobs`: `page_knobs_learned`; `learner_config`: the seed."""
    cfg = config or PlanningConfig()
    pack_map = parse_packs(packs) if isinstance(packs, pl.DataFrame) else packs
    now_utc = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)

    cells: dict[tuple[str, int | None], dict[int, Cell]] = {}
    if dow_hod is not None and dow_hod.height:
        cols = ["username_page", "dow_local", "hod_local", "rps_smooth", "revenue_score", "send_events"]
        for page, dow, hod, rps, score, events in dow_hod.select(cols).iter_rows():
            if events is None or events < 1:
                continue
            cells.setdefault((page, None if dow is None else int(dow)), {})[int(hod)] = (rps, score)
    prices: dict[str, dict] = {}
    if price_profile is not None and price_profile.height:
        prices = {r["username_page"]: r for r in price_profile.iter_rows(named=True)}
    over = _latest_by_page(overrides)
    knob = _latest_by_page(knobs)
    lc = {} if learner_config is None else {str(r["username_page"]): r for r in learner_config.iter_rows(named=True)}

    def col(name: str, default=None):
        return pages[name].to_list() if name in pages.columns else [default] * pages.height

    names = ["username_page", "username_std", "page_type", "tz", "local_min_hour", "local_max_hour", "tier",
             "tier_source", "page_state", "lifecycle_state", "is_active", "assigned_scheduler_code"]
    defaults = {"lifecycle_state": "active", "is_active": True, "tier_source": "engine"}
    recs = [dict(zip(names, vals, strict=True)) for vals in zip(*[col(n, defaults.get(n)) for n in names],
                                                                  strict=True)]
    rows: list[dict] = []
    findings: list[dict] = []
    seen: set[str] = set()
    for p in sorted(recs, key=lambda r: r["username_page"] or ""):
        page = p["username_page"]
        if page is None or page in seen:
            continue
        seen.add(page)
        if p["lifecycle_state"] == "inactive" or p["is_active"] is False:
            continue
        tier = p["tier"] if p["tier"] in TIERS else "LOW"
        if p["lifecycle_state"] == "new" and p["tier_source"] != "override":
            tier = "LOW"
        page_state = p["page_state"] or "balance"
        zone = ZoneInfo(p["tz"] or cfg.default_tz)
        min_h, max_h = window(p["local_min_hour"], p["local_max_hour"])
        ov, kn = over.get(page, {}), knob.get(page, {})
        lrow = lc.get(page) or lc.get("*") or {}
        qmin = _int(ov.get("quota_min"))
        qmax = _int(ov.get("quota_max"))
        qmin = qmin if qmin is not None else (_int(lrow.get("quota_min")) if _int(lrow.get("quota_min")) is not None
                                              else cfg.quota_min_default)
        qmax = qmax if qmax is not None else (_int(lrow.get("quota_max")) if _int(lrow.get("quota_max")) is not None
                                              else cfg.quota_max_default)
        nudge_q = _int(kn.get("quota_nudge")) or 0
        nudge_h = _int(kn.get("hour_pool_nudge")) or 0
        bias = _str(kn.get("price_mode_bias"))
        prof = prices.get(page)
        today = now_utc.astimezone(zone).date()
        base = {
            "username_page": page, "username_std": p["username_std"], "page_type": p["page_type"],
            "scheduler_code": p["assigned_scheduler_code"] or "unassigned", "tz": zone.key, "tier": tier,
            "page_state": page_state, "window_min_h": min_h, "window_max_h": max_h,
            "config_version": config_version, "run_id": run_id,
        }

        def emit(kind: str, d: dt.date, local: dt.datetime, rank: int, order: int, *, channel: str, price: int = 0,
                 reason: str, score=None, extra: dict, base=base, zone=zone, page=page) -> None:
            aware = local.replace(tzinfo=zone)
            rows.append({
                **base, **extra, "week_start": d - dt.timedelta(days=d.weekday()), "date_local": d,
                "dow_local": d.weekday(), "slot_kind": kind, "slot_rank": rank, "slot_order": order,
                "hod_local": local.hour, "minute_local": local.minute, "planned_local_datetime": local,
                "scheduled_datetime_utc": aware.astimezone(dt.UTC), "channel": channel,
                "price_usd": price, "tracking_hash": tracking_hash(page, d, _hhmm(local), kind),
                "reason": reason, "score": score,
            })

        for k in range(cfg.horizon_days):
            d = today + dt.timedelta(days=k)
            dow = d.weekday()
            pack = pack_map[(tier, dow)]
            q_raw = _clamp(pack.ppv_count + nudge_q, qmin, qmax)
            q = min(q_raw, cfg.max_ppv_per_day)
            if q_raw > cfg.max_ppv_per_day:
                findings.append(_finding("QUOTA_CAPPED", "INFO", page, d, min_h, max_h, value=q_raw,
                                         threshold=cfg.max_ppv_per_day,
                                         details=f"quota {q_raw} capped at {cfg.max_ppv_per_day}"))
            if q <= 0:
                continue
            hp_override = _int(ov.get("hour_pool"))
            hour_pool = _clamp(hp_override if hp_override is not None else pack.hour_pool_eff + nudge_h,
                               cfg.hour_pool_min, cfg.hour_pool_max)
            day_cells = cells.get((page, dow), {})
            all_cells = cells.get((page, None), {})
            ranked = rank_hours(day_cells, all_cells, min_h, max_h)
            pool_n = max(hour_pool, min(len(ranked), 3 * q))
            pool = ranked[:pool_n]
            if pool:
                a_start, a_end = min(pool), max(pool)
            else:
                a_start, a_end = _clamp(9, min_h, max_h), _clamp(21, min_h, max_h)
            seed_day = hash_u64(f"{page}|{d.isoformat()}")
            picks = pick_hours(anchors(q, a_start, a_end, seed_day), pool, ranked, min_h, max_h)
            hours, dropped = space_hours(picks, min_h, max_h)
            for hdrop in dropped:
                findings.append(_finding("SLOT_DROPPED_INFEASIBLE", "INFO", page, d, min_h, max_h, curr_h=hdrop,
                                         value=q, details=f"duplicate hour {hdrop} dropped"))
            if len(picks) < q:
                findings.append(_finding("SLOT_DROPPED_INFEASIBLE", "INFO", page, d, min_h, max_h, value=q,
                                         threshold=len(picks),
                                         details=f"window has {len(picks)} free hours for {q} PPVs"))

            def rps(h, day_cells=day_cells):
                c = day_cells.get(h)
                return None if c is None or c[0] is None else float(c[0])

            by_rank = sorted(hours, key=lambda h: (rps(h) is None, -(rps(h) or 0.0), h))
            slot_rank = {h: i for i, h in enumerate(by_rank)}
            mode = bias or pack.price_mode_default or (prof["price_mode"] if prof else None) or "balanced"
            bp = base_price(mode, page_state, prof, burst=pack.is_burst_dow, floor=cfg.price_floor_usd,
                            cap=cfg.price_cap_usd)
            price_of = dict(zip(by_rank, dedupe_prices([bp] * len(by_rank)), strict=True))
            notes = "; ".join(x for x in (
                f"stories {pack.story_count}", f"wall {pack.wall_type}" if pack.wall_type else None,
                f"theme {pack.theme_focus}" if pack.theme_focus else None,
                "tip event" if pack.tip_event_flag else None, f"dripsets {pack.dripset_count}") if x)
            extra = {"price_mode_eff": "premium" if pack.is_burst_dow else mode, "ppv_quota": q, "notes": notes}
            extra_other = {**extra, "notes": None}
            taken: list[dt.datetime] = []
            midnight = dt.datetime.combine(d, dt.time())
            for order, h in enumerate(hours):
                r = slot_rank[h]
                reason = ("Prime slot - highest performance" if r == 0 else
                          "Secondary peak hour" if r == 1 else "Coverage slot")
                cell = day_cells.get(h) or all_cells.get(h)
                at = midnight + dt.timedelta(hours=h)
                taken.append(at)
                emit("ppv", d, at, r, order, channel="DM", price=price_of[h], reason=reason,
                     score=None if cell is None or cell[1] is None else float(cell[1]), extra=extra)
                # §6.1 follow-ups
                price = price_of[h]
                if price <= 0:
                    continue
                p85 = prof.get("p85") if prof else None
                p50 = prof.get("p50") if prof else None
                level = ("premium" if p85 is not None and price >= p85 else
                         "mid" if p50 is not None and price >= p50 else "teaser")
                for fo, (lo, hi) in sorted(_FOLLOWUP_OFFSETS[level].items()):
                    key = f"{page}|{d.isoformat()}|{r}|{fo}"
                    minute = lo + hash_u64(key) % (hi - lo + 1)
                    jit = cfg.followup_extra_jitter_minutes
                    if jit > 0:
                        minute += hash_u64(key + "|J") % (2 * jit + 1) - jit
                        minute = min(minute, -10) if fo == 0 else max(minute, 10)
                    ft = at + dt.timedelta(minutes=minute)
                    taken.append(ft)
                    emit("ppv_pre_teaser" if fo == 0 else "ppv_followup", d, ft, r, fo, channel="DM",
                         reason=f"{level} {'pre-teaser' if fo == 0 else 'follow-up'} of slot {r}", extra=extra_other)
            # §6.2 standalone bumps
            for kb in range(pack.bump_count):
                minute = hash_u64(f"{page}|{d.isoformat()}|BUMP|{kb}") % 60
                for h in ranked:
                    bt = midnight + dt.timedelta(hours=h, minutes=minute)
                    if all(abs((bt - t).total_seconds()) >= 3600 for t in taken):
                        taken.append(bt)
                        emit("bump", d, bt, kb, kb, channel="DM", reason="standalone bump", extra=extra_other)
                        break
            # §6.3 non-DM windows
            jw = cfg.randomize_offset_minutes
            tokens = [t.strip().split("|") for t in cfg.drip_slots.split(",") if t.strip()]
            times: list[str] = []
            for hhmm, _ch in tokens:
                if hhmm not in times:
                    times.append(hhmm)
            chosen = set(times[: pack.dripset_count])
            counters: dict[str, int] = {}
            for hhmm, ch in tokens:
                if hhmm not in chosen:
                    continue
                kind = "drip_mm" if ch.upper() == "MM" else "drip_wall"
                off = hash_u64(f"{page}|{d.isoformat()}|DRIP|{hhmm}|{ch}") % (2 * jw + 1) - jw
                i = counters.get(kind, 0)
                counters[kind] = i + 1
                emit(kind, d, midnight + dt.timedelta(minutes=_parse_hhmm(hhmm) + off), i, i,
                     channel="MM" if kind == "drip_mm" else "Wall", reason=f"dripset {hhmm}", extra=extra_other)
            if p["page_type"] in ("paid", "vip"):
                for i, hhmm in enumerate(t.strip() for t in cfg.renewal_times.split(",") if t.strip()):
                    off = hash_u64(f"{page}|{d.isoformat()}|RENEW|{hhmm}") % (2 * jw + 1) - jw
                    emit("renewal", d, midnight + dt.timedelta(minutes=_parse_hhmm(hhmm) + off), i, i,
                         channel="MM", reason=f"renewal {hhmm}", extra=extra_other)
            for i, win in enumerate(t.strip() for t in cfg.link_drop_times.split(",") if t.strip()):
                start_s, end_s = win.split("-")
                start, end = _parse_hhmm(start_s), _parse_hhmm(end_s)
                length = max(0, end - start)
                minute = start + hash_u64(f"{page}|{d.isoformat()}|LINK|{win}") % (length + 1)
                emit("link_drop", d, midnight + dt.timedelta(minutes=minute), i, i, channel="Wall",
                     reason=f"link drop {win}", extra=extra_other)

    if rows:
        plan = pl.DataFrame(
            [{**r, "price_usd": float(r["price_usd"])} for r in rows],
            schema={**PLAN_SCHEMA, "price_usd": pl.Float64()},
        ).with_columns(pl.col("price_usd").cast(PRICE_DTYPE))
    else:
        plan = pl.DataFrame(schema=PLAN_SCHEMA)
    plan = plan.select(list(PLAN_SCHEMA)).sort(
        ["username_page", "date_local", "scheduled_datetime_utc", "slot_kind", "slot_rank", "slot_order"])
    return WeeklyTemplate(plan=plan, findings=pl.DataFrame(findings, schema=FINDING_SCHEMA))


def _finding(check: str, severity: str, page: str, d: dt.date, min_h: int, max_h: int, *, prev_h=None, curr_h=None,
             next_h=None, gap_h=None, value=None, threshold=None, details: str = "") -> dict:
    return {"check_name": check, "severity": severity, "username_page": page, "date_local": d, "prev_h": prev_h,
            "curr_h": curr_h, "next_h": next_h, "gap_h": gap_h, "min_h": min_h, "max_h": max_h,
            "value": None if value is None else float(value),
            "threshold": None if threshold is None else float(threshold), "details": details}


# ------------------------------------------------------------------------------------------------ §4 step 9


def _tm_lookup(dow_hod: pl.DataFrame | None) -> dict[tuple[str, int | None, int], float]:
    out: dict[tuple[str, int | None, int], float] = {}
    if dow_hod is None or dow_hod.height == 0:
        return out
    for page, dow, hod, tm in dow_hod.select("username_page", "dow_local", "hod_local",
                                             "temporal_multiplier").iter_rows():
        out.setdefault((page, None if dow is None else int(dow), int(hod)), 1.0 if tm is None else float(tm))
    return out


def plan_slots(plan: pl.DataFrame, dow_hod: pl.DataFrame | None) -> pl.DataFrame:
    """The plan's PPV rows as ranker slots (`slot_grid_next24` columns + the plan `price_usd`)."""
    tm = _tm_lookup(dow_hod)
    ppv = plan.filter(pl.col("slot_kind") == "ppv")
    mult = [tm.get((pg, int(dw), int(hd)), tm.get((pg, None, int(hd)), 1.0))
            for pg, dw, hd in ppv.select("username_page", "dow_local", "hod_local").iter_rows()]
    return ppv.select(
        "username_page", pl.col("scheduled_datetime_utc").alias("slot_ts_utc"),
        pl.col("planned_local_datetime").alias("slot_local"), pl.col("date_local").alias("slot_date_local"),
        "dow_local", "hod_local", pl.lit("ppv").alias("slot_type"),
        pl.Series("temporal_multiplier", mult, dtype=pl.Float64),
        pl.col("price_usd").cast(pl.Float64), "date_local",
    )


def assign_captions(
    plan: pl.DataFrame,
    dow_hod: pl.DataFrame | None,
    rank_fn,
    features: pl.DataFrame,
    *,
    recent: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """§4 step 9: tentative captions for the plan's PPV slots through the ranker, one local date after the other so
    that reuse is enforced across the week: a caption that is primary on a page on one day is removed from that
    page's candidates for the later days, and every primary counts towards `max_daily_uses` of the following slots.

    `rank_fn(features, slots, recent)` is `ranker.rank_next24` with its other inputs bound. Returns (plan with
    `rec_caption_id`, `rec_is_fallback`, `rec_score_normalized` on PPV rows, every ranker row of the plan slots)."""
    slots = plan_slots(plan, dow_hod)
    if slots.is_empty():
        return plan, pl.DataFrame()
    used = pl.DataFrame(schema={"username_page": pl.String(), "caption_id": pl.String()})
    recent_schema = {"caption_id": pl.String(), "slot_ts_utc": pl.Datetime("us", "UTC")}
    recent_rows = pl.DataFrame(schema=recent_schema)
    if recent is not None and recent.height:
        tcol = "slot_ts_utc" if "slot_ts_utc" in recent.columns else "sending_ts_utc"
        recent_rows = recent.select("caption_id", pl.col(tcol).alias("slot_ts_utc")).cast(recent_schema)
    ranks: list[pl.DataFrame] = []
    for day in sorted(slots["date_local"].unique().to_list()):
        day_slots = slots.filter(pl.col("date_local") == day).drop("date_local")
        feats = features.join(used, on=["username_page", "caption_id"], how="anti") if used.height else features
        rank = rank_fn(feats, day_slots, recent_rows)
        ranks.append(rank)
        prim = rank.filter((pl.col("rank") == 1) & pl.col("caption_id").is_not_null())
        used = pl.concat([used, prim.select("username_page", "caption_id")]).unique()
        recent_rows = pl.concat([recent_rows, prim.select("caption_id", "slot_ts_utc").cast(recent_rows.schema)])
    rank_all = pl.concat(ranks, how="diagonal_relaxed")
    prim = rank_all.filter(pl.col("rank") == 1).select(
        "username_page", pl.col("slot_ts_utc").alias("scheduled_datetime_utc"),
        pl.col("caption_id").alias("_cid"), pl.col("is_fallback").alias("_fb"),
        pl.col("score_normalized").alias("_sn"), pl.lit("ppv").alias("slot_kind"))
    out = plan.join(prim, on=["username_page", "scheduled_datetime_utc", "slot_kind"], how="left").with_columns(
        rec_caption_id=pl.col("_cid"), rec_is_fallback=pl.col("_fb"), rec_score_normalized=pl.col("_sn"),
    ).drop("_cid", "_fb", "_sn").select(list(PLAN_SCHEMA))
    return out, rank_all
