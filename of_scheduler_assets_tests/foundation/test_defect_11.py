"""Defect 11 of 20-warehouse §6: "a key built from an always-null id collapsed all rows; parse formats that never
matched the report format" → contract tests on a real-format fixture.

The five example rows of 10-ingestion §3.3, byte-exact, are written to a real .xlsx file (xlsxwriter), read back with
the real reader (``layer_01_raw.workbook.read_report``), staged with the real staging (``stage_report_rows``), reduced
with ``latest_snapshots`` and built into ``fact_message_send`` with a real ``dim_caption``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from of_scheduler_assets.identity import caption_id, sha256_hex
from of_scheduler_assets.layer_01_raw.workbook import read_report
from of_scheduler_assets.layer_02_staging.ingest import latest_snapshots
from of_scheduler_assets.layer_02_staging.report_rows import CELL_COLUMNS, stage_report_rows
from of_scheduler_assets.layer_02_staging.schemas import StgMessageEvents
from of_scheduler_assets.layer_03_foundation import transforms as T
from of_scheduler_assets.layer_03_foundation.schemas import FactMessageSend
from of_scheduler_assets_tests.foundation.helpers import EXPLICITNESS_MAP
from of_scheduler_assets_tests.ingestion_workbook.test_workbook import EXAMPLE_ROWS, HEADER, xlsx
from of_scheduler_assets_tests.staging.helpers import ROSTER, reports_frame

UTC = dt.UTC
RECEIVED = dt.datetime(2025, 9, 15, 6, 0, tzinfo=UTC)
INGESTED = dt.datetime(2025, 9, 15, 6, 5, tzinfo=UTC)
NOW = dt.datetime(2025, 9, 15, 7, 0, tzinfo=UTC)

# §3.4: report wall time in America/Denver (MDT, UTC-6 in September); local fields in the page zone America/New_York
# (EDT, UTC-4). Row order = report order (newest first).
EXPECTED_TIMES = [
    # sending_time_raw, sending_ts_report_local, sending_ts_utc, sending_ts_local
    ("Sep 14, 2025 at 09:05 AM", dt.datetime(2025, 9, 14, 9, 5), dt.datetime(2025, 9, 14, 15, 5, tzinfo=UTC)),
    ("Sep 13, 2025 at 08:40 PM", dt.datetime(2025, 9, 13, 20, 40), dt.datetime(2025, 9, 14, 2, 40, tzinfo=UTC)),
    ("Sep 13, 2025 at 02:10 PM", dt.datetime(2025, 9, 13, 14, 10), dt.datetime(2025, 9, 13, 20, 10, tzinfo=UTC)),
    ("Sep 12, 2025 at 11:30 PM", dt.datetime(2025, 9, 12, 23, 30), dt.datetime(2025, 9, 13, 5, 30, tzinfo=UTC)),
    ("Sep 12, 2025 at 07:02 AM", dt.datetime(2025, 9, 12, 7, 2), dt.datetime(2025, 9, 12, 13, 2, tzinfo=UTC)),
]


def _raw_frame(table_rows: pl.DataFrame, data: bytes, message_id: str = "email-1") -> pl.DataFrame:
    """The raw layer's message rows: the reader's text cells plus the provenance columns staging expects."""
    return table_rows.select(
        ingestion_run_id=pl.lit("run-1"),
        ingested_at=pl.lit(INGESTED, pl.Datetime("us", "UTC")),
        message_id=pl.lit(message_id),
        report_received_at=pl.lit(RECEIVED, pl.Datetime("us", "UTC")),
        archive_uri=pl.lit(f"file:///archive/{message_id}.xlsx"),
        file_sha256=pl.lit(sha256_hex(data.hex())),
        row_number=pl.col("row_number"),
        **{c: pl.col(c) for c in CELL_COLUMNS},
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("defect11") / "mass_message_history.xlsx"
    path.write_bytes(xlsx([HEADER, *EXAMPLE_ROWS]))
    data = path.read_bytes()
    assert data[:2] == b"PK"  # a real OOXML zip
    table = read_report(data, "xlsx")
    result = stage_report_rows(
        _raw_frame(table.rows, data), reports_frame(["email-1"]), ROSTER, default_report_tz="America/Denver"
    )
    stg = result.staged
    dim = T.build_dim_caption(None, T.report_captions(stg), None, explicitness_map=EXPLICITNESS_MAP, now=NOW)
    fact = T.build_fact_message_send(latest_snapshots(stg), dim, platform_fee=0.2, maturity_hours=72)
    return table, result, stg, dim, fact


def test_real_reader_keeps_the_exact_raw_format(pipeline):
    table, *_ = pipeline
    assert [list(r) for r in table.rows.select(list(CELL_COLUMNS[:10])).iter_rows()] == EXAMPLE_ROWS


@pytest.mark.filterwarnings("ignore:.*dq_flag_share_warning")  # 1 of 5 rows: withdrawn_by_other
def test_every_row_staged_none_quarantined(pipeline):
    _, result, stg, _, _ = pipeline
    assert result.quarantined.height == 0 and stg.height == 5
    StgMessageEvents.validate(stg)
    assert stg["row_number"].to_list() == [1, 2, 3, 4, 5]


def test_timestamps_parsed_as_the_spec_says(pipeline):
    _, _, stg, _, _ = pipeline
    s = stg.sort("row_number")
    got = list(zip(s["sending_time_raw"], s["sending_ts_report_local"], s["sending_ts_utc"], strict=True))
    assert got == EXPECTED_TIMES
    assert s["sending_ts_utc"].null_count() == 0
    assert set(s["report_timezone_used"]) == {"America/Denver"}
    assert s["sending_time_trailing"].null_count() == 5
    # page-zone local fields (America/New_York, Monday = 0)
    assert s["sending_ts_local"].to_list() == [
        u.astimezone(dt.timezone(dt.timedelta(hours=-4))).replace(tzinfo=None) for *_, u in EXPECTED_TIMES
    ]
    assert s["dow_local"].to_list() == [
        6,
        5,
        5,
        5,
        4,
    ]  # Sun 14, Sat 13 ×3 (02:40 UTC Sep 14 = 22:40 EDT Sep 13), Fri 12
    assert s["hod_local"].to_list() == [11, 22, 16, 1, 9]


def test_values_parsed_from_the_literal_formats(pipeline):
    _, _, stg, _, _ = pipeline
    s = stg.sort("row_number")
    assert s["price_cents"].to_list() == [0, 1500, 0, 2200, 500]
    assert s["is_free"].to_list() == [True, False, True, False, False]
    assert s["earnings_usd"].to_list() == [
        Decimal("0.00"),
        Decimal("60.00"),
        Decimal("0.00"),
        Decimal("22.00"),
        Decimal("0.00"),
    ]
    assert s["sent"].to_list() == [48215, 48190, 48170, 48102, 48098]
    assert s["purchased"].to_list() == [0, 4, 0, 1, 0]
    assert s["status"].to_list() == ["unsent", "sent", "unsent", "sent", "sent"]
    assert s["sender_std"].to_list() == ["sd nova", "sd nova", "rowan", "rowan", "sd nova"]
    assert s["withdrawn_by_std"].to_list() == ["sd nova", None, "sd nova", None, None]
    assert s["caption_text"][2] == "Did you miss me? 😘 Check your inbox & tell me what you think"  # entity unescaped
    assert "\n" in s["caption_text"][1]  # line break kept
    assert s["caption_id"][4] == caption_id("Thank you for being here 💖 a little surprise is waiting for you")  # NFKC
    # §3.3: Earnings = Price × Purchased on every row → no earnings_mismatch
    assert not s["dq_flags"].list.contains("earnings_mismatch").any()
    assert s["dq_flags"].to_list()[2] == ["withdrawn_by_other"]  # Rowan sent, SD Nova withdrew


def test_five_distinct_non_null_send_keys_in_the_fact(pipeline):
    _, _, stg, dim, fact = pipeline
    FactMessageSend.validate(fact)
    for col in ("msg_key", "message_send_key"):
        assert stg[col].null_count() == 0 and stg[col].n_unique() == 5, col
    assert fact.height == 5
    assert fact["message_send_key"].null_count() == 0 and fact["message_send_key"].n_unique() == 5
    assert set(fact["message_send_key"]) == set(stg["message_send_key"])
    assert fact["dup_ordinal"].to_list() == [1] * 5
    # every send joins its caption version (5 distinct captions)
    assert fact["caption_sk"].null_count() == 0 and dim.height == 5
    # keys follow §8 exactly
    r = stg.filter(pl.col("row_number") == 2).row(0, named=True)
    expected = sha256_hex("|".join(["luna_example__paid", "2025-09-14T02:40Z", r["caption_hash"], "1500", "sd nova"]))
    assert r["msg_key"] == expected and r["message_send_key"] == sha256_hex(f"{expected}|1")
    f = fact.sort("sending_ts_utc", descending=True)
    assert f["sending_ts_utc"].to_list() == [u for *_, u in EXPECTED_TIMES]
    assert f["send_date"].to_list() == [u.date() for *_, u in EXPECTED_TIMES]
    assert f["earnings_net_usd"].to_list() == [
        Decimal("0.00"),
        Decimal("48.00"),
        Decimal("0.00"),
        Decimal("17.60"),
        Decimal("0.00"),
    ]
