"""`of-scheduler`: the newcomer's entry point.

    of-scheduler run   generate the sample world (unless the same one is there), materialize every asset into the
                       warehouse, and print where to look
    of-scheduler ui    start the Dagster UI on this code location with the same instance
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from of_scheduler_assets import settings

DEFAULT_SCALE = 0.1


def _prepare_dagster_home() -> Path:
    """A persistent local instance, so runs made here show up in the UI; telemetry off."""
    dagster_home = settings.dagster_home()
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def _world_is_current(home: Path, args: argparse.Namespace) -> bool:
    manifest = home / "sample_manifest.json"
    if args.regenerate or not manifest.exists():
        return False
    meta = json.loads(manifest.read_text())
    wanted = {"seed": args.seed, "scale": args.scale, "days": args.days, "fault_rate": args.faults,
              "end_date": args.end_date}
    return all(meta.get(k) == v for k, v in wanted.items())


def generate_world(home: Path, args: argparse.Namespace) -> None:
    if _world_is_current(home, args):
        print(f"sample world: reusing {home} (same seed, scale, days, end date and faults; --regenerate to rebuild)")
        return
    cmd = [sys.executable, "-m", "of_scheduler_assets.sample", "--out", str(home), "--scale", str(args.scale),
           "--seed", str(args.seed), "--days", str(args.days), "--faults", str(args.faults),
           "--end-date", args.end_date]
    print("sample world:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


MAX_BACKFILL_RUNS = 50


def now_utc() -> dt.datetime:
    """The run's clock: ``OF_SCHEDULER_AS_OF`` when pinned, else the wall clock (as the clock resource does)."""
    from of_scheduler_assets.resources.clock import parse_as_of

    pinned = os.environ.get("OF_SCHEDULER_AS_OF")
    return parse_as_of(pinned) if pinned else dt.datetime.now(dt.UTC)


def history_range() -> tuple[str, str]:
    """Partition keys from the earliest staged send (clipped to the first partition) to today."""
    from of_scheduler_assets.resources.warehouse import warehouse_reader

    today = now_utc().date()
    staged = warehouse_reader().read_table("layer_02_staging", "stg_message_events", ["sending_ts_utc"])
    first = today if staged is None or staged.is_empty() else min(staged["sending_ts_utc"].min().date(), today)
    first = max(first, dt.date.fromisoformat(settings.history_start()))
    return first.isoformat(), today.isoformat()


def materialize_everything(simulate: bool = False) -> dict:
    """Every asset that exists (with its checks), recorded in the local Dagster instance.

    First the mailbox is backfilled the way the mailbox sensor catches up after downtime: ingestion-only runs of at
    most the backfill budget until one finds no new email. Then one run materializes the model, with every daily
    partition from the earliest staged send to today as a single-run backfill, and a last run builds today's
    partition of the per-day decision layers (priors, feature store, rankings)."""
    import dagster as dg

    from of_scheduler_assets import partitions
    from of_scheduler_assets.automation.jobs import DAILY_DECISIONS, EVALUATION, INGESTION, SIMULATION
    from of_scheduler_assets.definitions import build_definitions
    from of_scheduler_assets.resources.config import OpsConfigResource
    from of_scheduler_assets.resources.warehouse import warehouse_reader

    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    ingestion_keys = INGESTION.resolve(defs.resolve_asset_graph())
    override = os.environ.get("OF_SCHEDULER_CONFIG") or None  # the resource holds an EnvVar, resolved only in runs
    budget = OpsConfigResource(override_path=override).load().model.ingestion.max_new_messages_per_backfill
    backfill = {"ops": {"mailbox_intake": {"config": {"backfill": True}}}}
    seen = 0
    with dg.DagsterInstance.get() as instance:
        for _ in range(MAX_BACKFILL_RUNS):
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=backfill,
                                            asset_selection=list(ingestion_keys))
            emails = warehouse_reader().read_table("layer_01_raw", "report_emails")
            handled = 0 if emails is None else emails.height
            print(f"ingestion run {result.run_id}: {handled:,} report emails handled so far", flush=True)
            if not result.success or handled - seen < budget:  # a run under its budget has drained the mailbox
                break
            seen = handled
        results = [result]
        if result.success:
            first, last = history_range()
            print(f"model run over daily partitions {first} .. {last}", flush=True)
            graph = defs.resolve_asset_graph()
            daily = DAILY_DECISIONS.resolve(graph)
            evaluation = EVALUATION.resolve(graph)
            later = daily | evaluation | SIMULATION.resolve(graph)  # the simulation: `of-scheduler run --simulate`
            model_keys = [k for k in graph.materializable_asset_keys if k not in later]
            results.append(job.execute_in_process(instance=instance, raise_on_error=False, run_config=backfill,
                                                  tags=partitions.range_tags(first, last), asset_selection=model_keys))
            if results[-1].success:
                print(f"decision run for {last}", flush=True)
                results.append(job.execute_in_process(instance=instance, raise_on_error=False, partition_key=last,
                                                      asset_selection=list(daily)))
            if results[-1].success:
                print("ranker evaluation", flush=True)
                results.append(job.execute_in_process(instance=instance, raise_on_error=False,
                                                      asset_selection=list(EVALUATION.resolve(graph))))
            if simulate and results[-1].success:
                print("ranker simulation against the sample world's ground truth (minutes)", flush=True)
                results.append(job.execute_in_process(instance=instance, raise_on_error=False,
                                                      asset_selection=list(SIMULATION.resolve(graph))))
    failed = [e for r in results for e in r.get_asset_check_evaluations() if not e.passed]
    return {"run_id": results[-1].run_id, "success": all(r.success for r in results),
            "failed_checks": [e.asset_check_key.to_user_string() for e in failed
                              if e.severity == dg.AssetCheckSeverity.ERROR],
            "warnings": [e.asset_check_key.to_user_string() for e in failed
                         if e.severity != dg.AssetCheckSeverity.ERROR]}


def warehouse_summary() -> list[tuple[str, str, int]]:
    from of_scheduler_assets.resources.warehouse import open_duckdb

    conn = open_duckdb(str(settings.warehouse_path()), read_only=True)
    try:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog', 'main') ORDER BY 1, 2"
        ).fetchall()
        return [(s, t, conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]) for s, t in tables]
    finally:
        conn.close()


def decision_summary(top: int = 5) -> list[str]:
    """A few lines on what the team gets: pages ranked, planned slots of the week, the best picks of the next 24 h and
    the team export files (local DuckDB target only)."""
    from of_scheduler_assets.resources.warehouse import open_duckdb

    conn = open_duckdb(str(settings.warehouse_path()), read_only=True)

    def one(sql: str):
        try:
            return conn.execute(sql).fetchall()
        except Exception:  # a table the run did not build: the summary says so instead of failing the command
            return None

    try:
        ranked = one('SELECT count(DISTINCT username_page), count(DISTINCT (username_page, slot_ts_utc, slot_type)) '
                     'FROM "layer_06_rankings"."caption_rank_next24"')
        planned = one('SELECT slot_kind, count(*), count(DISTINCT username_page) FROM '
                      '"layer_06_rankings"."weekly_template_7d" GROUP BY 1 ORDER BY 2 DESC')
        picks = one(
            'SELECT r.username_page, r.slot_local, r.price_usd, r.caption_id, r.final_score, c.caption_text '
            'FROM "layer_06_rankings"."caption_rank_next24" r LEFT JOIN "layer_03_foundation"."dim_caption" c '
            'ON c.caption_id = r.caption_id AND c.is_current '
            "WHERE r.rank = 1 AND r.slot_type = 'ppv' AND r.caption_id IS NOT NULL "
            f"ORDER BY r.final_score DESC, r.username_page, r.slot_ts_utc LIMIT {int(top)}")
    finally:
        conn.close()
    lines = []
    if ranked:
        lines.append(f"pages ranked: {ranked[0][0]} ({ranked[0][1]:,} slots in the next 24 hours, top 10 each)")
    if planned:
        kinds = ", ".join(f"{n:,} {kind}" for kind, n, _ in planned)
        lines.append(f"weekly plan: {sum(n for _, n, _ in planned):,} planned slots ({kinds})")
    if picks:
        lines.append("top picks (PPV, next 24 hours, by score):")
        for page, local, price, cid, _, text in picks:
            shown = (text or cid).replace("\n", " ")
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            price_txt = f"${price:,.2f}" if price is not None else "free"
            lines.append(f"  {page} {local:%a %H:%M} local, {price_txt}: {shown}")
    root = settings.exports_dir()
    team = sorted(root.rglob("*.xlsx"), key=lambda p: ("latest" not in p.parts, str(p))) if root.exists() else []
    if team:
        lines.append(f"team sheets: {team[0]} ({len(team)} workbook(s) under {root}, dated copies included)")
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    home = settings.home()
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = _prepare_dagster_home()
    generate_world(home, args)
    outcome = materialize_everything(simulate=args.simulate)

    print()
    print(f"run {outcome['run_id']}: {'succeeded' if outcome['success'] else 'FAILED'} in {time.monotonic() - started:.0f} s")
    if outcome["failed_checks"]:
        print("failed checks:", ", ".join(outcome["failed_checks"]))
    if outcome["warnings"]:
        print("checks with warnings (WARN severity, not blocking):", ", ".join(outcome["warnings"]))
    if settings.target() == "local":
        print(f"\nwarehouse (DuckDB): {settings.warehouse_path()}")
        for schema, table, rows in warehouse_summary():
            print(f"  {schema}.{table}: {rows:,} rows")
        print(f"  schemas: {', '.join(settings.LAYER_SCHEMAS)}")
        print(f"  query it: duckdb {settings.warehouse_path()}  (or python: duckdb.connect(path, read_only=True))")
    else:
        print("\nwarehouse: BigQuery project $OF_SCHEDULER_BQ_PROJECT, one dataset per layer")
    if settings.target() == "local" and outcome["success"]:
        print()
        for line in decision_summary():
            print(line)
    print(f"sample world: {home} (inbox/, downloads/, seeds/, truth/, sample_manifest.json)")
    print(f"exports:      {settings.exports_dir()}")
    print(f"Dagster UI:   make ui  ->  http://127.0.0.1:3000  (instance {dagster_home})")
    return 0 if outcome["success"] and not outcome["failed_checks"] else 1


def cmd_ui(args: argparse.Namespace) -> int:
    _prepare_dagster_home()
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(cmd, cwd=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="of-scheduler", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="generate the sample world and materialize every asset")
    run.add_argument("--scale", type=float, default=DEFAULT_SCALE, help=f"world size, 1.0 = the real agency (default {DEFAULT_SCALE})")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--days", type=int, default=180)
    run.add_argument("--end-date", default=(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat(),
                     help="last day of the sample world (default: two days ago, so its last reports have arrived)")
    run.add_argument("--faults", type=float, default=0.0, help="share of reports with an injected bad input")
    run.add_argument("--regenerate", action="store_true", help="rebuild the sample world even if it is current")
    run.add_argument("--simulate", action="store_true",
                     help="also play the ranker against the world's ground truth (layer_05_ml/ranker_simulation)")
    run.set_defaults(func=cmd_run)
    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this code location")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
