"""caption_bank_last_use (10-ingestion §10.2 last paragraph): the caption logger's last use resolved to pages by §6,
*both* = both pages of the creator, TEST and unresolvable names seed nothing."""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.checks.contracts import validate_contract
from of_scheduler_assets.identity import caption_id
from of_scheduler_assets.layer_03_foundation.bank_last_use import caption_bank_last_use, resolve_last_use_pages
from of_scheduler_assets.layer_03_foundation.schemas import CaptionBankLastUse
from of_scheduler_assets_tests.foundation.helpers import bank, bank_row, ts

PAGES = pl.DataFrame(
    {
        "username_std": ["luna_example", "luna_example", "mia_demo", "ava_sample", "ava_sample", "ava_sample",
                         "zoe_star", "zoe_star"],
        "page_type": ["paid", "free", "paid", "paid", "free", "vip", "vip", "free"],
    }
).with_columns(username_page=pl.col("username_std") + "__" + pl.col("page_type"))  # fmt: skip
ALIASES = pl.DataFrame(
    {"alias": ["Ms. Ava", "Ava Sample Paid"], "username_std": ["ava_sample", "ava_sample"], "page_type": ["paid", None],
     "source": ["caption_logger", "email"], "note": [None, None], "valid_from": [None, None]},
    schema_overrides={"page_type": pl.String, "note": pl.String, "valid_from": pl.Date},
)  # fmt: skip


def _used(text: str, page: str | None, when: dt.datetime | None) -> dict:
    return bank_row(text, bank_last_used_ts_utc=when, bank_last_used_page_raw=page)


def _pairs(table: pl.DataFrame) -> dict[tuple[str, str], dt.datetime]:
    return {(p, c): t for p, c, t in table.iter_rows()}


def test_pages_resolved_by_section_6_and_both_means_both_pages():
    stg = bank(
        _used("one", "Luna Example (Both Pages)", ts(3)),  # both: paid and free of the creator
        _used("two", "Mia Demo Paid", ts(4)),
        _used("three", "Ms Ava (Both Pages)", ts(5)),  # via the alias; vip is not one of the two pages
        _used("four", "ZOE STAR (both pages)", ts(6)),  # no paid page: the vip page stands in
        _used("five", "mia demo", ts(7)),  # no token: the creator's only page
    )
    table, unresolved = caption_bank_last_use(stg, ALIASES, PAGES)
    one, two, three, four, five = (caption_id(t) for t in ("one", "two", "three", "four", "five"))
    assert _pairs(table) == {
        ("luna_example__free", one): ts(3), ("luna_example__paid", one): ts(3),
        ("mia_demo__paid", two): ts(4),
        ("ava_sample__free", three): ts(5), ("ava_sample__paid", three): ts(5),
        ("zoe_star__free", four): ts(6), ("zoe_star__vip", four): ts(6),
        ("mia_demo__paid", five): ts(7),
    }  # fmt: skip
    assert table.columns == ["username_page", "caption_id", "bank_last_used_ts_utc"]
    assert table.select("username_page", "caption_id").rows() == sorted(
        table.select("username_page", "caption_id").rows()
    )
    assert unresolved.is_empty()
    assert validate_contract(CaptionBankLastUse, table)[0]


def test_test_and_unresolvable_pages_seed_nothing_and_are_listed():
    stg = bank(
        _used("test row", "TEST", ts(3)),
        _used("unknown page", "Nobody Known Paid", ts(3)),  # §6.3 would register a page: the bank never does
        _used("unknown creator", "Nobody Known (Both Pages)", ts(3)),
        _used("ambiguous", "Luna Example", ts(3)),  # two pages, no token, no alias pin
        _used("no page", None, ts(3)),
        _used("no date", "Mia Demo Paid", None),
        _used("empty key", "(Both Pages)", ts(3)),
        _used("fine", "Mia Demo Paid", ts(9)),
    )
    table, unresolved = caption_bank_last_use(stg, ALIASES, PAGES)
    assert _pairs(table) == {("mia_demo__paid", caption_id("fine")): ts(9)}
    reasons = {n: r for n, r, _ in unresolved.iter_rows()}
    assert reasons == {
        "TEST": "test_page", "Nobody Known Paid": "unknown_page", "Nobody Known (Both Pages)": "unknown_creator",
        "Luna Example": "ambiguous_page", "(Both Pages)": "unknown_creator",
    }  # fmt: skip
    assert unresolved["bank_rows"].to_list() == [1, 1, 1, 1, 1]


def test_latest_use_per_page_and_caption():
    # one caption named on the same page by a plain and a both name (e.g. two bank generations): the latest wins
    rows = bank(_used("same", "Luna Example Paid", ts(3)), _used("same", "Luna Example (both pages)", ts(8)),
                _used("same", "Luna Example Free", ts(9)))  # fmt: skip
    table, _ = caption_bank_last_use(rows, ALIASES, PAGES)
    cid = caption_id("same")
    assert _pairs(table) == {("luna_example__paid", cid): ts(8), ("luna_example__free", cid): ts(9)}
    assert validate_contract(CaptionBankLastUse, table)[0]


def test_no_bank_gives_the_empty_table():
    table, unresolved = caption_bank_last_use(None, None, PAGES)
    assert table.is_empty() and table.columns == ["username_page", "caption_id", "bank_last_used_ts_utc"]
    assert unresolved.is_empty()
    assert resolve_last_use_pages(pl.Series([], dtype=pl.String), None, PAGES).is_empty()
