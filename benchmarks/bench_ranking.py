"""Ranking every page (``rank_next24``) at the world's scale, a tenth of it and ten times it: wall time, peak RSS and
growth ratios, against a plain DuckDB SQL top-10-per-slot ranking of the same inputs run by the same benchmark.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_ranking.py --warehouse /tmp/world1/warehouse.duckdb \\
        --inputs /tmp/bench_rank_inputs --fs-inputs /tmp/bench_fs_inputs [--repeat 3] [--factors 0.1,1,10]
    .venv/bin/python benchmarks/bench_ranking.py                 # make bench: a scale-1.0 world if one is found
                                                                 # (see below), else a generated scale-0.1 world

World (as bench_feature_store.py / bench_warehouse_model.py, whose helpers this reuses): --warehouse FILE with the
staging tables, else --world DIR, else for --scale 1.0 /tmp/world1 and /tmp/bench when they hold a staged world, else
a world of --scale is generated and ingested (the default --scale is 1.0 when such a world is found and 0.1
otherwise, so a clean checkout gets a small world in minutes rather than a 12 GB scale-1.0 ingestion).

Setup (spawn children, timed and reported, never part of a measurement; cached as parquet in --inputs DIR and reused
when complete, so repeated runs skip it): the feature-store inputs of ``bench_feature_store.setup_inputs``
(fact_message_send, dim_caption, dim_page and the semantic inputs, in --fs-inputs DIR, default DIR/fs), then, with
now = as_of 00:00 UTC (as_of = last send date + 1: the moment the world's last day ends, so the 24 h of recent sends
are its last day) and the
``active`` config's statistics parameters as the Dagster assets use them: ``page_priors``, ``caption_priors``,
``feature_store`` (every active page, every candidate), ``page_dow_hod_profile``, ``page_price_profile``,
``page_price_points``, ``allocation.assign_configs``, ``slots.slot_grid_next24`` and the sends of the 24 h before now
(``recent_primaries``), exactly as ``layer_06_rankings/assets.py`` assembles them.

Factors (--factors, default 0.1,1,10; each point in its own spawn child so ru_maxrss is that point's peak):
  * 0.1: every 10th page (username_page order) and its rows in every page-keyed input;
  * 1: the inputs as they are;
  * k > 1: every page-keyed input (feature rows, priors, price points, slots, assignments, recent sends) replicated k
    times with the replicas renamed ``x__r1`` ... ``x__r{k-1}``; captions stay shared (one bank serves every page, as
    in the agency). That is what scale means for the ranker (pages x candidates). Agency-wide features
    (``last_used_ts_any``, ``cooldown_hours``) are copied, not recomputed for the larger agency.
The feature store handed to the ranker holds the columns ``rank_next24`` reads (RANKER_FEATURE_COLUMNS; the 84-column
store would only add memory the ranker never touches; --full-features passes every column).

Measured per factor: ``rank_next24`` wall time (best of --repeat; the first call, Numba JIT load included, is shown
apart), rows out, ranked slots, fallback / no-caption / explored slots, RSS before the call (inputs in memory) and the
child's peak RSS (ru_maxrss) - the ranking step's own peak is peak minus before. A watchdog kills a child whose RSS
passes --max-gb (the machine is shared) and the point is reported as killed. (The ranker keeps ~70 bytes per
candidate for the global pass and no slots x candidates matrix; the inputs themselves - ~160 bytes per feature row in
polars - dominate the child's memory at factor 10.)

Baseline (own spawn child per factor, the same parquet inputs scaled the same way in SQL into a file-backed temporary
database with memory_limit --duckdb-memory-gb, loading timed apart): DuckDB ``CREATE TEMP TABLE`` of the top 10 per
(page, slot, slot type) by ``temporal_multiplier x exploit`` where exploit is the ranker's price-adjusted form (ppv:
q^(1-beta_P) x p_buy_smoothed x q_bar^beta_P with q = page p50 / priors p50 / ref_price / default price; other slots: p_open_smoothed), over the store's ``is_eligible`` candidates whose
``primary_category`` fits the slot type. It does NOT do: UCB and novelty bonuses, same-day / cross-page penalties, the
global pass (one primary per caption, page and day; max_daily_uses over recent sends; re-scoring), epsilon-exploration,
Wilson prices, fallback rows, reason codes, normalised scores or the 47 output columns. Ratio printed: ranker/duckdb.
Sanity figures: the share of the ranker's non-fallback rows that the baseline also emits (same page, slot, caption) and,
on those rows, the largest relative difference between the ranker's temporal_multiplier x exploit_value and the
baseline score (bump slots: the same formula, so ~1e-16; ppv slots differ wherever the ranker priced by Wilson).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feature_store import INPUTS as FS_INPUTS  # noqa: E402
from bench_feature_store import read_inputs_polars, setup_inputs  # noqa: E402
from bench_warehouse_model import STAGING, peak_mb, resolve_warehouse, rss_mb, run_child, staged_rows  # noqa: E402

FEATURE_CONFIG = "active"  # as layer_05_ml/assets.py
# Every feature_store column rank_next24 reads (ranker._feature_arrays, the page loop and the watermark).
RANKER_FEATURE_COLUMNS = [
    "computed_date", "username_page", "username_std", "page_type", "caption_id", "caption_sk", "primary_category",
    "last_used_ts_page", "last_used_ts_any", "cooldown_hours", "fatigue_score", "smoothing_weight", "p_buy_smoothed",
    "p_open_smoothed", "novelty_level", "send_events_90d", "is_cold_start", "rps_percentile", "data_watermark",
]  # fmt: skip
# name -> file in --inputs; every one of them is keyed by username_page.
RANK_INPUTS = ["features", "page_priors", "caption_priors", "price_profile", "price_points", "assignments", "slots",
               "recent"]  # fmt: skip


# ------------------------------------------------------------------------------------------------------ setup


def setup_rank_inputs(fs_dir: str, out_dir: str) -> dict:
    """Today's priors, feature store, profiles, assignments, slot grid and recent sends, as the Dagster wiring builds
    them (layer_05_ml/assets.py, layer_06_rankings/assets.py), written as parquet into out_dir."""
    import polars as pl

    from of_scheduler_assets.layer_04_semantic import transforms as S
    from of_scheduler_assets.layer_05_ml.features import feature_store
    from of_scheduler_assets.layer_05_ml.priors import caption_prior_tables, page_priors
    from of_scheduler_assets.layer_06_rankings import allocation, slots
    from of_scheduler_assets.resources.ranker_config import load_ranker_config

    as_of = dt.date.fromisoformat((Path(fs_dir) / "as_of.txt").read_text().strip())
    now = dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)
    loaded = load_ranker_config()
    cfg = loaded.config(FEATURE_CONFIG)
    t: dict[str, float] = {}
    s = time.perf_counter()
    inp = read_inputs_polars(fs_dir)
    fact = inp["fact_message_send"].sort("message_send_key")
    dim_caption, dim_page = inp["dim_caption"], inp["dim_page"]
    t["read"] = time.perf_counter() - s
    s = time.perf_counter()
    pp = page_priors(fact, dim_page, now, half_life_days=cfg.stats_half_life_days, window_days=cfg.stats_window_days,
                     nu_sends=cfg.nu_sends, nu_page_sends=cfg.nu_page_sends)  # fmt: skip
    # the compact pair the ml_priors asset stores (and the ranking asset reads), not the full expansion
    cp, lift = caption_prior_tables(fact, dim_page, now, half_life_days=cfg.stats_half_life_days,
                                    window_days=cfg.stats_window_days, nu_sends=cfg.nu_sends,
                                    nu_page_sends=cfg.nu_page_sends, lift_prior_events=cfg.lift_prior_events, pages=pp)  # fmt: skip
    t["priors"] = time.perf_counter() - s
    s = time.perf_counter()
    features = feature_store(
        fact, dim_caption, dim_page, cp, pp, as_of=now, caption_lift=lift, page_health_7d=inp["page_health_7d"],
        page_tier_assignment=inp["page_tier_assignment"], page_state_daily=inp["page_state_daily"],
        page_volume_profile=inp["page_volume_profile"], min_samples_for_exploitation=cfg.min_samples_for_exploitation,
        min_reuse_days=cfg.min_reuse_days, half_life_days=cfg.stats_half_life_days, window_days=cfg.stats_window_days,
        ucb_c=cfg.ucb_c, ucb_cap_mult=cfg.ucb_cap_mult, cooldown_base_hours=cfg.cooldown.base_hours,
        cooldown_backoff_factor=cfg.cooldown.backoff_factor, cooldown_min_hours=cfg.cooldown.min_hours,
        max_cooldown_days=cfg.cooldown.max_cooldown_days, fatigue_limit=cfg.fatigue_limit,
        price_adjustment=cfg.price_adjustment, config_name=FEATURE_CONFIG, config_version=loaded.config_version,
        computed_at=now,
    )  # fmt: skip
    t["feature_store"] = time.perf_counter() - s
    s = time.perf_counter()
    dow_hod = S.page_dow_hod_profile(fact, now)
    frames = {
        "features": features,
        "page_priors": pp,
        "caption_priors": cp,
        "price_profile": S.page_price_profile(fact, now),
        "price_points": S.page_price_points(fact, now),
        "assignments": allocation.assign_configs(dim_page.select("username_page", "lifecycle_state"), loaded,
                                                 now.date()),
        "slots": slots.slot_grid_next24(dim_page.filter(pl.col("is_active")), dow_hod, now=now),
        "recent": fact.filter(pl.col("sending_ts_utc").is_between(now - dt.timedelta(hours=24), now, closed="left"))
        .select("username_page", "caption_id", "sending_ts_utc"),
    }  # fmt: skip
    t["profiles, slots, assignments"] = time.perf_counter() - s
    del inp, fact
    s = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, df in frames.items():
        df.write_parquet(out / f"{name}.parquet.tmp")
        (out / f"{name}.parquet.tmp").rename(out / f"{name}.parquet")
        rows[name] = df.height
    (out / "now.txt").write_text(now.isoformat())
    t["write parquet"] = time.perf_counter() - s
    return {"times": t, "rows": rows, "peak_mb": peak_mb(), "now": now.isoformat()}


def rank_inputs_complete(d: Path) -> bool:
    return (d / "now.txt").exists() and all((d / f"{n}.parquet").exists() for n in RANK_INPUTS)


def fs_inputs_complete(d: Path) -> bool:
    return (d / "as_of.txt").exists() and all((d / f"{n}.parquet").exists() for n in FS_INPUTS)


# ------------------------------------------------------------------------------------------------ scaling


def chosen_pages(pages: list[str], factor: float) -> list[str]:
    """factor < 1: every round(1/factor)-th page in name order; otherwise every page."""
    if factor >= 1:
        return pages
    step = max(1, round(1 / factor))
    return pages[::step]


def scaled_polars(inputs: str, factor: float, full_features: bool) -> dict:
    """The ranking inputs at ``factor`` (see the module docstring)."""
    import polars as pl

    d = Path(inputs)
    pages = sorted(pl.read_parquet(d / "slots.parquet", columns=["username_page"])["username_page"].unique().to_list())
    keep = pl.Series(chosen_pages(pages, factor), dtype=pl.String).implode()
    frames = {}
    for n in RANK_INPUTS:
        lf = pl.scan_parquet(d / f"{n}.parquet")
        if n == "features" and not full_features:
            lf = lf.select(RANKER_FEATURE_COLUMNS)
        if factor < 1:
            lf = lf.filter(pl.col("username_page").is_in(keep))
        frames[n] = lf.collect()
    k = max(1, int(factor))
    if k == 1:
        return frames
    out = {}
    for n, df in frames.items():
        copies = [df] + [df.with_columns(pl.col("username_page") + f"__r{i}") for i in range(1, k)]
        out[n] = pl.concat(copies, how="vertical")
        frames[n] = None
        del copies, df
    return out


def duckdb_load_sql(inputs: str, factor: float, pages: list[str]) -> list[str]:
    """CREATE TABLE statements loading the scaled inputs (the same rows as ``scaled_polars``)."""
    d = Path(inputs)
    k = 1 if factor < 1 else int(factor)
    keep = ""
    if factor < 1:
        lst = ", ".join("'" + p.replace("'", "''") + "'" for p in chosen_pages(pages, factor))
        keep = f"WHERE username_page IN ({lst})"
    cols = {"features": ", ".join([*RANKER_FEATURE_COLUMNS, "is_eligible"])}
    out = []
    for n in RANK_INPUTS:
        p = str(d / f"{n}.parquet").replace("'", "''")
        sel = cols.get(n, "*")
        if k == 1:
            out.append(f"CREATE OR REPLACE TABLE {n} AS SELECT {sel} FROM read_parquet('{p}') {keep}")
        else:
            out.append(
                f"CREATE OR REPLACE TABLE {n} AS SELECT * EXCLUDE (r) REPLACE (CASE WHEN r = 0 THEN username_page "
                f"ELSE username_page || '__r' || r END AS username_page) FROM (SELECT {sel} FROM read_parquet('{p}')) "
                f"CROSS JOIN range({k}) t(r)"
            )
    return out


# ---------------------------------------------------------------------------------------------- ranker side


def ranker_side(inputs: str, factor: float, repeat: int, full_features: bool) -> dict:
    import polars as pl

    from of_scheduler_assets.layer_06_rankings import ranker
    from of_scheduler_assets.resources.ranker_config import load_ranker_config

    now = dt.datetime.fromisoformat((Path(inputs) / "now.txt").read_text().strip())
    cfg = load_ranker_config()
    s = time.perf_counter()
    f = scaled_polars(inputs, factor, full_features)
    t_load = time.perf_counter() - s
    recent = f["recent"].drop("username_page")
    gc.collect()
    before = rss_mb()
    times, rank = [], None
    for i in range(repeat):
        rank = None
        gc.collect()
        s = time.perf_counter()
        rank = ranker.rank_next24(
            f["features"], f["slots"], f["page_priors"], f["price_profile"], f["assignments"], cfg, now=now,
            run_id=f"bench-{i}", recent_primaries=recent, caption_priors=f["caption_priors"],
            price_points=f["price_points"], generated_at=now,
        )  # fmt: skip
        times.append(time.perf_counter() - s)
    peak = peak_mb()
    prim = rank.filter(pl.col("rank") == 1)
    scores = {
        (p, ts.isoformat(), st, c): tm * e
        for p, ts, st, c, tm, e in rank.filter(pl.col("caption_id").is_not_null() & ~pl.col("is_fallback"))
        .select("username_page", "slot_ts_utc", "slot_type", "caption_id", "temporal_multiplier", "exploit_value")
        .iter_rows()
    }
    return {
        "times": times, "load_s": t_load, "before_mb": before, "peak_mb": peak, "rows": rank.height,
        "pages": f["slots"]["username_page"].n_unique(), "slots": f["slots"].height,
        "candidates": f["features"].height, "feature_columns": len(f["features"].columns),
        "ranked_slots": prim.height, "fallback_slots": int(prim["is_fallback"].sum()),
        "empty_slots": int(prim["caption_id"].is_null().sum()), "explored_slots": int(prim["is_exploration"].sum()),
        "distinct_primaries": prim["caption_id"].n_unique(), "scores": scores,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------- duckdb side


def baseline_sql(cfg) -> str:
    """Top 10 per (page, slot, slot type) by temporal_multiplier x exploit over eligible, category-fitting rows, ties
    by caption_id ascending (as the ranker). A top-n ``max_by`` aggregate: the same rows as ``row_number() OVER
    (PARTITION BY page, slot, type ORDER BY score DESC, caption_id) <= 10`` (QUALIFY), which took 5x longer."""
    cats = ", ".join(f"('{st}', '{c}')" for st in cfg.model.slot_type_categories for c in cfg.categories_for(st))
    default_price = float(cfg.model.default_ppv_price)
    return f"""
CREATE OR REPLACE TEMP TABLE baseline_rank AS
WITH slot_cats(slot_type, category) AS (VALUES {cats}),
price AS (
  SELECT p.username_page, coalesce(pf.p50, p.price_p50, nullif(p.ref_price, 0), {default_price}) AS q,
    coalesce(p.beta_P, 1.0) AS beta, coalesce(nullif(p.ref_price, 0), 10.0) AS ref
  FROM page_priors p LEFT JOIN price_profile pf USING (username_page)
),
cap_ord AS (SELECT caption_id, row_number() OVER (ORDER BY caption_id) AS o FROM (SELECT DISTINCT caption_id FROM features)),
cand AS (
  SELECT f.username_page, f.caption_id, o.o, f.primary_category, f.p_buy_smoothed, f.p_open_smoothed, cp.q_bar
  FROM features f
  JOIN cap_ord o USING (caption_id)
  LEFT JOIN (SELECT username_page, caption_id, q_bar FROM caption_priors WHERE caption_id IS NOT NULL) cp
    USING (username_page, caption_id)
  WHERE f.is_eligible
),
scored AS (
  SELECT s.username_page, s.slot_ts_utc, s.slot_type, c.caption_id, c.o,
    s.temporal_multiplier * CASE WHEN s.slot_type = 'ppv'
      THEN pow(pr.q, 1.0 - pr.beta) * least(greatest(coalesce(c.p_buy_smoothed, 0.0), 0.0), 1.0)
           * pow(CASE WHEN c.q_bar > 0 THEN c.q_bar ELSE pr.ref END, pr.beta)
      ELSE least(greatest(coalesce(c.p_open_smoothed, 0.0), 0.0), 1.0) END AS score
  FROM slots s
  JOIN assignments a USING (username_page)
  JOIN price pr USING (username_page)
  JOIN slot_cats sc ON sc.slot_type = s.slot_type
  JOIN cand c ON c.username_page = s.username_page AND c.primary_category = sc.category
)
SELECT username_page, slot_ts_utc, slot_type, unnest(top, recursive := true), generate_subscripts(top, 1) AS rank
FROM (
  SELECT username_page, slot_ts_utc, slot_type,
    max_by({{'caption_id': caption_id, 'score': score}}, {{'s': score, 'o': -o}}, 10) AS top
  FROM scored GROUP BY ALL
)
"""


def duckdb_side(inputs: str, factor: float, repeat: int, threads: int, memory_gb: float) -> dict:
    import duckdb
    import polars as pl

    from of_scheduler_assets.resources.ranker_config import load_ranker_config

    cfg = load_ranker_config()
    pages = sorted(pl.read_parquet(Path(inputs) / "slots.parquet", columns=["username_page"])["username_page"]
                   .unique().to_list())  # fmt: skip
    tmp = tempfile.mkdtemp(prefix="bench_rank_duck_")
    # a file-backed database with a memory limit: at factor 10 the inputs alone outgrow RAM if held in memory
    con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{tmp}'")
    con.execute(f"SET memory_limit = '{memory_gb:g}GB'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    s = time.perf_counter()
    for stmt in duckdb_load_sql(inputs, factor, pages):
        con.execute(stmt)
    t_load = time.perf_counter() - s
    before = rss_mb()
    sql = baseline_sql(cfg)
    times = []
    for _ in range(repeat):
        s = time.perf_counter()
        con.execute(sql)
        times.append(time.perf_counter() - s)
    peak = peak_mb()
    rows = con.sql("SELECT count(*) FROM baseline_rank").fetchall()[0][0]
    ranked = con.sql("SELECT count(*) FROM baseline_rank WHERE rank = 1").fetchall()[0][0]
    scores = {
        (p, ts.astimezone(dt.UTC).isoformat(), st, c): v
        for p, ts, st, c, v in con.sql(
            "SELECT username_page, slot_ts_utc, slot_type, caption_id, score FROM baseline_rank"
        ).fetchall()
    }
    n_threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"times": times, "load_s": t_load, "before_mb": before, "peak_mb": peak, "rows": rows,
            "ranked_slots": ranked, "scores": scores, "threads": n_threads}  # fmt: skip


# ------------------------------------------------------------------------------------------ guarded children


def _child_main(conn, fn, args) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        import traceback

        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _vmrss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_guarded(fn, args: tuple, max_mb: float) -> dict:
    """fn(*args) in a fresh spawn child; killed (and reported) when its RSS passes max_mb."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, fn, args))
    proc.start()
    child.close()
    seen = 0.0
    start = time.perf_counter()
    result = None
    while True:
        if parent.poll(0.1):
            try:
                status, payload = parent.recv()
            except EOFError:
                status, payload = "error", f"child exited with code {proc.exitcode}"
            result = payload if status == "ok" else {"error": payload}
            break
        seen = max(seen, _vmrss_mb(proc.pid))
        if seen > max_mb:
            proc.kill()
            result = {"error": f"killed by the watchdog: RSS {seen:,.0f} MiB > --max-gb after "
                               f"{time.perf_counter() - start:.0f} s"}  # fmt: skip
            break
        if not proc.is_alive() and not parent.poll(0):
            result = {"error": f"child died with exit code {proc.exitcode} (RSS seen {seen:,.0f} MiB)"}
            break
    proc.join()
    if isinstance(result, dict):
        result["watchdog_max_rss_mb"] = seen
    return result


# ---------------------------------------------------------------------------------------------------- driver


def parse_factors(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        f = float(part)
        if f <= 0 or (f > 1 and f != int(f)):
            raise SystemExit(f"--factors: {part!r} must be a fraction <= 1 or an integer")
        out.append(f)
    return sorted(set(out))


def fmt_factor(f: float) -> str:
    return f"{f:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warehouse", default=None, help="DuckDB file with the staging tables")
    ap.add_argument("--world", default=None, help="world directory to reuse or generate+ingest")
    ap.add_argument("--scale", type=float, default=None, help="world scale (default: 1.0 if found, else 0.1)")
    ap.add_argument("--inputs", default=None, help="dir for the ranking inputs (kept; reused when complete)")
    ap.add_argument("--fs-inputs", default=None, help="dir of bench_feature_store's inputs (default INPUTS/fs)")
    ap.add_argument("--factors", default="0.1,1,10", help="page-count factors relative to the world")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-gb", type=float, default=12.0, help="RSS budget of one measured child (watchdog)")
    ap.add_argument("--duckdb-threads", type=int, default=0, help="DuckDB threads (0 = its default)")
    ap.add_argument("--duckdb-memory-gb", type=float, default=6.0, help="DuckDB memory_limit (it spills beyond)")
    ap.add_argument("--full-features", action="store_true", help="hand the ranker all 84 feature-store columns")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-ranker", action="store_true")
    ap.add_argument("--json", action="store_true", help="also dump every figure as JSON")
    args = ap.parse_args()
    factors = parse_factors(args.factors)
    max_mb = args.max_gb * 1024.0

    tmp = None
    inputs = Path(args.inputs) if args.inputs else None
    if inputs is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_rank_"))
        inputs = tmp
    fs_dir = Path(args.fs_inputs) if args.fs_inputs else inputs / "fs"
    try:
        if rank_inputs_complete(inputs):
            print(f"reusing ranking inputs in {inputs} (now {(inputs / 'now.txt').read_text().strip()}); "
                  "setup not rerun")  # fmt: skip
        else:
            if fs_inputs_complete(fs_dir):
                print(f"reusing feature-store inputs in {fs_dir}")
            else:
                setup_fs(args, fs_dir)
            s = time.perf_counter()
            su = run_child(setup_rank_inputs, str(fs_dir), str(inputs))
            print(f"setup of the ranking inputs {time.perf_counter() - s:.1f} s incl. spawn: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in su["times"].items())
                  + f"; peak {su['peak_mb']:,.0f} MiB; now {su['now']}; rows: "
                  + ", ".join(f"{k} {v:,}" for k, v in su["rows"].items()))  # fmt: skip
        results = measure(str(inputs), factors, args, max_mb)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, args)


def setup_fs(args, fs_dir: Path) -> None:
    import duckdb

    if args.scale is None and not args.warehouse and not args.world:
        found = any(staged_rows(Path(c) / "warehouse.duckdb") > 0.8 * 1_667_374 for c in ("/tmp/world1", "/tmp/bench"))
        args.scale = 1.0 if found else 0.1
    elif args.scale is None:
        args.scale = 1.0
    wh = resolve_warehouse(args)
    con = duckdb.connect(str(wh), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    last = con.sql(f"SELECT max(sending_ts_utc)::DATE FROM {STAGING['stg_message_events']}").fetchall()[0][0]
    n_ev = con.sql(f"SELECT count(*) FROM {STAGING['stg_message_events']}").fetchall()[0][0]
    con.close()
    as_of = last + dt.timedelta(days=1)
    s = time.perf_counter()
    su = run_child(setup_inputs, str(wh), as_of.isoformat(), str(fs_dir))
    print(f"warehouse {wh} ({n_ev:,} staged events); as_of {as_of}")
    print(f"setup of the feature-store inputs {time.perf_counter() - s:.1f} s incl. spawn: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in su["times"].items())
          + f"; peak {su['peak_mb']:,.0f} MiB")  # fmt: skip


def measure(inputs: str, factors: list[float], args, max_mb: float) -> list[dict]:
    """Both sides at every factor (the ranker not after a factor where it failed or was killed)."""
    results: list[dict] = []
    for f in factors:
        r: dict = {"factor": f, "ranker": {}, "duckdb": {}}
        failed = [x["factor"] for x in results if "error" in x["ranker"] and x["factor"] < f]
        if args.skip_ranker:
            r["ranker"] = {"skipped": "not run (--skip-ranker)"}
        elif failed:
            r["ranker"] = {"skipped": f"not run: it already failed at factor {fmt_factor(max(failed))}"}
            print(f"factor {fmt_factor(f)}: ranker {r['ranker']['skipped']}", flush=True)
        if not r["ranker"]:
            print(f"factor {fmt_factor(f)}: ranker ...", flush=True)
            r["ranker"] = run_guarded(ranker_side, (inputs, f, args.repeat, args.full_features), max_mb)
            if "error" in r["ranker"]:
                print(f"  ranker failed: {r['ranker']['error']}", flush=True)
        if not args.skip_duckdb:
            print(f"factor {fmt_factor(f)}: duckdb ...", flush=True)
            r["duckdb"] = run_guarded(
                duckdb_side, (inputs, f, args.repeat, args.duckdb_threads, args.duckdb_memory_gb), max_mb
            )
            if "error" in r["duckdb"]:
                print(f"  duckdb failed: {r['duckdb']['error']}", flush=True)
        results.append(r)
    return results


def agreement(rk: dict, db: dict) -> dict:
    """Rows emitted by both sides and the largest relative score difference on them, per slot type group."""
    out = {"common": 0, "ppv": 0.0, "other": 0.0}
    for k, a in rk.items():
        b = db.get(k)
        if b is None:
            continue
        out["common"] += 1
        rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
        g = "ppv" if k[2] == "ppv" else "other"
        out[g] = max(out[g], rel)
    return out


def ok(side: dict) -> bool:
    return bool(side) and "times" in side


def report(results: list[dict], args) -> None:
    print(f"\nrank_next24 per factor (pages x candidates relative to the world), best of {args.repeat}; RSS in MiB "
          "(rss in = with the inputs loaded, peak = the child's ru_maxrss, step = peak - rss in)\n")  # fmt: skip
    print(f"{'factor':>6s} {'pages':>6s} {'slots':>6s} {'cand rows':>11s} {'rows out':>8s} {'rank s':>8s} "
          f"{'1st s':>7s} {'rss in':>7s} {'peak':>7s} {'step':>7s} {'duck s':>7s} {'duck pk':>8s} {'rk/duck':>7s}")  # fmt: skip
    for r in results:
        rk, db = r["ranker"], r["duckdb"]
        line = f"{fmt_factor(r['factor']):>6s} "
        if ok(rk):
            line += (f"{rk['pages']:>6,} {rk['slots']:>6,} {rk['candidates']:>11,} {rk['rows']:>8,} "
                     f"{min(rk['times']):>8.2f} {rk['times'][0]:>7.2f} {rk['before_mb']:>7,.0f} {rk['peak_mb']:>7,.0f} "
                     f"{rk['peak_mb'] - rk['before_mb']:>7,.0f}")  # fmt: skip
        else:
            line += f"{'ranker ' + ('skipped' if 'skipped' in rk else 'failed'):>75s}"
        if ok(db):
            line += f" {min(db['times']):>7.2f} {db['peak_mb']:>8,.0f}"
            if ok(rk):
                line += f" {min(rk['times']) / min(db['times']):>7.1f}"
        print(line)
    print()
    for r in results:
        rk, db = r["ranker"], r["duckdb"]
        f = fmt_factor(r["factor"])
        if ok(rk):
            print(f"factor {f}: ranker calls " + ", ".join(f"{t:.2f}" for t in rk["times"]) + " s (the first loads the "
                  f"Numba kernels); {rk['ranked_slots']:,} slots ranked, {rk['fallback_slots']:,} fallback, "
                  f"{rk['empty_slots']:,} without caption, {rk['explored_slots']:,} explored, "
                  f"{rk['distinct_primaries']:,} distinct primaries; inputs built in {rk['load_s']:.1f} s; "
                  f"{rk['feature_columns']} feature columns")  # fmt: skip
        elif rk:
            print(f"factor {f}: ranker {rk.get('skipped') or rk.get('error', '').splitlines()[0]}")
        if ok(db):
            line = (f"factor {f}: duckdb {db['rows']:,} rows, {db['ranked_slots']:,} slots, {db['threads']} threads, "
                    f"loaded in {db['load_s']:.1f} s, calls " + ", ".join(f"{t:.2f}" for t in db["times"]) + " s")  # fmt: skip
            if ok(rk):
                a = agreement(rk["scores"], db["scores"])
                line += (f"; {a['common']:,} of the ranker's {len(rk['scores']):,} non-fallback rows also in the "
                         f"baseline, max rel. diff of tm x exploit on them {a['other']:.1e} (bump etc.) / "
                         f"{a['ppv']:.1e} (ppv)")  # fmt: skip
            print(line)
        elif db:
            print(f"factor {f}: duckdb {db.get('error', '').splitlines()[0]}")
    one = next((r for r in results if r["factor"] == 1.0), None)
    if one is not None:
        print("\ngrowth against factor 1 (linear in pages x candidates = the factor itself):")
        rk1, db1 = one["ranker"], one["duckdb"]
        for r in results:
            if r is one:
                continue
            rk, db, parts = r["ranker"], r["duckdb"], []
            if ok(rk) and ok(rk1):
                parts.append(f"ranker time x{min(rk['times']) / min(rk1['times']):.2f}, peak RSS "
                             f"x{rk['peak_mb'] / rk1['peak_mb']:.2f}, step RSS "
                             f"x{(rk['peak_mb'] - rk['before_mb']) / max(1.0, rk1['peak_mb'] - rk1['before_mb']):.2f}")  # fmt: skip
            elif rk.get("error") or rk.get("skipped"):
                parts.append(f"ranker: {rk.get('error') or rk.get('skipped')}")
            if ok(db) and ok(db1):
                parts.append(f"duckdb time x{min(db['times']) / min(db1['times']):.2f}, peak RSS "
                             f"x{db['peak_mb'] / db1['peak_mb']:.2f}")  # fmt: skip
            print(f"  factor {fmt_factor(r['factor'])}: " + "; ".join(parts or ["-"]))
    print("\nbaseline (duckdb): top 10 per (page, slot, slot type) by temporal_multiplier x exploit (the ranker's "
          "price-adjusted form at the page p50) over the store's is_eligible, category-fitting candidates. It does "
          "not do: UCB / novelty bonuses, diversity penalties, the global pass (one primary per caption/page/day, "
          "max_daily_uses, re-scoring), epsilon-exploration, Wilson prices, fallback, reason codes, normalised "
          "scores, the 47 output columns.")  # fmt: skip
    if args.json:
        slim = [{**r, "ranker": {k: v for k, v in r["ranker"].items() if k != "scores"},
                 "duckdb": {k: v for k, v in r["duckdb"].items() if k != "scores"}} for r in results]  # fmt: skip
        print(json.dumps(slim, default=str))


if __name__ == "__main__":
    main()
