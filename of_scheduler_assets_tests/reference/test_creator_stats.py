"""Creator statistics (10-ingestion §11; catalogue #35, #37)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from of_scheduler_assets.layer_02_staging.reference import (
    latest_creator_stats,
    parse_creator_stats,
    parse_period,
    subscription_length_days,
    zone_from_period_header,
)

from .helpers import NOW, STATS_HEADER, csv_bytes, sha, stats_row

UTC = dt.UTC


def parse(rows, header=None):
    data = csv_bytes([header or STATS_HEADER, *rows])
    return parse_creator_stats(data, file_sha256=sha(data), ingested_at=NOW)


@pytest.mark.parametrize(
    ("raw", "start", "end"),
    [
        ("2025-08-26 - 2025-09-01", dt.date(2025, 8, 26), dt.date(2025, 9, 1)),
        ("08/26/2025 to 09/01/2025", dt.date(2025, 8, 26), dt.date(2025, 9, 1)),
        ("2025/09/01", dt.date(2025, 9, 1), dt.date(2025, 9, 1)),
        ("  8/26/2025   to 9/1/2025 ", dt.date(2025, 8, 26), dt.date(2025, 9, 1)),
    ],
)
def test_three_period_formats(raw, start, end):
    assert parse_period(raw) == (start, end)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing_period"),
        ("  ", "missing_period"),
        (None, "missing_period"),
        ("nan", "missing_period"),
        ("week 34", "unparsable_period"),
        ("2025-02-30 - 2025-03-01", "unparsable_period"),
        ("2025-09-01 - 2025-08-26", "unparsable_period"),
        ("2025-09-01", "unparsable_period"),
    ],
)
def test_bad_periods(raw, reason):
    assert parse_period(raw) == reason


def test_zone_comes_from_the_header_name():
    assert zone_from_period_header("Date_Time America_New_York") == "America/New_York"
    assert zone_from_period_header("Date_Time America_Los_Angeles") == "America/Los_Angeles"
    assert zone_from_period_header("Date_Time Europe/London") == "Europe/London"
    assert zone_from_period_header("Date_Time") is None


def test_case_35_values_snapshots_and_formats():
    rows = [
        stats_row("2025-08-26 - 2025-09-01", "Luna Example Paid Page"),
        stats_row(
            "08/26/2025 to 09/01/2025",
            "luna_example FREE",
            **{
                "Subscription Net": "$0.00",
                "Renew on %": "0%",
                "Contribution %": "12.340000000000001%",
                "OF ranking": "#123",
                "Avg subscription length": "2 months",
                "New fans": "454",
            },
        ),
        stats_row("2025/09/08", "LUNAEXAMPLE VIP", **{"Avg subscription length": "N/A", "OF ranking": "0.4%"}),
        stats_row("", "Mia Demo"),
        stats_row("week 34", "Mia Demo"),
    ]
    parsed, q = parse(rows)
    assert parsed.height == 3 and q.height == 2
    assert q.sort("row_number").select("row_number", "reason_code").rows() == [
        (4, "missing_period"),
        (5, "unparsable_period"),
    ]
    assert set(q["source_kind"]) == {"creator_stats"}
    a, b, c = parsed.sort("row_number").to_dicts()
    assert (a["period_start"], a["period_end"]) == (dt.date(2025, 8, 26), dt.date(2025, 9, 1))
    assert a["snapshot_ts_local"] == dt.datetime(2025, 9, 1, 23, 59, 59)
    assert a["snapshot_ts_utc"] == dt.datetime(2025, 9, 2, 3, 59, 59, tzinfo=UTC)  # EDT, -4
    assert a["snapshot_tz"] == "America/New_York"
    assert a["subscription_net"] == 1234.5 and a["total_earnings_net"] == 2000.0
    assert a["contribution_rate"] == pytest.approx(0.4444, abs=0) and a["renew_on_rate"] == 0.125
    assert a["of_rank_percent"] == 5.2
    assert a["new_fans"] == -99 and a["change_expired_fans_count"] == -12  # negatives are valid
    assert a["active_fans"] == 1500
    assert a["avg_subscription_length_days"] == 12.0
    assert a["creator_group"] is None
    assert a["is_paid_like"] is True and a["reporting_currency"] == "USD"
    assert b["contribution_rate"] == 0.1234  # float artefact rounded to 6 dp
    assert b["of_rank_percent"] == 123.0  # '#' stripped
    assert b["avg_subscription_length_days"] == 60.0
    assert b["is_paid_like"] is False
    assert c["avg_subscription_length_days"] is None and c["of_rank_percent"] == 0.4
    assert (c["period_start"], c["period_end"]) == (dt.date(2025, 9, 8), dt.date(2025, 9, 8))
    # names: one creator, three spellings -> one compact_key; page-type token kept for resolution
    assert [r["compact_key"] for r in (a, b, c)] == ["lunaexample"] * 3
    assert [r["page_type_token"] for r in (a, b, c)] == ["paid", "free", "vip"]
    assert a["creator_display"] == "Luna Example Paid Page"


def test_is_paid_like_from_renew_rate_alone():
    parsed, _ = parse([stats_row("2025/09/08", "Ava Sample", **{"Subscription Net": "$0.00", "Renew on %": "3%"})])
    assert parsed["is_paid_like"].to_list() == [True]


def test_winter_snapshot_uses_standard_time_and_header_zone():
    header = ["Date_Time America_Los_Angeles", *STATS_HEADER[1:]]
    parsed, _ = parse([stats_row("2025-12-01 - 2025-12-07", "Ava Sample")], header=header)
    assert parsed["snapshot_tz"][0] == "America/Los_Angeles"
    assert parsed["snapshot_ts_utc"][0] == dt.datetime(2025, 12, 8, 7, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "days"),
    [
        ("12 days", 12.0),
        ("1 day", 1.0),
        ("3 months", 90.0),
        ("1 month", 30.0),
        ("N/A", None),
        ("", None),
        ("2 weeks", 14.0),
    ],
)
def test_subscription_length(raw, days):
    assert subscription_length_days(raw) == days


def test_unparsable_values_are_null_and_flagged_not_dropped():
    parsed, q = parse(
        [stats_row("2025/09/08", "Ava Sample", **{"Tips Net": "lots", "Avg subscription length": "forever"})]
    )
    assert q.height == 0 and parsed.height == 1
    row = parsed.row(0, named=True)
    assert row["tips_net"] is None and row["avg_subscription_length_days"] is None
    assert row["dq_flags"] == ["unparsable_value:tips_net", "unparsable_value:avg_subscription_length_days"]


def test_several_snapshots_per_page_all_kept_latest_is_current():
    w1, _ = parse([stats_row("2025-08-26 - 2025-09-01", "Luna Example Paid"), stats_row("2025/09/01", "Mia Demo")])
    w2, _ = parse([stats_row("09/02/2025 to 09/08/2025", "luna_example_paid", **{"Active fans": "1,700"})])
    allsnaps = pl.concat([w1, w2])
    assert allsnaps.filter(pl.col("compact_key") == "lunaexample").height == 2
    cur = latest_creator_stats(allsnaps)
    luna = cur.filter(pl.col("compact_key") == "lunaexample")
    assert luna.height == 1 and luna["period_end"][0] == dt.date(2025, 9, 8) and luna["active_fans"][0] == 1700
    assert cur.height == 2


def test_conservation_rows_in_equals_parsed_plus_quarantined():
    rows = [stats_row(p, "Ava Sample") for p in ("2025/09/08", "", "bad", "2025-09-01 - 2025-09-07")] + [None]
    parsed, q = parse(rows)
    assert parsed.height + q.height == 4


def test_case_37_names_that_break_naive_normalisers():
    parsed, _ = parse(
        [
            stats_row("2025/09/08", "Luna Example Paid"),
            stats_row("2025/09/08", "luna_example_paid"),
            stats_row("2025/09/08", "LunaExample PAID"),
            stats_row("2025/09/08", "Luna"),  # a short first name shared by creators is not the same page
            stats_row("2025/09/08", "Luna Other Free"),
        ]
    )
    keys = parsed.sort("row_number")["compact_key"].to_list()
    assert keys[:3] == ["lunaexample"] * 3
    assert keys[3] == "luna" and keys[4] == "lunaother"
    assert len(set(keys)) == 3
