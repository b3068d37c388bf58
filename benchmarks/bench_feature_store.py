"""Feature store at scale 1.0: our polars ``page_priors`` + ``caption_priors`` + ``feature_store`` vs the same
features as DuckDB SQL (issue acceptance: polars at least 3x faster).

    .venv/bin/python benchmarks/bench_feature_store.py [--warehouse /tmp/world1/warehouse.duckdb] [--repeat 3]
    .venv/bin/python benchmarks/bench_feature_store.py --inputs /tmp/bench_fs_inputs   # reuse a built input dir

Setup (own spawn child, timed and reported, not part of either side): read the staging tables of a scale-1.0
warehouse (found as bench_warehouse_model.py does: --warehouse, else /tmp/world1, /tmp/bench), build
``dim_caption``, ``fact_message_send`` and ``dim_page`` with the pure foundation transforms, plus the optional
semantic inputs of the store (``page_health_7d``, ``page_tier_assignment``, ``page_state_daily``,
``page_volume_profile``) with the semantic transforms, and the caption bank's last use per page
(``caption_bank_last_use``, from ``stg_caption_bank`` + ``ops_config.page_aliases``; the fallback of
``last_used_ts_page``), and write them as parquet into a temp dir (or --inputs DIR, kept and reused when it already
holds them). as_of = last UTC send date + 1 day.

Each side then runs in its own ``multiprocessing`` spawn child (ru_maxrss = that side's peak), best of --repeat:
  * polars: read the parquet inputs (timed apart), then ``page_priors`` -> ``caption_prior_tables(pages=...)`` (the
    stored compact pair: ``caption_priors`` = page rows + pairs with own events, ``caption_lift`` per caption) ->
    ``feature_store(..., caption_lift=...)`` (all 73 catalogue features, every active page);
  * duckdb: the parquet inputs loaded into TEMP tables (timed apart), then the same chain as CREATE TEMP TABLE ... AS
    SQL: page_priors, caption_priors + caption_lift (same compact rows), feature_store (same rows, same 73 features).
Key numbers (row counts, Σ and null counts of representative features, category counts) are compared with a relative
tolerance (--rel, default 1e-6) and every disagreement is printed.

Not like-for-like: polars' float sums over events are fixed-point (``priors.dsum``: terms rounded to 2^-64, Int128
sums; exact and order-free, for bit-reproducibility) and its "other pages" sums are exact totals minus own in that
fixed point; the SQL sums are plain DOUBLE sums in whatever order DuckDB takes them. None of the 73 features needs
the Python rule engine: the store evaluates only the slot-independent reuse / cooldown / fatigue codes (§5.7 TOS,
activity, media-only, category and explicitness are universe filters), so ``is_eligible`` / ``ineligible_reasons``
are plain SQL too.
--profile additionally times the feature families of the polars store one by one (re-built sub-queries, see
``polars_profile``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_warehouse_model import STAGING, peak_mb, resolve_warehouse, rss_mb  # noqa: E402

INPUTS = ["fact_message_send", "dim_caption", "dim_page", "page_health_7d", "page_tier_assignment",
          "page_state_daily", "page_volume_profile", "caption_bank_last_use"]  # fmt: skip
PAGE_ALIASES = "ops_config.page_aliases"

# key numbers per output: ("sum", col) Σ as float (NaN -> null); ("nulls", col) null count; ("count", col) counts per
# value; ("listlen", col) Σ list lengths.
CHECKS: dict[str, list[tuple[str, str]]] = {
    "page_priors": [("sum", "m_P"), ("sum", "mu_P"), ("sum", "mu_open_P"), ("sum", "beta_P"),
                    ("sum", "price_points"), ("sum", "ref_price"), ("sum", "x_P"), ("sum", "n_P")],
    "caption_priors": [("sum", "p_buy"), ("sum", "p_open"), ("sum", "lift_buy"), ("sum", "lift_open"),
                       ("sum", "rps_decayed"), ("nulls", "rps_decayed"), ("sum", "smoothing_weight"),
                       ("sum", "q_bar"), ("sum", "send_events_cp"), ("count", "prior_level")],
    "caption_lift": [("sum", "lift_buy"), ("sum", "lift_open"), ("sum", "x_C"), ("sum", "e_C"), ("sum", "pages_cp")],
    "feature_store": [
        ("sum", "send_events_90d"), ("sum", "recipients_30d"), ("sum", "purchases_90d"), ("sum", "revenue_gross_90d"),
        ("sum", "revenue_net_30d"), ("sum", "rps_7d"), ("nulls", "rps_7d"), ("sum", "rps_30d"), ("nulls", "rps_30d"),
        ("sum", "rps_90d"), ("sum", "buy_rate_30d"), ("nulls", "buy_rate_30d"), ("sum", "open_rate_90d"),
        ("sum", "rps_decayed"), ("nulls", "rps_decayed"), ("sum", "buy_rate_decayed"), ("sum", "open_rate_decayed"),
        ("sum", "p_buy_smoothed"), ("nulls", "p_buy_smoothed"), ("sum", "p_open_smoothed"),
        ("sum", "rps_smoothed_ref"), ("sum", "trend_slope"), ("sum", "stability_score"), ("sum", "confidence_score"),
        ("sum", "rps_event_median_90d"), ("sum", "rps_event_p25_90d"), ("sum", "rps_event_p75_90d"),
        ("sum", "rps_event_stddev_90d"), ("sum", "rps_event_iqr_90d"), ("sum", "rps_event_cv_90d"),
        ("nulls", "rps_event_cv_90d"), ("sum", "ucb_bonus_ref"), ("sum", "posterior_sd"), ("sum", "novelty_level"),
        ("sum", "exploration_temperature"), ("sum", "smoothing_weight"), ("count", "is_cold_start"),
        ("sum", "send_events_all_pages_365d"), ("sum", "best_hod_local"), ("nulls", "best_hod_local"),
        ("sum", "best_hod_rps"), ("nulls", "best_hod_rps"), ("sum", "best_dow_local"),
        ("sum", "hours_since_use_page"), ("nulls", "hours_since_use_page"), ("sum", "hours_since_use_any"),
        ("sum", "last_used_ts_page"), ("sum", "last_used_ts_any"), ("sum", "active_days_7d"),
        ("sum", "active_days_30d"), ("sum", "active_days_90d"), ("sum", "uses_today"), ("sum", "uses_7d_all_pages"),
        ("sum", "cooldown_hours"), ("sum", "cooldown_until_ts"), ("nulls", "cooldown_until_ts"),
        ("sum", "reuse_block_until"), ("sum", "fatigue_score"), ("count", "is_eligible"),
        ("listlen", "ineligible_reasons"), ("sum", "base_score"), ("sum", "exploration_score"),
        ("sum", "rps_percentile"), ("sum", "category_percentile"), ("sum", "rps_slump_pct"),
        ("sum", "slump_risk_score"), ("sum", "night_owl_share"), ("count", "is_night_owl"),
        ("count", "price_stance_bucket"), ("sum", "family_recent_uses_28d"), ("sum", "cross_page_usage_7d"),
        ("sum", "renew_on_rate"), ("count", "page_tier"), ("count", "page_state"), ("sum", "page_fatigue_risk"),
        ("count", "page_type"), ("count", "primary_category"), ("sum", "data_watermark")],
}  # fmt: skip


def key_numbers(name: str, df) -> dict[str, object]:
    """Row count and CHECKS of one output, as plain python values (same code for both sides)."""
    import polars as pl

    out: dict[str, object] = {"rows": df.height}
    for kind, col in CHECKS.get(name, []):
        if col not in df.columns:
            out[f"{kind}:{col}"] = "<missing>"
            continue
        s = df[col]
        if kind == "sum":
            if s.dtype == pl.Datetime or isinstance(s.dtype, pl.Datetime):
                s = s.dt.epoch("us") / 1e6
            v = s.cast(pl.Float64).fill_nan(None).sum()
            out[f"sum:{col}"] = None if v is None else float(v)
        elif kind == "nulls":
            out[f"nulls:{col}"] = int(s.cast(pl.Float64, strict=False).fill_nan(None).null_count())
        elif kind == "count":
            vc = s.cast(pl.String).fill_null("<null>").value_counts()
            out[f"count:{col}"] = dict(sorted((str(k), int(n)) for k, n in vc.iter_rows()))
        elif kind == "listlen":
            out[f"listlen:{col}"] = int(s.list.len().fill_null(0).sum())
    return out


# ------------------------------------------------------------------------------------------------------ setup


def setup_inputs(warehouse: str, as_of_iso: str, out_dir: str) -> dict:
    """Foundation + semantic inputs from the staging tables (as bench_warehouse_model's polars side), as parquet."""
    from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
    from of_scheduler_assets.layer_03_foundation import transforms as F
    from of_scheduler_assets.layer_03_foundation.bank_last_use import caption_bank_last_use
    from of_scheduler_assets.layer_04_semantic import transforms as S
    from of_scheduler_assets.resources.warehouse import open_duckdb, read_duckdb_table

    as_of = dt.date.fromisoformat(as_of_iso)
    now = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    t: dict[str, float] = {}
    s = time.perf_counter()
    con = open_duckdb(warehouse, read_only=True)
    stg = {k: read_duckdb_table(con, f"SELECT * FROM {v}") for k, v in STAGING.items()}
    aliases = read_duckdb_table(con, f"SELECT * FROM {PAGE_ALIASES}")
    con.close()
    t["read staging"] = time.perf_counter() - s
    s = time.perf_counter()
    ev = stg["stg_message_events"]
    latest = latest_snapshots(ev)
    dim_caption = F.build_dim_caption(
        stg["stg_caption_bank"], F.report_captions(ev), None, explicitness_map=stg["explicitness_map"], now=now
    )
    fact = F.build_fact_message_send(latest, dim_caption)
    dim_page = F.build_dim_page(
        stg["page_registry"], stg["stg_creator_stats"], ev, stg["stg_scheduler_assignments"], None, now=now
    )
    bank_last_use, _ = caption_bank_last_use(stg["stg_caption_bank"], aliases, dim_page)
    t["foundation"] = time.perf_counter() - s
    s = time.perf_counter()
    health = S.page_health_7d(fact, dim_page, stg["stg_creator_stats"], as_of)
    thr = S.tier_thresholds(health, as_of)
    frames = {
        "fact_message_send": fact,
        "dim_caption": dim_caption,
        "dim_page": dim_page,
        "page_health_7d": health,
        "page_tier_assignment": S.page_tier_assignment(health, as_of, thresholds=thr, pages=dim_page),
        "page_state_daily": S.page_state_daily(health, as_of),
        "page_volume_profile": S.page_volume_profile(fact, as_of),
        "caption_bank_last_use": bank_last_use,
    }
    t["semantic inputs"] = time.perf_counter() - s
    s = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, df in frames.items():
        df.write_parquet(out / f"{name}.parquet.tmp")
        (out / f"{name}.parquet.tmp").rename(out / f"{name}.parquet")
        rows[name] = df.height
    t["write parquet"] = time.perf_counter() - s
    (out / "as_of.txt").write_text(as_of_iso)
    return {"times": t, "rows": rows, "peak_mb": peak_mb()}


def read_inputs_polars(inputs: str) -> dict:
    import polars as pl

    return {n: pl.read_parquet(Path(inputs) / f"{n}.parquet") for n in INPUTS}


# ------------------------------------------------------------------------------------------------- polars side


def polars_side(inputs: str, as_of_iso: str, repeat: int) -> dict:
    from of_scheduler_assets.layer_05_ml.features import feature_store
    from of_scheduler_assets.layer_05_ml.priors import caption_prior_tables, page_priors

    base_rss = rss_mb()
    as_of = dt.date.fromisoformat(as_of_iso)
    best: dict[str, float] = {}
    out: dict = {}
    for _ in range(repeat):
        out.clear()
        t: dict[str, float] = {}
        s = time.perf_counter()
        inp = read_inputs_polars(inputs)
        t["read inputs"] = time.perf_counter() - s
        fact, dim_caption, dim_page = inp["fact_message_send"], inp["dim_caption"], inp["dim_page"]
        s = time.perf_counter()
        out["page_priors"] = pp = page_priors(fact, dim_page, as_of)
        t["page_priors"] = time.perf_counter() - s
        s = time.perf_counter()
        cp, lift = caption_prior_tables(fact, dim_page, as_of, pages=pp)
        out["caption_priors"], out["caption_lift"] = cp, lift
        t["caption_priors"] = time.perf_counter() - s
        s = time.perf_counter()
        out["feature_store"] = feature_store(
            fact, dim_caption, dim_page, cp, pp, as_of=as_of, caption_lift=lift, page_health_7d=inp["page_health_7d"],
            page_tier_assignment=inp["page_tier_assignment"], page_state_daily=inp["page_state_daily"],
            page_volume_profile=inp["page_volume_profile"], bank_last_use=inp["caption_bank_last_use"],
        )  # fmt: skip
        t["feature_store"] = time.perf_counter() - s
        del inp, fact, dim_caption, dim_page, pp, cp, lift
        for k, v in t.items():
            best[k] = min(best.get(k, float("inf")), v)
    peak = peak_mb()
    checks = {n: key_numbers(n, df) for n, df in out.items()}
    return {"times": best, "checks": checks, "peak_mb": peak, "base_mb": base_rss,
            "n_features": len(out["feature_store"].columns)}  # fmt: skip


# ------------------------------------------------------------------------------------------------- duckdb side


def duckdb_sql(as_of: dt.date) -> list[tuple[str, str]]:
    """(step, statement) in dependency order; the steps are page_priors, caption_priors and feature_store (their
    helper tables are timed with them). Defaults of ``page_priors`` / ``caption_priors`` / ``feature_store``."""
    from of_scheduler_assets.layer_05_ml.features import FEATURE_COLUMNS

    A = f"DATE '{as_of.isoformat()}'"
    NOW = f"TIMESTAMPTZ '{(as_of + dt.timedelta(days=1)).isoformat()} 00:00:00+00'"
    HL, NU, NU_P, LAM = 14.0, 2.0, 2.0, 2.0
    ELIG = "coalesce(is_model_eligible, false)"

    def win(days: int, end_offset: int = 0) -> str:
        return f"(send_date_local BETWEEN {A} - {end_offset + days - 1} AND {A} - {end_offset})"

    def sdiv(n: str, d: str) -> str:
        return f"(({n})::DOUBLE / nullif(({d})::DOUBLE, 0))"

    def eb(x: str, n: str, mu: str, nu: str) -> str:
        return f"(CASE WHEN ({n}) + ({nu}) > 0 THEN (({x}) + ({nu}) * ({mu})) / (({n}) + ({nu})) ELSE ({mu}) END)"

    def ql(lst: str, q: float) -> str:  # lower order statistic of a sorted non-null list (polars 'lower')
        return f"CASE WHEN len({lst}) > 0 THEN {lst}[1 + floor({q} * (len({lst}) - 1))::BIGINT] END"

    def sig(x: str) -> str:
        return f"(1.0 / (1.0 + exp(-({x}))))"

    W = f"pow(0.5, greatest(epoch_us({NOW} - sending_ts_utc), 0) / 86400000000.0 / {HL})"
    stmts: list[tuple[str, str]] = []
    # ------------------------------------------------------------------------------------------- page_priors
    stmts.append(
        (
            "page_priors",
            f"""
CREATE OR REPLACE TEMP TABLE pev AS
SELECT *, CASE WHEN is_ppv THEN w * buy ELSE 0.0 END AS wx_buy, CASE WHEN is_ppv THEN w * sent ELSE 0.0 END AS wn_buy,
  w * view AS wx_open, w * sent AS wn_open, w * coalesce(earnings_gross_usd::DOUBLE, 0.0) AS wrev
FROM (SELECT username_page, caption_id, sending_ts_utc, message_send_key, sent, price_usd, price_cents,
        earnings_gross_usd, coalesce(price_cents > 0, false) AS is_ppv,
        (NOT coalesce(is_media_only, false) AND caption_id IS NOT NULL) AS caption_ok, {W} AS w,
        least(coalesce(purchased, 0), sent)::DOUBLE AS buy, least(coalesce(viewed, 0), sent)::DOUBLE AS view
      FROM fact_message_send WHERE {ELIG} AND {win(90)} AND sending_ts_utc <= {NOW})
""",
        )
    )
    stmts.append(
        (
            "page_priors",
            f"""
CREATE OR REPLACE TEMP TABLE page_priors AS
WITH g AS (
  SELECT coalesce(sum(wx_buy), 0) AS x_G, coalesce(sum(wn_buy), 0) AS n_G, coalesce(sum(wx_open), 0) AS x_open_G,
    coalesce(sum(wn_open), 0) AS n_open_G, coalesce(median(sent::DOUBLE), 0.0) AS m_agency,
    coalesce(median(price_usd::DOUBLE) FILTER (is_ppv), 10.0) AS agency_price
  FROM pev
), per_page AS (
  SELECT username_page, count(*) AS send_events_window, coalesce(sum(wx_buy), 0) AS x_P,
    coalesce(sum(wn_buy), 0) AS n_P, coalesce(sum(wx_open), 0) AS x_open_P, coalesce(sum(wn_open), 0) AS n_open_P,
    median(sent::DOUBLE) AS _m
  FROM pev GROUP BY 1
), pg AS (
  SELECT u.username_page, dp.page_type, coalesce(pp.send_events_window, 0) AS send_events_window,
    coalesce(x_P, 0.0) AS x_P, coalesce(n_P, 0.0) AS n_P, coalesce(x_open_P, 0.0) AS x_open_P,
    coalesce(n_open_P, 0.0) AS n_open_P, coalesce(_m, g.m_agency) AS m_P,
    CASE WHEN g.n_G <> 0 THEN g.x_G / g.n_G ELSE 0.0 END AS mu_G,
    CASE WHEN g.n_open_G <> 0 THEN g.x_open_G / g.n_open_G ELSE 0.0 END AS mu_open_G, g.agency_price
  FROM (SELECT username_page FROM dim_page UNION SELECT username_page FROM pev) u
  LEFT JOIN per_page pp USING (username_page)
  LEFT JOIN (SELECT DISTINCT ON (username_page) username_page, page_type FROM dim_page) dp USING (username_page)
  CROSS JOIN g
), pg2 AS (
  SELECT *, {NU_P} * m_P AS nu_P, {NU} * m_P AS nu,
    {eb("x_P", "n_P", "mu_G", f"{NU_P} * m_P")} AS mu_P,
    {eb("x_open_P", "n_open_P", "mu_open_G", f"{NU_P} * m_P")} AS mu_open_P
  FROM pg
), pts AS (
  SELECT username_page, ((price_cents + 50) // 100)::INT AS price_dollars, sum(sent) AS recipients,
    sum(sent * {W}) AS w_recipients, sum(purchased * {W}) AS w_purchases
  FROM fact_message_send WHERE {ELIG} AND {win(90)} AND price_cents > 0 GROUP BY ALL
), e AS (
  SELECT username_page, ln(price_dollars::DOUBLE) AS x, ln(r) AS y, wt
  FROM (SELECT pts.username_page, price_dollars, recipients::DOUBLE AS wt,
          {eb("w_purchases", "w_recipients", "mu_P", "nu_P")} AS r
        FROM pts JOIN pg2 USING (username_page))
  WHERE price_dollars > 0 AND r > 0 AND wt > 0
), m AS (
  SELECT username_page, count(*) AS k, sum(wt * x) / sum(wt) AS mx, sum(wt * y) / sum(wt) AS my FROM e GROUP BY 1
), beta AS (
  SELECT username_page, any_value(k) AS k, sum(wt * (x - mx) * (y - my)) AS sxy, sum(wt * (x - mx) * (x - mx)) AS sxx
  FROM e JOIN m USING (username_page) GROUP BY 1
), prof AS (
  SELECT username_page, {ql("s", 0.5)} AS p50
  FROM (SELECT username_page, list_sort(list(price_usd::DOUBLE) FILTER (price_usd IS NOT NULL)) AS s
        FROM fact_message_send WHERE {ELIG} AND {win(90)} AND price_cents > 0 GROUP BY 1)
)
SELECT {A} AS computed_date, username_page, page_type, send_events_window, m_P, nu_P, nu, mu_G, mu_open_G, x_P, n_P,
  x_open_P, n_open_P, mu_P, mu_open_P,
  coalesce(CASE WHEN k >= 3 AND sxx > 1e-12 THEN greatest(0.0, least(2.0, -sxy / sxx)) END, 1.0) AS beta_P,
  coalesce(k, 0) AS price_points, p50 AS price_p50, coalesce(p50, agency_price) AS ref_price
FROM pg2 LEFT JOIN beta USING (username_page) LEFT JOIN prof USING (username_page)
ORDER BY username_page
""",
        )
    )
    # ---------------------------------------------------------------------------------------- caption_priors
    # the compact pair of the polars side: caption_priors (page rows + pairs with own events) and caption_lift
    cp_sql = f"""
CREATE OR REPLACE TEMP TABLE caption_cpe AS
WITH cp AS (
  SELECT username_page, caption_id, count(*) AS send_events_cp, coalesce(sum(wx_buy), 0) AS x_cp,
    coalesce(sum(wn_buy), 0) AS n_cp, coalesce(sum(wx_open), 0) AS x_open_cp, coalesce(sum(wn_open), 0) AS n_open_cp,
    coalesce(sum(wrev), 0) AS r_cp, coalesce(sum(price_cents * sent) FILTER (is_ppv), 0) AS _price_x_sent,
    coalesce(sum(sent) FILTER (is_ppv), 0) AS _ppv_sent
  FROM pev WHERE caption_ok GROUP BY 1, 2
)
SELECT cp.*, n_cp * mu_P AS e_buy, n_open_cp * mu_open_P AS e_open FROM cp JOIN page_priors USING (username_page);
CREATE OR REPLACE TEMP TABLE caption_tot AS  -- caption totals over all pages
SELECT caption_id, sum(x_cp) AS tx, sum(e_buy) AS te, sum(x_open_cp) AS tox, sum(e_open) AS toe,
  count(*) FILTER (n_cp > 0) AS nb, count(*) FILTER (n_open_cp > 0) AS no, count(*) AS np
FROM caption_cpe GROUP BY 1;
CREATE OR REPLACE TEMP TABLE caption_lift AS  -- the lift of a page without own events: other pages = all pages
SELECT {A} AS computed_date, caption_id, np AS pages_cp, nb AS pages_buy, no AS pages_open, tx AS x_C, te AS e_C,
  tox AS x_open_C, toe AS e_open_C,
  CASE WHEN nb > 0 AND te + {LAM} > 0 THEN greatest(0.25, least(4.0, (tx + {LAM}) / (te + {LAM}))) ELSE 1.0 END
    AS lift_buy,
  CASE WHEN no > 0 AND toe + {LAM} > 0 THEN greatest(0.25, least(4.0, (tox + {LAM}) / (toe + {LAM}))) ELSE 1.0 END
    AS lift_open
FROM caption_tot ORDER BY caption_id;
CREATE OR REPLACE TEMP TABLE caption_priors AS
WITH g AS (  -- "other pages" of a page with own events = total minus the page's own
  SELECT p.username_page, c.caption_id, p.m_P, p.nu, p.mu_P, p.mu_open_P, p.beta_P, p.ref_price,
    c.send_events_cp, c.x_cp, c.n_cp, c.x_open_cp, c.n_open_cp, c.r_cp,
    {sdiv("c._price_x_sent", "c._ppv_sent * 100")} AS _qbar,
    t.tx - c.x_cp AS x_o, t.te - c.e_buy AS e_o, t.tox - c.x_open_cp AS xo_o, t.toe - c.e_open AS eo_o,
    t.nb - (c.n_cp > 0)::INT > 0 AS has_buy, t.no - (c.n_open_cp > 0)::INT > 0 AS has_open
  FROM caption_cpe c JOIN page_priors p USING (username_page) JOIN caption_tot t USING (caption_id)
), rows AS (
  SELECT username_page, caption_id, 'caption_page' AS prior_level, send_events_cp, x_cp, n_cp, x_open_cp,
    n_open_cp, r_cp,
    CASE WHEN has_buy AND e_o + {LAM} > 0 THEN greatest(0.25, least(4.0, (x_o + {LAM}) / (e_o + {LAM}))) ELSE 1.0 END
      AS lift_buy,
    CASE WHEN has_open AND eo_o + {LAM} > 0 THEN greatest(0.25, least(4.0, (xo_o + {LAM}) / (eo_o + {LAM}))) ELSE 1.0
      END AS lift_open,
    _qbar, m_P, nu, mu_P, mu_open_P, beta_P, ref_price
  FROM g
  UNION ALL
  SELECT username_page, NULL, 'page', 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, NULL::DOUBLE, m_P, nu, mu_P, mu_open_P,
    beta_P, ref_price
  FROM page_priors
), pr AS (
  SELECT *, least(mu_P * lift_buy, 1.0) AS prior_buy, least(mu_open_P * lift_open, 1.0) AS prior_open FROM rows
)
SELECT {A} AS computed_date, username_page, caption_id, prior_level, send_events_cp, x_cp, n_cp, x_open_cp, n_open_cp,
  r_cp, {sdiv("x_cp", "n_cp")} AS buy_rate_decayed, {sdiv("x_open_cp", "n_open_cp")} AS open_rate_decayed,
  {sdiv("r_cp", "n_open_cp")} AS rps_decayed, m_P, nu, mu_P, mu_open_P, lift_buy, lift_open, prior_buy, prior_open,
  {eb("x_cp", "n_cp", "prior_buy", "nu")} AS p_buy, {eb("x_open_cp", "n_open_cp", "prior_open", "nu")} AS p_open,
  coalesce({sdiv("n_cp", "n_cp + nu")}, 0.0) AS smoothing_weight, coalesce(_qbar, ref_price) AS q_bar, beta_P,
  ref_price
FROM pr ORDER BY username_page, caption_id NULLS LAST;
DROP TABLE caption_cpe;
DROP TABLE caption_tot
"""
    stmts.append(("caption_priors", cp_sql))
    # ----------------------------------------------------------------------------------------- feature_store
    media_only = "(trim(coalesce(caption_norm, ''), ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)) = '' " \
                 "OR coalesce(char_len, 0) = 0)"  # fmt: skip
    stmts.append(
        (
            "feature_store",
            f"""
CREATE OR REPLACE TEMP TABLE fs_universe AS
WITH pages AS (
  SELECT DISTINCT ON (username_page) username_page, username_std, page_type,
    coalesce(max_explicitness, 3)::BIGINT AS _max_expl
  FROM dim_page WHERE coalesce(is_active, false) AND coalesce(lifecycle_state <> 'inactive', true)
), caps AS (
  SELECT DISTINCT ON (caption_id) caption_id, caption_sk, primary_category, coalesce(explicitness, 3) AS _expl,
    family_key, len(list_filter(coalesce(categories, []), lambda c: c IS DISTINCT FROM 'renew')) > 0 AS _non_renew,
    list_contains(coalesce(categories, []), 'renew') AS _renew
  FROM dim_caption
  WHERE coalesce(is_current, false) AND coalesce(is_active, false) AND coalesce(tos_status = 'clean', false)
    AND NOT {media_only}
)
SELECT p.username_page, p.username_std, p.page_type, c.caption_id, c.caption_sk, c.primary_category, c.family_key
FROM pages p CROSS JOIN caps c
WHERE c._expl <= p._max_expl AND (c._non_renew OR (c._renew AND coalesce(p.page_type IN ('paid', 'vip'), false)))
""",
        )
    )
    stmts.append(
        (
            "feature_store",
            f"""
CREATE OR REPLACE TEMP TABLE fs_base AS
SELECT username_page, caption_id, sending_ts_utc, message_send_key, send_date_local, hod_local, dow_local, sent, viewed,
  purchased, price_cents, earnings_gross_usd, earnings_net_usd, coalesce(is_model_eligible, false) AS elig
FROM fact_message_send
WHERE caption_id IS NOT NULL AND NOT coalesce(is_media_only, false) AND {win(365)} AND sending_ts_utc <= {NOW}
""",
        )
    )
    wins = {7: win(7), 30: win(30), 90: win(90)}
    rps = "(earnings_gross_usd::DOUBLE / nullif(sent::DOUBLE, 0))"
    perf_aggs = ",\n    ".join(
        [f"count(*) FILTER ({wins[d]}) AS send_events_{d}d" for d in (7, 30, 90)]
        + [f"coalesce(sum(sent) FILTER ({wins[d]}), 0) AS recipients_{d}d" for d in (7, 30, 90)]
        + [f"coalesce(sum(purchased) FILTER ({wins[d]} AND price_cents > 0), 0) AS purchases_{d}d" for d in (30, 90)]
        + [f"coalesce(sum(sent) FILTER ({wins[d]} AND price_cents > 0), 0) AS _ppv_sent_{d}d" for d in (30, 90)]
        + [f"coalesce(sum(viewed) FILTER ({wins[d]}), 0) AS _views_{d}d" for d in (30, 90)]
        + [f"coalesce(sum(earnings_gross_usd) FILTER ({wins[7]}), 0) AS _rev_7d",
           f"coalesce(sum(earnings_gross_usd) FILTER ({wins[30]}), 0) AS revenue_gross_30d",
           f"coalesce(sum(earnings_gross_usd) FILTER ({wins[90]}), 0) AS revenue_gross_90d",
           f"coalesce(sum(earnings_net_usd) FILTER ({wins[30]}), 0) AS revenue_net_30d",
           f"coalesce(sum(earnings_gross_usd) FILTER ({win(15)}), 0) AS _rev_recent",
           f"coalesce(sum(sent) FILTER ({win(15)}), 0) AS _sent_recent",
           f"coalesce(sum(earnings_gross_usd) FILTER ({win(15, 15)}), 0) AS _rev_prev",
           f"coalesce(sum(sent) FILTER ({win(15, 15)}), 0) AS _sent_prev",
           f"list_sort(list(_rps) FILTER ({wins[30]} AND _rps IS NOT NULL)) AS _l30",
           "list_sort(list(_rps) FILTER (_rps IS NOT NULL)) AS _l90",
           "count(_rps) AS _n_rps90", "coalesce(sum(_rps), 0.0) AS _s1", "coalesce(sum(_rps * _rps), 0.0) AS _s2"]
    )  # fmt: skip
    fc = [c for c in FEATURE_COLUMNS]
    r28, rprev = sdiv("_rev28", "_sent28"), sdiv("_revp", "_sentp")
    slump = sdiv(f"{r28} - {rprev}", rprev)
    stmts.append(
        (
            "feature_store",
            f"""
CREATE OR REPLACE TEMP TABLE feature_store AS
WITH ev AS (
  SELECT *, {rps} AS _rps, earnings_gross_usd::DOUBLE AS _g, {W} AS _w FROM fs_base WHERE elig AND {win(90)}
), perf0 AS (
  SELECT username_page, caption_id,
    {perf_aggs}
  FROM ev GROUP BY 1, 2
), perf AS (
  SELECT *, {sdiv("_rev_7d", "recipients_7d")} AS rps_7d, {sdiv("revenue_gross_30d", "recipients_30d")} AS rps_30d,
    {sdiv("revenue_gross_90d", "recipients_90d")} AS rps_90d, {sdiv("purchases_30d", "_ppv_sent_30d")} AS buy_rate_30d,
    {sdiv("purchases_90d", "_ppv_sent_90d")} AS buy_rate_90d, {sdiv("_views_30d", "recipients_30d")} AS open_rate_30d,
    {sdiv("_views_90d", "recipients_90d")} AS open_rate_90d,
    {sdiv("_rev_recent", "_sent_recent")} AS _r_recent, {sdiv("_rev_prev", "_sent_prev")} AS _r_prev,
    {ql("_l90", 0.5)} AS rps_event_median_90d, {ql("_l90", 0.25)} AS rps_event_p25_90d,
    {ql("_l90", 0.75)} AS rps_event_p75_90d, {ql("_l30", 0.25)} AS _q25_30, {ql("_l30", 0.75)} AS _q75_30,
    len(_l30) AS _n_rps30,
    CASE WHEN _n_rps90 >= 2 THEN sqrt(greatest((_s2 - _s1 * _s1 / _n_rps90) / (_n_rps90 - 1), 0.0)) END
      AS rps_event_stddev_90d
  FROM perf0
), cells_hod AS (
  SELECT username_page, caption_id, hod_local, sum(_w * coalesce(_g, 0.0)) / nullif(sum(_w * sent), 0) AS c
  FROM ev GROUP BY 1, 2, 3
), cap_hod AS (
  SELECT username_page, caption_id, arg_max(hod_local, {{'c': c, 'h': -hod_local}})::TINYINT AS best_hod_local,
    max(c) AS best_hod_rps
  FROM cells_hod WHERE c IS NOT NULL GROUP BY 1, 2
), cells_dow AS (
  SELECT username_page, caption_id, dow_local, sum(_w * coalesce(_g, 0.0)) / nullif(sum(_w * sent), 0) AS c
  FROM ev GROUP BY 1, 2, 3
), cap_dow AS (
  SELECT username_page, caption_id, arg_max(dow_local, {{'c': c, 'd': -dow_local}})::TINYINT AS best_dow_local
  FROM cells_dow WHERE c IS NOT NULL GROUP BY 1, 2
), pdec AS (
  SELECT username_page, hod_local, dow_local, {W} * coalesce(earnings_gross_usd::DOUBLE, 0.0) AS wr, {W} * sent AS ws
  FROM fact_message_send WHERE {ELIG} AND sending_ts_utc <= {NOW} AND {win(90)}
), page_hod AS (
  SELECT username_page, arg_max(hod_local, {{'c': c, 'h': -hod_local}})::TINYINT AS _page_best_hod
  FROM (SELECT username_page, hod_local, sum(wr) / nullif(sum(ws), 0) AS c FROM pdec GROUP BY 1, 2)
  WHERE c IS NOT NULL GROUP BY 1
), page_dow AS (
  SELECT username_page, arg_max(dow_local, {{'c': c, 'd': -dow_local}})::TINYINT AS _page_best_dow
  FROM (SELECT username_page, dow_local, sum(wr) / nullif(sum(ws), 0) AS c FROM pdec GROUP BY 1, 2)
  WHERE c IS NOT NULL GROUP BY 1
), use_pc AS (
  SELECT username_page, caption_id, max(sending_ts_utc) AS last_used_ts_page,
    count(DISTINCT send_date_local) FILTER ({wins[7]}) AS active_days_7d,
    count(DISTINCT send_date_local) FILTER ({wins[30]}) AS active_days_30d,
    count(DISTINCT send_date_local) FILTER ({wins[90]}) AS active_days_90d,
    count(*) FILTER (send_date_local = {A}) AS uses_today, bool_or({wins[7]}) AS _used_here_7d
  FROM fs_base GROUP BY 1, 2
), bank AS (  -- the bank's last use on the page: only for pairs without a report send in the window
  SELECT username_page, caption_id, max(bank_last_used_ts_utc) AS _bank_last_used FROM caption_bank_last_use
  WHERE bank_last_used_ts_utc <= {NOW} AND bank_last_used_ts_utc > {NOW} - INTERVAL 365 DAY GROUP BY 1, 2
), use_c AS (
  SELECT caption_id, max(sending_ts_utc) AS last_used_ts_any, count(*) AS send_events_all_pages_365d,
    count(*) FILTER ({wins[7]}) AS uses_7d_all_pages, count(DISTINCT username_page) FILTER ({wins[7]}) AS _pages_7d
  FROM fs_base GROUP BY 1
), fam AS (
  SELECT b.username_page, m.family_key, count(*) AS family_recent_uses_28d
  FROM fs_base b JOIN (SELECT DISTINCT ON (caption_id) caption_id, family_key FROM dim_caption
                       WHERE coalesce(is_current, false)) m USING (caption_id)
  WHERE {win(28)} AND m.family_key IS NOT NULL GROUP BY 1, 2
), ctx0 AS (
  SELECT username_page,
    coalesce(sum(earnings_gross_usd) FILTER ({win(28)}), 0)::DOUBLE AS _rev28,
    coalesce(sum(sent) FILTER ({win(28)}), 0) AS _sent28,
    coalesce(sum(earnings_gross_usd) FILTER ({win(28, 28)}), 0)::DOUBLE AS _revp,
    coalesce(sum(sent) FILTER ({win(28, 28)}), 0) AS _sentp,
    coalesce(sum(earnings_gross_usd) FILTER ({win(28)} AND hod_local IN (20, 21, 22, 23, 0, 1, 2)), 0)::DOUBLE AS _night
  FROM fact_message_send WHERE {ELIG} AND sending_ts_utc <= {NOW} AND {win(56)} GROUP BY 1
), ctx AS (
  SELECT username_page, {slump}
    AS rps_slump_pct, {sdiv("_night", "_rev28")} AS night_owl_share
  FROM ctx0
), health AS (
  SELECT username_page, avg_spend_per_txn_7d::DOUBLE AS avg_spend_per_txn_7d, renew_on_rate::DOUBLE AS renew_on_rate
  FROM page_health_7d WHERE computed_date <= {A}
  QUALIFY row_number() OVER (PARTITION BY username_page ORDER BY computed_date DESC) = 1
), tier AS (
  SELECT username_page, tier::VARCHAR AS tier FROM page_tier_assignment WHERE computed_date <= {A}
  QUALIFY row_number() OVER (PARTITION BY username_page ORDER BY computed_date DESC) = 1
), state AS (
  SELECT username_page, page_state::VARCHAR AS page_state FROM page_state_daily WHERE computed_date <= {A}
  QUALIFY row_number() OVER (PARTITION BY username_page ORDER BY computed_date DESC) = 1
), vol AS (
  SELECT username_page, page_fatigue_risk::DOUBLE AS page_fatigue_risk FROM page_volume_profile
  WHERE computed_date <= {A}
  QUALIFY row_number() OVER (PARTITION BY username_page ORDER BY computed_date DESC) = 1
), cap_pri AS (
  SELECT username_page, caption_id, p_buy, p_open, buy_rate_decayed, open_rate_decayed, rps_decayed, n_cp,
    smoothing_weight, q_bar
  FROM caption_priors WHERE caption_id IS NOT NULL
), page_row AS (
  SELECT username_page, p_buy AS _pg_p_buy, p_open AS _pg_p_open FROM caption_priors WHERE caption_id IS NULL
), j AS (
  SELECT u.*, perf.* EXCLUDE (username_page, caption_id), cap_hod.* EXCLUDE (username_page, caption_id),
    cap_dow.best_dow_local, page_hod._page_best_hod, page_dow._page_best_dow,
    use_pc.* EXCLUDE (username_page, caption_id, last_used_ts_page),
    coalesce(use_pc.last_used_ts_page, bank._bank_last_used) AS last_used_ts_page,
    use_c.* EXCLUDE (caption_id), fam.family_recent_uses_28d,
    ctx.rps_slump_pct, ctx.night_owl_share, health.avg_spend_per_txn_7d, health.renew_on_rate, tier.tier,
    state.page_state, vol.page_fatigue_risk, cap_pri.* EXCLUDE (username_page, caption_id, n_cp, smoothing_weight,
    q_bar), page_row._pg_p_buy, page_row._pg_p_open, pp.mu_P, pp.mu_open_P, pp.beta_P AS _beta, pp.ref_price,
    cl.lift_buy AS _c_lift_buy, cl.lift_open AS _c_lift_open, pp.nu AS _nu_raw,
    coalesce(cap_pri.n_cp, 0.0) AS n_cp, coalesce(cap_pri.smoothing_weight, 0.0) AS smoothing_weight,
    coalesce(pp.nu, 0.0) AS nu, coalesce(pp.ref_price, 10.0) AS _ref, cap_pri.q_bar AS _qb
  FROM fs_universe u
  LEFT JOIN perf USING (username_page, caption_id)
  LEFT JOIN cap_hod USING (username_page, caption_id)
  LEFT JOIN cap_dow USING (username_page, caption_id)
  LEFT JOIN page_hod USING (username_page)
  LEFT JOIN page_dow USING (username_page)
  LEFT JOIN use_pc USING (username_page, caption_id)
  LEFT JOIN bank USING (username_page, caption_id)
  LEFT JOIN use_c USING (caption_id)
  LEFT JOIN fam ON fam.username_page = u.username_page AND fam.family_key = u.family_key
  LEFT JOIN ctx USING (username_page)
  LEFT JOIN health USING (username_page)
  LEFT JOIN tier USING (username_page)
  LEFT JOIN state USING (username_page)
  LEFT JOIN vol USING (username_page)
  LEFT JOIN cap_pri USING (username_page, caption_id)
  LEFT JOIN page_row USING (username_page)
  LEFT JOIN page_priors pp USING (username_page)
  LEFT JOIN caption_lift cl USING (caption_id)
), k1 AS (
  SELECT *,  -- a caption sent only on other pages: μ_P × L_C (caption_lift); least() would skip a null lift
    coalesce(p_buy, CASE WHEN _c_lift_buy IS NOT NULL
      THEN {eb("0.0", "0.0", "least(mu_P * _c_lift_buy, 1.0)", "_nu_raw")} END, _pg_p_buy, mu_P, 0.0) AS p_buy_smoothed,
    coalesce(p_open, CASE WHEN _c_lift_open IS NOT NULL
      THEN {eb("0.0", "0.0", "least(mu_open_P * _c_lift_open, 1.0)", "_nu_raw")} END, _pg_p_open, mu_open_P, 0.0)
      AS p_open_smoothed, coalesce(_beta, 1.0) AS beta_P, coalesce(_qb, _ref) AS q_bar2
  FROM j
), k2 AS (
  SELECT *, greatest(0.0, least(1.0, CASE WHEN _ref > 0 AND q_bar2 > 0
      THEN p_buy_smoothed * pow(_ref / q_bar2, -beta_P) ELSE p_buy_smoothed END)) AS _p_ref,
    n_cp + nu AS _n_nu
  FROM k1
), k3 AS (
  SELECT *, _ref * _p_ref AS rps_smoothed_ref,
    CASE WHEN _ref <= 0 THEN 0.0
         WHEN _n_nu > 0 THEN least(_ref * 2.0 * sqrt(_p_ref * (1.0 - _p_ref) / _n_nu), 2.0 * _ref * _p_ref)
         ELSE 2.0 * _ref * _p_ref END AS ucb_bonus_ref,
    CASE WHEN _n_nu > 0 THEN sqrt(p_buy_smoothed * (1.0 - p_buy_smoothed) / _n_nu)
         ELSE sqrt(p_buy_smoothed * (1.0 - p_buy_smoothed)) END AS posterior_sd,
    coalesce({sdiv("_r_recent - _r_prev", "_r_prev")}, 0.0) AS trend_slope0,
    coalesce(CASE WHEN _n_rps30 >= 3 AND rps_30d > 0 THEN 1.0 - least(1.0, (_q75_30 - _q25_30) / (2.0 * rps_30d)) END,
      0.5) AS stability_score,
    {sdiv("rps_event_stddev_90d", "rps_event_median_90d")} AS rps_event_cv_90d,
    epoch_us({NOW} - last_used_ts_page) / 3600000000.0 AS hours_since_use_page,
    epoch_us({NOW} - last_used_ts_any) / 3600000000.0 AS hours_since_use_any,
    greatest(6.0, least(6.0 * pow(1.5, coalesce(uses_7d_all_pages, 0)::DOUBLE), 24.0 * 21.0)) AS cooldown_hours,
    coalesce(send_events_all_pages_365d, 0) AS ev365, coalesce(active_days_30d, 0) AS ad30
  FROM k2
), k4 AS (
  SELECT *, smoothing_weight * stability_score AS confidence_score,
    CASE WHEN ev365 < 10 THEN 1.0 WHEN ev365 < 50 THEN 0.5 WHEN ev365 < 100 THEN 0.2 ELSE 0.0 END AS novelty_level,
    coalesce({sig("0.1 * (30.0 - least(30.0, hours_since_use_page / 24.0))")}, 0.5) AS exploration_temperature,
    ev365 < 10 AS is_cold_start,
    last_used_ts_any + to_microseconds(round(cooldown_hours * 3600000000.0)::BIGINT) AS cooldown_until_ts,
    last_used_ts_page + INTERVAL 28 DAY AS reuse_block_until,
    {sig("0.5 * (ad30::DOUBLE - 15.0)")} AS fatigue_score
  FROM k3
), k5 AS (
  SELECT *,
    list_filter([CASE WHEN coalesce({NOW} < reuse_block_until, false) THEN 'reused_within_min_reuse_days' END,
                 CASE WHEN coalesce({NOW} < cooldown_until_ts, false) THEN 'cooldown_active' END,
                 CASE WHEN coalesce(fatigue_score > 0.8, false) THEN 'fatigued' END], lambda x: x IS NOT NULL)
      AS ineligible_reasons,
    0.4 * coalesce({sdiv("rps_smoothed_ref", "_ref * mu_P")}, 1.0) + 0.3 * stability_score
      + 0.2 * (1.0 - fatigue_score) + 0.1 * confidence_score AS base_score
  FROM k4
), fin AS (
  SELECT {A} AS computed_date, username_page, username_std, page_type, caption_id, caption_sk, primary_category,
    coalesce(send_events_7d, 0) AS send_events_7d, coalesce(send_events_30d, 0) AS send_events_30d,
    coalesce(send_events_90d, 0) AS send_events_90d, coalesce(recipients_7d, 0) AS recipients_7d,
    coalesce(recipients_30d, 0) AS recipients_30d, coalesce(recipients_90d, 0) AS recipients_90d,
    coalesce(purchases_30d, 0) AS purchases_30d, coalesce(purchases_90d, 0) AS purchases_90d,
    coalesce(revenue_gross_30d, 0)::DECIMAL(12, 2) AS revenue_gross_30d,
    coalesce(revenue_gross_90d, 0)::DECIMAL(12, 2) AS revenue_gross_90d,
    coalesce(revenue_net_30d, 0)::DECIMAL(12, 2) AS revenue_net_30d,
    rps_7d, rps_30d, rps_90d, buy_rate_30d, buy_rate_90d, open_rate_30d, open_rate_90d, rps_decayed,
    buy_rate_decayed, open_rate_decayed, p_buy_smoothed, p_open_smoothed, rps_smoothed_ref,
    trend_slope0 AS trend_slope, stability_score, confidence_score,
    coalesce(rps_event_median_90d, 0.0) AS rps_event_median_90d, coalesce(rps_event_p25_90d, 0.0) AS rps_event_p25_90d,
    coalesce(rps_event_p75_90d, 0.0) AS rps_event_p75_90d,
    coalesce(rps_event_stddev_90d, 0.0) AS rps_event_stddev_90d,
    coalesce(rps_event_p75_90d - rps_event_p25_90d, 0.0) AS rps_event_iqr_90d, rps_event_cv_90d,
    ucb_bonus_ref, posterior_sd, novelty_level, exploration_temperature, smoothing_weight, is_cold_start,
    ev365 AS send_events_all_pages_365d, coalesce(best_hod_local, _page_best_hod) AS best_hod_local,
    coalesce(best_hod_rps, rps_decayed) AS best_hod_rps, coalesce(best_dow_local, _page_best_dow) AS best_dow_local,
    hours_since_use_page, last_used_ts_page, hours_since_use_any, last_used_ts_any,
    coalesce(active_days_7d, 0) AS active_days_7d, ad30 AS active_days_30d, coalesce(active_days_90d, 0)
      AS active_days_90d, coalesce(uses_today, 0) AS uses_today, coalesce(uses_7d_all_pages, 0) AS uses_7d_all_pages,
    cooldown_hours, cooldown_until_ts, reuse_block_until, fatigue_score, len(ineligible_reasons) = 0 AS is_eligible,
    ineligible_reasons, base_score,
    base_score * (1.0 + 0.3 * coalesce({sdiv("ucb_bonus_ref", "rps_smoothed_ref")}, 0.0)) AS exploration_score,
    CASE WHEN rps_smoothed_ref IS NULL THEN NULL
         WHEN count(rps_smoothed_ref) OVER (PARTITION BY username_page) <= 1 THEN 0.0
         ELSE (rank() OVER (PARTITION BY username_page ORDER BY rps_smoothed_ref) - 1.0)
              / (count(rps_smoothed_ref) OVER (PARTITION BY username_page) - 1.0) END AS rps_percentile,
    CASE WHEN rps_smoothed_ref IS NULL THEN NULL
         WHEN count(rps_smoothed_ref) OVER (PARTITION BY username_page, primary_category) <= 1 THEN 0.0
         ELSE (rank() OVER (PARTITION BY username_page, primary_category ORDER BY rps_smoothed_ref) - 1.0)
              / (count(rps_smoothed_ref) OVER (PARTITION BY username_page, primary_category) - 1.0) END
      AS category_percentile,
    coalesce(rps_slump_pct, 0.0) AS rps_slump_pct,
    greatest(0.0, least(1.0, -0.5 * coalesce(rps_slump_pct, 0.0))) + 0.0 AS slump_risk_score,
    coalesce(night_owl_share, 0.0) AS night_owl_share, coalesce(night_owl_share, 0.0) > 0.35 AS is_night_owl,
    CASE WHEN avg_spend_per_txn_7d > 50 THEN 'premium' WHEN avg_spend_per_txn_7d > 20 THEN 'standard'
         ELSE 'budget' END AS price_stance_bucket,
    coalesce(family_recent_uses_28d, 0) AS family_recent_uses_28d,
    greatest(coalesce(_pages_7d, 0) - coalesce(_used_here_7d, false)::BIGINT, 0) AS cross_page_usage_7d,
    renew_on_rate, coalesce(tier, 'LOW') AS page_tier, coalesce(page_state, 'balance') AS page_state,
    coalesce(page_fatigue_risk, 50.0) AS page_fatigue_risk,
    {NOW} AS computed_at, NULL::VARCHAR AS config_name, NULL::VARCHAR AS config_version,
    (SELECT max(ingested_at) FROM fact_message_send) AS data_watermark
  FROM k5
)
SELECT {", ".join(fc)} FROM fin ORDER BY username_page, caption_id
""",
        )
    )
    return stmts


def duckdb_side(inputs: str, as_of_iso: str, repeat: int) -> dict:
    import duckdb
    import polars as pl

    base_rss = rss_mb()
    as_of = dt.date.fromisoformat(as_of_iso)
    stmts = duckdb_sql(as_of)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    best: dict[str, float] = {}
    for _ in range(repeat):
        t: dict[str, float] = {}
        s = time.perf_counter()
        for n in INPUTS:
            p = str(Path(inputs) / f"{n}.parquet").replace("'", "''")
            con.execute(f"CREATE OR REPLACE TEMP TABLE {n} AS SELECT * FROM read_parquet('{p}')")
        t["read inputs"] = time.perf_counter() - s
        for name, sql in stmts:
            s = time.perf_counter()
            con.execute(sql)
            t[name] = t.get(name, 0.0) + time.perf_counter() - s
        for k, v in t.items():
            best[k] = min(best.get(k, float("inf")), v)
    peak = peak_mb()
    checks, n_features = {}, 0
    for name in CHECKS:
        df = pl.from_arrow(con.sql(f"SELECT * FROM {name}").to_arrow_table())
        checks[name] = key_numbers(name, df)
        if name == "feature_store":
            n_features = len(df.columns)
        del df
    con.close()
    return {"times": best, "checks": checks, "peak_mb": peak, "peak_mb_after_checks": peak_mb(), "base_mb": base_rss,
            "n_features": n_features}  # fmt: skip


# ------------------------------------------------------------------------------------------ polars profiling


def polars_profile(inputs: str, as_of_iso: str, repeat: int) -> dict:
    """Times the expensive sub-queries of ``caption_priors`` / ``feature_store`` alone, re-built here from the same
    expressions (features.py / priors.py are not instrumented), plus the same aggregation with a plain float ``sum``
    in place of the fixed-point ``dsum`` (Int128 sum of terms rounded to 2^-64) to show what the bit-reproducibility
    costs."""
    import polars as pl

    from of_scheduler_assets.layer_04_semantic.transforms import _in_window, _q, _weight, safe_div
    from of_scheduler_assets.layer_05_ml.features import candidate_universe
    from of_scheduler_assets.layer_05_ml.priors import caption_prior_tables, dsum, page_priors, prior_events

    as_of = dt.date.fromisoformat(as_of_iso)
    ts = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    inp = read_inputs_polars(inputs)
    fact, dim_caption, dim_page = inp["fact_message_send"], inp["dim_caption"], inp["dim_page"]
    pp = page_priors(fact, dim_page, as_of)
    K = ["username_page", "caption_id"]
    ev = prior_events(fact, as_of, half_life_days=14.0, window_days=90).filter(pl.col("_caption_ok"))
    cols = ["_wx_buy", "_wn_buy", "_wx_open", "_wn_open", "_wrev"]
    base = fact.lazy().filter(
        pl.col("caption_id").is_not_null()
        & ~pl.col("is_media_only").fill_null(False)
        & _in_window(as_of, 365)
        & (pl.col("sending_ts_utc") <= ts)
    )
    fev = (
        base.filter(pl.col("is_model_eligible").fill_null(False) & _in_window(as_of, 90))
        .with_columns(
            safe_div(pl.col("earnings_gross_usd").cast(pl.Float64), pl.col("sent")).alias("_rps"),
            _weight(ts, 14.0).alias("_w"),
        )
        .with_columns(
            (pl.col("_w") * pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0.0)).alias("_wr"),
            (pl.col("_w") * pl.col("sent").cast(pl.Float64)).alias("_ws"),
        )
    )

    def w30():
        return _in_window(as_of, 30)

    subs = {
        "caption_priors: cp group_by, 5 x dsum": lambda: ev.group_by(K).agg(*[dsum(pl.col(c)) for c in cols]).collect(),
        "caption_priors: cp group_by, 5 x plain sum": lambda: (
            ev.group_by(K).agg(*[pl.col(c).sum() for c in cols]).collect()
        ),
        "caption_priors: caption_prior_tables (compact + lift)": lambda: caption_prior_tables(
            fact, dim_page, as_of, pages=pp
        )[0],
        "feature_store: candidate_universe": lambda: candidate_universe(dim_caption, dim_page),
        "feature_store: base (365 d)": lambda: base.select(pl.len()).collect(),
        "feature_store: perf, 2 x dsum (_s1, _s2)": lambda: (
            fev.group_by(K).agg(dsum(pl.col("_rps")).alias("a"), dsum(pl.col("_rps") ** 2).alias("b")).collect()
        ),
        "feature_store: perf, 7 x lower quantile": lambda: (
            fev.group_by(K)
            .agg(
                _q(pl.col("_rps").filter(w30()), 0.25).alias("a"),
                _q(pl.col("_rps").filter(w30()), 0.75).alias("b"),
                *[_q("_rps", q).alias(f"q{q}") for q in (0.25, 0.5, 0.75)],
            )
            .collect()
        ),
        "feature_store: perf, 22 filtered sums/counts": lambda: (
            fev.group_by(K)
            .agg(
                *[
                    pl.col(c).filter(_in_window(as_of, d)).sum().alias(f"{c}{d}")
                    for c in ("sent", "viewed", "purchased", "earnings_gross_usd", "earnings_net_usd")
                    for d in (7, 15, 30, 90)
                ],
                _in_window(as_of, 7).sum().alias("a"),
                _in_window(as_of, 30).sum().alias("b"),
            )
            .collect()
        ),
        "feature_store: best hod per caption (dsum cells)": lambda: (
            fev.group_by([*K, "hod_local"])
            .agg(safe_div(dsum(pl.col("_wr")), dsum(pl.col("_ws"))).alias("_c"))
            .collect()
        ),
        "feature_store: best hod per caption (plain sums)": lambda: (
            fev.group_by([*K, "hod_local"])
            .agg(safe_div(pl.col("_wr").sum(), pl.col("_ws").sum()).alias("_c"))
            .collect()
        ),
        "feature_store: use_pc (3 x filtered n_unique)": lambda: (
            base.group_by(K)
            .agg(
                pl.col("sending_ts_utc").max(),
                *[
                    pl.col("send_date_local").filter(_in_window(as_of, d)).n_unique().alias(f"d{d}")
                    for d in (7, 30, 90)
                ],
            )
            .collect()
        ),
    }
    best: dict[str, float] = {}
    rows: dict[str, int] = {}
    for _ in range(repeat):
        for name, fn in subs.items():
            s = time.perf_counter()
            r = fn()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - s)
            rows[name] = r.height
    return {"times": {f"{k} [{rows[k]:,} rows]": v for k, v in best.items()}, "peak_mb": peak_mb()}


# ---------------------------------------------------------------------------------------------------- driver


def run_child(fn, *a) -> dict:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, *a).result()


def compare(pc: dict, dc: dict, rel: float) -> list[str]:
    bad = []
    for name in CHECKS:
        a, b = pc.get(name, {}), dc.get(name, {})
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k, "<absent>"), b.get(k, "<absent>")
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) <= rel * max(1.0, abs(x), abs(y)):
                    continue
            elif x == y:
                continue
            bad.append(f"  {name}.{k}: polars={x} duckdb={y}")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warehouse", default=None, help="DuckDB file with the staging tables")
    ap.add_argument("--world", default=None, help="world directory to reuse (see bench_warehouse_model.py)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--inputs", default=None, help="dir for the parquet inputs (kept; reused when complete)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rel", type=float, default=1e-6, help="relative tolerance of the float key numbers")
    ap.add_argument("--profile", action="store_true", help="also time the polars feature families one by one")
    ap.add_argument("--json", action="store_true", help="also dump every timing and key number as JSON")
    args = ap.parse_args()

    tmp = None
    inputs = args.inputs
    if (
        inputs
        and all((Path(inputs) / f"{n}.parquet").exists() for n in INPUTS)
        and (Path(inputs) / "as_of.txt").exists()
    ):
        as_of = dt.date.fromisoformat((Path(inputs) / "as_of.txt").read_text().strip())
        print(f"reusing inputs in {inputs} (as_of {as_of}); setup not rerun")
    else:
        import duckdb

        wh = resolve_warehouse(args)
        con = duckdb.connect(str(wh), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        last = con.sql(f"SELECT max(sending_ts_utc)::DATE FROM {STAGING['stg_message_events']}").fetchall()[0][0]
        n_ev = con.sql(f"SELECT count(*) FROM {STAGING['stg_message_events']}").fetchall()[0][0]
        con.close()
        as_of = last + dt.timedelta(days=1)
        if not inputs:
            inputs = tmp = tempfile.mkdtemp(prefix="bench_fs_")
        s = time.perf_counter()
        su = run_child(setup_inputs, str(wh), as_of.isoformat(), inputs)
        print(f"warehouse {wh} ({n_ev:,} staged events); as_of {as_of}")
        print(f"setup (not timed in either side) {time.perf_counter() - s:.1f} s incl. spawn: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in su["times"].items())
              + f"; peak {su['peak_mb']:,.0f} MiB; inputs: "
              + ", ".join(f"{k} {v:,}" for k, v in su["rows"].items()))  # fmt: skip
    try:
        pol = run_child(polars_side, inputs, as_of.isoformat(), args.repeat)
        ddb = run_child(duckdb_side, inputs, as_of.isoformat(), args.repeat)
        prof = run_child(polars_profile, inputs, as_of.isoformat(), args.repeat) if args.profile else None
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    report(pol, ddb, prof, args)


def report(pol: dict, ddb: dict, prof: dict | None, args) -> None:
    pt, dtm = pol["times"], ddb["times"]
    print(f"\nrepeat {args.repeat} (best of); feature_store: {pol['checks']['feature_store']['rows']:,} rows x "
          f"{pol['n_features']} columns (polars) / {ddb['checks']['feature_store']['rows']:,} x "
          f"{ddb['n_features']} (duckdb)")  # fmt: skip
    print(f"\n{'step':28s} {'rows pl':>10s} {'rows db':>10s} {'polars s':>9s} {'duckdb s':>9s} {'db/pl':>7s}")
    print(f"{'read inputs':28s} {'':10s} {'':10s} {pt['read inputs']:9.3f} {dtm['read inputs']:9.3f} "
          f"{dtm['read inputs'] / pt['read inputs']:7.2f}")  # fmt: skip
    steps = ["page_priors", "caption_priors", "feature_store"]
    for n in steps:
        print(f"{n:28s} {pol['checks'][n]['rows']:>10,} {ddb['checks'][n]['rows']:>10,} {pt[n]:9.3f} {dtm[n]:9.3f} "
              f"{dtm[n] / pt[n]:7.2f}")  # fmt: skip
    tp, td = sum(pt[n] for n in steps), sum(dtm[n] for n in steps)
    print(f"{'= total (excl. read)':28s} {'':10s} {'':10s} {tp:9.3f} {td:9.3f} {td / tp:7.2f}")
    tp2, td2 = tp + pt["read inputs"], td + dtm["read inputs"]
    print(f"{'= total (incl. read)':28s} {'':10s} {'':10s} {tp2:9.3f} {td2:9.3f} {td2 / tp2:7.2f}")
    verdict = "MET" if td / tp >= 3.0 else "NOT MET"
    print(f"\nratio duckdb/polars (excl. read) {td / tp:.2f}x -> target >= 3x {verdict}")
    print(f"peak RSS (ru_maxrss): polars child {pol['peak_mb']:,.0f} MiB (start {pol['base_mb']:,.0f}); "
          f"duckdb child {ddb['peak_mb']:,.0f} MiB (start {ddb['base_mb']:,.0f}; "
          f"{ddb['peak_mb_after_checks']:,.0f} after fetching the outputs for the checks)")  # fmt: skip
    if prof:
        print("\npolars feature families (--profile; each sub-query collected alone, best of repeat):")
        for k, v in prof["times"].items():
            print(f"  {k:44s} {v:8.3f} s")
    bad = compare(pol["checks"], ddb["checks"], args.rel)
    n_checks = sum(len(v) for v in pol["checks"].values())
    if bad:
        print(f"\nDISAGREEMENTS ({len(bad)} of {n_checks} key numbers, rel tol {args.rel:g}):")
        print("\n".join(bad))
    else:
        print(f"\nall {n_checks} key numbers agree (rel tol {args.rel:g})")
    if args.json:
        print(json.dumps({"polars": pol, "duckdb": ddb, "profile": prof}, default=str))


if __name__ == "__main__":
    main()
