"""The hourly ranker (30-ml-and-ranking §1, §5.7–§5.10, §7, §8): `rank_next24` → `caption_rank_next24` rows.

Per page (pages in `username_page` order):

1. candidates: the page's `feature_store` rows (latest `computed_date`, the first row per caption), gathered by the
   page's row numbers (the caller's frame is never copied whole) and sorted by `caption_id`, so that the kernel's
   index order is the caption_id order;
2. slot-independent eligibility at `now` with `kernels.eligibility`: reuse (`now − last_used_ts_page`), agency-wide
   cooldown (`now − last_used_ts_any < cooldown_hours`) and fatigue from the feature rows; TOS / activity / media-only
   / explicitness from optional columns (`tos_flagged` or `tos_status`, `is_active`, `is_media_only`,
   `explicitness`, `max_explicitness`; the store's universe already excludes them, the columns let a caption flagged
   after the daily refresh be blocked); categories from `categories` (list) when present, else `primary_category`,
   tested against the union of the categories of the page's slot types;
3. `kernels.score_slot` gives the per-slot top M (`top_m` of the config file) and the provisional top-1;
4. the page's candidates join flat arrays (~70 bytes a candidate: caption id, mask, hours since use, category bits
   and the five candidate factors of `kernels.codes.CAND_F`) and `kernels.assign.best_slots` gives the best slot of
   every candidate per local date (for the same-day penalty).

No slots × candidates matrix is kept: the components of a (slot, candidate) pair are a few products of its slot's
factors (`SLOT_F`) and its candidate's (`CAND_F`) with the kernel's factorised formulas (§5.9), recomputed by the
kernels wherever they are read (`kernels.assign.pair_values`), so `temporal_multiplier × (exploit_value + ucb_bonus +
novelty_bonus) − diversity_penalty == final_score` holds to rounding; `score_slot` decides which M candidates a slot
keeps, the final scores order them.

Penalties (§7.2): same-day when the slot is not the candidate's best slot (highest `final_pre`, ties → earlier slot)
among the page's slots of that local date; cross-page when the candidate is the provisional top-1 of another page at
a slot within ± `cross_page_block_hours` (`kernels.assign.cross_page_flags`, a sparse row of flags per conflicting
candidate); both `mult × max(tm × exploit, 0.0005)`; ban mode removes cross-page conflicts instead.

Global pass (§7.3) = kernel 5.10 `kernels.assign.assign_primaries` over the pages' flattened arrays (Python keeps
the string work: seed keys, hashes, caption ids → integers, and builds the rows from the kernel's picks), one thread,
slots in (slot_ts_utc, username_page, slot_type) order: constraints "not already
primary on this page in this run" (the page's `min_reuse_days` spans the horizon, so a caption primary at 23:00 local
is not primary again at 01:00 the next local date; with a reuse rule shorter than the horizon: not already primary on
this page's local date) and "agency-wide primaries + sends in the 24 h up to the slot < max_daily_uses"
(`recent_primaries` + the primaries of this run); all M blocked → the slot is re-scored with the blocked captions
masked (the exact top M of the unblocked candidates); ε-exploration with `hash_uniform(seed_key + "|eps")` / `"|pick"` over the
`explore_pool_size` best allowed candidates sorted by caption_id; ranks 2…top_k by final desc, caption_id asc;
fallback relaxing only reuse / cooldown / fatigue (oldest page use first, never used first); `no_caption_available`.

Decisions (not fixed by the spec):
* `epsilon_explore` is a reason code of the rank-1 row of an explored slot; `is_exploration` is true on every row of an
  explored slot and on rows with ucb + novelty > exploit.
* `explore_pool_size` in the output is the realised |pool| of the slot (null when the slot did not rank normally).
* `p_buy` is `p_buy_smoothed` (at the caption's own prices); `expected_rps = exploit_value` on ppv slots
  (`q × p(q)`), 0 elsewhere. `send_events_page` = `send_events_90d`. `days_since_use_page` and
  `hours_since_use_any` are measured at `now` (null = never).
* `score_normalized` is over the slot's eligible candidates (all of them, dynamic constraints ignored); fallback rows over
  the fallback pool; clipped to [0, 100].
* Fallback rows keep the dynamic constraints (one primary per caption, page and local date; max_daily_uses) and get
  `diversity_penalty = 0`. A `no_caption_available` row has rank 1, null caption and scores, `is_fallback = true`.
* Prices of ppv slots: Wilson choice over `price_points` (`page_price_points` rows with `send_events ≥
  min_price_events`; ν_price = `price_prior_sends × m_P`) → `price_source = wilson`; else the page p50
  (`price_profile.p50`, else `page_priors.price_p50`) → `page_p50`; else the agency 90-day median
  (`page_priors.ref_price`) or `default_ppv_price` → `default`. Non-ppv slots: price 0, source and Wilson null.
* n_CP / n_open / q̄ come from `caption_priors` when given; otherwise n is recovered from `smoothing_weight`
  (n = ν w / (1 − w)) for both chains and q̄ is the page reference price.
* `cooldown_overrides` (`blocked_by_override`, §5.7): the overrides in effect at `now` (effective_from ≤ now <
  effective_to) block the caption on their page while `now − last_used_ts_page < min_cooldown_hours` (the largest
  when several apply; never used on the page = not blocked). Like the other caption rules it is not relaxed by the
  fallback.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from of_scheduler_assets.identity import hash_uniform
from of_scheduler_assets.kernels.codes import CAND_F, CATEGORY_BITS, SLOT_F, UNKNOWN_EXPLICITNESS
from of_scheduler_assets.ops_config.overrides import cooldown_overrides_in_effect
from of_scheduler_assets.resources.ranker_config import LoadedRankerConfig, NamedRankerConfig

__all__ = ["RANK_SCHEMA", "rank_next24", "recommendation_tier", "seed_key"]

RANK_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "generated_at": pl.Datetime("us", "UTC"),
    "config_name": pl.String(),
    "config_version": pl.String(),
    "model_version": pl.String(),
    "data_watermark": pl.Datetime("us", "UTC"),
    "username_page": pl.String(),
    "username_std": pl.String(),
    "page_type": pl.String(),
    "slot_ts_utc": pl.Datetime("us", "UTC"),
    "slot_local": pl.Datetime("us"),
    "slot_date_local": pl.Date(),
    "dow_local": pl.Int8(),
    "hod_local": pl.Int8(),
    "slot_type": pl.String(),
    "price_usd": pl.Float64(),
    "price_source": pl.String(),
    "price_wilson": pl.Float64(),
    "rank": pl.Int8(),
    "recommendation_tier": pl.String(),
    "caption_id": pl.String(),
    "caption_sk": pl.String(),
    "category": pl.String(),
    "exploit_value": pl.Float64(),
    "p_buy": pl.Float64(),
    "p_open": pl.Float64(),
    "ucb_bonus": pl.Float64(),
    "novelty_bonus": pl.Float64(),
    "temporal_multiplier": pl.Float64(),
    "diversity_penalty": pl.Float64(),
    "final_score": pl.Float64(),
    "score_normalized": pl.Float64(),
    "expected_rps": pl.Float64(),
    "confidence": pl.Float64(),
    "send_events_page": pl.Int64(),
    "days_since_use_page": pl.Float64(),
    "hours_since_use_any": pl.Float64(),
    "fatigue_score": pl.Float64(),
    "is_exploration": pl.Boolean(),
    "is_cold_start": pl.Boolean(),
    "is_fallback": pl.Boolean(),
    "reason_codes": pl.List(pl.String()),
    "selection_probability": pl.Float64(),
    "greedy_caption_id": pl.String(),
    "epsilon": pl.Float64(),
    "explore_pool_size": pl.Int64(),
    "seed_key": pl.String(),
}

REASON_ORDER = [
    "epsilon_explore", "cold_start", "bank_exhausted_oldest_first", "high_performer", "optimal_timing",
    "fresh_content", "same_day_penalty", "cross_page_penalty", "price_from_plan", "price_wilson",
]  # fmt: skip
_HOUR_US = 3_600_000_000.0


def seed_key(
    config_name: str, config_version: str, username_page: str, slot_ts_utc: dt.datetime, slot_type: str
) -> str:
    """§8: config_name | config_version | username_page | slot_ts_utc (%Y-%m-%dT%H:%MZ) | slot_type."""
    ts = slot_ts_utc.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"{config_name}|{config_version}|{username_page}|{ts}|{slot_type}"


def recommendation_tier(rank: int) -> str:
    return "primary" if rank == 1 else "secondary" if rank <= 3 else "backup" if rank <= 5 else "alternative"


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def _f64(s: pl.Series, fill: float) -> np.ndarray:
    return s.cast(pl.Float64).fill_null(fill).fill_nan(fill).to_numpy().astype(np.float64, copy=True)


# ----------------------------------------------------------------------------------------------- per-page state


@dataclass
class _Page:
    name: str
    config_name: str
    cfg: NamedRankerConfig
    username_std: str | None
    page_type: str | None
    # slots (page order: slot_ts_utc, slot_type)
    slots: list[dict] = field(default_factory=list)
    scal: dict[str, Any] = field(default_factory=dict)
    # candidates: rows lo:hi of the flat candidate arrays (index order = caption_id order)
    lo: int = 0
    hi: int = 0
    top_idx: np.ndarray | None = None
    top1: np.ndarray | None = None
    n_elig: np.ndarray | None = None
    best: np.ndarray | None = None  # best_slots result, n_days × A
    dayidx: np.ndarray | None = None  # local-date index of every slot
    factors: tuple | None = None  # `_slot_factors` of the slots (set with the candidates)

    @property
    def n_cand(self) -> int:
        return self.hi - self.lo


class _Flat:
    """The candidates of every page as flat arrays (rows lo:hi of a page), filled page by page into buffers sized for
    the whole feature frame: the factors the kernels read and the feature row each candidate came from."""

    def __init__(self, n: int):
        self.n = 0
        self.gid = np.zeros(n, np.int64)
        self.src = np.zeros(n, np.int64)  # row of the caller's `features` frame
        self.mask = np.zeros(n, np.uint16)
        self.hp = np.zeros(n, np.float64)
        self.cat_bits = np.zeros(n, np.uint32)
        self.cand_f = np.zeros((n, len(CAND_F)), np.float64)

    def add(self, gid, src, mask, hp, cat_bits, cand_f) -> tuple[int, int]:
        lo, hi = self.n, self.n + len(gid)
        self.gid[lo:hi], self.src[lo:hi], self.mask[lo:hi], self.hp[lo:hi] = gid, src, mask, hp
        self.cat_bits[lo:hi], self.cand_f[lo:hi] = cat_bits, cand_f
        self.n = hi
        return lo, hi

    def trim(self) -> None:
        for k in ("gid", "src", "mask", "hp", "cat_bits", "cand_f"):
            setattr(self, k, np.ascontiguousarray(getattr(self, k)[: self.n]))


def _slot_factors(pg: _Page, cat_map: dict[str, int]):
    """is_ppv bool[S], allowed uint32[S], slot_f float64[S, 4] (`kernels.assign.SLOT_F`) of a page's slots."""
    S, sc = len(pg.slots), pg.scal
    is_ppv = np.array([s["slot_type"] == "ppv" for s in pg.slots], dtype=np.bool_)
    allowed = np.array([cat_map.get(s["slot_type"], 0) for s in pg.slots], dtype=np.uint32)
    f = np.zeros((S, len(SLOT_F)), np.float64)
    for i, s in enumerate(pg.slots):
        q = float(s["price_usd"])
        f[i, 3] = s["temporal_multiplier"]
        if is_ppv[i]:
            f[i, 0] = q
            if q > 0.0:
                f[i, 1] = q ** (1.0 - sc["beta"])
                f[i, 2] = q * sc["mu_P"]
        else:
            f[i, 2] = sc["mu_open_P"]
    return is_ppv, allowed, f


# --------------------------------------------------------------------------------------------------- entry point


def rank_next24(
    features: pl.DataFrame,
    slots: pl.DataFrame,
    page_priors: pl.DataFrame,
    price_profile: pl.DataFrame | None,
    assignments: pl.DataFrame,
    cfg: LoadedRankerConfig,
    *,
    now: dt.datetime,
    run_id: str,
    recent_primaries: pl.DataFrame | None = None,
    model_version: str = "ranker-1",
    caption_priors: pl.DataFrame | None = None,
    price_points: pl.DataFrame | None = None,
    generated_at: dt.datetime | None = None,
    cooldown_overrides: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`caption_rank_next24` rows (columns `RANK_SCHEMA`), sorted by (username_page, slot_ts_utc, slot_type, rank).

    features: `feature_store` rows; slots: `slot_grid_next24` rows (a `price_usd` column, when present, is a plan
    price: `price_source = plan`); page_priors: `priors.page_priors`; price_profile: `page_price_profile` (p50) or
    None; assignments: `allocation.assign_configs` (pages without a row are not ranked); recent_primaries: agency-wide
    primaries and sends before this run (`caption_id` and `slot_ts_utc` or `sending_ts_utc`); caption_priors: the
    `caption_priors` of the same date (exact n_CP, n_open, q̄); price_points: `page_price_points` rows;
    cooldown_overrides: `ops_config.cooldown_overrides` rows (those in effect at `now` block a caption on their page
    while its last send there is less than `min_cooldown_hours` ago: `blocked_by_override`, never relaxed).

    Memory: the feature frame is read page by page (no copy of it is made); what stays for the global pass is
    O(candidates) flat arrays (~70 bytes a candidate) and O(slots) state, never a slots × candidates matrix.
    """
    now_utc = _utc(now)
    gen = _utc(generated_at) if generated_at is not None else dt.datetime.now(dt.UTC)
    model = cfg.model
    cat_map = {st: _cat_bits(cfg.categories_for(st)) for st in model.slot_type_categories}
    top_m = max(1, int(model.top_m))

    # ------------------------------------------------------------------------------------------- page configs
    assign = {
        r["username_page"]: (r["config_name"], r.get("config_version") or cfg.config_version)
        for r in assignments.sort("username_page").iter_rows(named=True)
    }
    # The caller's frame is read page by page through the row numbers of each page (in frame order, so that after a
    # stable sort by caption_id "keep first" keeps the frame's first row of a caption); never copied whole.
    feat_cols = features.columns
    page_rows = (
        features.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"), "username_page")
        .group_by("username_page")
        .agg(pl.col("i").sort())
    )
    rows_at = {p: k for k, p in enumerate(page_rows["username_page"].to_list())}
    # global caption ids: positions in the sorted list of the frame's caption ids
    captions = features.select(pl.col("caption_id").drop_nulls().unique().sort()).with_row_index("_gid")
    captions = captions.with_columns(pl.col("_gid").cast(pl.Int64))
    cp_by_page: dict[str, pl.DataFrame] = {}
    if caption_priors is not None and caption_priors.height:
        cp = caption_priors.filter(pl.col("caption_id").is_not_null()).select(
            "username_page", "caption_id", pl.col("n_cp").alias("_n_cp"), pl.col("n_open_cp").alias("_n_open"),
            pl.col("q_bar").alias("_q_bar"),
        ).unique(["username_page", "caption_id"], keep="first", maintain_order=True)  # fmt: skip
        cp_by_page = {k[0]: v.drop("username_page") for k, v in cp.partition_by("username_page", as_dict=True).items()}
    pp = {r["username_page"]: r for r in page_priors.sort("username_page").iter_rows(named=True)}
    p50 = {}
    if price_profile is not None and price_profile.height:
        p50 = {r["username_page"]: r["p50"] for r in price_profile.sort("username_page").iter_rows(named=True)}
    points: dict[str, pl.DataFrame] = {}
    if price_points is not None and price_points.height:
        for (page,), grp in price_points.sort(["username_page", "price_dollars"]).group_by(
            "username_page", maintain_order=True
        ):
            points[page] = grp

    slot_df = slots.sort(["username_page", "slot_ts_utc", "slot_type"])
    has_plan_price = "price_usd" in slot_df.columns
    by_page_slots: dict[str, list[dict]] = defaultdict(list)
    for r in slot_df.iter_rows(named=True):
        by_page_slots[r["username_page"]].append(r)
    overrides = cooldown_overrides_in_effect(cooldown_overrides, now_utc)
    ov_by_page: dict[str, pl.DataFrame] = {}
    if overrides.height:
        ov = overrides.rename({"override_min_hours": "_override_h"})
        ov_by_page = {k[0]: v.drop("username_page") for k, v in ov.partition_by("username_page", as_dict=True).items()}

    watermark = None
    if "data_watermark" in feat_cols and features.height:
        latest = pl.lit(True)
        if "computed_date" in feat_cols:
            latest = pl.col("computed_date") == pl.col("computed_date").max().over("username_page")
        watermark = features.lazy().filter(latest).select(pl.col("data_watermark").max()).collect().item()

    # --------------------------------------------------------------------------------------- phase 1: per page
    flat = _Flat(features.height)
    pages: dict[str, _Page] = {}
    for name in sorted(by_page_slots):
        if name not in assign:
            continue
        cname, cversion = assign[name]
        ncfg = cfg.config(cname)
        prow = pp.get(name, {})
        pg = _Page(name, cname, ncfg, None, None)
        pg.scal["config_version"] = cversion
        pf = None
        if name in rows_at:
            rows_idx = page_rows["i"][rows_at[name]]
            pf = features[rows_idx].with_columns(rows_idx.cast(pl.Int64).alias("_src"))
            pf = pf.sort("caption_id", maintain_order=True)
            if "computed_date" in feat_cols:
                pf = pf.filter(pl.col("computed_date") == pl.col("computed_date").max())
            # keep the first row of every caption (the rows are in caption_id order, ties in frame order)
            pf = pf.filter(
                pl.col("caption_id").ne_missing(pl.col("caption_id").shift(1)) | (pl.int_range(pl.len()) == 0)
            )
            if name in cp_by_page:
                pf = pf.join(cp_by_page[name], on="caption_id", how="left", maintain_order="left")
            if name in ov_by_page:
                pf = pf.join(ov_by_page[name], on="caption_id", how="left", maintain_order="left")
            if pf.height:
                pg.username_std = pf["username_std"][0] if "username_std" in feat_cols else None
                pg.page_type = pf["page_type"][0] if "page_type" in feat_cols else None
            else:
                pf = None
        if pg.page_type is None:
            pg.page_type = prow.get("page_type")
        # slot prices
        price_wilson, page_price = _page_prices(name, prow, p50.get(name), points.get(name), ncfg, model)
        for s in by_page_slots[name]:
            s = dict(s)
            plan_price = s.get("price_usd") if has_plan_price else None
            if s["slot_type"] != "ppv":
                s["price_usd"], s["price_source"], s["price_wilson"] = 0.0, None, None
            elif plan_price is not None and plan_price > 0:
                s["price_usd"], s["price_source"], s["price_wilson"] = float(plan_price), "plan", price_wilson
            elif price_wilson is not None:
                s["price_usd"], s["price_source"], s["price_wilson"] = price_wilson, "wilson", price_wilson
            else:
                s["price_usd"], s["price_source"], s["price_wilson"] = page_price[0], page_price[1], None
            s["temporal_multiplier"] = float(s["temporal_multiplier"] if s["temporal_multiplier"] is not None else 1.0)
            s["seed_key"] = seed_key(cname, cversion, name, s["slot_ts_utc"], s["slot_type"])
            pg.slots.append(s)
        dates: dict[dt.date, int] = {}
        pg.dayidx = np.array([dates.setdefault(s["slot_date_local"], len(dates)) for s in pg.slots], dtype=np.int64)
        pg.scal["n_days"] = len(dates)
        if pf is not None:
            _prepare_candidates(pg, pf, captions, flat, now_utc, prow, ncfg, cat_map, top_m)
        pages[name] = pg
        del pf
    flat.trim()

    # ------------------------------------------------------------------- phase 2: cross-page conflicts (§7.2)
    cross_row, cross_flags = _cross_page(pages, flat, captions.height)

    # ----------------------------------------------------------------- phase 3: global pass (§7.3, kernel 5.10)
    out_rows = _global_pass(pages, flat, cross_row, cross_flags, recent_primaries, captions, top_m, features, now_utc)

    # ---------------------------------------------------------------------------------------------- assemble
    rows: list[dict] = []
    for name in sorted(pages):
        pg = pages[name]
        for si, s in enumerate(pg.slots):
            for r in out_rows[(name, si)]:
                rows.append(
                    {
                        "run_id": run_id,
                        "generated_at": gen,
                        "config_name": pg.config_name,
                        "config_version": pg.scal["config_version"],
                        "model_version": model_version,
                        "data_watermark": watermark,
                        "username_page": name,
                        "username_std": pg.username_std,
                        "page_type": pg.page_type,
                        "slot_ts_utc": s["slot_ts_utc"],
                        "slot_local": s["slot_local"],
                        "slot_date_local": s["slot_date_local"],
                        "dow_local": s["dow_local"],
                        "hod_local": s["hod_local"],
                        "slot_type": s["slot_type"],
                        "price_usd": s["price_usd"],
                        "price_source": s["price_source"],
                        "price_wilson": s["price_wilson"],
                        "epsilon": float(pg.cfg.epsilon or 0.0),
                        "seed_key": s["seed_key"],
                        **r,
                    }
                )
    if not rows:
        return pl.DataFrame(schema=RANK_SCHEMA)
    return pl.DataFrame(rows, schema=RANK_SCHEMA).sort(["username_page", "slot_ts_utc", "slot_type", "rank"])


# ------------------------------------------------------------------------------------------------------ helpers


def _cat_bits(categories) -> int:
    m = 0
    for c in categories or []:
        m |= CATEGORY_BITS.get(c, 0)
    return m


def _page_prices(name, prow, p50, pts, ncfg: NamedRankerConfig, model) -> tuple[float | None, tuple[float, str]]:
    wilson = None
    if pts is not None:
        from of_scheduler_assets.kernels.price import choose_price

        pts = pts.filter(pl.col("send_events") >= ncfg.min_price_events)
        if pts.height:
            prices = _f64(pts["price_dollars"], math.nan)
            m_p = float(prow.get("m_P") or 0.0)
            idx = choose_price(
                prices, _f64(pts["w_purchases"], 0.0), _f64(pts["w_recipients"], 0.0),
                float(prow.get("mu_P") or 0.0), ncfg.price_prior_sends * m_p, ncfg.wilson_z,
            )  # fmt: skip
            if idx >= 0:
                wilson = float(prices[idx])
    page_p50 = p50 if p50 is not None else prow.get("price_p50")
    if page_p50 is not None and float(page_p50) > 0:
        return wilson, (float(page_p50), "page_p50")
    ref = prow.get("ref_price")
    return wilson, (float(ref) if ref is not None and float(ref) > 0 else float(model.default_ppv_price), "default")


def _feature_arrays(f: pl.DataFrame, now: dt.datetime) -> dict[str, Any]:
    """Every per-candidate input of the frame `f` as one NumPy array (a page's candidates, or the emitted rows), read
    with one polars `select`. Numbers are float64 with nulls and NaN replaced by the key's fill; missing columns take
    their fill."""
    A = f.height
    utc = pl.Datetime("us", "UTC")
    have = set(f.columns)
    floats = {  # key: (column, fill)
        "max_expl": ("max_explicitness", UNKNOWN_EXPLICITNESS), "cooldown_h": ("cooldown_hours", math.nan),
        "override_h": ("_override_h", 0.0), "fatigue": ("fatigue_score", math.nan),
        "sw": ("smoothing_weight", 0.0), "n_cp": ("_n_cp", math.nan), "n_open": ("_n_open", math.nan),
        "q_bar": ("_q_bar", math.nan), "p_buy": ("p_buy_smoothed", 0.0), "p_open": ("p_open_smoothed", 0.0),
        "novelty": ("novelty_level", 1.0), "send_events": ("send_events_90d", 0.0), "rps_pct": ("rps_percentile", 0.0),
        "expl": ("explicitness", math.nan),
    }  # fmt: skip
    hours = {"hp": "last_used_ts_page", "ha": "last_used_ts_any"}
    bools = {"active": ("is_active", True), "media": ("is_media_only", False), "cold": ("is_cold_start", True),
             "tos": ("tos_flagged", False)}  # fmt: skip
    exprs = [pl.col(c).cast(pl.Float64).fill_null(v).fill_nan(v).alias(k) for k, (c, v) in floats.items() if c in have]
    exprs += [
        ((pl.lit(now).cast(utc) - pl.col(c).cast(utc)).dt.total_microseconds().cast(pl.Float64) / _HOUR_US)
        .fill_null(math.inf).fill_nan(math.inf).alias(k)
        for k, c in hours.items() if c in have
    ]  # fmt: skip
    exprs += [pl.col(c).fill_null(v).alias(k) for k, (c, v) in bools.items() if c in have]
    if "tos_flagged" not in have and "tos_status" in have:
        exprs.append((pl.col("tos_status").fill_null("unknown") != "clean").alias("tos"))
    if "categories" not in have and "primary_category" in have:
        exprs.append(pl.col("primary_category").replace_strict(CATEGORY_BITS, default=0, return_dtype=pl.UInt32)
                     .fill_null(0).alias("cat_bits"))  # fmt: skip
    g = f.select(exprs) if exprs else pl.DataFrame()
    out: dict[str, Any] = {}
    for k, (_, v) in floats.items():
        out[k] = g[k].to_numpy().astype(np.float64, copy=True) if k in g.columns else np.full(A, v)
    if "expl" not in g.columns:
        out["expl"] = np.zeros(A)
    for k in hours:
        out[k] = g[k].to_numpy().astype(np.float64, copy=True) if k in g.columns else np.full(A, np.inf)
    for k, (_, v) in bools.items():
        out[k] = g[k].to_numpy().astype(np.bool_) if k in g.columns else np.full(A, v, np.bool_)
    if "categories" in have:
        cats = f["primary_category"].to_list() if "primary_category" in have else [None] * A
        bits = [_cat_bits(c if c is not None else [p]) for c, p in zip(f["categories"].to_list(), cats, strict=True)]
        out["cat_bits"] = np.array(bits, dtype=np.uint32)
    elif "cat_bits" in g.columns:
        out["cat_bits"] = g["cat_bits"].to_numpy().astype(np.uint32)
    else:
        out["cat_bits"] = np.zeros(A, np.uint32)
    out["p_buy"] = out["p_buy"].clip(0.0, 1.0)
    out["p_open"] = out["p_open"].clip(0.0, 1.0)
    out["send_events"] = out["send_events"].astype(np.int64)
    return out


def _prepare_candidates(pg: _Page, pf: pl.DataFrame, captions: pl.DataFrame, flat: _Flat, now: dt.datetime, prow: dict,
                        ncfg: NamedRankerConfig, cat_map, top_m: int) -> None:  # fmt: skip
    """One page's candidates (`pf`: its feature rows, caption_id order): slot-independent eligibility (§5.7), the
    kernel factors, `score_slot` (top M per slot, provisional top-1) and the best slot per local date; appended to
    `flat`."""
    from of_scheduler_assets.kernels.assign import best_slots, price_adjusted
    from of_scheduler_assets.kernels.eligibility import eligibility
    from of_scheduler_assets.kernels.score import score_slot

    G = _feature_arrays(pf, now)
    A = pf.height
    nu = float(prow.get("nu") if prow.get("nu") is not None else 0.0)
    sw = G["sw"]
    with np.errstate(all="ignore"):
        n_sw = np.where(sw > 0.0, nu * sw / (1.0 - sw), 0.0)
    n_sw = np.where(np.isfinite(n_sw), n_sw, 1e12)
    ref = prow.get("ref_price")
    ref = float(ref) if ref is not None and float(ref) > 0 else 10.0
    q_bar = G["q_bar"]
    q_bar = np.where(np.isfinite(q_bar) & (q_bar > 0.0), q_bar, ref)
    max_expl = float(np.min(G["max_expl"])) if A else UNKNOWN_EXPLICITNESS
    allowed_union = 0
    for st in {s["slot_type"] for s in pg.slots}:
        allowed_union |= cat_map.get(st, 0)
    cool = G["cooldown_h"]
    cool = np.where(np.isnan(cool), float(ncfg.cooldown.min_hours), cool)
    c = np.ascontiguousarray
    mask = eligibility(
        c(G["tos"]), c(G["active"]), c(G["media"]), c(G["cat_bits"]), np.uint32(allowed_union), c(G["expl"]),
        max_expl, c(G["hp"]), float(ncfg.min_reuse_days), c(G["ha"]), c(cool), c(G["fatigue"]),
        float(ncfg.fatigue_limit), c(G["override_h"]), np.zeros(A), float(2**31), np.zeros(A, np.bool_),
    )  # fmt: skip
    n_cp, n_open = G["n_cp"], G["n_open"]
    n_buy = np.where(np.isnan(n_cp), n_sw, n_cp)
    n_open = np.where(np.isnan(n_open), n_sw, n_open)
    beta = float(prow.get("beta_P") if prow.get("beta_P") is not None else 1.0)
    sc = pg.scal
    sc.update(
        beta=0.0 if ncfg.price_adjustment == "none" else beta,
        nu=nu,
        c=float(ncfg.ucb_c),
        cap_mult=float(ncfg.ucb_cap_mult),
        novelty_weight=float(ncfg.novelty_weight),
        boost=float(ncfg.new_caption_boost),
        mu_P=float(prow.get("mu_P") or 0.0),
        mu_open_P=float(prow.get("mu_open_P") or 0.0),
    )
    pg.factors = is_ppv, allowed, slot_f = _slot_factors(pg, cat_map)
    p_buy, p_open, novelty = G["p_buy"], G["p_open"], G["novelty"]
    pg.top_idx, _, pg.top1, pg.n_elig = score_slot(
        mask, c(G["cat_bits"]), c(p_buy), n_buy, c(q_bar), c(p_open), n_open, c(novelty), is_ppv, c(slot_f[:, 0]),
        allowed, c(slot_f[:, 3]), sc["beta"], nu, sc["c"], sc["cap_mult"], sc["novelty_weight"], sc["boost"],
        sc["mu_P"], sc["mu_open_P"], top_m,
    )  # fmt: skip
    # kernel factors (`kernels.assign.CAND_F`)
    b, cc, cap_mult = sc["beta"], sc["c"], sc["cap_mult"]
    if b == 0.0:
        padj = p_buy.copy()
    elif b == 1.0:
        padj = p_buy * q_bar
    else:
        padj = price_adjusted(p_buy, q_bar, b)

    def unit(pp, n):
        if cc == 0.0:
            return np.zeros_like(pp)
        d = n + nu
        cap = cap_mult * pp
        with np.errstate(all="ignore"):
            v = cc * np.sqrt(pp * (1.0 - pp) / d)
        return np.where(d == 0.0, cap, np.where(cap < v, cap, v))

    cand_f = np.stack(
        [padj, unit(p_buy, n_buy), unit(p_open, n_open), p_open, (sc["novelty_weight"] * sc["boost"]) * novelty], axis=1
    )
    gid = pf.select("caption_id").join(captions, on="caption_id", how="left", maintain_order="left")["_gid"]
    gid = gid.to_numpy().astype(np.int64)
    pg.lo, pg.hi = flat.add(gid, pf["_src"].to_numpy(), mask, G["hp"], G["cat_bits"], cand_f)
    pg.best = best_slots(
        0, len(pg.slots), pg.lo, A, is_ppv, allowed, slot_f, pg.dayidx, flat.cat_bits, flat.cand_f, flat.mask,
        int(sc["n_days"]),
    )  # fmt: skip


def _cross_page(pages: dict[str, _Page], flat: _Flat, n_captions: int) -> tuple[np.ndarray, np.ndarray]:
    """§7.2 cross-page conflicts of every candidate: (row int64[A]: −1 or a row of flags, flags bool[R, max S_p]);
    a candidate conflicts at a slot when its caption is the provisional top-1 of another page within ±
    `cross_page_block_hours` of it."""
    from of_scheduler_assets.kernels.assign import cross_page_flags

    plist = list(pages.values())
    occ_g, occ_t, occ_p = [], [], []
    for p, pg in enumerate(plist):
        if pg.top1 is None:
            continue
        for s, idx in enumerate(pg.top1):
            if idx >= 0:
                occ_g.append(int(flat.gid[pg.lo + idx]))
                occ_t.append((_utc(pg.slots[s]["slot_ts_utc"]) - _EPOCH) // _US)
                occ_p.append(p)
    g, t, pp = (np.array(x, dtype=np.int64) for x in (occ_g, occ_t, occ_p))
    o = np.lexsort((pp, t, g))
    g, t, pp = g[o], t[o], pp[o]
    occ_off = np.searchsorted(g, np.arange(n_captions + 1)).astype(np.int64)
    s_max = max((len(pg.slots) for pg in plist), default=0)
    row = np.full(flat.n, -1, np.int64)
    parts, r0 = [], 0
    for p, pg in enumerate(plist):
        if pg.top1 is None:
            continue
        ts = np.array([(_utc(s["slot_ts_utc"]) - _EPOCH) // _US for s in pg.slots], dtype=np.int64)
        h_us = dt.timedelta(hours=float(pg.cfg.cross_page_block_hours)) // _US
        r, f = cross_page_flags(flat.gid[pg.lo : pg.hi], ts, p, occ_off, t, pp, h_us)
        row[pg.lo : pg.hi] = np.where(r >= 0, r + r0, -1)
        if f.shape[0]:
            parts.append(np.pad(f, ((0, 0), (0, s_max - f.shape[1]))))
            r0 += f.shape[0]
    flags = np.concatenate(parts) if parts else np.zeros((0, max(s_max, 1)), np.bool_)
    return row, flags


def _scaled(lo: float, hi: float, v: float) -> float:
    """100 × (v − lo) / (hi − lo) clipped to [0, 100]; 50 when the range is flat or empty (hi ≤ lo or NaN)."""
    if not hi > lo:
        return 50.0
    return float(min(100.0, max(0.0, 100.0 * (v - lo) / (hi - lo))))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def _global_pass(
    pages: dict[str, _Page],
    flat: _Flat,
    cross_row: np.ndarray,
    cross_flags: np.ndarray,
    recent_primaries: pl.DataFrame | None,
    captions: pl.DataFrame,
    top_m: int,
    features: pl.DataFrame,
    now: dt.datetime,
) -> dict[tuple[str, int], list[dict]]:
    """§7.3 with kernel 5.10 (`kernels.assign.assign_primaries`): the pages' arrays flattened (pages in
    `username_page` order), slots in (slot_ts_utc, username_page, slot_type) order; the rows of every slot.

    captions: (caption_id, _gid), the kernel's caption ids (`recent_primaries` of captions that are no candidate
    anywhere cannot matter and are dropped)."""
    from of_scheduler_assets.kernels.assign import (
        KIND_FALLBACK,
        KIND_RANKED,
        assign_primaries,
        final_ranges,
        page_ends,
        pair_components,
        slot_signatures,
    )  # fmt: skip

    plist = list(pages.values())
    P = len(plist)
    A_p = np.array([pg.n_cand if pg.top_idx is not None else 0 for pg in plist], dtype=np.int64)
    S_p = np.array([len(pg.slots) for pg in plist], dtype=np.int64)

    def offsets(n: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(1, np.int64), np.cumsum(n, dtype=np.int64)])

    cand_off, slot_off = offsets(A_p), offsets(S_p)
    assert all(int(cand_off[p]) == pg.lo for p, pg in enumerate(plist) if A_p[p])  # pages filled flat in this order
    live = [pg for pg, a in zip(plist, A_p, strict=True) if a > 0]
    best_off = offsets(np.array([pg.best.shape[0] if a > 0 else 0 for pg, a in zip(plist, A_p, strict=True)]))
    best = np.concatenate([pg.best for pg in live]) if live else np.zeros(0, np.int32)

    S = int(slot_off[-1])
    slot_ts = np.zeros(S, np.int64)
    slot_day = np.zeros(S, np.int64)
    slot_dayidx = np.zeros(S, np.int64)
    u_eps = np.zeros(S)
    u_pick = np.zeros(S)
    is_ppv = np.zeros(S, np.bool_)
    allowed = np.zeros(S, np.uint32)
    slot_f = np.zeros((S, 4))
    slot_f[:, 3] = 1.0
    top_idx = np.full((S, top_m), -1, np.int64)
    n_elig = np.zeros(S, np.int64)
    slot_page = np.repeat(np.arange(P, dtype=np.int64), S_p)
    page_eps = np.zeros(P)
    page_pen = np.zeros((P, 3))
    page_rules = np.ones((P, 3), np.int64)
    order_keys = []
    for p, pg in enumerate(plist):
        lo, hi = int(slot_off[p]), int(slot_off[p + 1])
        # The kernel blocks a caption on a page once it is primary there on the same "day" code. When the page's
        # min-reuse rule spans the whole horizon (28 days vs 24 h), every slot of the run shares one code, so a
        # caption primary at 23:00 local is not primary again at 01:00 the next local date (the 28-day rule).
        whole_run = float(pg.cfg.min_reuse_days) * 24.0 >= float(pg.cfg.horizon_hours)
        for i, s in enumerate(pg.slots):
            slot_ts[lo + i] = (_utc(s["slot_ts_utc"]) - _EPOCH) // _US
            slot_day[lo + i] = 0 if whole_run else s["slot_date_local"].toordinal()
            u_eps[lo + i] = hash_uniform(s["seed_key"] + "|eps")
            u_pick[lo + i] = hash_uniform(s["seed_key"] + "|pick")
            order_keys.append((s["slot_ts_utc"], pg.name, s["slot_type"], i, lo + i))
        slot_dayidx[lo:hi] = pg.dayidx
        ncfg = pg.cfg
        page_eps[p] = float(ncfg.epsilon or 0.0)
        page_rules[p] = (int(ncfg.explore_pool_size), int(ncfg.top_k), int(ncfg.cooldown.max_daily_uses))
        page_pen[p] = (float(ncfg.penalty_same_day_mult), float(ncfg.penalty_cross_page_mult),
                       1.0 if ncfg.diversity_enforce_ban else 0.0)  # fmt: skip
        if A_p[p] == 0:
            continue
        is_ppv[lo:hi], allowed[lo:hi], slot_f[lo:hi] = pg.factors
        top_idx[lo:hi], n_elig[lo:hi] = pg.top_idx, pg.n_elig
    order = np.array([k[-1] for k in sorted(order_keys, key=lambda t: t[:4])], dtype=np.int64)

    n_ids = captions.height
    use_off = np.zeros(n_ids + 1, np.int64)
    use_ts = np.zeros(0, np.int64)
    if recent_primaries is not None and recent_primaries.height and n_ids:
        tcol = "slot_ts_utc" if "slot_ts_utc" in recent_primaries.columns else "sending_ts_utc"
        rec = recent_primaries.select("caption_id", tcol).drop_nulls().join(captions, on="caption_id", how="inner")
        gid = rec["_gid"].to_numpy().astype(np.int64)
        ts = np.array([(_utc(t) - _EPOCH) // _US for t in rec[tcol].to_list()], dtype=np.int64)
        o = np.lexsort((ts, gid))
        use_ts = ts[o]
        use_off = np.searchsorted(gid[o], np.arange(n_ids + 1)).astype(np.int64)

    pen_args = (is_ppv, allowed, slot_f, slot_dayidx, flat.cat_bits, flat.cand_f, flat.mask, best_off, best,
                cross_row, cross_flags, page_pen)  # fmt: skip
    kind, rows, greedy, pool, explored, prob, fb_lo, fb_hi = assign_primaries(
        order, slot_page, slot_ts, slot_day, slot_dayidx, u_eps, u_pick, top_idx, n_elig, is_ppv, allowed, slot_f,
        cand_off, slot_off, best_off, best, flat.gid, flat.mask, flat.hp, flat.cat_bits, flat.cand_f, cross_row,
        cross_flags, page_eps, page_pen, page_rules, use_off, use_ts, *slot_signatures(slot_page, is_ppv, allowed,
        slot_f, cand_off), *page_ends(slot_page, slot_day, slot_ts, P), top_m,
        int(max(1, page_rules[:, 1].max())) if P else 1,
    )  # fmt: skip
    fin_lo, fin_hi = final_ranges(slot_page, slot_off, cand_off, *pen_args)

    # the emitted pairs: components from the kernels, per-candidate outputs from their feature rows
    pair_g, pair_a = np.nonzero(rows >= 0)
    pair_c = rows[pair_g, pair_a]
    vals, flags = pair_components(pair_g, pair_c, slot_page, slot_off, cand_off, *pen_args)
    src_rows = flat.src[cand_off[slot_page[pair_g]] + pair_c]
    emitted = features[pl.Series(src_rows, dtype=pl.Int64)] if len(src_rows) else features.head(0)
    arr = _feature_arrays(emitted, now)
    for k, col in (("caption_id", "caption_id"), ("caption_sk", "caption_sk"), ("cats", "primary_category")):
        arr[k] = emitted[col].to_list() if col in emitted.columns else [None] * emitted.height
    at = {(int(g), int(c)): i for i, (g, c) in enumerate(zip(pair_g, pair_c, strict=True))}
    ranked = np.flatnonzero(kind == KIND_RANKED)
    greedy_src = flat.src[cand_off[slot_page[ranked]] + greedy[ranked]]
    greedy_ids = dict(zip(ranked.tolist(), features["caption_id"].gather(greedy_src).to_list(), strict=True))

    out: dict[tuple[str, int], list[dict]] = {}
    for p, pg in enumerate(plist):
        for si in range(len(pg.slots)):
            g = int(slot_off[p]) + si
            picked = [at[(g, int(a))] for a in rows[g] if a >= 0]
            if kind[g] == KIND_RANKED:
                lo, hi = float(fin_lo[g]), float(fin_hi[g])
                out[(pg.name, si)] = [
                    _row(pg, si, i, r, vals, flags, arr, fallback=False, explored=bool(explored[g]),
                         prob=float(prob[g]) if r == 1 else None, greedy=greedy_ids[g], pool=int(pool[g]),
                         norm=_scaled(lo, hi, float(vals[i, 5])))
                    for r, i in enumerate(picked, start=1)
                ]  # fmt: skip
            elif kind[g] == KIND_FALLBACK:
                lo, hi = float(fb_lo[g]), float(fb_hi[g])
                out[(pg.name, si)] = [
                    _row(pg, si, i, r, vals, flags, arr, fallback=True, explored=False, prob=1.0 if r == 1 else None,
                         greedy=None, pool=None, norm=_scaled(lo, hi, float(vals[i, 3])))
                    for r, i in enumerate(picked, start=1)
                ]  # fmt: skip
            else:
                out[(pg.name, si)] = [_empty_row()]
    return out


def _row(pg: _Page, si: int, i: int, rank: int, vals, flags, arr, *, fallback, explored, prob, greedy, pool,
         norm) -> dict:  # fmt: skip
    """Output columns of emitted pair i (`vals` / `flags` of `pair_components`, `arr` the `_feature_arrays` of the
    emitted feature rows)."""
    slot = pg.slots[si]
    exploit, ucb, nov = float(vals[i, 0]), float(vals[i, 1]), float(vals[i, 2])
    tm = float(slot["temporal_multiplier"])
    if fallback:
        pen, final, same, cross = 0.0, float(vals[i, 3]), False, False
    else:
        pen, final = float(vals[i, 4]), float(vals[i, 5])
        same, cross = bool(flags[i, 0]) and pen > 0, bool(flags[i, 1]) and pen > 0
    hp, ha = float(arr["hp"][i]), float(arr["ha"][i])
    flags_ = {
        "epsilon_explore": explored and rank == 1,
        "cold_start": bool(arr["cold"][i]),
        "bank_exhausted_oldest_first": fallback,
        "high_performer": float(arr["rps_pct"][i]) > 0.8,
        "optimal_timing": tm > 1.1,
        "fresh_content": float(arr["novelty"][i]) >= 0.5,
        "same_day_penalty": same,
        "cross_page_penalty": cross,
        "price_from_plan": slot["price_source"] == "plan",
        "price_wilson": slot["price_source"] == "wilson",
    }
    reasons = [k for k in REASON_ORDER if flags_[k]] or ["balanced_selection"]
    fat = float(arr["fatigue"][i])
    return {
        "rank": rank,
        "recommendation_tier": recommendation_tier(rank),
        "caption_id": arr["caption_id"][i],
        "caption_sk": arr["caption_sk"][i],
        "category": arr["cats"][i],
        "exploit_value": exploit,
        "p_buy": float(arr["p_buy"][i]),
        "p_open": float(arr["p_open"][i]),
        "ucb_bonus": ucb,
        "novelty_bonus": nov,
        "temporal_multiplier": tm,
        "diversity_penalty": pen,
        "final_score": final,
        "score_normalized": norm,
        "expected_rps": exploit if slot["slot_type"] == "ppv" else 0.0,
        "confidence": float(arr["sw"][i]),
        "send_events_page": int(arr["send_events"][i]),
        "days_since_use_page": hp / 24.0 if math.isfinite(hp) else None,
        "hours_since_use_any": ha if math.isfinite(ha) else None,
        "fatigue_score": fat if math.isfinite(fat) else None,
        "is_exploration": bool(explored or (ucb + nov > exploit)),
        "is_cold_start": bool(arr["cold"][i]),
        "is_fallback": fallback,
        "reason_codes": reasons,
        "selection_probability": prob,
        "greedy_caption_id": greedy,
        "explore_pool_size": pool,
    }


def _empty_row() -> dict:
    return {
        "rank": 1,
        "recommendation_tier": "primary",
        "is_exploration": False,
        "is_cold_start": False,
        "is_fallback": True,
        "reason_codes": ["no_caption_available"],
    }
