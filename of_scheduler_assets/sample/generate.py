"""Orchestration: plan -> build the world -> write every file (reports in a process pool) -> manifests."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from of_scheduler_assets.identity import caption_id, caption_norm, compact_key

from . import GENERATOR_VERSION, refdata, writers
from . import faults as F
from .tos import tos_rules
from .truth import DEFAULT_PARAMS
from .world import REPORT_TZ, _dt2m, _m2dt, build_world, plan_world

OWN_DIRS = [
    "inbox/reports",
    "inbox/caption_bank",
    "inbox/creator_stats",
    "inbox/scheduler_assignments",
    "downloads",
    "truth",
]
OWN_FILES = [
    "seeds/page_aliases.csv",
    "seeds/scheduler_roster.csv",
    "seeds/page_registry.csv",
    "sample_manifest.json",
    "faults_manifest.json",
]


def wipe(out: Path) -> None:
    for d in OWN_DIRS:
        shutil.rmtree(out / d, ignore_errors=True)
    for f in OWN_FILES:
        (out / f).unlink(missing_ok=True)


def _context(world, out: Path, seed: int, fault_rate: float) -> dict:
    ev = world.events
    rows = world.rows
    reports = world.reports
    n_r = reports.height
    den = (
        _m2dt(ev["ts_utc_min"].to_numpy())
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(REPORT_TZ)
        .dt.replace_time_zone(None)
    )
    t_pad = den.dt.strftime("%b %d, %Y at %I:%M %p").to_list()
    t_nopad = den.dt.strftime("%b %-d, %Y at %-I:%M %p").to_list()
    rng = np.random.default_rng([seed, 6])
    quirks = np.zeros(n_r, dtype=np.int64)
    for bit, p in writers.QUIRK_PROB.items():
        quirks |= np.where(rng.random(n_r) < p, bit, 0)
    quirks &= ~np.where(quirks & writers.Q_NUMERIC, writers.Q_FLOAT | writers.Q_COMMA, 0)
    quirks &= ~np.where(quirks & writers.Q_FLOAT, writers.Q_COMMA, 0)
    # make sure every quirk appears at least once (small scales)
    for k, bit in enumerate(writers.QUIRK_PROB):
        if n_r and not (quirks & bit).any():
            quirks[(k * 7919 + 13) % n_r] |= bit
    frng = np.random.default_rng([seed, 7])
    faulted = frng.random(n_r) < fault_rate
    fault_ord = np.where(faulted, np.cumsum(faulted) - 1, -1)
    variant = np.select([rng.random(n_r) < 0.75, rng.random(n_r) < 0.5], [0, 1], 2)
    pages = world.pages
    page_idx = reports["page_idx"].to_numpy()
    disp = pages["display_name"].to_list()
    ptypes = pages["page_type"].to_list()
    known = {compact_key(a) for a in world.aliases["alias"].to_list()}
    typos = []
    for p in range(pages.height):
        first, last = disp[p].split(" ", 1)
        t = last[:-2] + last[-1] + last[-2] if len(last) > 2 else last + "e"
        name = f"{first} {t} {ptypes[p].capitalize()}"
        while compact_key(name) in known:
            name = name.replace(" ", "x ", 1)
        typos.append(name)
    spell = world.extra["spellings"]
    other = [spell[(p + 1) % pages.height][0] for p in range(pages.height)]
    rep_den = _dt2m(
        _m2dt(reports["received_utc_s"].to_numpy() // 60)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(REPORT_TZ)
        .dt.replace_time_zone(None)
    )
    agents = sorted({v for v in world.extra["sender_label"].values()})
    return {
        "seed": seed,
        "out": out,
        "quirks": quirks.tolist(),
        "row_lo": reports["row_lo"].to_list(),
        "n_rows": reports["n_rows"].to_list(),
        "row_event": rows["event"].tolist(),
        "row_viewed": rows["viewed"].tolist(),
        "row_purchased": rows["purchased"].tolist(),
        "row_unsent": rows["unsent"].tolist(),
        "ev_price": ev["price"].to_list(),
        "ev_recipients": ev["recipients"].to_list(),
        "ev_media_only": ev["media_only"].to_list(),
        "ev_caption": ev["caption_idx"].to_list(),
        "ev_sender": ev["sender"].to_list(),
        "ev_withdrawn": ev["withdrawn_by"].to_list(),
        "ev_den_min": _dt2m(den).tolist(),
        "t_pad": t_pad,
        "t_nopad": t_nopad,
        "texts": world.captions["text"].to_list(),
        "agents": agents,
        "email_names": world.email_names,
        "fault_ord": fault_ord.tolist(),
        "fault_kinds": F.kind_list(),
        "rep_multi": [bool(pages["n_creator_pages"][int(p)] > 1) for p in page_idx],
        "rep_page_name": reports["username_page"].to_list(),
        "rep_username_page": reports["username_page"].to_list(),
        "rep_date": reports["report_date"].to_list(),
        "rep_received_s": reports["received_utc_s"].to_list(),
        "rep_display": [disp[int(p)] for p in page_idx],
        "typo_names": [typos[int(p)] for p in page_idx],
        "other_names": [other[int(p)] for p in page_idx],
        "rep_den_mins": rep_den.tolist(),
        "email_variant": variant.tolist(),
    }


def generate(
    out: str | Path,
    scale: float = 1.0,
    seed: int = 7,
    days: int = 180,
    end_date: str | dt.date = "2026-11-01",
    faults: float = 0.0,
    workers: int | None = None,
    verbose: bool = True,
) -> dict:
    t0 = time.time()
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    wipe(out)
    t_wipe = time.time() - t0
    plan = plan_world(scale, seed, days, end_date)
    world = build_world(plan)
    t_world = time.time() - t0
    ctx = _context(world, out, seed, faults)
    writers.set_context(ctx)
    n_r = world.reports.height
    chunk = 64
    chunks = [list(range(i, min(n_r, i + chunk))) for i in range(0, n_r, chunk)]
    workers = max(1, workers or os.cpu_count() or 1)
    results = []
    if workers == 1 or len(chunks) <= 1:
        for ch in chunks:
            results.extend(writers.write_chunk(ch))
    else:
        # spawn, not fork: forking a process whose polars/DuckDB thread pools hold locks can deadlock the children
        # (seen when the generator runs inside a busy process such as a test session). Workers get the context once.
        with mp.get_context("spawn").Pool(workers, initializer=writers.set_context, initargs=(ctx,)) as pool:
            for res in pool.imap(writers.write_chunk, chunks):
                results.extend(res)
    t_reports = time.time() - t0 - t_world
    n_report_rows = sum(r[0] for r in results)
    n_emails = sum(r[2] for r in results)
    n_files = sum(r[3] for r in results)
    fault_records = [rec for r in results for rec in r[4]]
    quirk_counts: dict[str, int] = {}
    for r in results:
        for q in r[5]:
            quirk_counts[q] = quirk_counts.get(q, 0) + 1
    # reference data
    sched_first = [c.split(" ")[0].title() for c in world.extra["codes"]]
    page_names = [s[0] for s in world.extra["spellings"]] + [
        d + " (Both Pages)"
        for d, k in zip(world.pages["display_name"], world.pages["n_creator_pages"], strict=True)
        if k > 1
    ]
    bank_stats, bank_faults, tos_truth = refdata.write_caption_bank(out, world, seed, faults, page_names, sched_first)
    n_weeks, n_stat_rows, stat_faults = refdata.write_creator_stats(out, world, seed, faults)
    n_assign, assign_faults = refdata.write_assignments(out, world, faults)
    for rec in bank_faults + stat_faults + assign_faults:
        rec.setdefault("message_id", None)
    fault_records += bank_faults + stat_faults + assign_faults
    for i, rec in enumerate(fault_records):
        rec["fault_id"] = f"F{i + 1:05d}"
    key_order = [
        "fault_id",
        "catalogue_no",
        "kind",
        "message_id",
        "file",
        "row_number",
        "scope",
        "expected_outcome",
        "expected_reason",
        "expected_flags",
        "detail",
        "email_file",
    ]
    fault_records = [{k: rec.get(k) for k in key_order} for rec in fault_records]
    _write_seeds(out, world)
    in_reports = np.zeros(world.events.height, dtype=bool)
    in_reports[np.asarray(world.rows["event"])] = True
    _write_truth(out, world, tos_truth, in_reports)
    (out / "faults_manifest.json").write_text(json.dumps(fault_records, indent=1, ensure_ascii=False) + "\n")
    n_bytes = 0
    n_all_files = 0
    for d in OWN_DIRS + ["seeds"]:
        for p in (out / d).rglob("*"):
            if p.is_file():
                n_bytes += p.stat().st_size
                n_all_files += 1
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": scale,
        "days": days,
        "end_date": plan.end_date.isoformat(),
        "fault_rate": faults,
        "plan": plan.as_dict(),
        "counts": {
            "creators": int(world.pages["username_std"].n_unique()),
            "pages": world.pages.height,
            "aliases": world.aliases.height,
            "schedulers": int((~world.roster["is_manager"]).sum()),
            "managers": int(world.roster["is_manager"].sum()),
            "assignment_rows": n_assign,
            "captions": world.captions.height,
            "tos_bank_rows": len(tos_truth),
            "bank_rows": bank_stats["bank_rows"],
            "bank_files": bank_stats["bank_files"],
            "events_simulated": world.events.height,
            "events": int(in_reports.sum()),
            "reports": n_r,
            "emails": n_emails,
            "report_files": n_files,
            "report_rows": n_report_rows,
            "creator_stats_files": n_weeks,
            "creator_stats_rows": n_stat_rows,
            "faults": len(fault_records),
            "files": n_all_files,
            "bytes": n_bytes,
        },
        "quirk_reports": dict(sorted(quirk_counts.items())),
        "not_injectable": {str(k): v for k, v in F.NOT_INJECTABLE.items()},
    }
    (out / "sample_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    manifest["seconds"] = round(time.time() - t0, 2)
    manifest["seconds_wipe"] = round(t_wipe, 2)
    manifest["seconds_world"] = round(t_world - t_wipe, 2)
    manifest["seconds_reports"] = round(t_reports, 2)
    return manifest


def _write_seeds(out: Path, world) -> None:
    d = out / "seeds"
    d.mkdir(parents=True, exist_ok=True)
    world.aliases.write_csv(d / "page_aliases.csv")
    r = world.roster.with_columns(pl.col("is_manager", "is_active", "can_view_all").cast(pl.Utf8).str.to_lowercase())
    r.write_csv(d / "scheduler_roster.csv")
    p = world.pages
    reg = p.select(
        "username_page",
        "username_std",
        "page_type",
        "display_name",
        "tz",
        "report_tz",
        (pl.col("page_type") != "free").alias("is_paid").cast(pl.Utf8).str.to_lowercase(),
        pl.lit("active").alias("state"),
        pl.col("active_from").cast(pl.Utf8),
        pl.col("assigned_scheduler_code").fill_null(""),
    )
    reg.write_csv(d / "page_registry.csv")


def _write_truth(out: Path, world, tos_truth: list[dict], in_reports) -> None:
    d = out / "truth"
    d.mkdir(parents=True, exist_ok=True)
    world.pages.write_parquet(d / "pages.parquet")
    caps = world.captions.with_columns(
        pl.lit("ok").alias("tos_status"), pl.lit("").alias("tos_rules"), pl.lit("bank").alias("source")
    )
    if tos_truth:
        extra = pl.DataFrame(
            {
                "caption_idx": np.arange(len(tos_truth)) + caps.height,
                "caption_id": [caption_id(t["text"]) for t in tos_truth],
                "caption_hash": [
                    __import__("hashlib").sha256(caption_norm(t["text"]).encode()).hexdigest() for t in tos_truth
                ],
                "caption_norm": [caption_norm(t["text"]) for t in tos_truth],
                "text": [t["text"] for t in tos_truth],
                "category": ["ppv"] * len(tos_truth),
                "lift": [1.0] * len(tos_truth),
                "base_price": [0] * len(tos_truth),
                "tos_status": [t["tos_status"] for t in tos_truth],
                "tos_rules": [";".join(tos_rules(t["text"])) for t in tos_truth],
                "source": ["bank_tos"] * len(tos_truth),
            }
        ).cast(caps.schema)
        caps = pl.concat([caps, extra])
    caps.write_parquet(d / "captions.parquet")
    world.dow_hod.write_parquet(d / "dow_hod_effects.parquet")
    ev = world.events.with_columns(
        pl.Series("in_reports", in_reports),
        pl.from_epoch(pl.col("ts_utc_min") * 60, time_unit="s").dt.replace_time_zone("UTC").alias("sending_ts_utc"),
    )
    ev.write_parquet(d / "events.parquet")
    params = dict(DEFAULT_PARAMS)
    params.update({"report_tz": REPORT_TZ, "seed": world.plan.seed, "scale": world.plan.scale})
    (d / "params.json").write_text(json.dumps(params, indent=1) + "\n")
