"""Page-name resolution (10-ingestion §6.2/§6.3; catalogue cases 16, 17, 18, 37)."""

from __future__ import annotations

import polars as pl
import pytest

from of_scheduler_assets.layer_02_staging.pages import levenshtein, resolve_page_names

PAGES = pl.DataFrame(
    {
        "username_std": ["luna_example", "luna_example", "mia_demo", "ava_sample", "ava_sample"],
        "page_type": ["paid", "free", "paid", "paid", "free"],
        "username_page": ["luna_example__paid", "luna_example__free", "mia_demo__paid", "", None],
    }
)
NO_ALIASES = pl.DataFrame(
    schema={
        "alias": pl.String,
        "username_std": pl.String,
        "page_type": pl.String,
        "source": pl.String,
        "note": pl.String,
        "valid_from": pl.Date,
    }
)


def aliases(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"alias": a, "username_std": u, "page_type": t, "source": "manual", "note": None, "valid_from": None}
            for a, u, t in rows
        ],
        schema=NO_ALIASES.schema,
    )


def resolve(
    names: list[str],
    alias_frame: pl.DataFrame = NO_ALIASES,
    stats_hint: pl.DataFrame | None = None,
    source: str = "email",
) -> dict[str, dict]:
    frame = pl.DataFrame({"name_raw": names, "source": [source] * len(names)})
    out = resolve_page_names(frame, alias_frame, PAGES, stats_hint)
    assert out.height == len(set(names))
    return {r["name_raw"]: r for r in out.to_dicts()}


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Luna Example Paid", "luna_example__paid"),
        ("luna_example_paid_page", "luna_example__paid"),
        ("Luna Example's Paid Page", "luna_example__paid"),
        ("Luna Example (paid) 💕", "luna_example__paid"),
        ("  LUNA   EXAMPLE   PAID ", "luna_example__paid"),
        ("Luna.Example-PAID.xlsx", "luna_example__paid"),
        ("LUNAEXAMPLE FREE", "luna_example__free"),
        ("Lúna Example Free", "luna_example__free"),
        ("Mia Demo (paid)", "mia_demo__paid"),
        ("Mia Demo", "mia_demo__paid"),  # the creator's only page
    ],
)
def test_case16_name_variants_resolve_to_the_same_page(name, expected):
    row = resolve([name])[name]
    assert row["username_page"] == expected
    assert row["resolution"] == "resolved"
    assert row["identity_source"] == "dim_page"
    assert row["reason_code"] is None


def test_case17_both_marker_and_bare_name_are_ambiguous_until_an_alias_pins_them():
    names = ["Ms. Ava Sample (Both Pages)", "Luna Example"]
    out = resolve(names)
    for name in names:
        assert out[name]["reason_code"] == "ambiguous_page"
        assert out[name]["resolution"] == "needs_alias"
        assert out[name]["username_page"] is None
    # an alias with a page_type pins the page (the replay after the alias is added resolves)
    pinned = resolve(
        names, aliases(("Ms Ava Sample Both", "ava_sample", "paid"), ("Luna Example", "luna_example", "free"))
    )
    ava = pinned["Ms. Ava Sample (Both Pages)"]
    assert (ava["username_page"], ava["identity_source"], ava["resolution"]) == (
        "ava_sample__paid",
        "alias",
        "resolved",
    )
    assert pinned["Luna Example"]["username_page"] == "luna_example__free"
    # an alias without page_type does not pin a *both* name
    unpinned = resolve(names[:1], aliases(("Ms Ava Sample", "ava_sample", None)))
    assert unpinned[names[0]]["reason_code"] == "ambiguous_page"


def test_case18_unknown_well_formed_name_registers_a_provisional_page():
    out = resolve(["Zoe New Paid", "Lunna Example Paid"])
    zoe = out["Zoe New Paid"]
    assert (zoe["username_std"], zoe["page_type"], zoe["username_page"]) == ("zoe_new", "paid", "zoe_new__paid")
    assert (zoe["identity_source"], zoe["resolution"], zoe["reason_code"]) == ("auto", "auto_registered", None)
    typo = out["Lunna Example Paid"]
    # never fuzzy-merged: the typo becomes its own provisional page, the near name is only suggested
    assert typo["username_page"] == "lunna_example__paid"
    assert typo["resolution"] == "auto_registered"
    assert typo["suggestions"] == ["luna_example"]


def test_suggestions_only_within_distance_two_and_never_for_resolved_rows():
    out = resolve(["Luna Exampel Paid", "Lxnx Exxmple Paid", "Luna Example Paid"])
    assert out["Luna Exampel Paid"]["suggestions"] == ["luna_example"]  # distance 2 (transposition = 2 edits)
    assert out["Lxnx Exxmple Paid"]["suggestions"] == []  # distance 3
    assert out["Luna Example Paid"]["suggestions"] == []
    assert levenshtein("luna_exampel", "luna_example") == 2


def test_case37_compact_key_equal_across_systems_but_no_first_name_matching():
    out = resolve(
        ["luna_example paid", "LunaExample Paid", "Luna Example PAID", "luna__example paid", "Luna Paid", "Mia Paid"]
    )
    for name in ("luna_example paid", "LunaExample Paid", "Luna Example PAID", "luna__example paid"):
        assert out[name]["compact_key"] == "lunaexample"
        assert out[name]["username_page"] == "luna_example__paid"
    # a shared first name never matches a known creator: it is its own provisional page
    assert out["Luna Paid"]["username_page"] == "luna__paid"
    assert out["Luna Paid"]["resolution"] == "auto_registered"
    assert out["Mia Paid"]["username_page"] == "mia__paid"


def test_alias_compact_key_lookup_comes_first_and_token_applies_without_pin():
    out = resolve(["Lulu X Paid", "LULU-X free", "Lulu X"], aliases(("lulu_x", "luna_example", None)))
    assert out["Lulu X Paid"]["username_page"] == "luna_example__paid"
    assert out["LULU-X free"]["username_page"] == "luna_example__free"
    assert out["Lulu X Paid"]["identity_source"] == "alias"
    # no token, no pin, creator has two pages -> unresolved
    assert out["Lulu X"]["reason_code"] == "ambiguous_page"


def test_explicit_token_beats_stats_inference_and_types_are_never_merged():
    hint = pl.DataFrame(
        {"compact_key": ["zoenew", "kimnew", "twonew", "twonew"], "is_paid_like": [False, True, True, False]}
    )
    out = resolve(["Zoe New Paid", "Kim New", "Two New", "Solo New", "Luna Example VIP"], stats_hint=hint)
    assert out["Zoe New Paid"]["page_type"] == "paid"  # token beats the free-looking stats
    assert out["Kim New"]["username_page"] == "kim_new__paid"  # unknown creator: stats decide
    assert out["Kim New"]["resolution"] == "auto_registered"
    assert out["Two New"]["reason_code"] == "ambiguous_page"  # conflicting stats: not inferable
    assert out["Solo New"]["reason_code"] == "ambiguous_page"  # no token, no stats
    vip = out["Luna Example VIP"]
    assert vip["username_page"] == "luna_example__vip"  # not merged into the paid/free pages
    assert vip["identity_source"] == "auto"


def test_stats_hint_is_not_used_for_known_creators_with_several_pages():
    hint = pl.DataFrame({"compact_key": ["lunaexample"], "is_paid_like": [True]})
    assert resolve(["Luna Example"], stats_hint=hint)["Luna Example"]["reason_code"] == "ambiguous_page"


def test_empty_key_is_page_name_not_found():
    out = resolve(["", "Paid Page", "💕 (free)"])
    for name in out:
        assert out[name]["reason_code"] == "page_name_not_found"
        assert out[name]["resolution"] == "needs_alias"


def test_username_page_falls_back_to_rule_when_pages_column_empty_and_output_distinct_per_source():
    frame = pl.DataFrame(
        {
            "name_raw": ["Ava Sample Free", "Ava Sample Free", "Ava Sample Free"],
            "source": ["email", "email", "creator_stats"],
        }
    )
    out = resolve_page_names(frame, NO_ALIASES, PAGES)
    assert out.height == 2
    assert out.get_column("username_page").to_list() == ["ava_sample__free", "ava_sample__free"]
    assert list(out.columns) == [
        "name_raw",
        "source",
        "alias_key",
        "compact_key",
        "page_type_token",
        "both_marker",
        "several_page_types",
        "username_std",
        "page_type",
        "username_page",
        "identity_source",
        "resolution",
        "reason_code",
        "suggestions",
    ]
    assert out.schema["suggestions"] == pl.List(pl.String)


def test_several_page_type_tokens_first_of_vip_paid_free_wins_and_is_reported():
    row = resolve(["Luna Example Free Paid"])["Luna Example Free Paid"]
    assert row["page_type"] == "paid"
    assert row["several_page_types"] is True


def test_a_pinning_alias_releases_both_pages_and_bare_names_despite_unpinned_spellings():
    # The creator's usual spellings are unpinned (their page-type token decides); a reviewer then pins the
    # "(Both Pages)" phrasing to one page (catalogue #17, replay after an alias is added).
    aliases = pl.DataFrame(
        {
            "alias": ["Mia Hart Free", "Mia Hart Paid", "Mia Hart (Both Pages)"],
            "username_std": ["mia_hart", "mia_hart", "mia_hart"],
            "page_type": [None, None, "paid"],
        }
    )
    pages = pl.DataFrame(
        {"username_std": ["mia_hart", "mia_hart"], "page_type": ["free", "paid"], "username_page": ["mia_hart__free", "mia_hart__paid"]}
    )
    names = pl.DataFrame({"name_raw": ["Mia Hart (Both Pages)", "Mia Hart Free", "Mia Hart"], "source": ["email"] * 3})
    out = {r["name_raw"]: r for r in resolve_page_names(names, aliases, pages).iter_rows(named=True)}
    assert out["Mia Hart (Both Pages)"]["username_page"] == "mia_hart__paid"
    assert out["Mia Hart Free"]["username_page"] == "mia_hart__free"  # an explicit token still beats the pin
    assert out["Mia Hart"]["username_page"] == "mia_hart__paid"  # same compact key as the pinned alias
