"""Dagster wiring of `layer_04_semantic` (20-warehouse §4): daily metrics partitioned by their date, and the
as-of-now profiles. Every asset carries its part of the metric dictionary (§5) as metadata.

- `caption_performance_daily`, `page_performance_daily`: partitioned by `metric_date` (local send date). A run over
  partitions [first, last] reads the fact partitions that can hold those local dates (and the 30-day look-back of
  the rolling columns) through a partition mapping; the computation date is `last`.
- `page_health_7d`, `tier_thresholds`, `page_tier_assignment`, `page_state_daily`: partitioned by `computed_date`,
  one evaluation per date of the run, each with the page set active on that date.
- profiles (`page_dow_hod_profile`, `page_price_profile`, `page_price_points`, `page_volume_profile`,
  `learning_signals_28d`): the current state, as of the clock.
"""


import datetime as dt

import dagster as dg
import polars as pl

from of_scheduler_assets import partitions
from of_scheduler_assets.checks.contracts import contract_result, contract_spec
from of_scheduler_assets.layer_04_semantic import schemas
from of_scheduler_assets.layer_04_semantic import transforms as S
from of_scheduler_assets.resources.clock import ClockResource
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.warehouse import WarehouseReader

GROUP = "layer_04_semantic"
FOUNDATION = "layer_03_foundation"
FACT = dg.AssetKey([FOUNDATION, "fact_message_send"])


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def metric_dictionary(table: str) -> dg.MetadataValue:
    """The §5 metric dictionary rows that apply to ``table`` (general ones included), as a markdown table."""
    rows = [m for m in S.METRIC_DICTIONARY if m["table"] in (table, "*")]
    lines = ["| metric | formula | unit | grain |", "|---|---|---|---|"]
    lines += [f"| {m['name']} | {m['formula']} | {m['unit']} | {m['grain']} |" for m in rows]
    return dg.MetadataValue.md("\n".join(lines))


def _fact_in(days_back: int) -> dg.AssetIn:
    """The fact partitions a daily partition needs: UTC send dates from ``days_back`` days before to one day after
    (local dates differ from UTC dates by at most one day)."""
    return dg.AssetIn(key=FACT, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-days_back, end_offset=1, allow_nonexistent_upstream_partitions=True))


def ordered(fact: pl.DataFrame) -> pl.DataFrame:
    """The fact in its key order. A warehouse returns rows in any order, and float sums depend on the order of their
    terms: sorting first makes every aggregate bit-identical across re-runs (idempotence)."""
    return fact.sort("message_send_key")


def _daily_metadata(table: str, partition_column: str) -> dict:
    return {"partition_expr": partition_column, "metric_dictionary": metric_dictionary(table),
            "bigquery_time_partitioning": {"field": partition_column, "type": "DAY"}}


# --- daily metrics by metric_date ----------------------------------------------------------------------------------


@dg.asset(
    key=key("caption_performance_daily"),
    group_name=GROUP,
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata=_daily_metadata("caption_performance_daily", "metric_date"),
    ins={"fact_message_send": _fact_in(31),
         "dim_caption": dg.AssetIn(key=[FOUNDATION, "dim_caption"],
                                   metadata={"columns": ["caption_id", "primary_category", "is_current"]})},
    check_specs=[contract_spec(key("caption_performance_daily"), schemas.CaptionPerformanceDaily)],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26)),
    description="Per local send date, page (the SENDING page) and caption: ratio-of-sums rates, event quantiles, "
    "hourly array, 7/30-day calendar windows, trend, stability, percentiles (20-warehouse §4.1).",
)
def caption_performance_daily(context: dg.AssetExecutionContext, fact_message_send: pl.DataFrame,
                              dim_caption: pl.DataFrame):
    first, last = partitions.window_dates(context)
    out = S.caption_performance_daily(ordered(fact_message_send), last, captions=dim_caption, start_date=first)
    yield dg.Output(out, metadata={"rows": out.height, "dates": f"{first} .. {last}"})
    yield contract_result(key("caption_performance_daily"), schemas.CaptionPerformanceDaily, out)


@dg.asset(
    key=key("page_performance_daily"),
    group_name=GROUP,
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata=_daily_metadata("page_performance_daily", "metric_date"),
    ins={"fact_message_send": _fact_in(1)},
    check_specs=[contract_spec(key("page_performance_daily"), schemas.PagePerformanceDaily)],
    description="Per local send date and page: events, recipients, revenue, ratio-of-sums rates (20-warehouse §4.2).",
)
def page_performance_daily(context: dg.AssetExecutionContext, fact_message_send: pl.DataFrame):
    first, last = partitions.window_dates(context)
    out = S.page_performance_daily(ordered(fact_message_send), last, start_date=first)
    yield dg.Output(out, metadata={"rows": out.height, "dates": f"{first} .. {last}"})
    yield contract_result(key("page_performance_daily"), schemas.PagePerformanceDaily, out)


# --- daily page evaluations by computed_date -----------------------------------------------------------------------

PAGE_DAILY = ("page_health_7d", "tier_thresholds", "page_tier_assignment", "page_state_daily")


def evaluate_pages(dim_page: pl.DataFrame, fact: pl.DataFrame, creator_stats: pl.DataFrame | None,
                   overrides: pl.DataFrame | None, dates: list[dt.date], *, window_days: int
                   ) -> dict[str, pl.DataFrame]:
    """§4.3–4.5 for each date: health of the pages active that day, thresholds, tiers, states."""
    out: dict[str, list[pl.DataFrame]] = {name: [] for name in PAGE_DAILY}
    for day in dates:
        pages = S.pages_active_on(dim_page, fact, creator_stats, day, window_days=window_days)
        health = S.page_health_7d(fact, pages, creator_stats, day)
        thresholds = S.tier_thresholds(health, day)
        out["page_health_7d"].append(health)
        out["tier_thresholds"].append(thresholds)
        out["page_tier_assignment"].append(
            S.page_tier_assignment(health, day, thresholds=thresholds, overrides=overrides, pages=pages))
        out["page_state_daily"].append(S.page_state_daily(health, day))
    return {name: pl.concat(frames, how="vertical_relaxed") for name, frames in out.items()}


@dg.multi_asset(
    outs={name: dg.AssetOut(key=key(name), group_name=GROUP, metadata=_daily_metadata(name, "computed_date"),
                            description=text)
          for name, text in (
              ("page_health_7d", "Per active page and day: 7/28-day revenue from facts, latest creator statistics "
                                 "(20-warehouse §4.3)."),
              ("tier_thresholds", "Per day: intensity quantiles and fan / message thresholds (§4.4)."),
              ("page_tier_assignment", "Per active page and day: z-scores, intensity, engine tier, override, "
                                       "probation (§4.4)."),
              ("page_state_daily", "Per active page and day: grow / retain / monetize / balance with a note; "
                                   "renew rules only on paid and vip pages (§4.5)."),
          )},
    partitions_def=partitions.DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"fact_message_send": _fact_in(30),
         "dim_page": dg.AssetIn(key=[FOUNDATION, "page_universe"]),
         "page_overrides": dg.AssetIn(key=["ops_config", "page_overrides"])},
    deps=[dg.AssetKey(["layer_02_staging", "stg_creator_stats"])],
    check_specs=[contract_spec(key(name), schemas.SCHEMAS[name]) for name in PAGE_DAILY],
)
def page_daily_evaluation(context: dg.AssetExecutionContext, ops_config_file: OpsConfigResource,
                          warehouse: WarehouseReader, fact_message_send: pl.DataFrame, dim_page: pl.DataFrame,
                          page_overrides: pl.DataFrame):
    first, last = partitions.window_dates(context)
    dates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    window = ops_config_file.load().model.ingestion.activity_window_days
    stats = warehouse.read_table("layer_02_staging", "stg_creator_stats")
    tables = evaluate_pages(dim_page, ordered(fact_message_send), stats, page_overrides, dates, window_days=window)
    for name in PAGE_DAILY:
        yield dg.Output(tables[name], name, metadata={"rows": tables[name].height, "dates": f"{first} .. {last}"})
    for name in PAGE_DAILY:
        yield contract_result(key(name), schemas.SCHEMAS[name], tables[name])


# --- profiles as of now -----------------------------------------------------------------------------------------------

PROFILES = ("page_dow_hod_profile", "page_price_profile", "page_price_points", "page_volume_profile",
            "learning_signals_28d")


@dg.multi_asset(
    outs={name: dg.AssetOut(key=key(name), group_name=GROUP, description=text,
                            metadata={"metric_dictionary": metric_dictionary(name)})
          for name, text in (
              ("page_dow_hod_profile", "Decayed (half-life 45 d) day-of-week x hour revenue per recipient, smoothed "
                                       "toward the page mean, temporal multipliers, hour ranks (§4.6)."),
              ("page_price_profile", "PPV price cut points at levels 0.25/0.30/0.50/0.60/0.75/0.85 and price mode "
                                     "(§4.7)."),
              ("page_price_points", "Per page and whole-dollar price: events, recipients, purchases, decayed "
                                    "(half-life 14 d) recipients and purchases (§4.7)."),
              ("page_volume_profile", "28-day PPV volume, revenue slope per PPV, fatigue ratio, volume boost, "
                                      "audience fatigue risk (§4.8)."),
              ("learning_signals_28d", "Per page: 28-day sends, revenue, recent vs previous RPS, price correlation, "
                                       "volume signals (§4.9)."),
          )},
    ins={"fact_message_send": dg.AssetIn(key=FACT)},
    check_specs=[contract_spec(key(name), schemas.SCHEMAS[name]) for name in PROFILES],
)
def page_profiles(ops_config_file: OpsConfigResource, clock: ClockResource, fact_message_send: pl.DataFrame):
    cfg = ops_config_file.load().model.warehouse
    now = clock.now()
    fact_message_send = ordered(fact_message_send)
    tables = {
        "page_dow_hod_profile": S.page_dow_hod_profile(
            fact_message_send, now, window_days=cfg.temporal_window_days, half_life_days=cfg.temporal_half_life_days,
            prior_sends=cfg.temporal_prior_sends),
        "page_price_profile": S.page_price_profile(fact_message_send, now, window_days=cfg.price_window_days),
        "page_price_points": S.page_price_points(fact_message_send, now, window_days=cfg.price_window_days,
                                                 half_life_days=cfg.price_half_life_days),
        "page_volume_profile": S.page_volume_profile(fact_message_send, now),
        "learning_signals_28d": S.learning_signals_28d(fact_message_send, now),
    }
    for name in PROFILES:
        yield dg.Output(tables[name], name, metadata={"rows": tables[name].height, "as_of": now.isoformat()})
    for name in PROFILES:
        yield contract_result(key(name), schemas.SCHEMAS[name], tables[name])


ASSETS = [caption_performance_daily, page_performance_daily, page_daily_evaluation, page_profiles]
