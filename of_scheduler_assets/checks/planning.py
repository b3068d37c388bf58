"""QA rules of the weekly plan and the next-24-hour ranking (40-planning §8), pure polars.

Every rule returns a `QaOutcome`: whether it passed, the check metadata and its violation rows (`QA_SCHEMA` without
`run_at`, which the wiring stamps). Rules and severities:

| rule | input | passes when | severity | blocking |
|---|---|---|---|---|
| `MIN_GAP_LT_2H` | plan PPV rows | no two consecutive PPVs of a page-day < 120 min apart | WARN | no |
| `MAX_GAP_GT_6H_IN_WINDOW` | plan PPV rows | no next − current > 6 h while current is inside [min_h, max_h] | WARN | no |
| `INFEASIBLE_WINDOW` | plan PPV rows | no planned page-day with `max_h − min_h < 2 × (quota − 1)` | WARN | no |
| `cooldown_violation_rate` | primaries + features | share of non-fallback primaries reusing a caption ≤ 0.01 | ERROR | yes |
| `caption_diversity_rate` | primaries | mean over page-days of distinct / slots ≥ 0.85 (INFO row below 0.90) | WARN | no |
| `fallback_rate` | primaries | share with `is_fallback` ≤ 0.03 | ERROR | yes |
| `null_caption_rate` | primaries | share without a caption ≤ 0.001 | ERROR | yes |
| `score_range` | ranking rows | `score_normalized` in [0, 100] (ERROR); slot sd < 5 or > 10 % zeros → WARN rows | ERROR / WARN | no |

"Primaries" are rows with `username_page`, `slot_ts_utc`, `slot_date_local`, `caption_id`, `is_fallback`: the
rank-1 rows of `caption_rank_next24` and of the plan's ranking. A cooldown violation is a non-fallback primary whose
caption was last used on the page less than `min_reuse_days` before the slot (`reuse_block_until > slot_ts_utc`),
is cooling down at the slot (`cooldown_until_ts > slot_ts_utc`), or was primary on the same page less than
`min_reuse_days` earlier among the given primaries. `score_range`'s WARN part judges slots with at least 3 scored rows
and is recorded as WARN violation rows and metadata without failing the check: the stored top 10 of a slot are
normalised over all its eligible candidates, so most slots' top rows sit within a few points of 100 and "sd < 5" holds
for most healthy slots (measured on the generated test world: 137 of 170 plan slots, 130 of 138 next-24-hour slots); failing on it would make the check
permanently red.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from of_scheduler_assets.layer_06_rankings.planning_schemas import QA_SCHEMA

FINDING_SCHEMA = {k: v for k, v in QA_SCHEMA.items() if k not in ("run_at", "run_id")}

BLOCKING = ("cooldown_violation_rate", "fallback_rate", "null_caption_rate")
CHECK_DESCRIPTIONS = {
    "MIN_GAP_LT_2H": "Consecutive PPVs of a page-day at least 120 min apart (WARN).",
    "MAX_GAP_GT_6H_IN_WINDOW": "No gap over 6 h after a PPV inside the page's window (WARN).",
    "INFEASIBLE_WINDOW": "Every planned page-day's window holds its quota with 2 h gaps (WARN; MEDIUM alert).",
    "cooldown_violation_rate": "Share of primaries reusing a caption within min_reuse_days or its cooldown <= 0.01 "
                               "(blocking).",
    "caption_diversity_rate": "Mean distinct primary captions / primary slots per page-day >= 0.85.",
    "fallback_rate": "Share of fallback primaries <= 0.03 (blocking).",
    "null_caption_rate": "Share of slots without a caption <= 0.001 (blocking).",
    "score_range": "score_normalized in [0, 100]; WARN on flat slots (sd < 5) or > 10 % zero scores.",
}
THRESHOLDS = {"cooldown_violation_rate": 0.01, "caption_diversity_rate": 0.85, "caption_diversity_warn": 0.90,
              "fallback_rate": 0.03, "null_caption_rate": 0.001}


@dataclasses.dataclass
class QaOutcome:
    name: str
    passed: bool
    severity: str  # ERROR or WARN: the severity of the check result when it fails
    metadata: dict
    violations: pl.DataFrame

    @property
    def blocking(self) -> bool:
        return self.name in BLOCKING


def _rows(rows: list[dict]) -> pl.DataFrame:
    full = [{k: r.get(k) for k in FINDING_SCHEMA} for r in rows]
    return pl.DataFrame(full, schema=FINDING_SCHEMA)


def _ppv_days(plan: pl.DataFrame) -> pl.DataFrame:
    return (plan.filter(pl.col("slot_kind") == "ppv")
            .sort("username_page", "date_local", "hod_local", "minute_local")
            .group_by("username_page", "date_local", maintain_order=True)
            .agg(pl.col("hod_local").cast(pl.Int64), pl.col("minute_local").cast(pl.Int64),
                 pl.col("window_min_h").first(), pl.col("window_max_h").first(), pl.col("ppv_quota").first()))


def min_gap(plan: pl.DataFrame) -> QaOutcome:
    rows = []
    days = _ppv_days(plan)
    for page, d, hours, minutes, lo, hi, _q in days.iter_rows():
        t = [h * 60 + m for h, m in zip(hours, minutes, strict=True)]
        for i in range(1, len(t)):
            gap = (t[i] - t[i - 1]) / 60.0
            if gap < 2.0:
                rows.append({"check_name": "MIN_GAP_LT_2H", "severity": "WARN", "username_page": page,
                             "date_local": d, "prev_h": hours[i - 1], "curr_h": hours[i],
                             "next_h": hours[i + 1] if i + 1 < len(hours) else None, "gap_h": gap, "min_h": lo,
                             "max_h": hi, "value": gap, "threshold": 2.0,
                             "details": f"PPVs at {hours[i - 1]}:00 and {hours[i]}:00 are {gap:g} h apart"})
    v = _rows(rows)
    return QaOutcome("MIN_GAP_LT_2H", v.is_empty(), "WARN",
                     {"page_days": days.height, "violations": v.height}, v)


def max_gap(plan: pl.DataFrame) -> QaOutcome:
    rows = []
    days = _ppv_days(plan)
    for page, d, hours, minutes, lo, hi, _q in days.iter_rows():
        t = [h * 60 + m for h, m in zip(hours, minutes, strict=True)]
        for i in range(len(t) - 1):
            gap = (t[i + 1] - t[i]) / 60.0
            if gap > 6.0 and lo <= hours[i] <= hi:
                rows.append({"check_name": "MAX_GAP_GT_6H_IN_WINDOW", "severity": "WARN", "username_page": page,
                             "date_local": d, "prev_h": hours[i - 1] if i > 0 else None, "curr_h": hours[i],
                             "next_h": hours[i + 1], "gap_h": gap, "min_h": lo, "max_h": hi, "value": gap,
                             "threshold": 6.0,
                             "details": f"{gap:g} h from {hours[i]}:00 to {hours[i + 1]}:00 inside [{lo}, {hi}]"})
    v = _rows(rows)
    return QaOutcome("MAX_GAP_GT_6H_IN_WINDOW", v.is_empty(), "WARN",
                     {"page_days": days.height, "violations": v.height}, v)


def infeasible_window(plan: pl.DataFrame) -> QaOutcome:
    rows = []
    days = _ppv_days(plan)
    for page, d, hours, _m, lo, hi, q in days.iter_rows():
        if q is not None and hi - lo < 2 * (q - 1):
            rows.append({"check_name": "INFEASIBLE_WINDOW", "severity": "WARN", "username_page": page,
                         "date_local": d, "min_h": lo, "max_h": hi, "value": float(hi - lo),
                         "threshold": float(2 * (q - 1)),
                         "details": f"Check schedule for {d.isoformat()}: window [{lo}, {hi}] cannot hold {q} PPVs "
                                    f"2 h apart (planned hours {hours}); action: Review timing"})
    v = _rows(rows)
    return QaOutcome("INFEASIBLE_WINDOW", v.is_empty(), "WARN",
                     {"page_days": days.height, "infeasible_page_days": v.height}, v)


def _slot_date(primaries: pl.DataFrame) -> pl.DataFrame:
    if "slot_date_local" in primaries.columns:
        return primaries
    return primaries.with_columns(slot_date_local=pl.col("slot_ts_utc").dt.date())


def cooldown_violation_rate(primaries: pl.DataFrame, features: pl.DataFrame | None, *, min_reuse_days: int = 28,
                            threshold: float = THRESHOLDS["cooldown_violation_rate"]) -> QaOutcome:
    prim = _slot_date(primaries).filter(pl.col("caption_id").is_not_null() & ~pl.col("is_fallback").fill_null(False))
    prim = prim.sort("username_page", "slot_ts_utc").with_row_index("_i")
    bad: dict[int, str] = {}
    if features is not None and features.height and prim.height:
        f = features.select("username_page", "caption_id", "reuse_block_until", "cooldown_until_ts").unique(
            ["username_page", "caption_id"], keep="first")
        j = prim.join(f, on=["username_page", "caption_id"], how="inner")
        for i, rb, cu, ts in j.select("_i", "reuse_block_until", "cooldown_until_ts", "slot_ts_utc").iter_rows():
            if rb is not None and rb > ts:
                bad[i] = f"used on the page less than {min_reuse_days} d before the slot"
            elif cu is not None and cu > ts:
                bad[i] = "cooling down at the slot"
    window = dt.timedelta(days=min_reuse_days)
    last: dict[tuple[str, str], dt.datetime] = {}
    for i, page, cid, ts in prim.select("_i", "username_page", "caption_id", "slot_ts_utc").iter_rows():
        prev = last.get((page, cid))
        if prev is not None and ts - prev < window:
            bad.setdefault(i, f"primary again on the page {(ts - prev).total_seconds() / 86400:.1f} d later")
        last[(page, cid)] = ts
    n = prim.height
    rate = len(bad) / n if n else 0.0
    rows = []
    if bad:
        sub = prim.filter(pl.col("_i").is_in(list(bad)))
        for i, page, d, cid, ts in sub.select("_i", "username_page", "slot_date_local", "caption_id",
                                              "slot_ts_utc").iter_rows():
            rows.append({"check_name": "cooldown_violation_rate", "severity": "ERROR", "username_page": page,
                         "date_local": d, "curr_h": None, "value": rate, "threshold": threshold,
                         "details": f"{cid} at {ts:%Y-%m-%dT%H:%MZ}: {bad[i]}"})
    v = _rows(rows)
    passed = rate <= threshold
    return QaOutcome("cooldown_violation_rate", passed, "ERROR",
                     {"rate": rate, "threshold": threshold, "primaries": n, "violations": len(bad)}, v)


def caption_diversity_rate(primaries: pl.DataFrame, *, threshold: float = THRESHOLDS["caption_diversity_rate"],
                           warn_below: float = THRESHOLDS["caption_diversity_warn"]) -> QaOutcome:
    prim = _slot_date(primaries)
    per = prim.group_by("username_page", "slot_date_local").agg(
        slots=pl.len(), distinct=pl.col("caption_id").drop_nulls().n_unique())
    rate = float((per["distinct"] / per["slots"]).mean()) if per.height else 1.0
    rows = []
    if rate < warn_below:
        rows.append({"check_name": "caption_diversity_rate", "severity": "WARN" if rate < threshold else "INFO",
                     "value": rate, "threshold": threshold,
                     "details": f"mean distinct primaries per slot {rate:.3f} over {per.height} page-days"})
    return QaOutcome("caption_diversity_rate", rate >= threshold, "WARN",
                     {"rate": rate, "threshold": threshold, "warn_below": warn_below, "page_days": per.height},
                     _rows(rows))


def _share(name: str, primaries: pl.DataFrame, flag: pl.Expr, threshold: float, what: str) -> QaOutcome:
    n = primaries.height
    k = int(primaries.select(flag.fill_null(False).sum()).item()) if n else 0
    rate = k / n if n else 0.0
    rows = []
    if rate > threshold:
        rows.append({"check_name": name, "severity": "ERROR", "value": rate, "threshold": threshold,
                     "details": f"{k} of {n} slots {what}"})
    return QaOutcome(name, rate <= threshold, "ERROR", {"rate": rate, "threshold": threshold, "slots": n,
                                                        "count": k}, _rows(rows))


def fallback_rate(primaries: pl.DataFrame, *, threshold: float = THRESHOLDS["fallback_rate"]) -> QaOutcome:
    return _share("fallback_rate", primaries, pl.col("is_fallback"), threshold, "filled from the fallback pool")


def null_caption_rate(primaries: pl.DataFrame, *, threshold: float = THRESHOLDS["null_caption_rate"]) -> QaOutcome:
    return _share("null_caption_rate", primaries, pl.col("caption_id").is_null(), threshold, "without a caption")


def score_range(rank: pl.DataFrame, *, min_sd: float = 5.0, max_zero_share: float = 0.10,
                min_rows: int = 3) -> QaOutcome:
    scored = rank.filter(pl.col("score_normalized").is_not_null())
    out_of_range = scored.filter((pl.col("score_normalized") < 0) | (pl.col("score_normalized") > 100))
    per = (scored.group_by("username_page", "slot_ts_utc", "slot_type")
           .agg(n=pl.len(), sd=pl.col("score_normalized").std(),
                zeros=(pl.col("score_normalized") == 0).mean(), d=pl.col("slot_date_local").first())
           .filter(pl.col("n") >= min_rows))
    warn = per.filter((pl.col("sd") < min_sd) | (pl.col("zeros") > max_zero_share)).sort(
        "username_page", "slot_ts_utc")
    rows = []
    for page, d, v in out_of_range.select("username_page", "slot_date_local", "score_normalized").iter_rows():
        rows.append({"check_name": "score_range", "severity": "ERROR", "username_page": page, "date_local": d,
                     "value": v, "details": "score_normalized outside [0, 100]"})
    for page, ts, d, sd, zeros in warn.select("username_page", "slot_ts_utc", "d", "sd", "zeros").iter_rows():
        rows.append({"check_name": "score_range", "severity": "WARN", "username_page": page, "date_local": d,
                     "value": sd, "threshold": min_sd,
                     "details": f"slot {ts:%Y-%m-%dT%H:%MZ}: sd {sd:.2f}, zero share {zeros:.2f}"})
    return QaOutcome("score_range", out_of_range.is_empty(), "ERROR",
                     {"rows": scored.height, "out_of_range": out_of_range.height, "flat_or_zero_slots": warn.height,
                      "slots_judged": per.height}, _rows(rows))


PRIMARY_COLUMNS = ["username_page", "slot_ts_utc", "slot_date_local", "caption_id", "is_fallback"]


def primaries_of(rank: pl.DataFrame | None) -> pl.DataFrame:
    """The rank-1 rows of ranker output, in `PRIMARY_COLUMNS`."""
    schema = {"username_page": pl.String(), "slot_ts_utc": pl.Datetime("us", "UTC"), "slot_date_local": pl.Date(),
              "caption_id": pl.String(), "is_fallback": pl.Boolean()}
    if rank is None or rank.is_empty():
        return pl.DataFrame(schema=schema)
    return rank.filter(pl.col("rank") == 1).select(PRIMARY_COLUMNS).cast(schema)


def evaluate(plan: pl.DataFrame, plan_rank: pl.DataFrame | None, *, next24_rank: pl.DataFrame | None = None,
             features: pl.DataFrame | None = None, min_reuse_days: int = 28) -> tuple[list[QaOutcome], pl.DataFrame]:
    """Every rule of §8 on a plan and its ranking rows → (the plan's outcomes, the next-24-hour ranking's violation
    rows). The plan's checks judge the plan; the rates of the next-24-hour ranking (when given) are added to each
    outcome's metadata (`next24_*`) and its violations are returned for `ops.qa_violations`, but they do not decide
    the plan's checks: a check belongs to the asset it judges, and the ranking's gate is on `caption_rank_next24`."""
    plan_prim = primaries_of(plan_rank)
    outcomes = [
        min_gap(plan), max_gap(plan), infeasible_window(plan),
        cooldown_violation_rate(plan_prim, features, min_reuse_days=min_reuse_days),
        caption_diversity_rate(plan_prim), fallback_rate(plan_prim), null_caption_rate(plan_prim),
        score_range(plan_rank if plan_rank is not None and not plan_rank.is_empty() else _empty_rank()),
    ]
    extra = _rows([])
    if next24_rank is not None and not next24_rank.is_empty():
        n24_prim = primaries_of(next24_rank)
        n24 = [cooldown_violation_rate(n24_prim, features, min_reuse_days=min_reuse_days),
               caption_diversity_rate(n24_prim), fallback_rate(n24_prim), null_caption_rate(n24_prim),
               score_range(next24_rank)]
        by_name = {o.name: o for o in n24}
        for o in outcomes:
            other = by_name.get(o.name)
            if other is not None:
                o.metadata.update({f"next24_{k}": v for k, v in other.metadata.items() if k in (
                    "rate", "out_of_range", "flat_or_zero_slots")})
                o.metadata["next24_passed"] = other.passed
        extra = pl.concat([o.violations for o in n24]).with_columns(
            details=pl.lit("next24: ") + pl.col("details"))
    return outcomes, extra


def _empty_rank() -> pl.DataFrame:
    return pl.DataFrame(schema={"username_page": pl.String(), "slot_ts_utc": pl.Datetime("us", "UTC"),
                                "slot_type": pl.String(), "slot_date_local": pl.Date(),
                                "score_normalized": pl.Float64()})
