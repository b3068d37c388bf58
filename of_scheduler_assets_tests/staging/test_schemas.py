"""The pandera contracts accept staged fixture output and reject corrupted copies (20-warehouse §2.2)."""

from __future__ import annotations

import pandera.errors as pe
import polars as pl
import pytest

from of_scheduler_assets.layer_02_staging.schemas import QuarantineRows, StgMessageEvents, dq_flag_share
from of_scheduler_assets_tests.staging.helpers import stage

ROWS = [
    {},
    {
        "sending_time": "Sep 12, 2025 at 11:30 PM",
        "price": "-",
        "earnings": "$0.00",
        "purchased": "0",
        "status": "unsent",
        "withdrawn_by": "Rowan",
    },
    {"message": "", "price": "$9.00", "sending_time": "45913.5"},
    {"sending_time": "Aug 25, 2025 at 11:00 AM SD Kit", "viewed": None},
    {"sending_time": "garbage"},
    {"price": "(5.00)"},
    {"message": "Total", "sending_time": None},
]


@pytest.fixture(scope="module")
def result():
    return stage(ROWS)


def test_contract_passes_on_fixture_output(result):
    assert result.staged.height == 4 and result.quarantined.height == 3
    StgMessageEvents.validate(result.staged, lazy=True)
    QuarantineRows.validate(result.quarantined, lazy=True)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda df: df.with_columns(pl.lit("CAP_XYZ").alias("caption_id")),
        lambda df: df.with_columns(pl.lit(-1, pl.Int64).alias("price_cents")),
        lambda df: df.with_columns(pl.lit(100_001, pl.Int64).alias("price_cents"), pl.lit(False).alias("is_free")),
        lambda df: df.with_columns(pl.lit(-3, pl.Int64).alias("sent")),
        lambda df: df.with_columns(pl.lit(7, pl.Int64).alias("dow_local")),
        lambda df: df.with_columns(pl.lit(24, pl.Int64).alias("hod_local")),
        lambda df: df.with_columns(pl.lit("premium").alias("page_type")),
        lambda df: df.with_columns(pl.lit(None, pl.String).alias("username_page")),
        lambda df: df.with_columns(pl.lit(None, pl.String).alias("msg_key")),
        lambda df: df.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("sending_ts_utc")),
        lambda df: df.with_columns(pl.col("message_send_key").first()),  # not unique per report
        lambda df: df.drop("dq_flags"),
        lambda df: df.select(reversed(df.columns)),
    ],
)
def test_contract_fails_on_corrupted_copy(result, corrupt):
    with pytest.raises((pe.SchemaError, pe.SchemaErrors)):
        StgMessageEvents.validate(corrupt(result.staged), lazy=True)


def test_message_send_key_may_repeat_across_reports(result):
    other = result.staged.with_columns(pl.lit("m2").alias("message_id"))
    StgMessageEvents.validate(pl.concat([result.staged, other]), lazy=True)


def test_quarantine_contract_fails_on_corrupted_copy(result):
    with pytest.raises((pe.SchemaError, pe.SchemaErrors)):
        QuarantineRows.validate(result.quarantined.with_columns(pl.lit("bogus").alias("reason_code")), lazy=True)
    with pytest.raises((pe.SchemaError, pe.SchemaErrors)):
        QuarantineRows.validate(
            result.quarantined.with_columns(pl.lit(None, pl.Boolean).alias("is_replayable")), lazy=True
        )


def test_dq_flag_share_above_five_percent_only_warns(result):
    # fixture: 3 of 4 staged rows carry flags (withdrawn_by_other, time_trailing_text + missing_count, ...)
    assert dq_flag_share(result.staged) == 0.75
    with pytest.warns(UserWarning, match="dq_flags"):
        StgMessageEvents.validate(result.staged, lazy=True)
    clean = result.staged.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("dq_flags"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StgMessageEvents.validate(clean, lazy=True)
