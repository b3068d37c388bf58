"""Dagster wiring of `layer_05_ml` (30-ml-and-ranking §3, §4): the prior chain (`page_priors`, the compact
`caption_priors` and `caption_lift`, shapes in `priors`) and the feature store, partitioned by computed date (UTC).
Each partition is computed as of the end of its date (the run's clock when that is earlier), from the fact partitions
of the year before it (the 365-day features)."""


import base64
import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from of_scheduler_assets import partitions, settings
from of_scheduler_assets.checks import warehouse as wh_checks
from of_scheduler_assets.checks.contracts import check_result, check_spec
from of_scheduler_assets.layer_05_ml import backtest as BT
from of_scheduler_assets.layer_05_ml import features as F
from of_scheduler_assets.layer_05_ml import priors as P
from of_scheduler_assets.layer_05_ml import simulation as SIM
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.ranker_config import RankerConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_05_ml"
FOUNDATION = "layer_03_foundation"
SEMANTIC = "layer_04_semantic"
FACT = dg.AssetKey([FOUNDATION, "fact_message_send"])
FEATURE_CONFIG = "active"  # features use the active config's statistics windows; the ranker applies each page's


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def _fact_in(days_back: int) -> dg.AssetIn:
    return dg.AssetIn(key=FACT, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-days_back, end_offset=1, allow_nonexistent_upstream_partitions=True))


def _dates(context: dg.AssetExecutionContext) -> list[dt.date]:
    first, last = partitions.window_dates(context)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def as_of_for(day: dt.date, now: dt.datetime) -> dt.datetime:
    """The computation time of a daily partition: the end of its UTC date, or now when the date is today."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return min(end, now)


def _metadata(partition_column: str = "computed_date") -> dict:
    return {"partition_expr": partition_column,
            "bigquery_time_partitioning": {"field": partition_column, "type": "DAY"}}


@dg.multi_asset(
    outs={
        "page_priors": dg.AssetOut(key=key("page_priors"), group_name=GROUP, metadata=_metadata(), description=(
            "Per page and day: global and page-level decayed rates, median recipients per send, prior strengths, "
            "price elasticity and reference price (30-ml §3).")),
        "caption_priors": dg.AssetOut(key=key("caption_priors"), group_name=GROUP, metadata=_metadata(), description=(
            "Per page and day: the prior chain global → page → cross-page lift → caption on page, for purchases and "
            "opens (30-ml §3); one row per caption with events on the page plus a page row (caption_id null, the "
            "prior of a caption never sent anywhere). A caption sent only on other pages has no row here: it takes "
            "the page's μ_P × caption_lift (priors.expand_caption_priors gives the full page × caption frame).")),
        "caption_lift": dg.AssetOut(key=key("caption_lift"), group_name=GROUP, metadata=_metadata(), description=(
            "Per caption and day: decayed purchases / views and their expectations at the page rates summed over "
            "every page, and the cross-page lift L_C (30-ml §3) of a page on which the caption was never sent.")),
    },
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"fact_message_send": _fact_in(92), "dim_page": dg.AssetIn(key=[FOUNDATION, "dim_page"])},
)
def ml_priors(context: dg.AssetExecutionContext, ranker_config: RankerConfigResource, clock: ClockResource,
              fact_message_send: pl.DataFrame, dim_page: pl.DataFrame):
    cfg = ranker_config.load().config(FEATURE_CONFIG)
    fact = fact_message_send.sort("message_send_key")
    pages, captions, lifts = [], [], []
    for day in _dates(context):
        as_of = as_of_for(day, clock.now())
        page = P.page_priors(fact, dim_page, as_of, half_life_days=cfg.stats_half_life_days,
                             window_days=cfg.stats_window_days, nu_sends=cfg.nu_sends, nu_page_sends=cfg.nu_page_sends)
        pages.append(page)
        compact, lift = P.caption_prior_tables(
            fact, dim_page, as_of, half_life_days=cfg.stats_half_life_days, window_days=cfg.stats_window_days,
            nu_sends=cfg.nu_sends, nu_page_sends=cfg.nu_page_sends, lift_prior_events=cfg.lift_prior_events,
            pages=page)
        captions.append(compact)
        lifts.append(lift)
    page_frame, caption_frame = pl.concat(pages, how="vertical_relaxed"), pl.concat(captions, how="vertical_relaxed")
    lift_frame = pl.concat(lifts, how="vertical_relaxed")
    yield dg.Output(page_frame, "page_priors", metadata={"rows": page_frame.height})
    yield dg.Output(caption_frame, "caption_priors", metadata={"rows": caption_frame.height})
    yield dg.Output(lift_frame, "caption_lift", metadata={"rows": lift_frame.height})


def catalogue_markdown() -> dg.MetadataValue:
    lines = ["| # | feature | family | formula | unit | window | fill |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {i} | {f['name']} | {f['family']} | {f['formula']} | {f['unit']} | {f.get('window', '')} | "
              f"{f['fill']} |" for i, f in enumerate(F.FEATURE_CATALOGUE, start=1)]
    return dg.MetadataValue.md("\n".join(lines))


FEATURE_STORE = key("feature_store")
FEATURE_CHECKS = {
    "one_row_per_key": "One row per (computed_date, username_page, caption_id).",
    "p_buy_smoothed_never_null": "The prior chain gives every candidate a purchase probability (cold start).",
    "feature_ranges": "Rates and scores in [0, 1]; hours since use >= 0.",
}
RATE_FEATURES = ["buy_rate_decayed", "open_rate_decayed", "p_buy_smoothed", "p_open_smoothed", "stability_score",
                 "confidence_score", "novelty_level", "smoothing_weight", "fatigue_score", "rps_percentile",
                 "category_percentile", "slump_risk_score", "night_owl_share"]


def feature_range_check(store: pl.DataFrame) -> tuple[bool, dict]:
    present = [c for c in RATE_FEATURES if c in store.columns]
    bad = {c: int(((store[c] < 0) | (store[c] > 1)).sum()) for c in present}
    hours = [c for c in ("hours_since_use_page", "hours_since_use_any") if c in store.columns]
    bad.update({c: int((store[c] < 0).sum()) for c in hours})
    offending = {c: n for c, n in bad.items() if n}
    return not offending, {"out_of_range": offending, "columns_checked": len(bad)}


@dg.asset(
    key=FEATURE_STORE,
    group_name=GROUP,
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={**_metadata(), "feature_count": len(F.FEATURE_CATALOGUE),
              "feature_families": len({f["family"] for f in F.FEATURE_CATALOGUE}),
              "feature_catalogue": catalogue_markdown()},
    ins={
        "fact_message_send": _fact_in(366),
        "dim_caption": dg.AssetIn(key=[FOUNDATION, "dim_caption"]),
        "dim_page": dg.AssetIn(key=[FOUNDATION, "dim_page"]),
        "page_priors": dg.AssetIn(key=key("page_priors")),
        "caption_priors": dg.AssetIn(key=key("caption_priors")),
        "caption_lift": dg.AssetIn(key=key("caption_lift")),
        "page_health_7d": dg.AssetIn(key=[SEMANTIC, "page_health_7d"]),
        "page_tier_assignment": dg.AssetIn(key=[SEMANTIC, "page_tier_assignment"]),
        "page_state_daily": dg.AssetIn(key=[SEMANTIC, "page_state_daily"]),
        "page_volume_profile": dg.AssetIn(key=[SEMANTIC, "page_volume_profile"]),
        "caption_bank_last_use": dg.AssetIn(key=[FOUNDATION, "caption_bank_last_use"]),
    },
    check_specs=[check_spec(FEATURE_STORE, name, text, blocking=True) for name, text in FEATURE_CHECKS.items()],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26)),
    description="Per computed date, active page and candidate caption (never-sent captions included: cold start): "
    "the 73 features of the catalogue in 7 families (30-ml §4; catalogue in this asset's metadata).",
)
def feature_store(context: dg.AssetExecutionContext, ranker_config: RankerConfigResource, clock: ClockResource,
                  fact_message_send: pl.DataFrame, dim_caption: pl.DataFrame, dim_page: pl.DataFrame,
                  page_priors: pl.DataFrame, caption_priors: pl.DataFrame, caption_lift: pl.DataFrame,
                  page_health_7d: pl.DataFrame,
                  page_tier_assignment: pl.DataFrame, page_state_daily: pl.DataFrame,
                  page_volume_profile: pl.DataFrame, caption_bank_last_use: pl.DataFrame):
    loaded = ranker_config.load()
    cfg = loaded.config(FEATURE_CONFIG)
    fact = fact_message_send.sort("message_send_key")
    now = clock.now()
    frames = []
    for day in _dates(context):
        same_day = pl.col("computed_date") == day
        frames.append(F.feature_store(
            fact, dim_caption, dim_page, caption_priors.filter(same_day), page_priors.filter(same_day),
            as_of=as_of_for(day, now), caption_lift=caption_lift.filter(same_day),
            page_health_7d=page_health_7d.filter(same_day),
            page_tier_assignment=page_tier_assignment.filter(same_day),
            page_state_daily=page_state_daily.filter(same_day), page_volume_profile=page_volume_profile,
            bank_last_use=caption_bank_last_use,
            min_samples_for_exploitation=cfg.min_samples_for_exploitation, min_reuse_days=cfg.min_reuse_days,
            half_life_days=cfg.stats_half_life_days, window_days=cfg.stats_window_days, ucb_c=cfg.ucb_c,
            ucb_cap_mult=cfg.ucb_cap_mult, cooldown_base_hours=cfg.cooldown.base_hours,
            cooldown_backoff_factor=cfg.cooldown.backoff_factor, cooldown_min_hours=cfg.cooldown.min_hours,
            max_cooldown_days=cfg.cooldown.max_cooldown_days, fatigue_limit=cfg.fatigue_limit,
            price_adjustment=cfg.price_adjustment, config_name=FEATURE_CONFIG, config_version=loaded.config_version,
            computed_at=as_of_for(day, now),
        ))
    store = pl.concat(frames, how="vertical_relaxed")
    yield dg.Output(store, metadata={
        "rows": store.height, "pages": store["username_page"].n_unique(),
        "cold_start_candidates": int(store["is_cold_start"].sum()), "feature_count": len(F.FEATURE_CATALOGUE)})
    yield check_result(FEATURE_STORE, "one_row_per_key",
                       wh_checks.unique_key(store, ["computed_date", "username_page", "caption_id"]))
    nulls = int(store["p_buy_smoothed"].null_count())
    yield check_result(FEATURE_STORE, "p_buy_smoothed_never_null", (nulls == 0, {"null_rows": nulls}))
    yield check_result(FEATURE_STORE, "feature_ranges", feature_range_check(store))


def png_markdown(png: bytes | None, title: str) -> str:
    """A PNG embedded in markdown metadata (the UI renders data URIs)."""
    if not png:
        return ""
    return f"\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})\n"


@dg.asset(
    key=key("ranker_backtest"),
    group_name=GROUP,
    ins={"fact_message_send": dg.AssetIn(key=FACT), "dim_page": dg.AssetIn(key=[FOUNDATION, "dim_page"])},
    deps=[dg.AssetKey(["layer_02_staging", "stg_message_events"])],
    description="Walk-forward backtest on logged data (30-ml §10.2): each of the last weeks predicted from what was "
    "known at its start (snapshots received by then), calibration, Spearman, agreement-stratified lift, a direct-"
    "method value, cluster-bootstrap 95 % intervals; the caveats and a calibration plot are in the metadata.",
)
def ranker_backtest(context: dg.AssetExecutionContext, ranker_config: RankerConfigResource, clock: ClockResource,
                    warehouse: WarehouseReader, fact_message_send: pl.DataFrame, dim_page: pl.DataFrame):
    cfg = ranker_config.load()
    named = cfg.config(FEATURE_CONFIG)
    snapshots = warehouse.read_table("layer_02_staging", "stg_message_events")
    result = BT.walk_forward(
        fact_message_send.sort("message_send_key"), dim_page, as_of=clock.now(),
        weeks=cfg.model.backtest_weeks, events=snapshots, half_life_days=named.stats_half_life_days,
        window_days=named.stats_window_days, nu_sends=named.nu_sends, nu_page_sends=named.nu_page_sends,
        lift_prior_events=named.lift_prior_events,
    )
    summary = result.summary.with_columns(computed_at=pl.lit(clock.now()), fit_source=pl.lit(result.fit_source))
    context.log.info(f"backtest: {result.folds.height} folds, fit from {result.fit_source}")
    return dg.Output(summary, metadata={
        "folds": result.folds.height,
        "report": dg.MetadataValue.md(result.report_md + png_markdown(result.calibration_png, "calibration")),
        "caveats": dg.MetadataValue.md(result.caveats),
    })


class SimulationConfig(dg.Config):
    world_dir: str | None = None  # a generated world with `truth/`; default: the sample world under OF_SCHEDULER_HOME
    days: int = 28
    seeds: list[int] = [1, 2, 3, 4, 5]


SIMULATION_COLUMNS = {"baseline": pl.String, "ratio": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64}


@dg.asset(
    key=key("ranker_simulation"),
    group_name=GROUP,
    description="The ranker, three baselines (random eligible, repeat-the-best-seller, greedy) and the oracle played "
    "for N simulated days in the sample generator's world, scored with its ground truth (30-ml §10.1): ratios of "
    "mean true revenue per recipient with paired-bootstrap 90 % intervals; regret per day; violations. Only where a "
    "ground truth exists (generated worlds).",
)
def ranker_simulation(context: dg.AssetExecutionContext, config: SimulationConfig):
    world = Path(config.world_dir) if config.world_dir else settings.home()
    if not (world / "truth" / "events.parquet").exists():
        context.log.info(f"no ground truth under {world}: nothing to simulate")
        return dg.Output(pl.DataFrame(schema=SIMULATION_COLUMNS), metadata={"world": str(world), "simulated": False})
    frame = SIM.run_simulation(world, days=config.days, seeds=tuple(config.seeds), progress=context.log.info)
    summary = SIM.summarize(frame)
    paths = SIM.write_report(frame, summary, settings.exports_dir() / "ranker_simulation")
    png = paths["plot"].read_bytes() if "plot" in paths else None
    ratios = pl.DataFrame(
        [{"baseline": b, "ratio": r["ratio"], "ci_low": r["lo"], "ci_high": r["hi"]}
         for b, r in summary["ratios"].items()], schema=SIMULATION_COLUMNS)
    return dg.Output(ratios, metadata={
        "world": str(world), "simulated": True, "days": config.days, "seeds": len(config.seeds),
        "report": dg.MetadataValue.md(summary["markdown"] + png_markdown(png, "simulation")),
        "files": str(paths["summary"].parent)})


ASSETS = [ml_priors, feature_store, ranker_backtest, ranker_simulation]
