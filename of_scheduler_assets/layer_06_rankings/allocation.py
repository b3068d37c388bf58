"""Per-page daily config assignment and A/B allocation (30-ml-and-ranking §6.3), pure polars.

- `new` pages run config `new`; `inactive` pages get no row (they are not ranked).
- `active` pages go through the experiments in their listed order. Experiment k owns the cumulative range
  [S_{k-1}, S_k) of [0, 1), S_k = Σ_{j ≤ k} traffic_share_j (ranges of every listed experiment count, live or not,
  so pausing or ending one never moves the pages of the others). For each experiment that is live on the date
  (start ≤ date ≤ end, null end open) and eligible for the page's lifecycle, the page draws
  u_k = hash_uniform("ab|" + id + "|" + username_page); the first experiment with u_k in its range wins and the page
  runs its `config`. Otherwise the page runs `active`.
- The hash depends only on the experiment and the page, so a page keeps its arm across days while the shares are
  unchanged, and appending an experiment never moves pages already assigned to earlier ones.

Note: u_k is drawn per experiment (as §6.3 specifies), so the ranges are a partition of [0, 1) per experiment but the
draws are independent: experiment 1 gets exactly its share, experiment k > 1 gets share_k × Π_{j<k} (1 − share_j)
of the eligible pages in expectation.

Output: the rows of `ops_audit.config_assignment_log`. `experiment_id` is the winning experiment (null for the
`active` default and for `new` pages). `u` is the winning experiment's draw; for an active page in no experiment it is
the draw of the first experiment evaluated (so the audit shows how far the page was from it); null when no experiment
was evaluated (new pages, or no experiment live and eligible that day).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.identity import hash_uniform
from of_scheduler_assets.resources.ranker_config import LIFECYCLE_STATES, LoadedRankerConfig

CONFIG_ASSIGNMENT_LOG_SCHEMA: dict[str, pl.DataType] = {
    "assigned_date": pl.Date(),
    "username_page": pl.String(),
    "lifecycle_state": pl.String(),
    "experiment_id": pl.String(),
    "u": pl.Float64(),
    "config_name": pl.String(),
    "config_version": pl.String(),
}


def ab_uniform(experiment_id: str, username_page: str) -> float:
    """The page's draw for one experiment: hash_uniform("ab|" + experiment_id + "|" + username_page)."""
    return hash_uniform(f"ab|{experiment_id}|{username_page}")


def assign_configs(pages: pl.DataFrame, cfg: LoadedRankerConfig, assigned_date: dt.date) -> pl.DataFrame:
    """One `config_assignment_log` row per new or active page for `assigned_date`, sorted by `username_page`.

    `pages` needs `username_page` (unique, non-null) and `lifecycle_state` (new | active | inactive); other
    columns are ignored. Raises ValueError on duplicates, nulls or an unknown lifecycle state.
    """
    missing = {"username_page", "lifecycle_state"} - set(pages.columns)
    if missing:
        raise ValueError(f"assign_configs: pages lack columns {sorted(missing)}")
    pages = pages.select(pl.col("username_page").cast(pl.String), pl.col("lifecycle_state").cast(pl.String))
    if pages["username_page"].null_count():
        raise ValueError("assign_configs: null username_page")
    dup = pages.filter(pl.col("username_page").is_duplicated())["username_page"].unique().sort().to_list()
    if dup:
        raise ValueError(f"assign_configs: duplicate username_page {dup[:10]}")
    unknown = pages.filter(~pl.col("lifecycle_state").is_in(LIFECYCLE_STATES) | pl.col("lifecycle_state").is_null())
    if unknown.height:
        raise ValueError(
            f"assign_configs: unknown lifecycle_state for {unknown['username_page'].head(10).to_list()} "
            f"(known: {list(LIFECYCLE_STATES)})"
        )

    ranked = pages.filter(pl.col("lifecycle_state") != "inactive").sort("username_page")
    default_config = pl.col("lifecycle_state")  # new → new, active → active
    experiment_id = pl.lit(None, dtype=pl.String)
    u_first = pl.lit(None, dtype=pl.Float64)
    u_won = pl.lit(None, dtype=pl.Float64)
    config_name = default_config

    upper = 0.0  # cumulative ranges over every listed experiment, live or not
    ranges: list[tuple[float, float]] = []
    for exp in cfg.model.experiments:
        ranges.append((upper, upper + exp.traffic_share))
        upper += exp.traffic_share
    live = [
        (exp, lo, hi) for exp, (lo, hi) in zip(cfg.model.experiments, ranges, strict=True) if exp.is_live(assigned_date)
    ]
    names = ranked["username_page"].to_list()
    draws: dict[str, pl.Expr] = {}
    for exp, _, _ in live:
        col = f"__u_{len(draws)}"
        ranked = ranked.with_columns(pl.Series(col, [ab_uniform(exp.id, n) for n in names], dtype=pl.Float64))
        draws[exp.id] = pl.col(col)
    # Built from the last experiment to the first, so the first match in listed order ends up outermost.
    for exp, lo, hi in reversed(live):
        u = draws[exp.id]
        eligible = pl.col("lifecycle_state").is_in(exp.eligible_lifecycle)
        hit = eligible & (u >= lo) & (u < hi)
        config_name = pl.when(hit).then(pl.lit(exp.config)).otherwise(config_name)
        experiment_id = pl.when(hit).then(pl.lit(exp.id)).otherwise(experiment_id)
        u_won = pl.when(hit).then(u).otherwise(u_won)
        u_first = pl.when(eligible).then(u).otherwise(u_first)

    out = ranked.select(
        pl.lit(assigned_date, dtype=pl.Date).alias("assigned_date"),
        pl.col("username_page"),
        pl.col("lifecycle_state"),
        experiment_id.alias("experiment_id"),
        pl.coalesce(u_won, u_first).alias("u"),
        config_name.alias("config_name"),
        pl.lit(cfg.config_version, dtype=pl.String).alias("config_version"),
    )
    return out.cast(CONFIG_ASSIGNMENT_LOG_SCHEMA).sort("username_page")
