"""Onboarding queue, its append-only changelog and the onboarding alerts (40-planning §7), pure polars (no Dagster).

``build_onboarding(dim_page, previous_queue, previous_changelog, page_overrides, now=...)`` returns
``(queue, changelog, alerts)``:

* ``ops.onboarding_queue`` — one row per ``username_page`` ever seen in ``dim_page``. A page without a queue row is
  onboarded: ``onboarded_at = now``, ``tier_initial`` = the latest non-null ``page_overrides.tier_override``
  (``tier_source_initial = override``) else ``LOW`` (``pending``), ``source`` from ``dim_page.identity_source``
  (``seed → registry``, ``creator_stats → creator_stats``, ``auto → report``), ``reviewed = identity_source != auto``.
  The onboarding-time columns (``onboarded_at``, ``tier_initial``, ``tier_source_initial``, ``source``) are frozen;
  the current-state columns (identity, ``tz``, ``scheduler_code``, ``first_seen_at``, ``new_until``, ``is_active``,
  ``lifecycle_state``) are refreshed from ``dim_page`` on every call. ``reviewed`` is sticky: once true (the page
  left ``identity_source = auto``, or an operator set it) it stays true. ``updated_at``/``run_id`` are the time and
  run of the row's last content change, so an unchanged row is byte-identical between calls.
* ``ops_audit.onboarding_changelog`` — previous rows kept as they are (append-only, deduplicated on
  ``changelog_id``), plus one ``onboarded`` row per new page and one row per lifecycle change against the previous
  queue: ``expired`` (new → active), ``deactivated`` (→ inactive), ``reactivated`` (inactive → active/new),
  ``lifecycle_changed`` (any other transition, e.g. active → new when ``first_seen_at`` moved), plus ``reviewed``
  when an auto-registered page becomes reviewed. ``changelog_id = sha256(username_page|event|created_at ISO)``.
* alerts (``ops_monitor.alerts`` columns) — INFO ``PAGE_ONBOARDED`` for pages onboarded within the last
  ``onboarded_alert_hours`` (24 h, so the hourly run does not drop it at once; it is emitted by the call that
  onboards the page) and WARNING ``PAGE_AUTO_REGISTERED`` for every queue row with ``identity_source = auto`` that is
  not reviewed. Both are state-derived with stable ids (code | page | onboarded day).

Decisions:

* **Probation counts from the page's first evidence**, not from the onboarding date: ``new_until`` is
  ``dim_page.new_until`` (first-seen UTC day + 7 days), so a page whose history is 180 days old when the system first
  sees it is not "new". Only when ``dim_page.new_until`` is null does the queue fall back to first-seen day +
  ``probation_days``, else onboarded UTC day + ``probation_days``.
* **Lifecycle** (re-evaluated for every row on every call): ``inactive`` when ``dim_page.is_active`` is not true
  (false or null) or the page is missing from ``dim_page``; else ``new`` while ``new_until``'s date ≥ the page-local
  date of ``now`` (``now`` converted to the page ``tz``, default America/New_York when null or unknown), i.e. the page
  becomes ``active`` once ``new_until < local today`` (40-planning §7, literally). ``new_until`` is a UTC day marker
  (midnight UTC), so its date is taken in UTC. Inactivity wins over probation (a new page with no activity is
  ``inactive``), unlike ``dim_page.lifecycle_state``, which is a UTC-instant approximation.
* Every ordering ends on a unique key: queue by ``username_page``; changelog by ``username_page``, ``created_at``,
  ``event``, ``changelog_id``; alerts by ``username_page``, ``alert_code``, ``alert_id``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from of_scheduler_assets.layer_03_foundation.transforms import lifecycle_expr, local_today
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA, _alert_id

UTC = dt.UTC
UTC_US = pl.Datetime("us", "UTC")
DEFAULT_TZ = "America/New_York"
TIERS = ("LOW", "MED", "HIGH", "POWER")
SOURCE_BY_IDENTITY = {"seed": "registry", "creator_stats": "creator_stats", "auto": "report"}

QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "username_std": pl.String,
    "page_type": pl.String,
    "onboarded_at": UTC_US,
    "first_seen_at": UTC_US,
    "new_until": UTC_US,
    "lifecycle_state": pl.String,
    "lifecycle_changed_at": UTC_US,
    "is_active": pl.Boolean,
    "in_dim_page": pl.Boolean,
    "tier_initial": pl.String,
    "tier_source_initial": pl.String,
    "tz": pl.String,
    "scheduler_code": pl.String,
    "identity_source": pl.String,
    "source": pl.String,
    "reviewed": pl.Boolean,
    "updated_at": UTC_US,
    "run_id": pl.String,
}

CHANGELOG_SCHEMA: dict[str, pl.DataType] = {
    "changelog_id": pl.String,
    "username_page": pl.String,
    "event": pl.String,
    "source": pl.String,
    "identity_source": pl.String,
    "tz": pl.String,
    "tier_initial": pl.String,
    "scheduler_code": pl.String,
    "new_until": UTC_US,
    "lifecycle_from": pl.String,
    "lifecycle_to": pl.String,
    "created_at": UTC_US,
    "run_id": pl.String,
    "notes": pl.String,
}

# queue columns refreshed from dim_page; a change in any of them stamps updated_at / run_id
_CONTENT = (
    "username_std", "page_type", "first_seen_at", "new_until", "lifecycle_state", "lifecycle_changed_at",
    "is_active", "in_dim_page", "tz", "scheduler_code", "identity_source", "reviewed",
)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _conform(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns (missing → null); naive datetimes are read as UTC."""
    if frame is None or frame.width == 0:
        return pl.DataFrame(schema=schema)
    exprs = []
    for col, dtype in schema.items():
        if col not in frame.columns:
            exprs.append(pl.lit(None, dtype).alias(col))
            continue
        have = frame.schema[col]
        expr = pl.col(col)
        if dtype == UTC_US:
            if have == pl.String:
                expr = expr.str.to_datetime(strict=False, time_zone="UTC")
            elif have == pl.Date:
                expr = expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
            elif isinstance(have, pl.Datetime) and have.time_zone is None:
                expr = expr.dt.replace_time_zone("UTC")
        exprs.append(expr.cast(dtype, strict=False).alias(col))
    return frame.select(exprs)


def lifecycle_states(rows: list[dict], now: dt.datetime) -> list[str]:
    """The lifecycle of each row (``is_active``, ``new_until``, ``tz``) by the foundation's one rule
    (``transforms.lifecycle_expr`` at the page-local today), so the queue and dim_page never disagree."""
    frame = pl.DataFrame([{c: r[c] for c in ("is_active", "new_until", "tz")} for r in rows],
                         schema={"is_active": pl.Boolean, "new_until": UTC_US, "tz": pl.String})
    return frame.select(lifecycle_expr(local_today(frame, now)).alias("s"))["s"].to_list() if rows else []


def _transition_event(before: str | None, after: str) -> str:
    if after == "inactive":
        return "deactivated"
    if before == "inactive":
        return "reactivated"
    if before == "new" and after == "active":
        return "expired"
    return "lifecycle_changed"


def _changelog_id(username_page: str, event: str, created_at: dt.datetime) -> str:
    return hashlib.sha256(f"{username_page}|{event}|{created_at.isoformat()}".encode()).hexdigest()


def latest_tier_overrides(page_overrides: pl.DataFrame | None) -> dict[str, str]:
    """``username_page → tier`` from the latest row (``updated_at`` desc, then later file row) with a valid
    ``tier_override``; typed (``overrides.page_overrides``) or raw text input."""
    if page_overrides is None or page_overrides.height == 0 or "tier_override" not in page_overrides.columns:
        return {}
    ov = _conform(page_overrides, {"username_page": pl.String, "tier_override": pl.String, "updated_at": UTC_US})
    ov = (
        ov.with_row_index("_i")
        .with_columns(
            pl.col("username_page").str.strip_chars(),
            pl.col("tier_override").str.strip_chars().str.to_uppercase(),
        )
        .filter(pl.col("username_page").is_not_null() & pl.col("tier_override").is_in(list(TIERS)))
        .sort(["username_page", "updated_at", "_i"], descending=[False, True, True], nulls_last=True)
        .unique("username_page", keep="first", maintain_order=True)
    )
    return dict(zip(ov["username_page"].to_list(), ov["tier_override"].to_list(), strict=True))


def build_onboarding(
    dim_page: pl.DataFrame,
    previous_queue: pl.DataFrame | None,
    previous_changelog: pl.DataFrame | None,
    page_overrides: pl.DataFrame | None,
    *,
    now: dt.datetime,
    probation_days: int = 7,
    run_id: str = "",
    onboarded_alert_hours: int = 24,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """returns (queue, changelog, alerts)"""
    now = _utc(now)
    dim_cols = {
        "username_page": pl.String, "username_std": pl.String, "page_type": pl.String, "tz": pl.String,
        "assigned_scheduler_code": pl.String, "identity_source": pl.String, "first_seen_at": UTC_US,
        "new_until": UTC_US, "is_active": pl.Boolean,
    }
    dim = (
        _conform(dim_page, dim_cols)
        .filter(pl.col("username_page").is_not_null())
        .unique("username_page", keep="first", maintain_order=True)
    )
    pages = {r["username_page"]: r for r in dim.iter_rows(named=True)}
    prev_q = (
        _conform(previous_queue, QUEUE_SCHEMA)
        .filter(pl.col("username_page").is_not_null())
        .unique("username_page", keep="first", maintain_order=True)
    )
    previous = {r["username_page"]: r for r in prev_q.iter_rows(named=True)}
    tiers = latest_tier_overrides(page_overrides)
    probation = dt.timedelta(days=probation_days)

    def midnight(ts: dt.datetime) -> dt.datetime:
        return dt.datetime.combine(_utc(ts).date(), dt.time(), tzinfo=UTC)

    queue_rows: list[dict] = []
    log_rows: list[dict] = []
    bases: list[tuple[dict | None, dict | None, dict]] = []
    for page in sorted(set(pages) | set(previous)):
        d, p = pages.get(page), previous.get(page)
        onboarded_at = p["onboarded_at"] if p is not None and p["onboarded_at"] is not None else now
        if d is not None:
            new_until = d["new_until"]
            if new_until is None:
                new_until = midnight(d["first_seen_at"] or onboarded_at) + probation
            row = {
                "username_page": page,
                "username_std": d["username_std"],
                "page_type": d["page_type"],
                "first_seen_at": d["first_seen_at"],
                "new_until": new_until,
                "is_active": bool(d["is_active"]),
                "in_dim_page": True,
                "tz": d["tz"],
                "scheduler_code": d["assigned_scheduler_code"],
                "identity_source": d["identity_source"],
                "reviewed": bool(p is not None and p["reviewed"]) or d["identity_source"] != "auto",
            }
        else:  # gone from dim_page: keep the row, inactive
            row = {c: p[c] for c in QUEUE_SCHEMA} | {"is_active": False, "in_dim_page": False}
            row["reviewed"] = bool(p["reviewed"])
        row["onboarded_at"] = onboarded_at
        bases.append((d, p, row))

    for (d, p, row), state in zip(bases, lifecycle_states([b[2] for b in bases], now), strict=True):
        page = row["username_page"]
        row["lifecycle_state"] = state
        if p is None:
            tier = tiers.get(page)
            row |= {
                "onboarded_at": now,
                "tier_initial": tier or "LOW",
                "tier_source_initial": "override" if tier else "pending",
                "source": SOURCE_BY_IDENTITY.get(row["identity_source"] or "", "registry"),
                "lifecycle_changed_at": now,
                "updated_at": now,
                "run_id": run_id,
            }
            notes = f"first seen {row['first_seen_at']:%Y-%m-%d}" if row["first_seen_at"] else "first seen unknown"
            if row["identity_source"] == "auto":
                notes += "; auto-registered from a report, review needed"
            log_rows.append(_log(row, "onboarded", None, row["lifecycle_state"], now, run_id, notes))
        else:
            row |= {c: p[c] for c in ("tier_initial", "tier_source_initial", "source")}
            before = p["lifecycle_state"]
            if before != row["lifecycle_state"]:
                row["lifecycle_changed_at"] = now
                event = _transition_event(before, row["lifecycle_state"])
                notes = None if d is not None else "page no longer in dim_page"
                log_rows.append(_log(row, event, before, row["lifecycle_state"], now, run_id, notes))
            else:
                row["lifecycle_changed_at"] = p["lifecycle_changed_at"]
            if row["reviewed"] and not p["reviewed"]:
                log_rows.append(_log(row, "reviewed", before, row["lifecycle_state"], now, run_id,
                                     f"identity_source is now {row['identity_source']}"))
            changed = any(row[c] != p[c] for c in _CONTENT)
            row["updated_at"] = now if changed else p["updated_at"]
            row["run_id"] = run_id if changed else p["run_id"]
        queue_rows.append(row)

    queue = pl.DataFrame(queue_rows, schema=QUEUE_SCHEMA).sort("username_page") if queue_rows else pl.DataFrame(
        schema=QUEUE_SCHEMA
    )
    new_log = pl.DataFrame(log_rows, schema=CHANGELOG_SCHEMA) if log_rows else pl.DataFrame(schema=CHANGELOG_SCHEMA)
    changelog = (
        pl.concat([_conform(previous_changelog, CHANGELOG_SCHEMA), new_log], how="vertical")
        .unique("changelog_id", keep="first", maintain_order=True)
        .sort(["username_page", "created_at", "event", "changelog_id"], nulls_last=True)
    )
    return queue, changelog, onboarding_alerts(queue, now, dt.timedelta(hours=onboarded_alert_hours))


def _log(row: dict, event: str, before: str | None, after: str, now: dt.datetime, run_id: str,
         notes: str | None) -> dict:
    return {
        "changelog_id": _changelog_id(row["username_page"], event, now),
        "username_page": row["username_page"],
        "event": event,
        "source": row["source"],
        "identity_source": row["identity_source"],
        "tz": row["tz"],
        "tier_initial": row["tier_initial"],
        "scheduler_code": row["scheduler_code"],
        "new_until": row["new_until"],
        "lifecycle_from": before,
        "lifecycle_to": after,
        "created_at": now,
        "run_id": run_id,
        "notes": notes,
    }


def onboarding_alerts(queue: pl.DataFrame, now: dt.datetime, window: dt.timedelta = dt.timedelta(hours=24)) -> pl.DataFrame:
    rows: list[dict] = []
    for r in queue.iter_rows(named=True):
        page, onboarded = r["username_page"], r["onboarded_at"]
        if onboarded is not None and now - window < onboarded <= now:
            rows.append(dict(
                severity="INFO", alert_code="PAGE_ONBOARDED", username_page=page, created_at=onboarded,
                message=(f"page {page} onboarded from {r['source']} ({r['identity_source']}): tz {r['tz']}, "
                         f"scheduler {r['scheduler_code']}, tier {r['tier_initial']} ({r['tier_source_initial']}), "
                         f"new until {r['new_until']:%Y-%m-%d}" if r["new_until"] else f"page {page} onboarded"),
                action_required="check tz, scheduler and tier (seeds/page_registry.csv, seeds/page_overrides.csv)",
            ))
        if r["identity_source"] == "auto" and not r["reviewed"]:
            rows.append(dict(
                severity="WARNING", alert_code="PAGE_AUTO_REGISTERED", username_page=page, created_at=onboarded,
                message=f"page {page} was auto-registered from a report and is not reviewed",
                action_required="add the page to seeds/page_registry.csv (or an alias to seeds/page_aliases.csv)",
            ))
    if not rows:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    return (
        pl.DataFrame(rows)
        .with_columns(
            alert_id=pl.struct("alert_code", "username_page", "created_at").map_elements(
                lambda s: _alert_id(s["alert_code"], s["username_page"], s["created_at"]), return_dtype=pl.String
            ),
            alert_type=pl.lit("Onboarding"),
            source=pl.lit("onboarding"),
            status=pl.lit("open"),
            resolved_at=pl.lit(None, UTC_US),
        )
        .select(list(ALERT_SCHEMA))
        .cast(ALERT_SCHEMA)
        .sort("username_page", "alert_code", "alert_id")
    )
