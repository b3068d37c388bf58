"""Simulation of caption-selection policies against the known truth of a generated world (30-ml-and-ranking §10.1).

Pure (no Dagster). The environment starts where a sample world ends and plays ``days`` simulated days; every day each
policy picks one caption per PPV slot and the outcomes are drawn from the world's truth model
(`of_scheduler_assets.sample.truth`), then appended to that policy's own history so learning policies see them the
next day. Every policy plays the same slots and the same recipients (common random numbers); purchases are drawn per
policy from a generator seeded by (seed, day, policy).

Decisions (documented choices beyond the spec text)
--------------------------------------------------
* History: ``truth/events.parquet`` (every logged send of the world, media-only PPVs flagged, all rows
  ``is_model_eligible``) converted to a minimal fact-like frame (`FACT_COLUMNS`) accepted by ``caption_priors``.
* Slots: a weekly plan repeated every simulated week. The plan of a page is its logged PPV sends of the world's last
  7 local days: one slot per logged PPV at (local weekday, local hour); several PPVs in one hour become several slots
  10 minutes apart. Pages without a PPV in that week get no slots.
* Price: the page's median logged PPV price of the world's last 90 days (whole dollars), fixed for the run.
* Candidates (the team's rule, identical for every policy): captions of category ``ppv`` with ``tos_status = ok``
  (all generated captions are active and media-only is a send property, not a caption property) that were not sent on
  the page in the 28 days before the page's first slot of the day. The environment does not enforce the choice: a
  caption outside the candidates, or reused on a page the same day, counts as a reuse violation.
* Recipients of a slot: ``round(audience × U(0.85, 1))``, drawn once per (seed, slot), shared by all policies.
* Outcome: ``p = truth.purchase_prob(...)`` with ``recent_sends`` = sends of the caption on the page in the 28 days
  before the slot (reuse fatigue 0.85 per send); purchases ~ Binomial(recipients, p); views = purchases +
  Binomial(recipients − purchases, p_view). Headline metric: the TRUE expected revenue per recipient
  (``price × p``), recipient-weighted over the day's slots; the realised revenue is recorded next to it.
* Learning policies decide a whole day at once with everything logged before that day (reports assumed overnight;
  the prior chain is computed as of one minute after the latest logged send).
* Regret per day = the oracle policy's true RPS that day − the policy's (needs ``oracle`` among the policies); also
  ``inst_regret``: the mean over the policy's own slots of (best true value among ITS candidates − chosen value).
  The oracle is myopic (best true value per slot, day by day): on a long horizon it exhausts the best captions under
  the 28-day rule, so a policy can beat it on a given day (negative regret) and regret vs the oracle also falls
  because the oracle's own value falls; ``inst_regret`` is the cleaner learning measure.
* Cold caption = never sent on any page before the decision day.
* Diversity violation = an extra page on which a caption is primary on the same day (a caption primary on k > 1 pages
  in a day counts k − 1). Only ``ranker``/``greedy`` avoid it by construction; ``human_like`` follows only the team's
  28-day page rule and ``oracle`` ignores it (it is an upper bound).
* Policies: ``random``, ``human_like``, ``oracle``, ``informed`` (the oracle under the ranker's diversity rule; only
  with ``--informed``), ``greedy`` / ``ranker`` (`ranker_policy`: prior chain +
  ``ucb_bonus`` + ``novelty_bonus`` kernels + hash-seeded ε) and ``production`` (`production_ranker_policy`, an
  adapter driving ``layer_06_rankings.ranker.rank_next24``; not in the default set).
* Randomness of decisions: `identity.hash_uniform` only (keys include the seed); the environment's draws use
  ``numpy.random.default_rng``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from of_scheduler_assets.identity import hash_u64, hash_uniform
from of_scheduler_assets.sample import truth as truth_mod

__all__ = [
    "FACT_COLUMNS", "DayContext", "Environment", "Policy", "RankerParams", "World", "day_slots", "default_policies",
    "greedy_policy", "score_candidates",
    "human_like_policy", "informed_policy", "load_world", "main", "oracle_policy", "production_ranker_policy", "random_policy",
    "ranker_policy", "run_simulation", "summarize", "write_report",
]  # fmt: skip

MIN_REUSE_DAYS = 28
UTC_US = pl.Datetime("us", "UTC")
FACT_COLUMNS = [
    "message_send_key", "username_page", "caption_id", "sending_ts_utc", "send_date_local", "price_cents",
    "price_usd", "sent", "viewed", "purchased", "earnings_gross_usd", "is_media_only", "is_model_eligible",
]  # fmt: skip
FACT_SCHEMA = {
    "message_send_key": pl.Int64, "username_page": pl.String, "caption_id": pl.String, "sending_ts_utc": UTC_US,
    "send_date_local": pl.Date, "price_cents": pl.Int64, "price_usd": pl.Float64, "sent": pl.Int64,
    "viewed": pl.Int64, "purchased": pl.Int64, "earnings_gross_usd": pl.Float64, "is_media_only": pl.Boolean,
    "is_model_eligible": pl.Boolean,
}  # fmt: skip
SLOT_SCHEMA = {
    "slot_id": pl.String, "username_page": pl.String, "slot_ts_utc": UTC_US, "slot_date_local": pl.Date,
    "dow": pl.Int64, "hod": pl.Int64, "price_usd": pl.Float64, "slot_local": pl.Datetime("us"),
    "recipients": pl.Int64,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------------- world


@dataclasses.dataclass
class World:
    """The truth of a generated world plus what the simulation derives from its log."""

    root: Path
    pages: pl.DataFrame  # truth pages (tz, audience, base rates, β, ...)
    page_names: list[str]
    page_index: dict[str, int]
    caption_ids: np.ndarray  # all truth captions
    caption_index: dict[str, int]
    lift: np.ndarray  # per caption index
    ppv_clean: np.ndarray  # sorted caption ids of the candidate bank (ppv, tos ok)
    mult: np.ndarray  # [page, dow, hod]
    params: dict
    history: pl.DataFrame  # fact-like frame of the logged sends
    plan: dict[str, list[tuple[int, int, int]]]  # page -> [(weekday, hour, k)]
    price: dict[str, float]  # page -> slot price
    end_date: dt.date

    @property
    def dim_page(self) -> pl.DataFrame:
        return self.pages.select("username_page", "page_type")

    def p_buy(self, page: str, caption_ids: Sequence[str], price: float, dow: int, hod: int, recent) -> np.ndarray:
        """Vectorised true purchase probability (the generator's own function)."""
        pg = self.pages.row(self.page_index[page], named=True)
        lift = self.lift[[self.caption_index[c] for c in caption_ids]]
        return truth_mod.purchase_prob(
            pg["base_buy_rate"], lift, price, pg["ref_price"], pg["price_beta"],
            self.mult[self.page_index[page], dow, hod], recent, self.params["fatigue_decay"], self.params["p_max"],
        )  # fmt: skip

    def p_view(self, page: str, caption_ids: Sequence[str], dow: int, hod: int, recent) -> np.ndarray:
        pg = self.pages.row(self.page_index[page], named=True)
        lift = self.lift[[self.caption_index[c] for c in caption_ids]]
        return truth_mod.view_prob(
            pg["base_open_rate"], lift, self.mult[self.page_index[page], dow, hod], recent,
            self.params["fatigue_decay"], self.params["view_lift_exponent"], self.params["p_max"],
        )  # fmt: skip


def _history_from_events(ev: pl.DataFrame, pages: pl.DataFrame) -> pl.DataFrame:
    tz = pages.select("username_page", "tz")
    parts = []
    for (zone,), grp in ev.join(tz, on="username_page").group_by(["tz"], maintain_order=True):
        parts.append(grp.with_columns(pl.col("sending_ts_utc").dt.convert_time_zone(zone).dt.date().alias("_d")))
    ev = pl.concat(parts).sort("username_page", "sending_ts_utc", "event_idx")
    return ev.select(
        pl.col("event_idx").cast(pl.Int64).alias("message_send_key"),
        "username_page",
        "caption_id",
        pl.col("sending_ts_utc").cast(UTC_US),
        pl.col("_d").alias("send_date_local"),
        (pl.col("price") * 100).cast(pl.Int64).alias("price_cents"),
        pl.col("price").cast(pl.Float64).alias("price_usd"),
        pl.col("recipients").cast(pl.Int64).alias("sent"),
        pl.col("viewed_final").cast(pl.Int64).alias("viewed"),
        pl.col("purchased_final").cast(pl.Int64).alias("purchased"),
        (pl.col("price") * pl.col("purchased_final")).cast(pl.Float64).alias("earnings_gross_usd"),
        pl.col("media_only").alias("is_media_only"),
        pl.lit(True).alias("is_model_eligible"),
    ).cast(FACT_SCHEMA)  # type: ignore[arg-type]


def load_world(world_dir: str | Path) -> World:
    root = Path(world_dir)
    d = root / "truth"
    pages = pl.read_parquet(d / "pages.parquet").sort("username_page")
    caps = pl.read_parquet(d / "captions.parquet")
    dh = pl.read_parquet(d / "dow_hod_effects.parquet")
    params = json.loads((d / "params.json").read_text())
    names = pages["username_page"].to_list()
    pidx = {p: i for i, p in enumerate(names)}
    mult = np.ones((len(names), 7, 24))
    for r in dh.iter_rows(named=True):
        if r["username_page"] in pidx:
            mult[pidx[r["username_page"]], r["dow"], r["hod"]] = r["mult"]
    cids = caps["caption_id"].to_numpy()
    cidx = {c: i for i, c in enumerate(cids.tolist())}
    clean = caps.filter((pl.col("category") == "ppv") & (pl.col("tos_status") == "ok"))["caption_id"]
    history = _history_from_events(pl.read_parquet(d / "events.parquet"), pages)
    end_date = history["send_date_local"].max()
    ppv = history.filter(pl.col("price_cents") > 0)
    last_week = ppv.filter(pl.col("send_date_local") > end_date - dt.timedelta(days=7))
    plan: dict[str, list[tuple[int, int, int]]] = {}
    for p in names:
        zone = ZoneInfo(pages.row(pidx[p], named=True)["tz"])
        rows = last_week.filter(pl.col("username_page") == p)["sending_ts_utc"].to_list()
        counts: dict[tuple[int, int], int] = {}
        for ts in rows:
            loc = ts.astimezone(zone)
            counts[(loc.weekday(), loc.hour)] = counts.get((loc.weekday(), loc.hour), 0) + 1
        plan[p] = sorted((w, h, k) for (w, h), n in counts.items() for k in range(n))
    price_df = (
        ppv.filter(pl.col("send_date_local") > end_date - dt.timedelta(days=90))
        .group_by("username_page")
        .agg(pl.col("price_usd").median().round(0))
    )
    price = dict(zip(price_df["username_page"].to_list(), price_df["price_usd"].to_list(), strict=True))
    return World(
        root, pages, names, pidx, cids, cidx, caps["lift"].to_numpy().astype(float), np.sort(clean.to_numpy()), mult,
        params, history, {p: v for p, v in plan.items() if v and p in price}, price, end_date,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------- protocol


@dataclasses.dataclass
class DayContext:
    """What a policy sees when it plans one simulated day."""

    seed: int
    day: int  # 0-based simulated day
    date: dt.date  # the page-local date of the day's slots
    now: dt.datetime  # the first slot of the day (UTC)
    history: pl.DataFrame  # fact-like frame (FACT_COLUMNS) of everything sent before this day
    slots: pl.DataFrame  # SLOT_SCHEMA, ordered by (slot_ts_utc, username_page, slot_id)
    candidates: Mapping[str, np.ndarray]  # page -> sorted eligible caption ids
    dim_page: pl.DataFrame
    world: World  # the truth: only the oracle may look


Policy = Callable[[DayContext], dict[str, str]]


def _key_u(*parts) -> float:
    return hash_uniform("|".join(str(p) for p in parts))


def _slot_key(ctx: DayContext, name: str, slot: Mapping) -> str:
    ts = slot["slot_ts_utc"].strftime("%Y-%m-%dT%H:%MZ")
    return f"sim:{name}|seed{ctx.seed}|{slot['username_page']}|{ts}|ppv|{slot['slot_id']}"


def _pick(ordered: Iterable[str], taken: set[str]) -> str | None:
    for c in ordered:
        if c not in taken:
            return c
    return None


def random_policy(name: str = "random") -> Policy:
    """Uniform over the page's eligible captions not already used on the page that day (hash-seeded)."""

    def policy(ctx: DayContext) -> dict[str, str]:
        out: dict[str, str] = {}
        used: dict[str, set[str]] = {}
        for s in ctx.slots.iter_rows(named=True):
            page = s["username_page"]
            taken = used.setdefault(page, set())
            pool = [c for c in ctx.candidates[page] if c not in taken]
            if not pool:
                continue
            c = pool[int(_key_u(_slot_key(ctx, name, s), "pick") * len(pool))]
            taken.add(c)
            out[s["slot_id"]] = c
        return out

    return policy


def human_like_policy(name: str = "human_like") -> Policy:
    """Repeat-best-seller: the page's best seller by 90-day gross revenue among eligible captions (not used on the
    page in 28 days, nor earlier that day); ties by caption_id; no eligible seller with revenue > 0 -> random."""
    rnd = random_policy(name)

    def policy(ctx: DayContext) -> dict[str, str]:
        start = ctx.date - dt.timedelta(days=90)
        rev = (
            ctx.history.filter((pl.col("send_date_local") >= start) & pl.col("caption_id").is_not_null())
            .group_by("username_page", "caption_id")
            .agg(pl.col("earnings_gross_usd").sum().alias("rev"))
            .filter(pl.col("rev") > 0)
            .sort(["username_page", "rev", "caption_id"], descending=[False, True, False])
        )
        sellers = {
            p: g["caption_id"].to_list() for (p,), g in rev.group_by(["username_page"], maintain_order=True)
        }
        fallback = rnd(ctx)
        out: dict[str, str] = {}
        used: dict[str, set[str]] = {}
        for s in ctx.slots.iter_rows(named=True):
            page = s["username_page"]
            taken = used.setdefault(page, set())
            elig = set(ctx.candidates[page].tolist())
            c = _pick((x for x in sellers.get(page, []) if x in elig), taken)
            if c is None:
                pool = [x for x in ctx.candidates[page] if x not in taken]
                if not pool:
                    continue
                c = fallback.get(s["slot_id"])
                if c is None or c in taken:
                    c = pool[int(_key_u(_slot_key(ctx, name, s), "pick2") * len(pool))]
            taken.add(c)
            out[s["slot_id"]] = c
        return out

    return policy


def _recent_counts(history: pl.DataFrame, before: dt.datetime) -> dict[tuple[str, str], list]:
    lo = before - dt.timedelta(days=MIN_REUSE_DAYS + 2)
    h = history.filter(pl.col("sending_ts_utc") > lo).group_by("username_page", "caption_id").agg("sending_ts_utc")
    return {(r[0], r[1]): r[2] for r in h.iter_rows()}


def _n_recent(times: list, ts: dt.datetime) -> int:
    lo = ts - dt.timedelta(days=MIN_REUSE_DAYS)
    return sum(1 for t in times if lo < t < ts)


def oracle_policy(name: str = "oracle", *, one_page_per_day: bool = False) -> Policy:
    """Knows the truth: per slot, the eligible caption with the highest true expected revenue per recipient at the
    slot's price, dow and hod, with reuse fatigue; not reusing a caption on a page the same day.

    ``one_page_per_day`` (the ``informed`` policy): also the ranker's diversity rule (a caption is primary on one page
    a day), so ``informed`` / ``greedy`` is the value of perfect information under the ranker's own constraints: the
    headroom that exploration can at most win back."""

    def policy(ctx: DayContext) -> dict[str, str]:
        w = ctx.world
        recent = _recent_counts(ctx.history, ctx.now + dt.timedelta(days=2))
        out: dict[str, str] = {}
        used: dict[str, set[str]] = {}
        everywhere: set[str] = set()
        for s in ctx.slots.iter_rows(named=True):
            page = s["username_page"]
            cands = ctx.candidates[page]
            if not len(cands):
                continue
            taken = everywhere if one_page_per_day else used.setdefault(page, set())
            rec = np.array([_n_recent(recent.get((page, c), []), s["slot_ts_utc"]) for c in cands])
            v = s["price_usd"] * w.p_buy(page, cands, s["price_usd"], s["dow"], s["hod"], rec)
            order = np.lexsort((cands, -v))  # value desc, caption_id asc
            c = _pick((cands[i] for i in order), taken)
            if c is None:
                continue
            taken.add(c)
            out[s["slot_id"]] = c
        return out

    return policy


@dataclasses.dataclass(frozen=True)
class RankerParams:
    """The config-level knobs of the simulated ranker (defaults: the `active` config of ranker.yaml)."""

    name: str = "active"
    epsilon: float = 0.10
    ucb_c: float = 2.0
    ucb_cap_mult: float = 2.0
    new_caption_boost: float = 1.5
    novelty_weight: float = 0.10
    nu_sends: float = 2.0
    nu_page_sends: float = 2.0
    lift_prior_events: float = 2.0
    stats_half_life_days: float = 14.0
    stats_window_days: int = 90
    explore_pool_size: int = 50
    price_adjustment: str = "elasticity"

    @classmethod
    def from_config(cls, config_name: str = "active", **overrides) -> RankerParams:
        from of_scheduler_assets.resources.ranker_config import load_ranker_config

        c = load_ranker_config().config(config_name)
        base = cls(
            name=config_name, epsilon=float(c.epsilon or 0.0), ucb_c=c.ucb_c, ucb_cap_mult=c.ucb_cap_mult,
            new_caption_boost=c.new_caption_boost, novelty_weight=c.novelty_weight, nu_sends=c.nu_sends,
            nu_page_sends=c.nu_page_sends, lift_prior_events=c.lift_prior_events,
            stats_half_life_days=c.stats_half_life_days, stats_window_days=c.stats_window_days,
            explore_pool_size=c.explore_pool_size, price_adjustment=c.price_adjustment,
        )  # fmt: skip
        return dataclasses.replace(base, **overrides)

    def greedy(self) -> RankerParams:
        return dataclasses.replace(self, name="greedy", epsilon=0.0, ucb_c=0.0, novelty_weight=0.0)


def score_candidates(ctx: DayContext, params: RankerParams) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per page: (candidate ids, components) with ``final = exploit + ucb + novelty`` at the page's slot price.
    The temporal multiplier is constant within a slot and does not change the in-slot order, so it is left out."""
    from of_scheduler_assets.kernels import novelty_bonus, ucb_bonus
    from of_scheduler_assets.layer_05_ml.priors import caption_priors

    hist = ctx.history
    as_of = max(ctx.now, hist["sending_ts_utc"].max() + dt.timedelta(minutes=1))
    pri = caption_priors(
        hist, ctx.dim_page, as_of, half_life_days=params.stats_half_life_days, window_days=params.stats_window_days,
        nu_sends=params.nu_sends, nu_page_sends=params.nu_page_sends, lift_prior_events=params.lift_prior_events,
    )  # fmt: skip
    ev365 = (
        hist.filter(pl.col("sending_ts_utc") > as_of - dt.timedelta(days=365))
        .group_by("caption_id")
        .agg(pl.len().cast(pl.Float64).alias("ev365"))
    )
    cols = ["p_buy", "n_cp", "nu", "q_bar", "beta_P", "mu_P"]
    out = {}
    price = {r["username_page"]: r["price_usd"] for r in ctx.slots.iter_rows(named=True)}
    for page, q in price.items():
        cands = ctx.candidates[page]
        if not len(cands):
            out[page] = (cands, {})
            continue
        pp = pri.filter(pl.col("username_page") == page)
        page_row = pp.filter(pl.col("caption_id").is_null()).select(cols)
        df = (
            pl.DataFrame({"caption_id": cands})
            .join(pp.filter(pl.col("caption_id").is_not_null()).select("caption_id", *cols), on="caption_id",
                  how="left")
            .join(ev365, on="caption_id", how="left")
        )  # fmt: skip
        df = df.with_columns(
            *[pl.col(c).fill_null(page_row[c][0]) for c in cols],
            pl.col("ev365").fill_null(0.0),
        )
        p = df["p_buy"].to_numpy()
        if params.price_adjustment == "elasticity":
            qb = df["q_bar"].to_numpy()
            p = np.where(qb > 0, p * (q / np.where(qb > 0, qb, 1.0)) ** (-df["beta_P"].to_numpy()), p)
        p = np.minimum(p, 1.0)
        exploit = q * p
        ucb = ucb_bonus(float(q), p, df["n_cp"].to_numpy(), float(df["nu"][0]), params.ucb_c, params.ucb_cap_mult)
        nov = novelty_bonus(
            df["ev365"].to_numpy(), params.novelty_weight, params.new_caption_boost, float(q * page_row["mu_P"][0])
        )
        out[page] = (cands, {"exploit": exploit, "ucb": ucb, "novelty": nov, "final": exploit + ucb + nov, "p": p})
    return out


def ranker_policy(params: RankerParams | None = None, name: str | None = None) -> Policy:
    """The ranker's decision rule on the prior chain (§3, §7.2-7.3): per slot, in (slot_ts_utc, page) order, the best
    ``final`` among candidates not yet primary that day on ANY page (so no caption is primary on two pages a day);
    with probability ε (hash_uniform) the slot explores: uniform over the ``explore_pool_size`` best such candidates
    sorted by caption_id."""
    params = params or RankerParams.from_config("active")
    name = name or params.name

    def policy(ctx: DayContext) -> dict[str, str]:
        scores = score_candidates(ctx, params)
        orders = {}
        for page, (cands, comp) in scores.items():
            if len(cands):
                orders[page] = cands[np.lexsort((cands, -comp["final"]))]
        taken: set[str] = set()
        out: dict[str, str] = {}
        for s in ctx.slots.iter_rows(named=True):
            order = orders.get(s["username_page"])
            if order is None:
                continue
            key = _slot_key(ctx, name, s)
            g = _pick(order, taken)
            if g is None:
                continue
            c = g
            if params.epsilon > 0 and hash_uniform(key + "|eps") < params.epsilon:
                pool = []
                for x in order:
                    if x not in taken:
                        pool.append(x)
                        if len(pool) >= params.explore_pool_size:
                            break
                pool.sort()
                c = pool[int(hash_uniform(key + "|pick") * len(pool))]
            taken.add(c)
            out[s["slot_id"]] = c
        return out

    return policy


def greedy_policy(params: RankerParams | None = None) -> Policy:
    """The ranker with c = 0, ε = 0 and no novelty bonus."""
    return ranker_policy((params or RankerParams.from_config("active")).greedy(), name="greedy")


def production_ranker_policy(config_name: str = "active") -> Policy:
    """Adapter to the production ranker (`layer_06_rankings.ranker.rank_next24`): each simulated day is one run at
    ``now`` = the day's first slot over the day's slots (``slot_type = ppv``, plan price, temporal multiplier 1).

    Its ``features`` are a minimal stand-in for ``feature_store`` built from the DayContext: one row per candidate
    of the page (so the team's 28-day rule is the environment's), prior-chain rates from ``caption_priors``, use times
    from the history, ``cooldown_hours`` / ``fatigue_score`` / ``novelty_level`` from the kernels. The primaries
    (rank 1) are the choices."""
    from of_scheduler_assets.kernels import cooldown_hours, fatigue, novelty_level
    from of_scheduler_assets.layer_05_ml.priors import caption_priors, page_priors
    from of_scheduler_assets.layer_06_rankings.ranker import rank_next24
    from of_scheduler_assets.resources.ranker_config import load_ranker_config

    cfg = load_ranker_config()
    ncfg = cfg.config(config_name)

    def policy(ctx: DayContext) -> dict[str, str]:
        hist = ctx.history
        as_of = max(ctx.now, hist["sending_ts_utc"].max() + dt.timedelta(minutes=1))
        kw = {"half_life_days": ncfg.stats_half_life_days, "window_days": ncfg.stats_window_days,
              "nu_sends": ncfg.nu_sends, "nu_page_sends": ncfg.nu_page_sends}  # fmt: skip
        pages = page_priors(hist, ctx.dim_page, as_of, **kw)
        pri = caption_priors(hist, ctx.dim_page, as_of, lift_prior_events=ncfg.lift_prior_events, pages=pages, **kw)
        h = hist.filter(pl.col("caption_id").is_not_null())
        any_use = h.group_by("caption_id").agg(
            pl.col("sending_ts_utc").max().alias("last_used_ts_any"),
            (pl.col("sending_ts_utc") > ctx.now - dt.timedelta(days=7)).sum().cast(pl.Float64).alias("_u7"),
            (pl.col("sending_ts_utc") > ctx.now - dt.timedelta(days=365)).sum().cast(pl.Float64).alias("_e365"),
        )
        page_use = h.group_by("username_page", "caption_id").agg(
            pl.col("sending_ts_utc").max().alias("last_used_ts_page"),
            pl.col("send_date_local").filter(pl.col("sending_ts_utc") > ctx.now - dt.timedelta(days=30))
            .n_unique().cast(pl.Float64).alias("_ad30"),
        )  # fmt: skip
        cand = pl.DataFrame(
            [(p, c) for p in sorted(ctx.candidates) for c in ctx.candidates[p]],
            schema={"username_page": pl.String, "caption_id": pl.String}, orient="row",
        )  # fmt: skip
        page_rows = pri.filter(pl.col("caption_id").is_null()).select(
            "username_page", pl.col("p_buy").alias("_pb0"), pl.col("p_open").alias("_po0")
        )
        f = (
            cand.join(pri.filter(pl.col("caption_id").is_not_null()), on=["username_page", "caption_id"], how="left")
            .join(page_rows, on="username_page", how="left")
            .join(any_use, on="caption_id", how="left")
            .join(page_use, on=["username_page", "caption_id"], how="left")
            .with_columns(
                pl.coalesce("p_buy", "_pb0").alias("p_buy_smoothed"),
                pl.coalesce("p_open", "_po0").alias("p_open_smoothed"),
                pl.col("smoothing_weight").fill_null(0.0),
                pl.col("send_events_cp").fill_null(0).alias("send_events_90d"),
                pl.col("_u7", "_e365", "_ad30").fill_null(0.0),
                pl.lit("ppv").alias("primary_category"),
                pl.lit(0.0).alias("rps_percentile"),
                pl.lit(ctx.date).alias("computed_date"),
            )
            .sort("username_page", "caption_id")
        )
        c = ncfg.cooldown
        f = f.with_columns(
            pl.Series("cooldown_hours", cooldown_hours(f["_u7"].to_numpy(), c.base_hours, c.backoff_factor,
                                                       c.min_hours, c.max_cooldown_days)),
            pl.Series("fatigue_score", fatigue(f["_ad30"].to_numpy())),
            pl.Series("novelty_level", novelty_level(f["_e365"].to_numpy())),
            (pl.col("send_events_90d") < ncfg.min_samples_for_exploitation).alias("is_cold_start"),
        )  # fmt: skip
        slots = ctx.slots.select(
            "username_page", "slot_ts_utc", "slot_local", "slot_date_local", pl.col("dow").cast(pl.Int8).alias("dow_local"),
            pl.col("hod").cast(pl.Int8).alias("hod_local"), pl.lit("ppv").alias("slot_type"),
            pl.lit(1.0).alias("temporal_multiplier"), "price_usd",
        )  # fmt: skip
        assignments = pl.DataFrame(
            {"username_page": sorted(ctx.candidates), "config_name": config_name,
             "config_version": cfg.config_version}
        )  # fmt: skip
        recent = hist.filter(pl.col("sending_ts_utc") > ctx.now - dt.timedelta(hours=24)).select(
            "caption_id", "sending_ts_utc"
        )
        out = rank_next24(
            f, slots, pages, None, assignments, cfg, now=ctx.now, run_id=f"sim-{ctx.seed}-{ctx.day}",
            recent_primaries=recent, caption_priors=pri, generated_at=ctx.now,
        )  # fmt: skip
        prim = out.filter((pl.col("rank") == 1) & pl.col("caption_id").is_not_null())
        by_key = {(r[0], r[1]): r[2] for r in prim.select("username_page", "slot_ts_utc", "caption_id").iter_rows()}
        return {
            r["slot_id"]: by_key[(r["username_page"], r["slot_ts_utc"])]
            for r in ctx.slots.iter_rows(named=True)
            if (r["username_page"], r["slot_ts_utc"]) in by_key
        }

    return policy


def informed_policy(name: str = "informed") -> Policy:
    """The oracle under the ranker's diversity rule (see `oracle_policy`)."""
    return oracle_policy(name, one_page_per_day=True)


def default_policies(params: RankerParams | None = None, *, informed: bool = False) -> dict[str, Policy]:
    params = params or RankerParams.from_config("active")
    return {
        **({"informed": informed_policy()} if informed else {}),
        "oracle": oracle_policy(),
        "random": random_policy(),
        "human_like": human_like_policy(),
        "greedy": greedy_policy(params),
        "ranker": ranker_policy(dataclasses.replace(params, name="ranker")),
    }


# ------------------------------------------------------------------------------------------------ environment


class Environment:
    """One policy's world state for one seed: its own history and use times."""

    def __init__(self, world: World, seed: int, policy_name: str):
        self.world, self.seed, self.policy_name = world, seed, policy_name
        self.parts: list[pl.DataFrame] = [world.history]
        self._history: pl.DataFrame | None = world.history
        self.next_key = int(world.history["message_send_key"].max()) + 1
        h = world.history.select("username_page", "caption_id", "sending_ts_utc").drop_nulls()
        self.uses: dict[tuple[str, str], list[dt.datetime]] = {}
        for p, c, ts in h.iter_rows():
            self.uses.setdefault((p, c), []).append(ts)
        self.ever_sent: set[str] = set(h["caption_id"].to_list())

    @property
    def history(self) -> pl.DataFrame:
        if self._history is None:
            self._history = pl.concat(self.parts, how="vertical")
        return self._history

    def last_use(self, page: str, caption: str) -> dt.datetime | None:
        t = self.uses.get((page, caption))
        return max(t) if t else None

    def candidates(self, slots: pl.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        firsts = slots.group_by("username_page").agg(pl.col("slot_ts_utc").min())
        for page, first in firsts.iter_rows():
            lim = first - dt.timedelta(days=MIN_REUSE_DAYS)
            bank = self.world.ppv_clean
            keep = np.fromiter(
                (not any(t > lim for t in self.uses.get((page, c), ())) for c in bank), dtype=bool, count=len(bank)
            )
            out[page] = bank[keep]
        return out

    def play(self, day: int, slots: pl.DataFrame, choice: Mapping[str, str], cands: Mapping[str, np.ndarray],
             oracle_rps: float | None) -> dict:  # fmt: skip
        w = self.world
        rng = np.random.default_rng([self.seed, day, hash_u64(self.policy_name) % (2**32)])
        rows, keys = [], []
        true_rev = real_rev = rec_sum = inst_reg = 0.0
        reuse_viol = cold = chosen_n = 0
        day_uses: dict[str, set[str]] = {}
        cand_sets = {p: set(v.tolist()) for p, v in cands.items()}
        for s in slots.iter_rows(named=True):
            c = choice.get(s["slot_id"])
            if c is None:
                continue
            page, ts, q, rec = s["username_page"], s["slot_ts_utc"], s["price_usd"], s["recipients"]
            times = self.uses.get((page, c), [])
            if c not in cand_sets.get(page, ()) or c in day_uses.get(page, set()):
                reuse_viol += 1
            n_rec = _n_recent(times, ts)
            p = float(w.p_buy(page, [c], q, s["dow"], s["hod"], n_rec)[0])
            pv = float(w.p_view(page, [c], s["dow"], s["hod"], n_rec)[0])
            # best value among this policy's candidates for the slot (fatigue 0: candidates are unused in 28 d)
            best = float(np.max(q * w.p_buy(page, cands[page], q, s["dow"], s["hod"], 0))) if len(cands[page]) else 0
            inst_reg += max(best - q * p, 0.0) * rec
            buys = int(rng.binomial(rec, p))
            views = buys + int(rng.binomial(rec - buys, pv))
            true_rev += q * p * rec
            real_rev += q * buys
            rec_sum += rec
            chosen_n += 1
            cold += c not in self.ever_sent
            day_uses.setdefault(page, set()).add(c)
            keys.append(c)
            rows.append((self.next_key, page, c, ts, s["slot_date_local"], int(round(q * 100)), float(q), int(rec),
                         views, buys, float(q * buys), False, True))  # fmt: skip
            self.next_key += 1
        for r in rows:
            self.uses.setdefault((r[1], r[2]), []).append(r[3])
        self.ever_sent.update(keys)
        if rows:
            self.parts = [self.history, pl.DataFrame(rows, schema=FACT_SCHEMA, orient="row")]
            self._history = None
        pages_of: dict[str, int] = {}
        for cs in day_uses.values():
            for c in cs:
                pages_of[c] = pages_of.get(c, 0) + 1
        rps = true_rev / rec_sum if rec_sum else 0.0
        return {
            "seed": self.seed, "day": day, "policy": self.policy_name, "slots": chosen_n, "recipients": rec_sum,
            "true_revenue": true_rev, "true_rps": rps, "realized_revenue": real_rev,
            "realized_rps": real_rev / rec_sum if rec_sum else 0.0,
            "regret": (oracle_rps - rps) if oracle_rps is not None else None,
            "inst_regret": inst_reg / rec_sum if rec_sum else 0.0,
            "reuse_violations": reuse_viol, "diversity_violations": sum(v - 1 for v in pages_of.values()),
            "cold_share": cold / chosen_n if chosen_n else 0.0,
        }  # fmt: skip


def day_slots(world: World, day: int, seed: int) -> pl.DataFrame:
    """The slots of simulated day ``day`` (0-based) with recipients drawn for (seed, day)."""
    date = world.end_date + dt.timedelta(days=day + 1)
    rng = np.random.default_rng([seed, day, 7])
    rows = []
    for page in sorted(world.plan):
        pg = world.pages.row(world.page_index[page], named=True)
        zone = ZoneInfo(pg["tz"])
        for wd, hod, k in world.plan[page]:
            if wd != date.weekday():
                continue
            local = dt.datetime.combine(date, dt.time(hod, 10 * k), tzinfo=zone)
            ts = local.astimezone(dt.UTC)
            loc = ts.astimezone(zone)  # DST gaps resolve forwards
            rows.append((f"{page}|{loc:%Y-%m-%dT%H:%M}", page, ts, loc.date(), loc.weekday(), loc.hour,
                         float(world.price[page]), loc.replace(tzinfo=None)))  # fmt: skip
    df = pl.DataFrame(rows, schema={k: SLOT_SCHEMA[k] for k in list(SLOT_SCHEMA)[:8]}, orient="row")
    aud = np.array([world.pages.row(world.page_index[p], named=True)["audience_size"] for p in df["username_page"]])
    lo, hi = world.params.get("recipients_uniform", [0.85, 1.0])
    rec = np.maximum(1, np.round(aud * rng.uniform(lo, hi, len(aud)))).astype(np.int64)
    return df.with_columns(pl.Series("recipients", rec, dtype=pl.Int64)).sort("slot_ts_utc", "username_page", "slot_id")


def run_simulation(
    world_dir: str | Path | World,
    *,
    days: int = 28,
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
    policies: Mapping[str, Policy] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Per-seed, per-day, per-policy metrics (see `Environment.play`). ``oracle`` runs first when present so that
    every other policy's ``regret`` can be computed."""
    world = world_dir if isinstance(world_dir, World) else load_world(world_dir)
    policies = dict(policies or default_policies())
    names = sorted(policies, key=lambda n: (n != "oracle", n))
    rows = []
    for seed in seeds:
        envs = {n: Environment(world, seed, n) for n in names}
        for day in range(days):
            slots = day_slots(world, day, seed)
            if slots.is_empty():
                continue
            date = world.end_date + dt.timedelta(days=day + 1)
            oracle_rps = None
            for n in names:
                env = envs[n]
                cands = env.candidates(slots)
                ctx = DayContext(seed, day, date, slots["slot_ts_utc"].min(), env.history, slots, cands,
                                 world.dim_page, world)  # fmt: skip
                choice = policies[n](ctx)
                r = env.play(day, slots, choice, cands, oracle_rps)
                r["date"] = date
                if n == "oracle":
                    oracle_rps = r["true_rps"]
                    r["regret"] = 0.0
                rows.append(r)
            if progress:
                progress(f"seed {seed} day {day}")
    return pl.DataFrame(rows).sort("seed", "day", "policy")


# ---------------------------------------------------------------------------------------------------- summary


def _ratio_ci(frame: pl.DataFrame, num: str, den: str, *, n_boot: int, level: float, rng) -> dict:
    a = frame.filter(pl.col("policy") == num).sort("seed", "day")
    b = frame.filter(pl.col("policy") == den).sort("seed", "day")
    ra, rb = a["true_revenue"].to_numpy(), b["true_revenue"].to_numpy()
    ca, cb = a["recipients"].to_numpy(), b["recipients"].to_numpy()
    point = (ra.sum() / ca.sum()) / (rb.sum() / cb.sum())
    idx = rng.integers(0, len(ra), size=(n_boot, len(ra)))
    boot = (ra[idx].sum(1) / ca[idx].sum(1)) / (rb[idx].sum(1) / cb[idx].sum(1))
    lo, hi = np.quantile(boot, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"ratio": float(point), "lo": float(lo), "hi": float(hi), "units": len(ra)}


def summarize(frame: pl.DataFrame, *, n_boot: int = 2000, level: float = 0.90, boot_seed: int = 20261127,
              ranker: str = "ranker", baselines: Sequence[str] = ("human_like", "greedy", "random")) -> dict:  # fmt: skip
    """Ratios ``ranker``/baseline of mean true RPS (recipient-weighted) with a paired bootstrap CI over seeds × days,
    regret in the first vs the last 7 days per policy, per-policy totals and a markdown summary."""
    rng = np.random.default_rng(boot_seed)
    present = set(frame["policy"].unique().to_list())
    ratios = {b: _ratio_ci(frame, ranker, b, n_boot=n_boot, level=level, rng=rng) for b in baselines
              if b in present and ranker in present}  # fmt: skip
    last = int(frame["day"].max())
    per = (
        frame.group_by("policy")
        .agg(
            (pl.col("true_revenue").sum() / pl.col("recipients").sum()).alias("true_rps"),
            (pl.col("realized_revenue").sum() / pl.col("recipients").sum()).alias("realized_rps"),
            pl.col("regret").filter(pl.col("day") < 7).mean().alias("regret_week1"),
            pl.col("regret").filter(pl.col("day") > last - 7).mean().alias("regret_last_week"),
            pl.col("inst_regret").filter(pl.col("day") < 7).mean().alias("inst_regret_week1"),
            pl.col("inst_regret").filter(pl.col("day") > last - 7).mean().alias("inst_regret_last_week"),
            pl.col("reuse_violations").sum(),
            pl.col("diversity_violations").sum(),
            (pl.col("cold_share") * pl.col("slots")).sum().truediv(pl.col("slots").sum()).alias("cold_share"),
        )
        .sort("true_rps", descending=True)
    )
    lines = [
        f"# Ranker simulation ({frame['seed'].n_unique()} seeds x {last + 1} days)",
        "",
        f"Mean true revenue per recipient, ratio `{ranker}` / baseline, paired bootstrap {level:.0%} CI over "
        f"seeds x days ({n_boot} resamples, seed {boot_seed}):",
        "",
        "| baseline | ratio | CI low | CI high |",
        "|---|---|---|---|",
        *[f"| {b} | {r['ratio']:.3f} | {r['lo']:.3f} | {r['hi']:.3f} |" for b, r in ratios.items()],
        "",
        "| policy | true RPS | realised RPS | regret wk1 | regret last wk | inst. regret wk1 | inst. regret last wk "
        "| reuse viol. | diversity viol. | cold share |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in per.iter_rows(named=True):
        f = lambda v: "" if v is None else f"{v:.5f}"  # noqa: E731
        lines.append(
            f"| {r['policy']} | {f(r['true_rps'])} | {f(r['realized_rps'])} | {f(r['regret_week1'])} | "
            f"{f(r['regret_last_week'])} | {f(r['inst_regret_week1'])} | {f(r['inst_regret_last_week'])} | "
            f"{r['reuse_violations']} | {r['diversity_violations']} | {r['cold_share']:.3f} |"
        )
    return {"ratios": ratios, "per_policy": per, "markdown": "\n".join(lines) + "\n"}


def write_report(frame: pl.DataFrame, summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """metrics.parquet, summary.md and (when matplotlib is importable) simulation.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / "metrics.parquet", "summary": out / "summary.md"}
    frame.write_parquet(paths["metrics"])
    paths["summary"].write_text(summary["markdown"])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return paths
    daily = frame.group_by("policy", "day").agg(pl.col("regret").mean(), pl.col("true_revenue").mean()).sort("day")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for (pol,), g in daily.group_by(["policy"], maintain_order=True):
        ax[0].plot(g["day"], g["regret"], label=pol)
        ax[1].plot(g["day"], np.cumsum(g["true_revenue"].to_numpy()), label=pol)
    ax[0].set(title="regret per day vs oracle (true RPS)", xlabel="day", ylabel="USD / recipient")
    ax[1].set(title="cumulative true expected revenue (mean over seeds)", xlabel="day", ylabel="USD")
    ax[0].legend()
    fig.tight_layout()
    paths["plot"] = out / "simulation.png"
    fig.savefig(paths["plot"], dpi=100)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Simulate ranking policies against a generated world's truth.")
    ap.add_argument("--world", required=True)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..N")
    ap.add_argument("--config", default="active")
    ap.add_argument("--epsilon", type=float, default=None)
    ap.add_argument("--ucb-c", type=float, default=None)
    ap.add_argument("--novelty-weight", type=float, default=None)
    ap.add_argument("--boost", type=float, default=None)
    ap.add_argument("--half-life", type=float, default=None, help="stats_half_life_days of ranker AND greedy")
    ap.add_argument("--window", type=int, default=None, help="stats_window_days of ranker AND greedy")
    ap.add_argument("--informed", action="store_true",
                    help="add the `informed` policy (true lifts, the ranker's constraints): the value of information")
    ap.add_argument("--out", default=None, help="report directory (metrics.parquet, summary.md, simulation.png)")
    a = ap.parse_args(argv)
    over = {k: v for k, v in {"epsilon": a.epsilon, "ucb_c": a.ucb_c, "novelty_weight": a.novelty_weight,
                               "new_caption_boost": a.boost, "stats_half_life_days": a.half_life,
                               "stats_window_days": a.window}.items() if v is not None}  # fmt: skip
    params = RankerParams.from_config(a.config, **over)
    frame = run_simulation(a.world, days=a.days, seeds=range(1, a.seeds + 1),
                           policies=default_policies(params, informed=a.informed))
    summ = summarize(frame, baselines=("human_like", "greedy", "random", *(("informed",) if a.informed else ())))
    print(f"ranker params: {params}")
    print(summ["markdown"])
    if a.out:
        print(write_report(frame, summ, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
