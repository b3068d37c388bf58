"""pandera contracts of the reference staging frames accept real outputs and reject broken ones."""

from __future__ import annotations

import pandera.errors as pe
import polars as pl
import pytest

from of_scheduler_assets.layer_02_staging import reference_schemas as S
from of_scheduler_assets.layer_02_staging.reference import (
    build_stg_caption_bank,
    parse_caption_bank_file,
    parse_creator_stats,
    parse_scheduler_assignments,
)

from .helpers import NOW, STATS_HEADER, bank_file, bank_row, csv_bytes, logger_file, logger_row, sha, stats_row


@pytest.fixture
def bank():
    a = bank_file([bank_row("Unlock my beach set"), bank_row("Blackmail roleplay night"), bank_row("")])
    b = logger_file([logger_row("unlock my  beach set", page="Luna Example Paid", last="2026-01-02 10:00")])
    files = [
        parse_caption_bank_file(a, file_name="bank_ppv.csv", file_sha256=sha(a), arrival_order=0),
        parse_caption_bank_file(b, file_name="caption_logger_bump.csv", file_sha256=sha(b), arrival_order=1),
    ]
    return build_stg_caption_bank(files, checked_at=NOW, ingestion_run_id="r")


def test_outputs_validate(bank):
    stg, audit, q = bank
    S.StgCaptionBank.validate(stg)
    S.TosAuditRows.validate(audit)
    S.QuarantineRows.validate(q)
    stats = csv_bytes([STATS_HEADER, stats_row("2025/09/08", "Luna Example Paid")])
    parsed, sq = parse_creator_stats(stats, file_sha256=sha(stats), ingested_at=NOW)
    S.ParsedCreatorStats.validate(parsed)
    S.QuarantineRows.validate(sq)
    asg = csv_bytes([["scheduler_email", "username_std"], ["SD kit", "luna_example_paid"], ["", "x"]])
    pa_, aq = parse_scheduler_assignments(asg, file_sha256=sha(asg), ingested_at=NOW)
    S.ParsedSchedulerAssignments.validate(pa_)
    S.QuarantineRows.validate(aq)
    assert aq.height == 1 and sq.height == 0 and q.height == 1 and audit.height == 1


def test_duplicate_caption_hash_is_rejected(bank):
    stg, _, _ = bank
    with pytest.raises(pe.SchemaError):
        S.StgCaptionBank.validate(pl.concat([stg, stg]))


def test_flagged_without_rules_is_rejected(bank):
    stg, _, _ = bank
    broken = stg.with_columns(tos_status=pl.lit("flagged"))
    with pytest.raises(pe.SchemaError):
        S.StgCaptionBank.validate(broken)


def test_bad_caption_id_and_missing_column_are_rejected(bank):
    stg, audit, _ = bank
    with pytest.raises(pe.SchemaError):
        S.StgCaptionBank.validate(stg.with_columns(caption_id=pl.lit("CAP_XYZ")))
    with pytest.raises(pe.SchemaError):
        S.TosAuditRows.validate(audit.drop("rules_version"))


def test_lowercase_scheduler_code_is_rejected():
    asg = csv_bytes([["scheduler_email", "username_std"], ["SD kit", "luna_example_paid"]])
    parsed, _ = parse_scheduler_assignments(asg, file_sha256=sha(asg), ingested_at=NOW)
    with pytest.raises(pe.SchemaError):
        S.ParsedSchedulerAssignments.validate(parsed.with_columns(scheduler_code=pl.lit("kit")))
