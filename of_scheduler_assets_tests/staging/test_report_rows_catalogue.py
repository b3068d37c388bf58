"""Bad-input catalogue (10-ingestion §14), row/value-level cases 19-30 and 36, plus §5/§8/§9 details."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from of_scheduler_assets.identity import caption_hash, caption_id, sha256_hex
from of_scheduler_assets.layer_02_staging.report_rows import (
    QUARANTINE_SCHEMA,
    STAGED_COLUMNS,
    stage_report_rows,
)
from of_scheduler_assets_tests.staging.helpers import (
    INGESTED,
    RECEIVED,
    ROSTER,
    one,
    raw_frame,
    reports_frame,
    stage,
)

UTC = UTC


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- case 19: sending_time formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell,local,trailing",
    [
        ("2025-09-13T09:05:00", datetime(2025, 9, 13, 9, 5), None),  # Excel datetime cell (raw ISO text)
        ("45913.378472222", datetime(2025, 9, 13, 9, 5), None),  # Excel serial, rounded to the minute
        ("Sep 2, 2025 at 3:04 PM", datetime(2025, 9, 2, 15, 4), None),  # non-padded day and hour
        ("Sep  13,   2025 at  09:05   AM", datetime(2025, 9, 13, 9, 5), None),  # extra spaces
        ("Sep 13, 2025 at 12:13 AM", datetime(2025, 9, 13, 0, 13), None),
        ("Sep 13, 2025 at 12:13 PM", datetime(2025, 9, 13, 12, 13), None),
        ("Aug 25, 2025 at 11:00 AM SD Kit", datetime(2025, 8, 25, 11, 0), "SD Kit"),  # trailing agent name
        ("2025-09-13 09:05:00", datetime(2025, 9, 13, 9, 5), None),  # fallback formats
        ("2025-09-13 09:05", datetime(2025, 9, 13, 9, 5), None),
        ("09/13/2025 09:05 AM", datetime(2025, 9, 13, 9, 5), None),
        ("09/13/2025 21:05:00", datetime(2025, 9, 13, 21, 5), None),
    ],
)
def test_case19_sending_time_formats(cell, local, trailing):
    row, q = one({"sending_time": cell})
    assert q is None
    assert row["sending_time_raw"] == cell
    assert row["sending_ts_report_local"] == local
    assert row["report_timezone_used"] == "America/Denver"
    # September/August: Denver is UTC-6
    assert row["sending_ts_utc"] == (local.replace(tzinfo=UTC) + (utc(2000, 1, 1, 6) - utc(2000, 1, 1)))
    assert row["sending_time_trailing"] == trailing
    assert ("time_trailing_text" in row["dq_flags"]) == (trailing is not None)


def test_case19_iso_with_offset_is_absolute():
    row, q = one({"sending_time": "2025-09-13T10:00:00+02:00"})
    assert row["sending_ts_utc"] == utc(2025, 9, 13, 8, 0)
    assert row["sending_ts_report_local"] == datetime(2025, 9, 13, 2, 0)  # that instant in the report zone


def test_page_local_fields_use_the_page_zone():
    row, _ = one({"sending_time": "Sep 14, 2025 at 12:13 AM"}, page_tz="America/Los_Angeles")
    assert row["sending_ts_utc"] == utc(2025, 9, 14, 6, 13)
    assert row["sending_ts_local"] == datetime(2025, 9, 13, 23, 13)
    assert row["sending_date_local"] == date(2025, 9, 13)
    assert row["dow_local"] == 5  # Saturday, Monday = 0
    assert row["hod_local"] == 23
    row, _ = one({"sending_time": "Sep 14, 2025 at 12:13 AM"})  # default page zone America/New_York
    assert row["sending_ts_local"] == datetime(2025, 9, 14, 2, 13)
    assert row["dow_local"] == 6


def test_report_tz_override_is_used_and_recorded():
    row, _ = one({"sending_time": "Sep 13, 2025 at 09:05 AM"}, report_tz="America/New_York")
    assert row["report_timezone_used"] == "America/New_York"
    assert row["sending_ts_utc"] == utc(2025, 9, 13, 13, 5)


# --- case 20: unparsable / implausible / future ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell,reason",
    [
        ("nan", "unparsable_timestamp"),
        ("NaT", "unparsable_timestamp"),
        (None, "unparsable_timestamp"),
        ("garbage", "unparsable_timestamp"),
        ("Sept 31, 2025 at 9:00 PM", "unparsable_timestamp"),
        ("Sep 31, 2025 at 9:00 PM", "unparsable_timestamp"),  # no such day
        ("Sep 13, 2025 at 13:00 PM", "unparsable_timestamp"),
        ("12345", "unparsable_timestamp"),  # a number outside the serial range
        ("Sep 13, 2012 at 09:05 AM", "implausible_timestamp"),
        ("Sep 13, 2031 at 09:05 AM", "implausible_timestamp"),
        ("Sep 17, 2025 at 12:00 AM", "future_timestamp"),  # 3 days after the email
    ],
)
def test_case20_bad_timestamps_are_quarantined(cell, reason):
    row, q = one({"sending_time": cell})
    assert row is None
    assert q["reason_code"] == reason
    assert q["is_replayable"] is (reason == "implausible_timestamp")
    if reason == "unparsable_timestamp" and cell not in (None,):
        assert q["reason_detail"] == f"could not parse '{cell}'"


def test_case20_boundaries():
    # received 2025-09-14 06:00 UTC; +24 h = 2025-09-15 06:00 UTC = 00:00 MDT
    row, _ = one({"sending_time": "Sep 15, 2025 at 12:00 AM"})
    assert row is not None
    _, q = one({"sending_time": "Sep 15, 2025 at 12:01 AM"})
    assert q["reason_code"] == "future_timestamp"
    row, _ = one({"sending_time": "Jan 1, 2018 at 12:00 AM"})
    assert row is not None
    # platform_year_max widens the upper year bound; the 24 h rule still applies
    _, q = one({"sending_time": "Sep 13, 2026 at 09:05 AM"}, platform_year_max=2026)
    assert q["reason_code"] == "future_timestamp"


# --- case 21: DST ----------------------------------------------------------------------------------------------------


def test_case21_spring_gap_is_shifted_forward_and_flagged():
    row, q = one({"sending_time": "Mar 8, 2026 at 02:30 AM"}, received=utc(2026, 3, 9, 6), page_tz="America/Denver")
    assert q is None
    assert row["sending_ts_report_local"] == datetime(2026, 3, 8, 2, 30)
    assert row["sending_ts_utc"] == utc(2026, 3, 8, 9, 30)  # read with MST (-7), the offset before the gap
    assert row["sending_ts_local"] == datetime(2026, 3, 8, 3, 30)
    assert "dst_gap_shifted" in row["dq_flags"]


def test_case21_autumn_overlap_takes_the_earlier_offset():
    row, q = one({"sending_time": "Nov 1, 2026 at 01:30 AM"}, received=utc(2026, 11, 2, 6), page_tz="America/Denver")
    assert q is None
    assert row["sending_ts_utc"] == utc(2026, 11, 1, 7, 30)  # MDT (-6), fold 0
    assert row["sending_ts_local"] == datetime(2026, 11, 1, 1, 30)
    assert row["dq_flags"] == []


# --- case 22: price ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell,cents",
    [
        ("-", 0),
        (None, 0),
        ("$7.00", 700),
        ("7.00", 700),
        ("$1,234.00", 123400),
        ("7", 700),
        ("7.5", 750),
        ("N/A", 0),
        ("nan", 0),
        ("None", 0),
        (" $ 15.00 ", 1500),
        ("€3", 300),
    ],
)
def test_case22_price_values(cell, cents):
    row, q = one({"price": cell, "purchased": "0", "earnings": "$0.00"}, max_price_usd=2000.0)
    assert q is None
    assert row["price_raw"] == cell
    assert row["price_cents"] == cents
    assert row["price_usd"] == Decimal(cents) / 100
    assert row["is_free"] is (cents == 0)


def test_case22_negative_unparsable_and_implausible_price():
    assert one({"price": "(5.00)"})[1]["reason_code"] == "negative_amount"
    assert one({"price": "-5"})[1]["reason_code"] == "negative_amount"
    assert one({"price": "abc"})[1]["reason_code"] == "unparsable_price"
    assert one({"price": "$1,234.00"})[1]["reason_code"] == "implausible_price"  # default max 1,000
    assert one({"price": "$1,000.00", "purchased": "0", "earnings": "0"})[0]["price_cents"] == 100000


# --- case 23: earnings --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell,usd", [("$9.00", "9.00"), ("9.0", "9.00"), ("1,234.50", "1234.50"), ("-", "0.00")])
def test_case23_earnings_values(cell, usd):
    row, q = one({"earnings": cell})
    assert q is None
    assert row["earnings_raw"] == cell
    assert row["earnings_usd"] == Decimal(usd)
    assert "earnings_imputed" not in row["dq_flags"]


def test_case23_blank_earnings_imputed_from_price_times_purchased():
    row, _ = one({"earnings": None, "price": "$15.00", "purchased": "3"})
    assert row["earnings_usd"] == Decimal("45.00")
    assert "earnings_imputed" in row["dq_flags"]
    assert "earnings_mismatch" not in row["dq_flags"]
    assert one({"earnings": "(9.00)"})[1]["reason_code"] == "negative_amount"


# --- case 24: counts ----------------------------------------------------------------------------------------------------


def test_case24_counts():
    row, _ = one({"sent": "50312.0", "viewed": "50,312"})
    assert (row["sent"], row["viewed"]) == (50312, 50312)
    row, _ = one({"viewed": None})
    assert row["viewed"] is None
    assert "missing_count" in row["dq_flags"]
    row, _ = one({"purchased": "", "earnings": "$0.00", "price": "-"})
    assert row["purchased"] is None and "missing_count" in row["dq_flags"]
    assert one({"viewed": "-5"})[1]["reason_code"] == "negative_count"
    assert one({"sent": "12.5"})[1]["reason_code"] == "non_integer_count"
    assert one({"sent": None})[1]["reason_code"] == "missing_sent"
    q = one({"purchased": "abc"})[1]
    assert (q["reason_code"], q["reason_detail"]) == ("non_integer_count", "purchased 'abc' is not an integer")


# --- case 25: semantic anomalies are flagged, not dropped --------------------------------------------------------------


@pytest.mark.parametrize(
    "cells,flag",
    [
        ({"sent": "10", "viewed": "20", "purchased": "0", "earnings": "0"}, "view_gt_sent"),
        ({"viewed": "1", "purchased": "3", "earnings": "$45.00"}, "purchase_gt_view"),
        ({"sent": "0", "viewed": "5", "purchased": "0", "earnings": "0"}, "zero_sent_with_activity"),
        ({"purchased": "1", "earnings": "$16.00"}, "earnings_mismatch"),
        ({"price": "-", "purchased": "2", "earnings": "$0.00"}, "free_with_purchases"),
        ({"sent": "1", "viewed": "1", "purchased": "1", "earnings": "$40.00"}, "earnings_gt_max"),
        ({"status": "pending"}, "unknown_status"),
    ],
)
def test_case25_anomaly_flags(cells, flag):
    row, q = one(cells)
    assert q is None
    assert flag in row["dq_flags"]
    clean, _ = one({})
    assert clean["dq_flags"] == []


def test_case25_earnings_within_one_cent_is_not_a_mismatch():
    row, _ = one({"purchased": "1", "earnings": "$15.01"})
    assert "earnings_mismatch" not in row["dq_flags"]


# --- case 26: unsent / withdrawn ----------------------------------------------------------------------------------------


def test_case26_withdrawal_flags_and_status_flip_keeps_the_key():
    row, _ = one({"status": "unsent", "withdrawn_by": None})
    assert "unsent_without_withdrawer" in row["dq_flags"]
    row, _ = one({"status": " UNSENT ", "withdrawn_by": "Rowan"})
    assert row["status"] == "unsent"
    assert "withdrawn_by_other" in row["dq_flags"] and "unsent_without_withdrawer" not in row["dq_flags"]
    row, _ = one({"status": "unsent", "withdrawn_by": "sd  NOVA"})
    assert row["withdrawn_by_std"] == "sd nova" and row["dq_flags"] == []
    sent, _ = one({"status": "sent"})
    unsent, _ = one({"status": "unsent", "withdrawn_by": "SD Nova"})
    assert sent["message_send_key"] == unsent["message_send_key"]


# --- case 27: message text ---------------------------------------------------------------------------------------------


def test_case27_display_text_and_one_caption_hash_per_normalised_text():
    variants = [
        "New set just dropped 📸\r\nBeach day &amp; vibes…",
        "New set just dropped 📸<br>Beach day &amp; vibes…",
        "New set just dropped\u00a0📸\nBeach day & vibes…  ",
        "  New   set just dropped 📸\n\nBeach day &amp; vibes…",
        "𝐍𝐞𝐰 set just dropped 📸\nBeach day & vibes...",
    ]
    result = stage([{"message": m, "sending_time": f"Sep 13, 2025 at 0{i + 1}:00 AM"} for i, m in enumerate(variants)])
    rows = result.staged.to_dicts()
    assert len(rows) == 5
    assert len({r["caption_hash"] for r in rows}) == 1
    assert rows[0]["caption_text"] == "New set just dropped 📸\nBeach day & vibes…"
    assert rows[1]["caption_text"] == "New set just dropped 📸\nBeach day & vibes…"
    assert rows[2]["caption_text"] == "New set just dropped 📸\nBeach day & vibes…"
    assert rows[3]["caption_text"] == "New   set just dropped 📸\n\nBeach day & vibes…"  # lines never collapsed
    for r, raw in zip(rows, variants, strict=True):
        assert r["message_raw"] == raw
        assert r["caption_hash"] == caption_hash(raw)
        assert r["caption_id"] == caption_id(raw)
        assert r["caption_hash_raw"] == sha256_hex(raw)
        assert r["username_page"] == "luna_example__paid"


def test_case27_zero_width_zwj_long_text_and_word_prefix():
    zwj = "Family 👨\u200d👩\u200d👧 time\u200b! \ufeff❤\ufe0f"
    long_text = "Rowan: " + "x" * 800
    result = stage([{"message": zwj}, {"message": long_text, "sending_time": "Sep 13, 2025 at 10:00 AM"}])
    a, b = result.staged.to_dicts()
    assert a["caption_text"] == "Family 👨\u200d👩\u200d👧 time! ❤\ufe0f"
    assert b["caption_text"] == long_text
    assert b["username_page"] == "luna_example__paid" and b["sender_std"] == "sd nova"  # no username from a prefix
    assert "<3" in one({"message": "love you <3 <b>bold</b>"})[0]["caption_text"]
    assert one({"message": "love you <3 <b>bold</b>"})[0]["caption_text"] == "love you <3 bold"


# --- case 28: empty message ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", [None, "", "   ", "nan", "NaN", "None"])
def test_case28_empty_message(message):
    row, q = one({"message": message, "price": "$12.00", "purchased": "0", "earnings": "0"})
    assert q is None
    assert row["is_media_only"] is True
    assert row["caption_hash"] == sha256_hex("")
    _, q = one({"message": message, "price": "-", "purchased": "0", "earnings": "0"})
    assert q["reason_code"] == "empty_free_message"


def test_non_empty_message_is_not_media_only():
    assert one({})[0]["is_media_only"] is False


# --- case 29: msg_key and dup_ordinal -------------------------------------------------------------------------------------


def test_case29_keys():
    base = {
        "message": "Same caption",
        "sending_time": "Sep 13, 2025 at 09:05 AM",
        "price": "$5.00",
        "purchased": "0",
        "earnings": "0",
    }
    rows = [
        base,
        {**base, "sending_time": "Sep 12, 2025 at 09:05 AM"},  # another day
        {**base, "price": "$12.00"},  # another price
        {**base, "message": "Different caption"},  # same minute, other caption
        {**base, "sender": "Rowan"},  # other sender
        {**base, "sent": "99999"},  # same key, more recipients -> ordinal 1
        {**base, "message": "same   CAPTION"},  # same normalised caption -> same key
    ]
    staged = stage(rows).staged.sort("row_number").to_dicts()
    keys = [r["msg_key"] for r in staged]
    assert len(set(keys[:5])) == 5
    assert keys[5] == keys[0] == keys[6]
    ordinals = {r["row_number"]: r["dup_ordinal"] for r in staged}
    # ordered by sent desc, viewed desc, purchased desc, row_number asc
    assert (ordinals[6], ordinals[1], ordinals[7]) == (1, 2, 3)
    assert len({r["message_send_key"] for r in staged}) == 7
    assert staged[0]["msg_key"] == sha256_hex(
        "|".join(["luna_example__paid", "2025-09-13T15:05Z", caption_hash("Same caption"), "500", "sd nova"])
    )
    assert staged[0]["message_send_key"] == sha256_hex(f"{staged[0]['msg_key']}|2")


def test_case29_identical_rows_kept_and_flagged():
    staged = stage([{}, {}, {"sent": "1"}]).staged.to_dicts()
    assert len(staged) == 3
    assert "identical_row_in_report" in staged[0]["dq_flags"] and "identical_row_in_report" in staged[1]["dq_flags"]
    assert "identical_row_in_report" not in staged[2]["dq_flags"]
    assert [r["dup_ordinal"] for r in staged] == [1, 2, 3]


# --- case 30: overlapping reports, re-runs -----------------------------------------------------------------------------------


def test_case30_overlapping_reports_share_keys_and_reruns_are_identical():
    rows_a = [
        {"message": "A", "sending_time": "Sep 13, 2025 at 09:05 AM", "sent": "100", "viewed": "5"},
        {"message": "A", "sending_time": "Sep 13, 2025 at 09:05 AM", "sent": "200", "viewed": "5"},
        {"message": "B", "sending_time": "Sep 12, 2025 at 09:05 AM"},
    ]
    # next day's report: a new row on top, counts grew, status flipped
    rows_b = [
        {"message": "C", "sending_time": "Sep 14, 2025 at 08:00 AM"},
        {**rows_a[0], "viewed": "9"},
        {**rows_a[1], "viewed": "12", "status": "unsent", "withdrawn_by": "SD Nova"},
        {**rows_a[2], "viewed": "700"},
    ]
    raw = pl.concat([raw_frame(rows_a, "mA"), raw_frame(rows_b, "mB", received=utc(2025, 9, 15, 6))])
    reports = reports_frame(["mA", "mB"])
    result = stage_report_rows(raw, reports, ROSTER)
    s = result.staged
    a = dict(
        zip(
            s.filter(pl.col("message_id") == "mA")["row_number"],
            s.filter(pl.col("message_id") == "mA")["message_send_key"],
            strict=True,
        )
    )
    b = dict(
        zip(
            s.filter(pl.col("message_id") == "mB")["row_number"],
            s.filter(pl.col("message_id") == "mB")["message_send_key"],
            strict=True,
        )
    )
    assert (b[2], b[3], b[4]) == (a[1], a[2], a[3])
    assert b[1] not in a.values()
    assert s.height == 7  # all snapshots kept
    assert s["report_received_date"].to_list() == [date(2025, 9, 14)] * 3 + [date(2025, 9, 15)] * 4
    # re-run and shuffled input give identical frames
    again = stage_report_rows(raw.sample(fraction=1.0, shuffle=True, seed=7), reports, ROSTER)
    assert again.staged.equals(result.staged)
    assert again.quarantined.equals(result.quarantined)
    assert again.unknown_senders.equals(result.unknown_senders)


# --- case 36: senders ----------------------------------------------------------------------------------------------------------


def test_case36_sender_labels_normalise_to_one_sender_std_and_scheduler():
    labels = ["SD Nova", "SD      Nova", "sd nova", " Sd\tNOVA ", "ＳＤ Nova"]
    result = stage(
        [{"sender": s, "sending_time": f"Sep 13, 2025 at 0{i + 1}:00 AM"} for i, s in enumerate(labels)]
        + [{"sender": "Kit  Unknown"}, {"sender": "nan", "sending_time": "Sep 13, 2025 at 11:00 AM"}]
    )
    rows = result.staged.to_dicts()
    assert {r["sender_std"] for r in rows[:5]} == {"sd nova"}
    assert {r["scheduler_code"] for r in rows[:5]} == {"NOVA"}
    assert [r["sender_raw"] for r in rows[:5]] == labels
    assert rows[5]["sender_std"] == "kit unknown" and rows[5]["scheduler_code"] is None
    assert rows[6]["sender_std"] is None
    unknown = result.unknown_senders.to_dicts()
    assert [(u["sender_std"], u["source"], u["occurrences"]) for u in unknown] == [("kit unknown", "sender", 1)]


# --- creator column, summary rows, quarantine table --------------------------------------------------------------------------


def test_creator_column_mismatch_is_flagged_email_wins():
    creator_pages = pl.DataFrame(
        {"name_raw": ["Mia Demo", "Luna Example Paid"], "username_page": ["mia_demo__paid", "luna_example__paid"]}
    )
    result = stage(
        [
            {"creator": "Mia Demo"},
            {"creator": "Luna Example Paid", "sending_time": "Sep 13, 2025 at 10:00 AM"},
            {"creator": "Unknown X", "sending_time": "Sep 13, 2025 at 11:00 AM"},
        ],
        creator_pages=creator_pages,
    )
    rows = result.staged.to_dicts()
    assert "creator_column_mismatch" in rows[0]["dq_flags"]
    assert rows[0]["username_page"] == "luna_example__paid"
    assert rows[1]["dq_flags"] == [] and rows[2]["dq_flags"] == []


@pytest.mark.parametrize(
    "cells",
    [
        {"message": "Total", "sending_time": None, "sender": None},
        {"message": "  TOTAL earnings", "sending_time": ""},
        {"message": None, "sending_time": None, "sender": None, "earnings": "$570.00"},
    ],
)
def test_case11_summary_row(cells):
    _, q = one(cells)
    assert q["reason_code"] == "summary_row"


def test_total_with_a_send_time_is_a_normal_row():
    row, _ = one({"message": "Total bliss tonight"})
    assert row is not None


def test_quarantine_row_columns_and_precedence():
    raw = raw_frame([{"sending_time": "garbage", "price": "abc", "sent": "-1", "message": "Ünïcode ☕"}])
    result = stage_report_rows(raw, reports_frame(["m1"]), ROSTER)
    q = result.quarantined
    assert q.schema == pl.Schema(QUARANTINE_SCHEMA)
    r = q.to_dicts()[0]
    assert r["reason_code"] == "unparsable_timestamp"  # first reason wins
    assert r["quarantine_id"] == sha256_hex("m1|1|unparsable_timestamp")
    assert (r["source_kind"], r["source_ref"], r["row_number"]) == ("report", "m1", 1)
    assert r["archive_uri"] == "file:///archive/m1.xlsx"
    assert r["quarantined_at"] == INGESTED and r["ingestion_run_id"] == "run1"
    assert r["released_at"] is None and r["released_by_run_id"] is None and r["is_replayable"] is False
    cells = json.loads(r["raw_row_json"])
    assert list(cells) == sorted(cells)
    assert cells["message"] == "Ünïcode ☕" and "Ünïcode ☕" in r["raw_row_json"]  # ensure_ascii=False
    assert cells["sending_time"] == "garbage"
    # without the timestamp problem the next reason is the count, then the price
    assert one({"price": "abc", "sent": "-1"})[1]["reason_code"] == "negative_count"
    assert one({"price": "abc", "message": ""})[1]["reason_code"] == "unparsable_price"


def test_staged_columns_are_exactly_the_spec_order():
    s = stage([{}]).staged
    assert s.columns == STAGED_COLUMNS
    assert s.columns[:7] == [
        "ingestion_run_id",
        "ingested_at",
        "message_id",
        "report_received_at",
        "archive_uri",
        "file_sha256",
        "row_number",
    ]
    assert s.columns[-3:] == ["dq_flags", "extra_cols_json", "report_received_date"]
    assert s.schema["price_usd"] == pl.Decimal(10, 2) and s.schema["earnings_usd"] == pl.Decimal(12, 2)
    assert s.schema["sending_ts_utc"] == pl.Datetime("us", "UTC") and s.schema["sending_ts_local"] == pl.Datetime("us")
    assert s["report_received_date"][0] == RECEIVED.date()


def test_unknown_report_is_a_programming_error():
    with pytest.raises(ValueError, match="not in `reports`"):
        stage_report_rows(raw_frame([{}], "mX"), reports_frame(["m1"]), ROSTER)


def test_empty_input():
    result = stage_report_rows(raw_frame([]), reports_frame([]), ROSTER)
    assert result.staged.height == 0 and result.quarantined.height == 0
    assert result.staged.columns == STAGED_COLUMNS
