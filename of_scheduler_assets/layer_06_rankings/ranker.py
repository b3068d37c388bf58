"""The hourly ranker (30-ml-and-ranking §1, §5.7–§5.10, §7, §8): `rank_next24` → `caption_rank_next24` rows.

Per page (pages in `username_page` order):

1. candidates: the page's `feature_store` rows (latest `computed_date`), sorted by `caption_id` so that the kernel's
   index order is the caption_id order;
2. slot-independent eligibility at `now` with `kernels.eligibility`: reuse (`now − last_used_ts_page`), agency-wide
   cooldown (`now − last_used_ts_any < cooldown_hours`) and fatigue from the feature rows; TOS / activity / media-only
   / explicitness from optional columns (`tos_flagged` or `tos_status`, `is_active`, `is_media_only`,
   `explicitness`, `max_explicitness`; the store's universe already excludes them, the columns let a caption flagged
   after the daily refresh be blocked); categories from `categories` (list) when present, else `primary_category`,
   tested against the union of the categories of the page's slot types;
3. `kernels.score_slot` gives the per-slot top M (`top_m` of the config file) and the provisional top-1.

The components of every (candidate, slot) are evaluated densely in NumPy with the kernel's factorised formulas (§5.9),
so `temporal_multiplier × (exploit_value + ucb_bonus + novelty_bonus) − diversity_penalty == final_score` holds to
rounding; the kernel decides which M candidates a slot keeps, the dense values order them.

Penalties (§7.2): same-day when the slot is not the candidate's best slot (highest `final_pre`, ties → earlier slot)
among the page's slots of that local date; cross-page when the candidate is the provisional top-1 of another page at
a slot within ± `cross_page_block_hours`; both `mult × max(tm × exploit, 0.0005)`; ban mode removes cross-page
conflicts instead.

Global pass (§7.3) = kernel 5.10 `kernels.assign.assign_primaries` over the pages' flattened arrays (Python keeps
the string work: seed keys, hashes, caption ids → integers, and builds the rows from the kernel's picks), one thread,
slots in (slot_ts_utc, username_page, slot_type) order: constraints "not already
primary on this page in this run" (the page's `min_reuse_days` spans the horizon, so a caption primary at 23:00 local
is not primary again at 01:00 the next local date; with a reuse rule shorter than the horizon: not already primary on
this page's local date) and "agency-wide primaries + sends in the 24 h up to the slot < max_daily_uses"
(`recent_primaries` + the primaries of this run); all M blocked → the slot is re-scored by the kernel with the
blocked captions masked; ε-exploration with `hash_uniform(seed_key + "|eps")` / `"|pick"` over the
`explore_pool_size` best allowed candidates sorted by caption_id; ranks 2…top_k by final desc, caption_id asc;
fallback relaxing only reuse / cooldown / fatigue (oldest page use first, never used first); `no_caption_available`.

Decisions (not fixed by the spec):
* `epsilon_explore` is a reason code of the rank-1 row of an explored slot; `is_exploration` is true on every row of an
  explored slot and on rows with ucb + novelty > exploit.
* `explore_pool_size` in the output is the realised |pool| of the slot (null when the slot did not rank normally).
* `p_buy` is `p_buy_smoothed` (at the caption's own prices); `expected_rps = exploit_value` on ppv slots
  (`q × p(q)`), 0 elsewhere. `send_events_page` = `send_events_90d`. `days_since_use_page` and
  `hours_since_use_any` are measured at `now` (null = never).
* `score_normalized` is over the slot's eligible candidates (dense, dynamic constraints ignored); fallback rows over
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

import bisect
import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from of_scheduler_assets.identity import hash_uniform
from of_scheduler_assets.kernels.codes import CATEGORY_BITS, UNKNOWN_EXPLICITNESS
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
PENALTY_FLOOR = 0.0005
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
    # candidates (index order = caption_id order)
    cids: list[str] = field(default_factory=list)
    sks: list[Any] = field(default_factory=list)
    cats: list[Any] = field(default_factory=list)
    # slots (page order: slot_ts_utc, slot_type)
    slots: list[dict] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    scal: dict[str, float] = field(default_factory=dict)
    mask: np.ndarray | None = None
    comp: dict[str, np.ndarray] = field(default_factory=dict)  # dense [S, A]
    top_idx: np.ndarray | None = None
    top1: np.ndarray | None = None
    n_elig: np.ndarray | None = None


def _slot_arrays(pg: _Page, cat_map: dict[str, int]):
    is_ppv = np.array([s["slot_type"] == "ppv" for s in pg.slots], dtype=np.bool_)
    price = np.array([s["price_usd"] for s in pg.slots], dtype=np.float64)
    allowed = np.array([cat_map.get(s["slot_type"], 0) for s in pg.slots], dtype=np.uint32)
    tm = np.array([s["temporal_multiplier"] for s in pg.slots], dtype=np.float64)
    return is_ppv, price, allowed, tm


def _score(pg: _Page, mask: np.ndarray, sl: np.ndarray, top_m: int, cat_map: dict[str, int]):
    from of_scheduler_assets.kernels.score import score_slot

    a, sc = pg.arrays, pg.scal
    is_ppv, price, allowed, tm = _slot_arrays(pg, cat_map)
    return score_slot(
        mask, a["cat_bits"], a["p_buy"], a["n_buy"], a["q_bar"], a["p_open"], a["n_open"], a["novelty"],
        np.ascontiguousarray(is_ppv[sl]), np.ascontiguousarray(price[sl]), np.ascontiguousarray(allowed[sl]),
        np.ascontiguousarray(tm[sl]), sc["beta"], sc["nu"], sc["c"], sc["cap_mult"], sc["novelty_weight"],
        sc["boost"], sc["mu_P"], sc["mu_open_P"], top_m,
    )  # fmt: skip


def _dense_components(pg: _Page, cat_map: dict[str, int]) -> dict[str, np.ndarray]:
    """exploit / ucb / novelty / tm / final_pre [S, A] with the kernel's factorised forms; `scorable` ignores the
    eligibility mask (category fit only), `ok` applies it."""
    a, sc = pg.arrays, pg.scal
    is_ppv, price, allowed, tm = _slot_arrays(pg, cat_map)
    S, A = len(pg.slots), len(pg.cids)
    beta, nu, c, cap_mult = sc["beta"], sc["nu"], sc["c"], sc["cap_mult"]
    p, q_bar = a["p_buy"], a["q_bar"]
    if beta == 0.0:
        padj = p.copy()
    elif beta == 1.0:
        padj = p * q_bar
    else:
        padj = p * np.array([float(x) ** beta for x in q_bar], dtype=np.float64)

    def unit(pp, n):
        if c == 0.0:
            return np.zeros_like(pp)
        d = n + nu
        cap = cap_mult * pp
        with np.errstate(all="ignore"):
            v = c * np.sqrt(pp * (1.0 - pp) / d)
        return np.where(d == 0.0, cap, np.where(cap < v, cap, v))

    u_buy, u_open = unit(p, a["n_buy"]), unit(a["p_open"], a["n_open"])
    nov = (sc["novelty_weight"] * sc["boost"]) * a["novelty"]
    exploit = np.zeros((S, A))
    ucb = np.zeros((S, A))
    novelty = np.zeros((S, A))
    for s in range(S):
        if is_ppv[s]:
            q = float(price[s])
            if q > 0.0:
                exploit[s] = (q ** (1.0 - beta)) * padj
                ucb[s] = q * u_buy
                novelty[s] = nov * (q * sc["mu_P"])
        else:
            exploit[s] = a["p_open"]
            ucb[s] = u_open
            novelty[s] = nov * sc["mu_open_P"]
    tmm = tm[:, None]
    final_pre = tmm * (exploit + ucb + novelty)
    scorable = (a["cat_bits"][None, :].astype(np.uint64) & allowed[:, None].astype(np.uint64)) != 0
    scorable &= ~np.isnan(final_pre)
    ok = scorable & (pg.mask == 0)[None, :]
    return {"exploit": exploit, "ucb": ucb, "novelty": novelty, "final_pre": final_pre, "tm": np.repeat(tmm, A, 1),
            "scorable": scorable, "ok": ok}  # fmt: skip


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
    feats = features
    if feats.height and "computed_date" in feats.columns:
        latest = feats.group_by("username_page").agg(pl.col("computed_date").max().alias("_cd"))
        feats = feats.join(latest, on="username_page").filter(pl.col("computed_date") == pl.col("_cd")).drop("_cd")
    feats = feats.unique(["username_page", "caption_id"], keep="first").sort(["username_page", "caption_id"])
    watermark = feats["data_watermark"].max() if "data_watermark" in feats.columns and feats.height else None
    if caption_priors is not None and caption_priors.height:
        cp = caption_priors.filter(pl.col("caption_id").is_not_null()).select(
            "username_page", "caption_id", pl.col("n_cp").alias("_n_cp"), pl.col("n_open_cp").alias("_n_open"),
            pl.col("q_bar").alias("_q_bar"),
        ).unique(["username_page", "caption_id"], keep="first")  # fmt: skip
        feats = feats.join(cp, on=["username_page", "caption_id"], how="left")
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
    if overrides.height:
        feats = feats.join(overrides.rename({"override_min_hours": "_override_h"}), on=["username_page", "caption_id"],
                           how="left", maintain_order="left")  # fmt: skip
    G = _feature_arrays(feats, now_utc)
    fpages = feats["username_page"].to_list()
    spans: dict[str, tuple[int, int]] = {}
    for i, p in enumerate(fpages):
        lo_hi = spans.get(p)
        spans[p] = (i, i + 1) if lo_hi is None else (lo_hi[0], i + 1)
    first_row = {p: lo for p, (lo, _) in spans.items()}
    std = feats["username_std"].to_list() if "username_std" in feats.columns else [None] * feats.height
    ptype = feats["page_type"].to_list() if "page_type" in feats.columns else [None] * feats.height

    # --------------------------------------------------------------------------------------- phase 1: per page
    pages: dict[str, _Page] = {}
    for name in sorted(by_page_slots):
        if name not in assign:
            continue
        cname, cversion = assign[name]
        ncfg = cfg.config(cname)
        span = spans.get(name)
        prow = pp.get(name, {})
        pg = _Page(name, cname, ncfg, None, None)
        pg.scal["config_version"] = cversion  # type: ignore[assignment]
        if span is not None:
            pg.username_std, pg.page_type = std[first_row[name]], ptype[first_row[name]]
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
        if span is not None:
            _prepare_candidates(pg, G, span[0], span[1], prow, ncfg, cat_map)
            sl = np.arange(len(pg.slots))
            pg.top_idx, _, pg.top1, pg.n_elig = _score(pg, pg.mask, sl, top_m, cat_map)
            pg.comp = _dense_components(pg, cat_map)
        pages[name] = pg

    # --------------------------------------------------------------------------- phase 2: penalties (dense)
    # caption_id -> slot_ts_utc -> pages whose provisional top-1 it is
    top1_by_caption: dict[str, dict[dt.datetime, set[str]]] = defaultdict(lambda: defaultdict(set))
    for pg in pages.values():
        if pg.top1 is None:
            continue
        for s, idx in enumerate(pg.top1):
            if idx >= 0:
                top1_by_caption[pg.cids[idx]][pg.slots[s]["slot_ts_utc"]].add(pg.name)
    for pg in pages.values():
        if pg.top1 is not None:
            _penalties(pg, top1_by_caption)

    # ----------------------------------------------------------------- phase 3: global pass (§7.3, kernel 5.10)
    ids = feats.select("caption_id", pl.Series("_gid", G["gid"]))
    out_rows = _global_pass(pages, recent_primaries, ids, top_m, cat_map)

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
    """Every per-candidate input as one NumPy array / list over the whole (sorted) feature frame; pages slice it."""
    A = f.height
    utc = pl.Datetime("us", "UTC")

    def hours_since(col: str) -> np.ndarray:
        if col not in f.columns:
            return np.full(A, np.inf)
        h = (pl.lit(now).cast(utc) - pl.col(col).cast(utc)).dt.total_microseconds().cast(pl.Float64) / _HOUR_US
        return _f64(f.select(h.alias("h"))["h"], math.inf)

    def boolean(col: str, default: bool) -> np.ndarray:
        if col not in f.columns:
            return np.full(A, default, np.bool_)
        return f[col].fill_null(default).to_numpy().astype(np.bool_)

    def num(col: str, fill: float) -> np.ndarray:
        return _f64(f[col], fill) if col in f.columns else np.full(A, fill)

    cats = f["primary_category"].to_list() if "primary_category" in f.columns else [None] * A
    if "categories" in f.columns:
        bits = [_cat_bits(c if c is not None else [p]) for c, p in zip(f["categories"].to_list(), cats, strict=True)]
    else:
        bits = [_cat_bits([c]) for c in cats]
    if "tos_flagged" in f.columns:
        tos = boolean("tos_flagged", False)
    elif "tos_status" in f.columns:
        tos = (f["tos_status"].fill_null("unknown") != "clean").to_numpy().astype(np.bool_)
    else:
        tos = np.zeros(A, np.bool_)
    return {
        "cids": f["caption_id"].to_list(),
        "gid": (f["caption_id"].rank("dense").cast(pl.Int64) - 1).to_numpy().astype(np.int64),
        "sks": f["caption_sk"].to_list() if "caption_sk" in f.columns else [None] * A,
        "cats": cats,
        "cat_bits": np.array(bits, dtype=np.uint32),
        "tos": tos,
        "active": boolean("is_active", True),
        "media": boolean("is_media_only", False),
        "expl": num("explicitness", math.nan) if "explicitness" in f.columns else np.zeros(A),
        "max_expl": num("max_explicitness", UNKNOWN_EXPLICITNESS),
        "hp": hours_since("last_used_ts_page"),
        "ha": hours_since("last_used_ts_any"),
        "cooldown_h": num("cooldown_hours", math.nan),
        "override_h": num("_override_h", 0.0),
        "fatigue": num("fatigue_score", math.nan),
        "sw": num("smoothing_weight", 0.0),
        "n_cp": num("_n_cp", math.nan),
        "n_open": num("_n_open", math.nan),
        "q_bar": num("_q_bar", math.nan),
        "p_buy": num("p_buy_smoothed", 0.0).clip(0.0, 1.0),
        "p_open": num("p_open_smoothed", 0.0).clip(0.0, 1.0),
        "novelty": num("novelty_level", 1.0),
        "send_events": num("send_events_90d", 0.0).astype(np.int64),
        "cold": boolean("is_cold_start", True),
        "rps_pct": num("rps_percentile", 0.0),
    }


def _prepare_candidates(pg: _Page, G: dict, lo: int, hi: int, prow: dict, ncfg: NamedRankerConfig, cat_map):
    from of_scheduler_assets.kernels.eligibility import eligibility

    A = hi - lo

    def sl(key):
        return G[key][lo:hi]

    pg.cids, pg.sks, pg.cats = sl("cids"), sl("sks"), sl("cats")
    nu = float(prow.get("nu") if prow.get("nu") is not None else 0.0)
    sw = sl("sw")
    with np.errstate(all="ignore"):
        n_sw = np.where(sw > 0.0, nu * sw / (1.0 - sw), 0.0)
    n_sw = np.where(np.isfinite(n_sw), n_sw, 1e12)
    ref = prow.get("ref_price")
    ref = float(ref) if ref is not None and float(ref) > 0 else 10.0
    q_bar = sl("q_bar")
    q_bar = np.where(np.isfinite(q_bar) & (q_bar > 0.0), q_bar, ref)
    max_expl = float(np.min(sl("max_expl"))) if A else UNKNOWN_EXPLICITNESS
    allowed_union = 0
    for st in {s["slot_type"] for s in pg.slots}:
        allowed_union |= cat_map.get(st, 0)
    cool = sl("cooldown_h")
    cool = np.where(np.isnan(cool), float(ncfg.cooldown.min_hours), cool)
    c = np.ascontiguousarray
    pg.mask = eligibility(
        c(sl("tos")), c(sl("active")), c(sl("media")), c(sl("cat_bits")), np.uint32(allowed_union), c(sl("expl")),
        max_expl, c(sl("hp")), float(ncfg.min_reuse_days), c(sl("ha")), c(cool), c(sl("fatigue")),
        float(ncfg.fatigue_limit), c(sl("override_h")), np.zeros(A), float(2**31), np.zeros(A, np.bool_),
    )  # fmt: skip
    n_cp, n_open = sl("n_cp"), sl("n_open")
    pg.arrays = {
        "cat_bits": c(sl("cat_bits")),
        "p_buy": c(sl("p_buy")),
        "p_open": c(sl("p_open")),
        "n_buy": np.where(np.isnan(n_cp), n_sw, n_cp),
        "n_open": np.where(np.isnan(n_open), n_sw, n_open),
        "q_bar": c(q_bar),
        "novelty": c(sl("novelty")),
        "hp": sl("hp"),
        "ha": sl("ha"),
        "fatigue": sl("fatigue"),
        "sw": sw,
        "send_events": sl("send_events"),
        "cold": sl("cold"),
        "rps_pct": sl("rps_pct"),
        "gid": sl("gid"),
    }
    beta = float(prow.get("beta_P") if prow.get("beta_P") is not None else 1.0)
    pg.scal.update(
        beta=0.0 if ncfg.price_adjustment == "none" else beta,
        nu=nu,
        c=float(ncfg.ucb_c),
        cap_mult=float(ncfg.ucb_cap_mult),
        novelty_weight=float(ncfg.novelty_weight),
        boost=float(ncfg.new_caption_boost),
        mu_P=float(prow.get("mu_P") or 0.0),
        mu_open_P=float(prow.get("mu_open_P") or 0.0),
    )


def _penalties(pg: _Page, top1_by_caption) -> None:
    c, ncfg = pg.comp, pg.cfg
    S, A = c["final_pre"].shape
    ok = c["ok"]
    fp = np.where(ok, c["final_pre"], -np.inf)
    same = np.zeros((S, A), np.bool_)
    days: dict[dt.date, list[int]] = defaultdict(list)
    for s, slot in enumerate(pg.slots):
        days[slot["slot_date_local"]].append(s)
    for rows in days.values():
        rows_a = np.array(rows)
        best = rows_a[np.argmax(fp[rows_a], axis=0)]  # first max → earliest slot
        same[rows_a] = ok[rows_a] & (rows_a[:, None] != best[None, :])
    cross = np.zeros((S, A), np.bool_)
    h = dt.timedelta(hours=float(ncfg.cross_page_block_hours))
    for a, cid in enumerate(pg.cids):
        occ = top1_by_caption.get(cid)
        if not occ:
            continue
        times = sorted(t2 for t2, pages in occ.items() if pages - {pg.name})
        if not times:
            continue
        for s, slot in enumerate(pg.slots):
            t = slot["slot_ts_utc"]
            j = bisect.bisect_left(times, t - h)
            if j < len(times) and times[j] <= t + h:
                cross[s, a] = True
    cross &= ok
    base = np.maximum(c["tm"] * c["exploit"], PENALTY_FLOOR)
    pen = ncfg.penalty_same_day_mult * base * same
    if ncfg.diversity_enforce_ban:
        banned = cross
    else:
        pen = pen + ncfg.penalty_cross_page_mult * base * cross
        banned = np.zeros_like(cross)
    c["same"], c["cross"], c["penalty"] = same & (ncfg.penalty_same_day_mult > 0), cross, pen
    c["final"] = np.where(ok & ~banned, c["final_pre"] - pen, -np.inf)


def _normalized(vals: np.ndarray, v: float) -> float:
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 50.0
    return _scaled(float(vals.min()), float(vals.max()), v)


def _scaled(lo: float, hi: float, v: float) -> float:
    """100 × (v − lo) / (hi − lo) clipped to [0, 100]; 50 when the range is flat or empty (hi ≤ lo or NaN)."""
    if not hi > lo:
        return 50.0
    return float(min(100.0, max(0.0, 100.0 * (v - lo) / (hi - lo))))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def _global_pass(
    pages: dict[str, _Page],
    recent_primaries: pl.DataFrame | None,
    ids: pl.DataFrame,
    top_m: int,
    cat_map: dict[str, int],
) -> dict[tuple[str, int], list[dict]]:
    """§7.3 with kernel 5.10 (`kernels.assign.assign_primaries`): the pages' arrays flattened (pages in
    `username_page` order), slots in (slot_ts_utc, username_page, slot_type) order; the rows of every slot.

    ids: (caption_id, _gid) of the feature rows, to map `recent_primaries` onto the kernel's caption ids (captions
    that are no candidate anywhere cannot matter and are dropped)."""
    from of_scheduler_assets.kernels.assign import KIND_FALLBACK, KIND_RANKED, assign_primaries

    plist = list(pages.values())
    P = len(plist)
    A_p = np.array([len(pg.cids) if pg.top_idx is not None else 0 for pg in plist], dtype=np.int64)
    S_p = np.array([len(pg.slots) for pg in plist], dtype=np.int64)

    def offsets(n: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(1, np.int64), np.cumsum(n, dtype=np.int64)])

    cand_off, slot_off, dense_off = offsets(A_p), offsets(S_p), offsets(A_p * S_p)
    live = [pg for pg, a in zip(plist, A_p, strict=True) if a > 0]

    def cand(key: str, dtype) -> np.ndarray:
        parts = [np.asarray(pg.mask if key == "mask" else pg.arrays[key], dtype=dtype) for pg in live]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    def dense(key: str, dtype) -> np.ndarray:
        # the pages' matrices become views of the flat array, so the copy is not kept twice
        flat = np.concatenate([pg.comp[key].ravel() for pg in live]) if live else np.zeros(0, dtype)
        flat = flat.astype(dtype, copy=False)
        for pg, lo in zip(live, (dense_off[i] for i, a in enumerate(A_p) if a > 0), strict=True):
            shape = pg.comp[key].shape
            pg.comp[key] = flat[lo : lo + shape[0] * shape[1]].reshape(shape)
        return flat

    S = int(slot_off[-1])
    slot_ts = np.zeros(S, np.int64)
    slot_day = np.zeros(S, np.int64)
    u_eps = np.zeros(S)
    u_pick = np.zeros(S)
    is_ppv = np.zeros(S, np.bool_)
    price = np.zeros(S)
    allowed = np.zeros(S, np.uint32)
    tm = np.ones(S)
    top_idx = np.full((S, top_m), -1, np.int64)
    n_elig = np.zeros(S, np.int64)
    slot_page = np.repeat(np.arange(P, dtype=np.int64), S_p)
    page_eps = np.zeros(P)
    page_score = np.zeros((P, 8))
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
        ncfg = pg.cfg
        page_eps[p] = float(ncfg.epsilon or 0.0)
        page_rules[p] = (int(ncfg.explore_pool_size), int(ncfg.top_k), int(ncfg.cooldown.max_daily_uses))
        if A_p[p] == 0:
            continue
        is_ppv[lo:hi], price[lo:hi], allowed[lo:hi], tm[lo:hi] = _slot_arrays(pg, cat_map)
        top_idx[lo:hi], n_elig[lo:hi] = pg.top_idx, pg.n_elig
        sc = pg.scal
        page_score[p] = [sc["beta"], sc["nu"], sc["c"], sc["cap_mult"], sc["novelty_weight"], sc["boost"],
                         sc["mu_P"], sc["mu_open_P"]]  # fmt: skip
    order = np.array([k[-1] for k in sorted(order_keys, key=lambda t: t[:4])], dtype=np.int64)

    n_ids = int(ids["_gid"].max()) + 1 if ids.height else 0
    use_off = np.zeros(n_ids + 1, np.int64)
    use_ts = np.zeros(0, np.int64)
    if recent_primaries is not None and recent_primaries.height and n_ids:
        tcol = "slot_ts_utc" if "slot_ts_utc" in recent_primaries.columns else "sending_ts_utc"
        rec = (recent_primaries.select("caption_id", tcol).drop_nulls()
               .join(ids.unique("caption_id"), on="caption_id", how="inner"))  # fmt: skip
        gid = rec["_gid"].to_numpy().astype(np.int64)
        ts = np.array([(_utc(t) - _EPOCH) // _US for t in rec[tcol].to_list()], dtype=np.int64)
        o = np.lexsort((ts, gid))
        use_ts = ts[o]
        use_off = np.searchsorted(gid[o], np.arange(n_ids + 1)).astype(np.int64)

    kind, rows, greedy, pool, explored, prob, fb_lo, fb_hi = assign_primaries(
        order, slot_page, slot_ts, slot_day, u_eps, u_pick, top_idx, n_elig, is_ppv, price, allowed, tm, cand_off,
        slot_off, dense_off, dense("final", np.float64), dense("final_pre", np.float64), dense("scorable", np.bool_),
        cand("gid", np.int64), cand("mask", np.uint16), cand("hp", np.float64), cand("cat_bits", np.uint32),
        cand("p_buy", np.float64), cand("n_buy", np.float64), cand("q_bar", np.float64), cand("p_open", np.float64),
        cand("n_open", np.float64), cand("novelty", np.float64), page_eps, page_score, page_rules, use_off, use_ts,
        top_m, int(max(1, page_rules[:, 1].max())) if P else 1,
    )  # fmt: skip

    out: dict[tuple[str, int], list[dict]] = {}
    for p, pg in enumerate(plist):
        for si in range(len(pg.slots)):
            g = int(slot_off[p]) + si
            picked = [int(a) for a in rows[g] if a >= 0]
            if kind[g] == KIND_RANKED:
                c = pg.comp
                final = c["final"][si]
                elig_final = final[c["ok"][si]]
                out[(pg.name, si)] = [
                    _row(pg, si, a, r, fallback=False, explored=bool(explored[g]),
                         prob=float(prob[g]) if r == 1 else None, greedy=pg.cids[int(greedy[g])], pool=int(pool[g]),
                         norm=_normalized(elig_final, float(final[a])))
                    for r, a in enumerate(picked, start=1)
                ]  # fmt: skip
            elif kind[g] == KIND_FALLBACK:
                lo, hi = float(fb_lo[g]), float(fb_hi[g])
                pre = pg.comp["final_pre"][si]
                out[(pg.name, si)] = [
                    _row(pg, si, a, r, fallback=True, explored=False, prob=1.0 if r == 1 else None, greedy=None,
                         pool=None, norm=_scaled(lo, hi, float(pre[a])))
                    for r, a in enumerate(picked, start=1)
                ]  # fmt: skip
            else:
                out[(pg.name, si)] = [_empty_row()]
    return out


def _row(pg: _Page, si: int, a: int, rank: int, *, fallback, explored, prob, greedy, pool, norm) -> dict:
    c, arr, slot = pg.comp, pg.arrays, pg.slots[si]
    exploit, ucb, nov = float(c["exploit"][si, a]), float(c["ucb"][si, a]), float(c["novelty"][si, a])
    tm = float(slot["temporal_multiplier"])
    if fallback:
        pen, final, same, cross = 0.0, float(c["final_pre"][si, a]), False, False
    else:
        pen, final = float(c["penalty"][si, a]), float(c["final"][si, a])
        same, cross = bool(c["same"][si, a]) and pen > 0, bool(c["cross"][si, a]) and pen > 0
    hp, ha = float(arr["hp"][a]), float(arr["ha"][a])
    flags = {
        "epsilon_explore": explored and rank == 1,
        "cold_start": bool(arr["cold"][a]),
        "bank_exhausted_oldest_first": fallback,
        "high_performer": float(arr["rps_pct"][a]) > 0.8,
        "optimal_timing": tm > 1.1,
        "fresh_content": float(arr["novelty"][a]) >= 0.5,
        "same_day_penalty": same,
        "cross_page_penalty": cross,
        "price_from_plan": slot["price_source"] == "plan",
        "price_wilson": slot["price_source"] == "wilson",
    }
    reasons = [k for k in REASON_ORDER if flags[k]] or ["balanced_selection"]
    fat = float(arr["fatigue"][a])
    return {
        "rank": rank,
        "recommendation_tier": recommendation_tier(rank),
        "caption_id": pg.cids[a],
        "caption_sk": pg.sks[a],
        "category": pg.cats[a],
        "exploit_value": exploit,
        "p_buy": float(arr["p_buy"][a]),
        "p_open": float(arr["p_open"][a]),
        "ucb_bonus": ucb,
        "novelty_bonus": nov,
        "temporal_multiplier": tm,
        "diversity_penalty": pen,
        "final_score": final,
        "score_normalized": norm,
        "expected_rps": exploit if slot["slot_type"] == "ppv" else 0.0,
        "confidence": float(arr["sw"][a]),
        "send_events_page": int(arr["send_events"][a]),
        "days_since_use_page": hp / 24.0 if math.isfinite(hp) else None,
        "hours_since_use_any": ha if math.isfinite(ha) else None,
        "fatigue_score": fat if math.isfinite(fat) else None,
        "is_exploration": bool(explored or (ucb + nov > exploit)),
        "is_cold_start": bool(arr["cold"][a]),
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
