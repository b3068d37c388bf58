"""The performance learner (40-planning §10, D15), pure Python + polars.

`learn_page_knobs(signals, learner_config, previous_knobs, changelog, now=...)` returns `(knobs, changes)`:
`knobs` = the new `ops_config.page_knobs_learned` (`KNOBS_SCHEMA`: one row per page seen in the signals or in the
previous knobs) and `changes` = this run's rows for `ops_audit.learning_changelog` (`CHANGELOG_SCHEMA`, one per knob
whose value changed).

Per page, settings from its `learner_config` row, else the `*` row, else the spec defaults (`LearnerSettings`):
* skipped (knobs kept) when `auto_tune_enabled` is false, `freeze_until ≥ today` (UTC date of `now`), or the page has
  fewer than `min_ppv_events_28d` PPV events or `min_active_days_28d` active days in 28 days;
* `quota_nudge`: −1 when `earnings_lift ≤ lift_down` or `fatigue_ratio < 0.50` or `page_fatigue_risk ≥ 80`; else +1
  when `earnings_lift ≥ lift_up` and `volume_boost > 1.0` and `page_fatigue_risk < 60`; one step per run, clamped to
  the nudge bounds (a missing signal satisfies no condition). Decision: when both rules hold the decrease wins (the
  spec lists them without precedence; backing off is the safer move);
* `hour_pool_nudge`: +2 with a realised quota increase, −2 with a realised decrease, clamped;
* `price_mode_bias`: `premium` when `corr_price_earnings_90d ≥ 0.25` and `sell_rate ≥` the median sell rate of the
  pages in the signals (the active pages); `value` when the correlation ≤ −0.15; else cleared (null);
* a knob that changed less than `min_days_between_changes` days ago (its latest `applied_at` in the changelog) keeps
  its value this run;
* `confidence = min(1, ppv_events_28d / 100)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import statistics

import polars as pl

from of_scheduler_assets.layer_06_rankings.planning_schemas import CHANGELOG_SCHEMA, KNOBS_SCHEMA

LEARNER_VERSION = "learner-1"
KNOBS = ("quota_nudge", "hour_pool_nudge", "price_mode_bias")


@dataclasses.dataclass(frozen=True)
class LearnerSettings:
    auto_tune_enabled: bool = True
    freeze_until: dt.date | None = None
    quota_min: int = 0
    quota_max: int = 12
    quota_nudge_min: int = -3
    quota_nudge_max: int = 3
    hour_pool_min: int = 6
    hour_pool_max: int = 24
    hour_pool_nudge_min: int = -6
    hour_pool_nudge_max: int = 6
    min_ppv_events_28d: int = 20
    min_active_days_28d: int = 14
    min_days_between_changes: int = 7
    lift_up: float = 0.10
    lift_down: float = -0.10


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v))


def settings_from_row(row: dict | None) -> LearnerSettings:
    """A `learner_config` row (text or typed; blank cells take the defaults) → `LearnerSettings`."""
    base = LearnerSettings()
    if not row:
        return base
    values = {}
    for f in dataclasses.fields(LearnerSettings):
        v = row.get(f.name)
        if _blank(v):
            continue
        if f.name == "auto_tune_enabled":
            values[f.name] = str(v).strip().lower() in ("true", "1", "yes", "y", "t")
        elif f.name == "freeze_until":
            values[f.name] = v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip()[:10])
        elif isinstance(getattr(base, f.name), float):
            values[f.name] = float(v)
        else:
            values[f.name] = int(float(v))
    return dataclasses.replace(base, **values)


def _ge(a, b) -> bool:
    return a is not None and b is not None and a >= b


def _le(a, b) -> bool:
    return a is not None and b is not None and a <= b


def _lt(a, b) -> bool:
    return a is not None and b is not None and a < b


def _gt(a, b) -> bool:
    return a is not None and b is not None and a > b


def _clamp(x, lo, hi):
    return max(lo, min(hi, x))


def learn_page_knobs(
    signals: pl.DataFrame | None,
    learner_config: pl.DataFrame | None,
    previous_knobs: pl.DataFrame | None,
    changelog: pl.DataFrame | None,
    *,
    now: dt.datetime,
    config_version: str = "",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    today = now.date()
    cfg_rows = {} if learner_config is None else {
        str(r["username_page"]).strip(): r for r in learner_config.iter_rows(named=True)}
    default = settings_from_row(cfg_rows.get("*"))
    prev = {} if previous_knobs is None or previous_knobs.is_empty() else {
        r["username_page"]: r for r in previous_knobs.iter_rows(named=True)}
    last_change: dict[tuple[str, str], dt.datetime] = {}
    if changelog is not None and changelog.height:
        for page, knob, applied in changelog.select("username_page", "knob", "applied_at").iter_rows():
            if applied is not None and ((page, knob) not in last_change or applied > last_change[(page, knob)]):
                last_change[(page, knob)] = applied
    sig = {} if signals is None or signals.is_empty() else {
        r["username_page"]: r for r in signals.iter_rows(named=True)}
    sell_rates = [r["sell_rate"] for r in sig.values() if r.get("sell_rate") is not None]
    median_sell = statistics.median(sell_rates) if sell_rates else None

    knobs: list[dict] = []
    changes: list[dict] = []
    for page in sorted(set(sig) | set(prev)):
        old = prev.get(page) or {}
        cur = {"quota_nudge": int(old.get("quota_nudge") or 0), "hour_pool_nudge": int(old.get("hour_pool_nudge") or 0),
               "price_mode_bias": old.get("price_mode_bias")}
        s = sig.get(page)
        st = settings_from_row(cfg_rows[page]) if page in cfg_rows else default
        confidence = old.get("confidence")
        reason = old.get("reason") or "no signals"
        skip = None
        if s is None:
            skip = "no signals in the last 28 days"
        elif not st.auto_tune_enabled:
            skip = "auto-tune disabled"
        elif st.freeze_until is not None and st.freeze_until >= today:
            skip = f"frozen until {st.freeze_until.isoformat()}"
        elif (s.get("ppv_events_28d") or 0) < st.min_ppv_events_28d or (
                s.get("active_days_28d") or 0) < st.min_active_days_28d:
            skip = (f"insufficient data: {s.get('ppv_events_28d') or 0} PPV events, "
                    f"{s.get('active_days_28d') or 0} active days")
        if s is not None:
            confidence = min(1.0, (s.get("ppv_events_28d") or 0) / 100.0)
        new = dict(cur)
        if skip is None:
            lift, boost = s.get("earnings_lift"), s.get("volume_boost")
            risk, ratio = s.get("page_fatigue_risk"), s.get("fatigue_ratio")
            corr, sell = s.get("corr_price_earnings_90d"), s.get("sell_rate")
            step = 0
            if _le(lift, st.lift_down) or _lt(ratio, 0.50) or _ge(risk, 80.0):
                step = -1
            elif _ge(lift, st.lift_up) and _gt(boost, 1.0) and _lt(risk, 60.0):
                step = 1
            new["quota_nudge"] = _clamp(cur["quota_nudge"] + step, st.quota_nudge_min, st.quota_nudge_max)
            realised = new["quota_nudge"] - cur["quota_nudge"]
            new["hour_pool_nudge"] = _clamp(cur["hour_pool_nudge"] + 2 * realised, st.hour_pool_nudge_min,
                                            st.hour_pool_nudge_max)
            if _ge(corr, 0.25) and _ge(sell, median_sell):
                new["price_mode_bias"] = "premium"
            elif _le(corr, -0.15):
                new["price_mode_bias"] = "value"
            else:
                new["price_mode_bias"] = None

            def fmt(v, signed=False):
                return "n/a" if v is None else (f"{v:+.2f}" if signed else f"{v:.2f}")

            reason = (f"lift {fmt(lift, True)}, volume_boost {fmt(boost)}, fatigue_risk {fmt(risk)}, "
                      f"fatigue_ratio {fmt(ratio)}, corr {fmt(corr, True)}")
            for knob in KNOBS:
                if new[knob] == cur[knob]:
                    continue
                last = last_change.get((page, knob))
                if last is not None and now - last < dt.timedelta(days=st.min_days_between_changes):
                    new[knob] = cur[knob]
                    continue
                changes.append({
                    "username_page": page, "knob": knob,
                    "old_value": None if cur[knob] is None else str(cur[knob]),
                    "new_value": None if new[knob] is None else str(new[knob]),
                    "confidence": confidence, "reason": reason,
                    "signals_json": json.dumps({k: (v.isoformat() if isinstance(v, dt.date) else v)
                                                for k, v in s.items()}, sort_keys=True, default=str),
                    "computed_at": now, "applied_at": now, "config_version": config_version,
                    "learner_version": LEARNER_VERSION,
                })
        else:
            reason = f"unchanged: {skip}"
        knobs.append({"username_page": page, **new, "confidence": confidence, "reason": reason, "computed_at": now})
    return (pl.DataFrame(knobs, schema=KNOBS_SCHEMA), pl.DataFrame(changes, schema=CHANGELOG_SCHEMA))
