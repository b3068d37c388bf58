"""Onboarding queue / changelog / alerts (40-planning §7): pure build_onboarding."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
from polars.testing import assert_frame_equal

from of_scheduler_assets.layer_03_foundation.transforms import DIM_PAGE_SCHEMA
from of_scheduler_assets.ops.onboarding import CHANGELOG_SCHEMA, QUEUE_SCHEMA, build_onboarding
from of_scheduler_assets.ops_config.overrides import page_overrides as type_page_overrides
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA, _alert_id
from of_scheduler_assets.resources.seeds import parse_seed

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)


def _ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


FIRST_SEEN = _ts(2026, 3, 8, 15)


def page(username_page: str, *, first_seen: dt.datetime = FIRST_SEEN, tz: str = "America/New_York",
         identity_source: str = "seed", is_active: bool | None = True, scheduler: str = "SCH1",
         new_until: dt.datetime | None = None) -> dict:
    std, page_type = username_page.split("__")
    if new_until is None:
        new_until = dt.datetime.combine(first_seen.date(), dt.time(), tzinfo=UTC) + dt.timedelta(days=7)
    return {
        "username_page": username_page, "username_std": std, "page_type": page_type, "tz": tz,
        "assigned_scheduler_code": scheduler, "identity_source": identity_source, "first_seen_at": first_seen,
        "new_until": new_until, "is_active": is_active, "lifecycle_state": "new", "tier": None,
        "tier_source": "pending", "last_report_at": None, "last_stats_at": None,
    }


def dim(*pages: dict) -> pl.DataFrame:
    frame = pl.DataFrame(list(pages), schema={c: DIM_PAGE_SCHEMA[c] for c in pages[0]}) if pages else None
    if frame is None:
        return pl.DataFrame(schema=DIM_PAGE_SCHEMA)
    return frame.with_columns(
        [pl.lit(None, t).alias(c) for c, t in DIM_PAGE_SCHEMA.items() if c not in frame.columns]
    ).select(list(DIM_PAGE_SCHEMA))


def run(dim_page, state=None, overrides=None, *, now=NOW, run_id="r1"):
    queue, changelog = state if state is not None else (None, None)
    return build_onboarding(dim_page, queue, changelog, overrides, now=now, run_id=run_id)


def q(queue: pl.DataFrame, username_page: str) -> dict:
    rows = queue.filter(pl.col("username_page") == username_page).to_dicts()
    assert len(rows) == 1
    return rows[0]


def events(changelog: pl.DataFrame, username_page: str) -> list[tuple]:
    return [
        (r["event"], r["lifecycle_from"], r["lifecycle_to"])
        for r in changelog.filter(pl.col("username_page") == username_page).iter_rows(named=True)
    ]


def test_new_page_gets_a_queue_row_a_changelog_row_and_an_info_alert():
    queue, changelog, alerts = run(dim(page("alice__paid")))

    assert queue.schema == pl.Schema(QUEUE_SCHEMA)
    row = q(queue, "alice__paid")
    assert row["onboarded_at"] == NOW
    assert row["first_seen_at"] == _ts(2026, 3, 8, 15)
    assert row["new_until"] == _ts(2026, 3, 15)
    assert row["lifecycle_state"] == "new"
    assert (row["tier_initial"], row["tier_source_initial"]) == ("LOW", "pending")
    assert (row["source"], row["identity_source"], row["reviewed"]) == ("registry", "seed", True)
    assert (row["tz"], row["scheduler_code"], row["run_id"]) == ("America/New_York", "SCH1", "r1")

    assert changelog.schema == pl.Schema(CHANGELOG_SCHEMA)
    assert changelog.height == 1
    log = changelog.row(0, named=True)
    assert (log["event"], log["lifecycle_from"], log["lifecycle_to"]) == ("onboarded", None, "new")
    assert log["changelog_id"] == hashlib.sha256(f"alice__paid|onboarded|{NOW.isoformat()}".encode()).hexdigest()
    assert (log["created_at"], log["source"], log["tier_initial"], log["new_until"]) == (
        NOW, "registry", "LOW", _ts(2026, 3, 15)
    )

    assert alerts.schema == pl.Schema(ALERT_SCHEMA)
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert (alert["severity"], alert["alert_code"], alert["alert_type"]) == ("INFO", "PAGE_ONBOARDED", "Onboarding")
    assert (alert["username_page"], alert["source"], alert["status"], alert["resolved_at"]) == (
        "alice__paid", "onboarding", "open", None
    )
    assert alert["alert_id"] == _alert_id("PAGE_ONBOARDED", "alice__paid", NOW)


def test_source_follows_identity_and_old_history_is_not_new():
    """Probation counts from the first evidence: a page with 180 days of history is active at once."""
    queue, _, _ = run(dim(
        page("cs__free", identity_source="creator_stats"),
        page("old__paid", first_seen=NOW - dt.timedelta(days=180)),
    ))
    assert q(queue, "cs__free")["source"] == "creator_stats"
    old = q(queue, "old__paid")
    assert old["lifecycle_state"] == "active"
    assert old["new_until"] == dt.datetime.combine((NOW - dt.timedelta(days=180)).date(), dt.time(), tzinfo=UTC) + (
        dt.timedelta(days=7)
    )


def test_second_call_is_idempotent():
    d = dim(page("alice__paid"), page("bob__free", identity_source="auto"), page("old__vip", first_seen=_ts(2025, 1, 1)))
    first = run(d)
    second = run(d, first[:2])
    for a, b in zip(first, second, strict=True):
        assert_frame_equal(a, b)
    # a later run with nothing changed appends nothing and leaves the rows untouched
    later = run(d, second[:2], now=NOW + dt.timedelta(hours=1), run_id="r2")
    assert_frame_equal(later[0], first[0])
    assert_frame_equal(later[1], first[1])
    assert set(later[0]["run_id"]) == {"r1"}


def test_input_order_does_not_change_the_output():
    pages = [page("zed__paid"), page("alice__paid"), page("mia__vip", identity_source="auto")]
    a = run(dim(*pages))
    b = run(dim(*reversed(pages)))
    for x, y in zip(a, b, strict=True):
        assert_frame_equal(x, y)
    assert a[0]["username_page"].to_list() == ["alice__paid", "mia__vip", "zed__paid"]


def test_latest_override_tier_wins_and_is_frozen_at_onboarding():
    seed = parse_seed(
        "page_overrides",
        b"username_page,tier_override,updated_at\n"
        b"alice__paid,HIGH,2026-03-01\n"
        b"alice__paid,power,2026-03-05\n"
        b"alice__paid,,2026-03-06\n"  # a later row that does not touch the tier
        b"alice__paid,MED,2026-02-01\n",  # older, listed last
        "test",
    )
    overrides = type_page_overrides(seed)
    d = dim(page("alice__paid"), page("bob__free"))
    queue, changelog, _ = run(d, overrides=overrides)
    assert (q(queue, "alice__paid")["tier_initial"], q(queue, "alice__paid")["tier_source_initial"]) == (
        "POWER", "override"
    )
    assert (q(queue, "bob__free")["tier_initial"], q(queue, "bob__free")["tier_source_initial"]) == ("LOW", "pending")
    assert changelog.filter(pl.col("username_page") == "alice__paid")["tier_initial"].to_list() == ["POWER"]
    # raw text overrides work too
    raw = pl.DataFrame({"username_page": ["bob__free"], "tier_override": ["med"], "updated_at": ["2026-03-01"]})
    assert q(run(d, overrides=raw)[0], "bob__free")["tier_initial"] == "MED"
    # an override added after onboarding does not rewrite tier_initial (the tier assignment applies it)
    queue2, _, _ = run(d, (queue, changelog), overrides=raw, now=NOW + dt.timedelta(hours=1))
    assert q(queue2, "bob__free")["tier_initial"] == "LOW"


def test_expiry_is_evaluated_in_the_page_local_date():
    # 02:00 UTC on 10 March: still 9 March in New York, already 10 March in Tokyo
    onboard_at = _ts(2026, 3, 5, 12)
    check_at = _ts(2026, 3, 10, 2)
    until = _ts(2026, 3, 9)
    d = dim(
        page("ny__paid", tz="America/New_York", new_until=until, first_seen=_ts(2026, 3, 2)),
        page("tokyo__paid", tz="Asia/Tokyo", new_until=until, first_seen=_ts(2026, 3, 2)),
        page("tomorrow__paid", tz="Asia/Tokyo", new_until=_ts(2026, 3, 11), first_seen=_ts(2026, 3, 4)),
    )
    state = run(d, now=onboard_at)
    assert set(state[0]["lifecycle_state"]) == {"new"}

    queue, changelog, _ = run(d, state[:2], now=check_at, run_id="r2")
    assert q(queue, "ny__paid")["lifecycle_state"] == "new"  # new_until 9 March = local today: still new
    assert q(queue, "tomorrow__paid")["lifecycle_state"] == "new"
    tokyo = q(queue, "tokyo__paid")
    assert tokyo["lifecycle_state"] == "active"  # new_until 9 March < local 10 March
    assert (tokyo["lifecycle_changed_at"], tokyo["updated_at"], tokyo["run_id"]) == (check_at, check_at, "r2")
    assert events(changelog, "tokyo__paid") == [("onboarded", None, "new"), ("expired", "new", "active")]
    assert events(changelog, "ny__paid") == [("onboarded", None, "new")]
    expired = changelog.filter(pl.col("event") == "expired").row(0, named=True)
    assert (expired["created_at"], expired["run_id"]) == (check_at, "r2")
    assert expired["changelog_id"] == hashlib.sha256(
        f"tokyo__paid|expired|{check_at.isoformat()}".encode()
    ).hexdigest()

    # three hours later it is 10 March in New York too
    queue, changelog, _ = run(d, (queue, changelog), now=_ts(2026, 3, 10, 5), run_id="r3")
    assert q(queue, "ny__paid")["lifecycle_state"] == "active"
    assert events(changelog, "ny__paid") == [("onboarded", None, "new"), ("expired", "new", "active")]
    assert events(changelog, "tokyo__paid") == [("onboarded", None, "new"), ("expired", "new", "active")]
    assert q(queue, "tomorrow__paid")["lifecycle_state"] == "new"


def test_inactive_reactivated_and_missing_pages():
    old = _ts(2025, 1, 1)
    state = run(dim(page("alice__paid", first_seen=old), page("bob__free", first_seen=old)))
    assert set(state[0]["lifecycle_state"]) == {"active"}

    t1 = NOW + dt.timedelta(days=1)
    state = run(dim(page("alice__paid", first_seen=old, is_active=False), page("bob__free", first_seen=old)),
                state[:2], now=t1)
    assert q(state[0], "alice__paid")["lifecycle_state"] == "inactive"
    assert q(state[0], "alice__paid")["is_active"] is False
    assert events(state[1], "alice__paid")[-1] == ("deactivated", "active", "inactive")

    # a new page without activity is inactive, not new
    t2 = NOW + dt.timedelta(days=2)
    state = run(
        dim(page("alice__paid", first_seen=old), page("newbie__paid", first_seen=t2, is_active=False)),
        state[:2], now=t2,
    )
    queue, changelog, _ = state
    assert q(queue, "alice__paid")["lifecycle_state"] == "active"
    assert events(changelog, "alice__paid")[-1] == ("reactivated", "inactive", "active")
    assert q(queue, "newbie__paid")["lifecycle_state"] == "inactive"
    # bob vanished from dim_page: the row stays, inactive, logged once
    bob = q(queue, "bob__free")
    assert (bob["lifecycle_state"], bob["in_dim_page"], bob["onboarded_at"]) == ("inactive", False, NOW)
    assert events(changelog, "bob__free") == [("onboarded", None, "active"), ("deactivated", "active", "inactive")]
    assert changelog.filter(pl.col("event") == "deactivated")["notes"].to_list()[-1] == "page no longer in dim_page"
    again = run(dim(page("alice__paid", first_seen=old), page("newbie__paid", first_seen=t2, is_active=False)),
                state[:2], now=t2 + dt.timedelta(hours=1))
    assert_frame_equal(again[1], changelog)  # nothing new to log

    # bob comes back while still inside probation? no: his history is old, so active
    back = run(dim(page("bob__free", first_seen=old)), again[:2], now=t2 + dt.timedelta(hours=2))
    assert events(back[1], "bob__free")[-1] == ("reactivated", "inactive", "active")
    assert q(back[0], "bob__free")["in_dim_page"] is True


def test_auto_registered_page_warns_until_reviewed():
    d = dim(page("mystery__paid", identity_source="auto"))
    queue, changelog, alerts = run(d)
    row = q(queue, "mystery__paid")
    assert (row["source"], row["reviewed"]) == ("report", False)
    assert alerts.select("alert_code", "severity").rows() == [
        ("PAGE_AUTO_REGISTERED", "WARNING"), ("PAGE_ONBOARDED", "INFO")  # sorted by page, code
    ]

    # two days later the INFO is gone, the WARNING stays (same id) while the page is unreviewed
    later = NOW + dt.timedelta(days=2)
    queue, changelog, alerts = run(d, (queue, changelog), now=later)
    assert alerts.select("alert_code", "severity").rows() == [("PAGE_AUTO_REGISTERED", "WARNING")]
    assert alerts["alert_id"].to_list() == [_alert_id("PAGE_AUTO_REGISTERED", "mystery__paid", NOW)]

    # registered in the page registry: reviewed, logged, no more warning
    reg = dim(page("mystery__paid", identity_source="seed"))
    queue2, changelog2, alerts2 = run(reg, (queue, changelog), now=later + dt.timedelta(hours=1))
    assert q(queue2, "mystery__paid")["reviewed"] is True
    assert q(queue2, "mystery__paid")["source"] == "report"  # how it was onboarded does not change
    assert alerts2.height == 0 and alerts2.schema == pl.Schema(ALERT_SCHEMA)
    assert [e for e, _, _ in events(changelog2, "mystery__paid")] == ["onboarded", "reviewed"]

    # an operator marking the queue row reviewed also clears it, and it stays reviewed
    marked = queue.with_columns(reviewed=pl.lit(True))
    queue3, _, alerts3 = run(d, (marked, changelog), now=later + dt.timedelta(hours=1))
    assert q(queue3, "mystery__paid")["reviewed"] is True
    assert alerts3.height == 0


def test_empty_universe_gives_typed_empty_frames():
    queue, changelog, alerts = run(dim(), None)
    assert (queue.height, changelog.height, alerts.height) == (0, 0, 0)
    assert queue.schema == pl.Schema(QUEUE_SCHEMA)
    assert changelog.schema == pl.Schema(CHANGELOG_SCHEMA)
    assert alerts.schema == pl.Schema(ALERT_SCHEMA)
    # and empty previous state read back from storage is accepted
    again = run(dim(), (queue, changelog))
    assert again[0].schema == pl.Schema(QUEUE_SCHEMA) and again[1].height == 0


def test_previous_changelog_rows_are_kept_unchanged():
    d = dim(page("alice__paid"))
    legacy = pl.DataFrame(
        [{"changelog_id": "x" * 64, "username_page": "zoe__free", "event": "onboarded",
          "created_at": _ts(2025, 6, 1), "notes": "imported"}]
    )
    queue, changelog, _ = build_onboarding(d, None, legacy, None, now=NOW, run_id="r1")
    assert changelog["username_page"].to_list() == ["alice__paid", "zoe__free"]
    kept = changelog.filter(pl.col("username_page") == "zoe__free").row(0, named=True)
    assert (kept["changelog_id"], kept["notes"], kept["created_at"]) == ("x" * 64, "imported", _ts(2025, 6, 1))
