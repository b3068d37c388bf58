"""page_overrides / active_overrides seeds: typing of the text and their pandera contracts."""

from __future__ import annotations

import datetime as dt

import pandera.errors
import polars as pl
import pytest

from of_scheduler_assets.ops_config.override_schemas import ActiveOverrides, PageOverrides
from of_scheduler_assets.ops_config.overrides import (
    ACTIVE_OVERRIDES_SCHEMA,
    PAGE_OVERRIDES_SCHEMA,
    active_overrides,
    page_overrides,
)
from of_scheduler_assets.resources.seeds import SeedsResource, parse_seed

UTC = dt.UTC


def _seed(name: str, text: str):
    return parse_seed(name, text.encode(), "test")


@pytest.mark.parametrize(
    ("name", "typer", "model", "schema"),
    [
        ("page_overrides", page_overrides, PageOverrides, PAGE_OVERRIDES_SCHEMA),
        ("active_overrides", active_overrides, ActiveOverrides, ACTIVE_OVERRIDES_SCHEMA),
    ],
)
def test_packaged_seed_is_a_typed_empty_table_that_passes_its_contract(name, typer, model, schema):
    seed = SeedsResource().read(name)
    assert seed.source == f"package:seeds/{name}.csv"
    frame = typer(seed)
    assert frame.height == 0
    assert frame.schema == pl.Schema(schema)
    model.validate(frame)
    # a zero-byte override file (no header at all) is an empty table too, not one null row
    empty = typer(parse_seed(name, b"", "empty"))
    assert empty.height == 0 and empty.schema == pl.Schema(schema)
    model.validate(empty)


def test_page_overrides_are_typed():
    frame = page_overrides(
        _seed(
            "page_overrides",
            "username_page,tier_override,assigned_scheduler_code,local_min_hour,local_max_hour,max_explicitness,"
            "tz,report_tz,note,updated_at\n"
            "alice__paid, med ,sch1,8,x,2,Europe/Paris,,vip client,2026-03-01T10:00:00+02:00\n"
            "bob__free,,,,,,,,,2026-03-02\n"
            "carol__vip,power,,,,,,,,2026-03-03 04:05:06\n"
            "dave__paid,low,,,,,,,,2026-03-04T01:00:00Z\n",
        )
    )
    assert frame.schema == pl.Schema(PAGE_OVERRIDES_SCHEMA)
    assert frame["tier_override"].to_list() == ["MED", None, "POWER", "LOW"]
    assert frame["assigned_scheduler_code"].to_list() == ["SCH1", None, None, None]
    assert frame["local_min_hour"].to_list() == [8, None, None, None]
    assert frame["local_max_hour"].to_list() == [None, None, None, None]  # "x" is not an hour
    assert frame["max_explicitness"].to_list() == [2, None, None, None]
    assert frame["tz"].to_list() == ["Europe/Paris", None, None, None]
    assert frame["report_tz"].to_list() == [None, None, None, None]  # blank is null
    assert frame["updated_at"].to_list() == [
        dt.datetime(2026, 3, 1, 8, tzinfo=UTC),  # offset honoured
        dt.datetime(2026, 3, 2, tzinfo=UTC),  # a date is midnight UTC
        dt.datetime(2026, 3, 3, 4, 5, 6, tzinfo=UTC),  # naive is UTC
        dt.datetime(2026, 3, 4, 1, tzinfo=UTC),
    ]
    assert set(frame["seed_source"]) == {"test"} and len(frame["seed_sha256"][0]) == 64
    PageOverrides.validate(frame)


def test_active_overrides_are_typed():
    frame = active_overrides(
        _seed(
            "active_overrides",
            "username_page,include,note,updated_at\n"
            "alice__paid,true,,2026-03-01\nbob__free,1,,\ncarol__vip,Yes,,\ndave__paid,false,paused,\neve__free,0,,\n",
        )
    )
    assert frame.schema == pl.Schema(ACTIVE_OVERRIDES_SCHEMA)
    assert frame["include"].to_list() == [True, True, True, False, False]
    assert frame["note"].to_list() == [None, None, None, "paused", None]
    ActiveOverrides.validate(frame)


@pytest.mark.parametrize(
    "row",
    [
        "alice__paid,ULTRA,,,,,,,,",  # unknown tier
        "alice__paid,,,24,,,,,,",  # hour out of range
        "alice__paid,,,,,4,,,,",  # explicitness out of range
        "Alice Paid,,,,,,,,,",  # not a username_page
        "alice__main,,,,,,,,,",  # legacy page-type label
        ",LOW,,,,,,,,",  # missing key
    ],
)
def test_page_overrides_contract_rejects_bad_rows(row):
    header = "username_page,tier_override,assigned_scheduler_code,local_min_hour,local_max_hour,max_explicitness,tz,report_tz,note,updated_at\n"
    frame = page_overrides(_seed("page_overrides", header + row + "\n"))
    with pytest.raises(pandera.errors.SchemaError):
        PageOverrides.validate(frame)


def test_active_overrides_contract_rejects_a_blank_include():
    frame = active_overrides(_seed("active_overrides", "username_page,include,note,updated_at\nalice__paid,,,\n"))
    assert frame["include"].to_list() == [None]
    with pytest.raises(pandera.errors.SchemaError):
        ActiveOverrides.validate(frame)
