"""Semantic layer: our polars transforms vs the same aggregates written as DuckDB SQL, on one synthetic fact.

    .venv/bin/python benchmarks/bench_semantic.py [--rows 250000] [--pages 150] [--days 180]

A fact frame (every column of `20-warehouse.md` §3.5, numpy with a fixed seed, local fields derived per page time
zone) is built in memory, then in ONE run:
  * polars: caption_performance_daily, page_performance_daily, page_dow_hod_profile (transforms.py);
  * duckdb: the same three tables as SQL over the same frame registered in an in-memory DuckDB.
The results are checked to agree (row counts, sums) and the seconds per table, the ratio and the peak RSS
(resource.getrusage, monotone, so read after each side) are printed.

Scope of the SQL side of caption_performance_daily: daily sums and ratios, per-event RPS quantiles (lower order
statistic), hourly list, 7/15/30-day calendar windows, trend and per-page percentile. The polars side additionally
computes stability_score and the category percentile, so its time is an upper bound for like-for-like work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

import duckdb
import numpy as np
import polars as pl

from of_scheduler_assets.layer_04_semantic import transforms as T

AS_OF = dt.date(2026, 4, 30)
TZS = ["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def make_fact(rows: int, pages: int, days: int, seed: int = 20260430) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    page_names = np.array([f"creator{i:03d}__{('paid', 'free', 'vip')[i % 3]}" for i in range(pages)])
    page_idx = rng.integers(0, pages, rows)
    start = dt.datetime.combine(AS_OF - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    secs = rng.integers(0, days * 86_400, rows)
    ts_us = int(start.timestamp()) * 1_000_000 + secs * 1_000_000
    cap_idx = rng.integers(0, 400, rows) + 400 * (page_idx % 3)  # captions shared across pages
    sent = rng.integers(50, 40_000, rows)
    viewed = (sent * rng.beta(2, 30, rows)).astype(np.int64)
    is_ppv = rng.random(rows) < 0.6
    price_cents = np.where(is_ppv, rng.choice([500, 999, 1500, 2000, 2500, 3500], rows), 0)
    purchased = np.where(is_ppv, rng.binomial(viewed, 0.03), 0)
    gross_cents = purchased * price_cents
    eligible = rng.random(rows) > 0.03
    media_only = rng.random(rows) < 0.05
    base = pl.DataFrame(
        {
            "message_send_key": pl.Series(np.arange(rows)).cast(pl.String).str.zfill(16),
            "username_page": page_names[page_idx],
            "caption_id": pl.Series(cap_idx).map_elements(lambda i: f"CAP_{i:016x}", return_dtype=pl.String),
            "is_media_only": media_only,
            "sending_ts_utc": pl.Series(ts_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "price_cents": price_cents.astype(np.int64),
            "sent": sent,
            "viewed": viewed,
            "purchased": purchased.astype(np.int64),
            "_gross_cents": gross_cents.astype(np.int64),
            "is_model_eligible": eligible,
            "is_unsent": rng.random(rows) < 0.01,
            "_tz": pl.Series(page_idx % len(TZS)),
        }
    )
    parts = []
    for i, tz in enumerate(TZS):  # local fields derived once, in the page's time zone
        part = base.filter(pl.col("_tz") == i)
        local = pl.col("sending_ts_utc").dt.convert_time_zone(tz)
        parts.append(
            part.with_columns(
                local.dt.date().alias("send_date_local"),
                (local.dt.weekday() - 1).cast(pl.Int8).alias("dow_local"),
                local.dt.hour().cast(pl.Int8).alias("hod_local"),
                local.dt.iso_year().cast(pl.Int32).alias("iso_year"),
                local.dt.week().cast(pl.Int8).alias("iso_week"),
            )
        )
    money = pl.Decimal(12, 2)
    gross = (pl.col("_gross_cents").cast(pl.Decimal(14, 0)) / 100).cast(money)
    df = pl.concat(parts).sort("sending_ts_utc").with_columns(
        pl.lit(None, pl.String).alias("msg_key"),
        pl.lit(0, pl.Int32).alias("dup_ordinal"),
        pl.col("username_page").str.split("__").list.first().alias("username_std"),
        pl.col("username_page").str.split("__").list.last().alias("page_type"),
        pl.lit(None, pl.String).alias("caption_hash"),
        pl.lit(None, pl.String).alias("caption_sk"),
        pl.lit("s", pl.String).alias("sender_std"),
        pl.lit("SD", pl.String).alias("scheduler_code"),
        pl.col("sending_ts_utc").dt.date().alias("send_date"),
        (pl.col("price_cents").cast(pl.Decimal(14, 0)) / 100).cast(money).alias("price_usd"),
        (pl.col("price_cents") == 0).alias("is_free"),
        pl.when(pl.col("price_cents") > 0).then(pl.lit("ppv")).otherwise(pl.lit("free")).alias("message_kind"),
        gross.alias("earnings_gross_usd"),
        pl.lit(0.2).alias("platform_fee_applied"),
        ((pl.col("_gross_cents") * 8 // 10).cast(pl.Decimal(14, 0)) / 100).cast(money).alias("earnings_net_usd"),
        pl.lit("sent").alias("status"),
        pl.lit(None, pl.String).alias("withdrawn_by_std"),
        pl.lit(0, pl.Int32).alias("status_flips"),
        (pl.col("viewed") / pl.col("sent")).alias("view_rate"),
        (pl.col("purchased") / pl.col("sent")).alias("buy_rate"),
        T.safe_div(pl.col("purchased"), pl.col("viewed")).alias("conversion"),
        (pl.col("_gross_cents") / 100 / pl.col("sent")).alias("rps_gross"),
        (pl.col("_gross_cents") * 0.008 / pl.col("sent")).alias("rps_net"),
        T.safe_div(pl.col("_gross_cents") / 100, pl.col("purchased")).alias("revenue_per_purchase"),
        pl.when(pl.col("is_model_eligible")).then(pl.lit("valid")).otherwise(pl.lit("purchase_anomaly"))
        .alias("quality_flag"),
        pl.lit([], pl.List(pl.String)).alias("dq_flags"),
        pl.lit(1, pl.Int32).alias("snapshot_count"),
        pl.col("sending_ts_utc").alias("first_report_received_at"),
        pl.col("sending_ts_utc").alias("latest_report_received_at"),
        pl.lit(96.0).alias("metrics_age_hours"),
        pl.lit(True).alias("is_mature"),
        pl.lit(None, pl.String).alias("latest_message_id"),
        pl.lit(None, pl.String).alias("archive_uri"),
        pl.col("sending_ts_utc").alias("ingested_at"),
    )  # fmt: skip
    return df.drop("_gross_cents", "_tz")


ELIG = "is_model_eligible"
AS_OF_TS = f"TIMESTAMPTZ '{(AS_OF + dt.timedelta(days=1)).isoformat()} 00:00:00+00'"

SQL_PAGE = f"""
SELECT send_date_local AS metric_date, username_page, count(*) AS send_events,
  count(*) FILTER (price_cents > 0) AS ppv_events, count(*) FILTER (price_cents = 0) AS free_events,
  sum(sent) AS recipients, sum(viewed) AS views, sum(purchased) AS purchases,
  sum(earnings_gross_usd) AS revenue_gross, sum(earnings_net_usd) AS revenue_net,
  sum(earnings_gross_usd)::DOUBLE / nullif(sum(sent), 0) AS rps_gross,
  sum(purchased)::DOUBLE / nullif(sum(sent), 0) AS buy_rate,
  sum(viewed)::DOUBLE / nullif(sum(sent), 0) AS open_rate,
  sum(purchased)::DOUBLE / nullif(sum(viewed), 0) AS conversion,
  count(DISTINCT caption_id) AS distinct_captions,
  avg(price_usd::DOUBLE) FILTER (price_cents > 0) AS avg_ppv_price,
  count(*) FILTER (is_unsent)::DOUBLE / count(*) AS unsent_share
FROM fact WHERE {ELIG} AND send_date_local <= DATE '{AS_OF}'
GROUP BY ALL ORDER BY 1, 2
"""

SQL_CAPTION = f"""
WITH ev AS (
  SELECT *, send_date_local AS metric_date, earnings_gross_usd::DOUBLE / nullif(sent, 0) AS ev_rps
  FROM fact WHERE {ELIG} AND NOT is_media_only AND caption_id IS NOT NULL AND send_date_local <= DATE '{AS_OF}'
), hourly AS (
  SELECT metric_date, username_page, caption_id,
    list({{'hod_local': hod_local, 'send_events': n, 'recipients': rec, 'revenue_gross': rev,
           'rps_gross': rev / nullif(rec, 0)}} ORDER BY hod_local) AS hourly_performance
  FROM (SELECT metric_date, username_page, caption_id, hod_local, count(*) AS n, sum(sent) AS rec,
               sum(earnings_gross_usd::DOUBLE) AS rev FROM ev GROUP BY ALL)
  GROUP BY ALL
), daily AS (
  SELECT metric_date, username_page, caption_id, count(*) AS send_events, sum(sent) AS recipients,
    sum(viewed) AS views, sum(purchased) AS purchases, sum(earnings_gross_usd) AS revenue_gross,
    sum(earnings_net_usd) AS revenue_net, avg(price_usd::DOUBLE) AS avg_price,
    list_sort(list(ev_rps) FILTER (ev_rps IS NOT NULL)) AS s
  FROM ev GROUP BY ALL
), w AS (
  SELECT *,
    sum(revenue_gross::DOUBLE) OVER r7 AS rev7, sum(recipients) OVER r7 AS rec7, sum(purchases) OVER r7 AS pur7,
    sum(revenue_gross::DOUBLE) OVER r15 AS rev15, sum(recipients) OVER r15 AS rec15,
    sum(revenue_gross::DOUBLE) OVER r30 AS rev30, sum(recipients) OVER r30 AS rec30,
    sum(purchases) OVER r30 AS pur30
  FROM daily
  WINDOW r7 AS (PARTITION BY username_page, caption_id ORDER BY metric_date
                RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW),
         r15 AS (PARTITION BY username_page, caption_id ORDER BY metric_date
                RANGE BETWEEN INTERVAL 14 DAYS PRECEDING AND CURRENT ROW),
         r30 AS (PARTITION BY username_page, caption_id ORDER BY metric_date
                RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW)
)
SELECT w.metric_date, w.username_page, w.caption_id, send_events, recipients, views, purchases, revenue_gross,
  revenue_net, avg_price,
  views::DOUBLE / nullif(recipients, 0) AS view_rate, purchases::DOUBLE / nullif(recipients, 0) AS buy_rate,
  purchases::DOUBLE / nullif(views, 0) AS conversion,
  revenue_gross::DOUBLE / nullif(recipients, 0) AS rps_gross, revenue_net::DOUBLE / nullif(recipients, 0) AS rps_net,
  s[1 + floor(0.25 * (len(s) - 1))::INT] AS rps_event_p25, s[1 + floor(0.5 * (len(s) - 1))::INT] AS rps_event_median,
  s[1 + floor(0.75 * (len(s) - 1))::INT] AS rps_event_p75,
  hourly_performance,
  rev7 / nullif(rec7, 0) AS rps_7d, rev30 / nullif(rec30, 0) AS rps_30d,
  pur7::DOUBLE / nullif(rec7, 0) AS buy_rate_7d, pur30::DOUBLE / nullif(rec30, 0) AS buy_rate_30d,
  (rev15 / nullif(rec15, 0) - (rev30 - rev15) / nullif(rec30 - rec15, 0))
    / nullif((rev30 - rev15) / nullif(rec30 - rec15, 0), 0) AS rps_trend_slope,
  CASE WHEN count(rps_gross) OVER p <= 1 THEN 0.0
       ELSE (rank() OVER (PARTITION BY w.metric_date, w.username_page ORDER BY rps_gross) - 1)::DOUBLE
            / (count(rps_gross) OVER p - 1) END AS rps_percentile_by_page,
  (DATE '{AS_OF}' - max(w.metric_date) OVER (PARTITION BY w.username_page, w.caption_id)) AS days_since_last_use
FROM (SELECT *, revenue_gross::DOUBLE / nullif(recipients, 0) AS rps_gross FROM w) w
JOIN hourly USING (metric_date, username_page, caption_id)
WINDOW p AS (PARTITION BY w.metric_date, w.username_page)
ORDER BY 1, 2, 3
"""

SQL_DOW_HOD = f"""
WITH ev AS (
  SELECT username_page, dow_local, hod_local, sent, viewed, send_date_local,
    earnings_gross_usd::DOUBLE AS rev,
    pow(0.5, greatest(epoch({AS_OF_TS} - sending_ts_utc), 0) / 86400.0 / 45.0) AS w,
    send_date_local >= DATE '{AS_OF}' - INTERVAL 89 DAYS AS in_prior
  FROM fact WHERE {ELIG} AND send_date_local BETWEEN DATE '{AS_OF}' - INTERVAL 179 DAYS AND DATE '{AS_OF}'
), page AS (
  SELECT username_page, sum(rev * w) / nullif(sum(sent * w), 0) AS r_bar,
    sum(viewed * w) / nullif(sum(sent * w), 0) AS o_bar,
    coalesce(3 * median(sent::DOUBLE) FILTER (in_prior), 0) AS k
  FROM ev GROUP BY 1
), cells AS (
  SELECT username_page, dow_local, hod_local, count(*) AS send_events, sum(sent) AS recipients, sum(rev) AS revenue,
    sum(sent * w) AS w_recipients, sum(rev * w) AS w_revenue, sum(viewed * w) AS w_views,
    count(DISTINCT send_date_local) AS days_covered
  FROM ev GROUP BY GROUPING SETS ((username_page, dow_local, hod_local), (username_page, hod_local))
), s AS (
  SELECT c.*, p.r_bar AS page_rps_mean, p.o_bar AS page_open_mean, p.k AS prior_k,
    (w_revenue + k * coalesce(r_bar, 0)) / nullif(w_recipients + k, 0) AS rps_smooth,
    (w_views + k * coalesce(o_bar, 0)) / nullif(w_recipients + k, 0) AS open_smooth
  FROM cells c JOIN page p USING (username_page)
)
SELECT *, coalesce(least(greatest(rps_smooth / nullif(page_rps_mean, 0), 0.5), 1.5), 1.0) AS temporal_multiplier,
  coalesce(least(greatest(open_smooth / nullif(page_open_mean, 0), 0.5), 1.5), 1.0) AS temporal_multiplier_open,
  row_number() OVER (PARTITION BY username_page, dow_local ORDER BY rps_smooth DESC NULLS LAST, hod_local)
    AS hour_rank_in_day,
  w_revenue AS revenue_score
FROM s ORDER BY username_page, dow_local NULLS FIRST, hod_local
"""


def agree(name: str, a: pl.DataFrame, b: pl.DataFrame, sums: list[str], rel: float = 1e-9) -> None:
    assert a.height == b.height, (name, a.height, b.height)
    for c in sums:
        x = float(a[c].cast(pl.Float64).sum())
        y = float(b[c].cast(pl.Float64).sum())
        assert abs(x - y) <= rel * max(1.0, abs(x)), (name, c, x, y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--pages", type=int, default=150)
    ap.add_argument("--days", type=int, default=180)
    args = ap.parse_args()

    t0 = time.perf_counter()
    fact = make_fact(args.rows, args.pages, args.days)
    print(f"fact: {fact.height:,} rows x {fact.width} cols, {fact['username_page'].n_unique()} pages, "
          f"{fact['send_date_local'].n_unique()} local days; built in {time.perf_counter() - t0:.2f}s; "
          f"peak RSS {peak_mb():.0f} MiB")  # fmt: skip

    pl_out, pl_t = {}, {}
    for name, fn in (
        ("caption_performance_daily", T.caption_performance_daily),
        ("page_performance_daily", T.page_performance_daily),
        ("page_dow_hod_profile", T.page_dow_hod_profile),
    ):
        t = time.perf_counter()
        pl_out[name] = fn(fact, AS_OF)
        pl_t[name] = time.perf_counter() - t
    rss_pl = peak_mb()

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    t = time.perf_counter()
    con.register("fact", fact.to_arrow())
    reg_t = time.perf_counter() - t
    db_out, db_t = {}, {}
    for name, sql in (
        ("caption_performance_daily", SQL_CAPTION),
        ("page_performance_daily", SQL_PAGE),
        ("page_dow_hod_profile", SQL_DOW_HOD),
    ):
        t = time.perf_counter()
        db_out[name] = pl.from_arrow(con.sql(sql).to_arrow_table())
        db_t[name] = time.perf_counter() - t
    rss_all = peak_mb()

    agree("caption_performance_daily", pl_out["caption_performance_daily"], db_out["caption_performance_daily"],
          ["send_events", "recipients", "views", "purchases", "revenue_gross", "revenue_net", "rps_gross", "rps_7d",
           "rps_30d", "buy_rate_30d", "rps_event_median", "rps_percentile_by_page", "days_since_last_use"], rel=1e-6)  # fmt: skip
    agree("page_performance_daily", pl_out["page_performance_daily"], db_out["page_performance_daily"],
          ["send_events", "ppv_events", "recipients", "purchases", "revenue_gross", "revenue_net", "rps_gross",
           "distinct_captions", "unsent_share"], rel=1e-6)  # fmt: skip
    agree("page_dow_hod_profile", pl_out["page_dow_hod_profile"], db_out["page_dow_hod_profile"],
          ["send_events", "recipients", "w_recipients", "w_revenue", "days_covered", "rps_smooth",
           "temporal_multiplier", "temporal_multiplier_open", "hour_rank_in_day"], rel=1e-6)  # fmt: skip
    print("results agree (row counts and column sums)")
    print(f"{'table':28s} {'rows':>9s} {'polars s':>9s} {'duckdb s':>9s} {'polars/duckdb':>14s}")
    for name in pl_out:
        print(f"{name:28s} {pl_out[name].height:9,d} {pl_t[name]:9.3f} {db_t[name]:9.3f} "
              f"{pl_t[name] / db_t[name]:14.2f}")  # fmt: skip
    tp, td = sum(pl_t.values()), sum(db_t.values())
    print(f"{'total':28s} {'':9s} {tp:9.3f} {td:9.3f} {tp / td:14.2f}   (duckdb register {reg_t:.3f}s excluded)")
    print(f"peak RSS: after polars {rss_pl:.0f} MiB, after duckdb {rss_all:.0f} MiB (ru_maxrss, whole process)")


if __name__ == "__main__":
    main()
