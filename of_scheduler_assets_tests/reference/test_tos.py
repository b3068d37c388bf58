"""TOS rules of 10-ingestion §10.4 and the fixed step-parent allowlist (catalogue #34)."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from of_scheduler_assets.layer_02_staging import tos
from of_scheduler_assets.layer_02_staging.tos import RULES, RULES_VERSION, evaluate_text, evaluate_tos

# One crafted text per pattern: (rule_id, pattern index, text). Each must fire exactly that rule's pattern first.
CRAFTED = [
    ("A1_familial_direct", 0, "Incest fantasy video"),
    ("A1_familial_direct", 1, "Naughty daughter roleplay"),
    ("A1_familial_direct", 2, "Mom and Son roleplay"),
    ("A1_familial_direct", 3, "dad and daughter night"),
    ("A2_parental", 0, "Father knows best"),
    ("A2_parental", 1, "my dad stepped out"),  # "step" after "dad" stops pattern 0, pattern 1 still fires
    ("A3_underage_numeric", 0, "Pretend I'm 17 yo again"),
    ("A3_underage_numeric", 1, "Dressed like I was 16 and\nso old fashioned"),
    ("A4_underage_terms", 0, "Teen girl nude set"),
    ("A4_underage_terms", 1, "Jailbait vibes"),
    ("A4_underage_terms", 2, "Schoolgirl outfit sex tape"),
    ("B1_rape", 0, "raped fantasy"),
    ("B1_rape", 1, "the rapist scene"),
    ("B2_force", 0, "Forced roleplay"),
    ("B2_force", 1, "non-consensual roleplay"),
    ("B2_force", 2, "taken against her will"),
    ("B3_coercion", 0, "Blackmail roleplay"),
    ("B3_coercion", 1, "passed out then sex"),
    ("C1_fan_sex", 0, "I want to fuck a lucky fan and meet him"),
    ("C1_fan_sex", 1, "let's meet up, my biggest fan"),
    ("C1_fan_sex", 2, "Fan meetup this weekend"),
    ("D1_urine", 0, "golden shower video"),
    ("D2_scat", 0, "Scat play request"),
    ("D3_vomit", 0, "vomit play"),
    ("E1_animals", 0, "zoophilia"),
    ("E1_animals", 1, "dog mount"),
]


def test_rule_table_is_the_spec_table():
    assert [r.rule_id for r in RULES] == [
        "A1_familial_direct",
        "A2_parental",
        "A3_underage_numeric",
        "A4_underage_terms",
        "B1_rape",
        "B2_force",
        "B3_coercion",
        "C1_fan_sex",
        "D1_urine",
        "D2_scat",
        "D3_vomit",
        "E1_animals",
    ]
    assert sum(len(r.patterns) for r in RULES) == 26
    assert RULES[1].patterns[0] == r"\b(mother|father|mom|dad)\b(?!.*step)"
    assert RULES_VERSION


@pytest.mark.parametrize(("rule_id", "idx", "text"), CRAFTED)
def test_every_rule_fires_on_a_crafted_text(rule_id, idx, text):
    res = evaluate_text(text)
    assert rule_id in res.rule_ids
    patterns = next(r for r in RULES if r.rule_id == rule_id).patterns
    assert re.search(patterns[idx], text.lower(), re.IGNORECASE | re.DOTALL)  # the crafted pattern itself matches
    first = next(p for p in patterns if re.search(p, text.lower(), re.IGNORECASE | re.DOTALL))
    assert f"{rule_id}: {first}" in res.reasons  # only the first matching pattern of the rule is recorded
    assert sum(r.startswith(rule_id + ":") for r in res.reasons) == 1


def test_first_matching_pattern_wins_within_a_rule():
    # "mom and son" also matches the earlier \b(son|...)\b pattern, which is the one recorded
    res = evaluate_text("Mom and son roleplay")
    assert r"A1_familial_direct: \b(son|daughter|stepdaughter|stepson)\b" in res.reasons


def test_every_pattern_is_covered_by_a_crafted_text():
    covered = {(rid, i) for rid, i, _ in CRAFTED}
    assert covered == {(r.rule_id, i) for r in RULES for i in range(len(r.patterns))}


def test_clean_texts_stay_clean():
    for text in ("Good morning! ☕ Who wants to start the day with me? 💕", "Unlock my new beach set 🌊", "", None):
        assert evaluate_text(text).rule_ids == []


def test_patterns_run_dotall_across_line_breaks():
    assert "D2_scat" in evaluate_text("so much shit\nto play with").rule_ids


def test_case_34_step_mom_wording_with_a1_only_is_cleared():
    text = "Stepmom fantasy with her stepson, full video 🔥"
    res = evaluate_text(text)
    assert res.raw_rule_ids == ["A1_familial_direct"]  # it did trip A1 ...
    assert res.rule_ids == [] and res.allowlist_cleared  # ... and the allowlist cleared it
    assert evaluate_tos(pl.Series([text]))["tos_status"].to_list() == ["clean"]


def test_step_mom_with_a2_wording_is_cleared():
    res = evaluate_text("My step mom caught me filming 😳 unlock")
    assert "A2_parental" in res.raw_rule_ids and res.rule_ids == []


def test_case_34_a3_plus_step_parent_stays_flagged():
    res = evaluate_text("My 17 yo step mom fantasy 😈 unlock")
    assert res.rule_ids == ["A3_underage_numeric"]  # A2 cleared, A3 never
    assert "A2_parental" in res.raw_rule_ids


def test_a4_is_never_cleared_by_the_allowlist():
    res = evaluate_text("stepmom and her underage friend")
    assert res.rule_ids == ["A4_underage_terms"]


def test_my_real_mom_stays_flagged():
    res = evaluate_text("my step mom is not my real mom")
    assert "A2_parental" in res.rule_ids and not res.allowlist_cleared


@pytest.mark.parametrize("blocker", ["biological", "blood", "actual", "my real"])
def test_blood_words_block_the_allowlist(blocker):
    assert evaluate_text(f"stepmom and her {blocker} son").rule_ids


@pytest.mark.parametrize("relative", ["sister", "brother", "cousin", "daughter", "mother", "aunt"])
def test_listed_relatives_block_the_allowlist(relative):
    res = evaluate_text(f"stepmom and her {relative}")
    assert res.rule_ids and not res.allowlist_cleared


def test_allowlist_does_not_clear_non_a_rules():
    res = evaluate_text("stepmom forced fantasy")
    assert res.rule_ids == ["B2_force"]


def test_evaluate_tos_frame_shape_and_join():
    texts = pl.Series(["Blackmail roleplay", "hello there", None, "Blackmail roleplay", "Father and dad"])
    out = evaluate_tos(texts)
    assert out.height == 5
    assert out["text"].to_list() == texts.to_list()
    assert out.schema["violation_rule_ids"] == pl.List(pl.String)
    assert out["tos_status"].to_list() == ["flagged", "clean", "clean", "flagged", "flagged"]
    assert out["violation_reasons"][4] == r"A2_parental: \b(mother|father|mom|dad)\b(?!.*step)"
    assert out["violation_reasons"][1] == ""
    multi = evaluate_tos(pl.Series(["Mom and son blackmail"]))
    assert multi["violation_rule_ids"][0].to_list() == ["A1_familial_direct", "A2_parental", "B3_coercion"]
    assert multi["violation_reasons"][0].count("; ") == 2


def test_evaluate_tos_evaluates_each_distinct_text_once(monkeypatch):
    calls: list[str | None] = []
    real = tos.evaluate_text

    def spy(text, rule_ids=None):
        calls.append(text)
        return real(text, rule_ids)

    monkeypatch.setattr(tos, "evaluate_text", spy)
    out = tos.evaluate_tos(pl.Series(["a b c", "forced", "a b c", "forced", "forced"]))
    assert calls == ["forced"]  # once per distinct text; "a b c" has no rule keyword and is not searched at all
    assert out["tos_status"].to_list() == ["clean", "flagged", "clean", "flagged", "flagged"]


def test_prefilter_keeps_python_ignorecase_equivalents():
    # Python's IGNORECASE equates dotless ı with i and long ſ with s: the prefilter must not hide these hits
    out = evaluate_tos(pl.Series(["kıdnap roleplay", "her ſon"]))
    assert out["violation_rule_ids"].to_list() == [["B3_coercion"], ["A1_familial_direct"]]


def test_every_rule_has_prefilter_keywords():
    assert set(tos.RULE_KEYWORDS) == set(tos.RULE_IDS)


_soup = st.lists(
    st.one_of(
        st.sampled_from(
            [kw for kws in tos.RULE_KEYWORDS.values() for kw in kws]
            + [
                "step mom",
                "stepmom",
                "my real",
                "sex",
                "fuck",
                "play",
                "old",
                "yo",
                "year",
                "will",
                "her",
                "up",
                "meet",
                "and",
                "\n",
                " ",
                "ı",
                "ſ",
                "1",
                "7",
                "-",
                "Ø",
                "İ",
            ]
        ),
        st.text(max_size=4),
    ),
    max_size=12,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_soup, max_size=8))
def test_property_prefiltered_evaluation_equals_exhaustive(texts):
    fast = evaluate_tos(pl.Series(texts, dtype=pl.String))
    for text, ids, reasons, status in zip(
        texts, fast["violation_rule_ids"].to_list(), fast["violation_reasons"], fast["tos_status"], strict=True
    ):
        full = evaluate_text(text)  # no prefilter: every rule searched
        assert ids == full.rule_ids
        assert reasons == "; ".join(full.reasons)
        assert status == ("flagged" if full.rule_ids else "clean")


def test_styled_and_full_width_letters_cannot_slip_past_a_rule():
    # caption identity folds these variants into one caption (NFKC + casefold), so the rules must see them too
    for text in ("𝒻𝑜𝓇𝒸𝑒𝒹 to watch", "ＦＯＲＣＥＤ to watch", "𝐛𝐫𝐨𝐭𝐡𝐞𝐫 and me"):
        assert evaluate_text(text).rule_ids, text
    assert evaluate_tos(pl.Series(["𝒻𝑜𝓇𝒸𝑒𝒹 to watch"]))["tos_status"].to_list() == ["flagged"]
    # the step-parent allowlist must hold on every form: a styled relative word keeps A1 from being cleared
    assert "A1_familial_direct" in evaluate_text("stepmom and her 𝐬𝐨𝐧").rule_ids
    assert evaluate_text("my ｓｔｅｐｍｏｍ is watching").rule_ids == []
