"""Scheduler assignments (10-ingestion §12; catalogue #36, #37)."""

from __future__ import annotations

import pytest

from of_scheduler_assets.layer_02_staging.reference import parse_scheduler_assignments, parse_scheduler_label

from .helpers import NOW, csv_bytes, sha


def parse(rows):
    data = csv_bytes([["scheduler_email", "username_std"], *rows], crlf=False)
    return parse_scheduler_assignments(data, file_sha256=sha(data), ingested_at=NOW)


@pytest.mark.parametrize(
    ("label", "lead", "code"),
    [
        ("Lead SD      KIT", True, "KIT"),
        ("lead sd kit", True, "KIT"),
        ("Lead   Kit", True, "KIT"),
        ("SD Kit", False, "KIT"),
        ("sd\tkit ", False, "KIT"),
        ("KIT", False, "KIT"),
        ("kit", False, "KIT"),
        ("ROWAN   b", False, "ROWAN B"),
        ("Leader", False, "LEADER"),  # not the word "Lead"
        ("SDK", False, "SDK"),  # not the "SD " prefix
        ("", False, ""),
        ("Lead SD", True, ""),
    ],
)
def test_case_36_labels(label, lead, code):
    assert parse_scheduler_label(label) == (lead, code)


def test_case_36_one_code_per_scheduler_and_missing_label_quarantined():
    parsed, q = parse(
        [
            ["Lead SD      KIT", "luna_example_paid"],
            ["sd kit", "LunaExample free"],
            ["KIT", "mia_demo"],
            ["   ", "mia_demo"],
            ["NOVA", "Ms. Ava Sample (Both Pages)"],
        ]
    )
    assert parsed["scheduler_code"].to_list() == ["KIT", "KIT", "KIT", "NOVA"]
    assert parsed["is_lead"].to_list() == [True, False, False, False]
    assert parsed["scheduler_label"][0] == "Lead SD KIT"
    assert parsed["row_number"].to_list() == [1, 2, 3, 5]
    assert q.select("row_number", "reason_code", "source_kind").rows() == [
        (4, "missing_scheduler", "scheduler_assignments")
    ]
    assert q["is_replayable"].to_list() == [False]
    # page names are normalised, not resolved
    assert parsed["compact_key"].to_list() == ["lunaexample", "lunaexample", "miademo", "msavasample"]
    assert parsed["page_type_token"].to_list() == ["paid", "free", None, None]
    assert parsed["both_marker"].to_list() == [False, False, False, True]
    assert parsed.height + q.height == 5  # conservation


def test_lf_only_file_without_page_column():
    data = b"scheduler_email\nNOVA\n"
    parsed, q = parse_scheduler_assignments(data, file_sha256=sha(data), ingested_at=NOW)
    assert parsed["scheduler_code"].to_list() == ["NOVA"] and parsed["page_name_raw"].to_list() == [""]
