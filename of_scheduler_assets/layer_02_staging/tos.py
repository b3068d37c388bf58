"""TOS compliance rules of 10-ingestion §10.4 (D17) as versioned data, and their evaluation (pure polars + stdlib).

The rule table is copied verbatim from the spec. Patterns run with ``IGNORECASE | DOTALL`` on the lower-cased text;
every rule with a matching pattern is recorded with its *first* matching pattern. The step-parent allowlist is the
fixed one: it can clear only A1/A2, never A3/A4 (the system we replace cleared every ``A*`` rule).

Changing ``RULES`` requires bumping ``RULES_VERSION``: every caption is re-evaluated and gets a new SCD2 version.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

import polars as pl

RULES_VERSION = "tos-rules-2025.2"  # .2: rules also run on the NFKC-folded text (styled letters)

TOS_FLAGS = re.IGNORECASE | re.DOTALL


class TosRule(NamedTuple):
    rule_id: str
    description: str
    patterns: tuple[str, ...]


RULES: tuple[TosRule, ...] = (
    TosRule(
        "A1_familial_direct",
        "familial/incest content",
        (
            r"\b(incest|cousin|brother|sister|uncle|aunt|niece|nephew)\b",
            r"\b(son|daughter|stepdaughter|stepson)\b",
            r"\bmom\s+and\s+son\b",
            r"\bdad\s+and\s+daughter\b",
        ),
    ),
    TosRule(
        "A2_parental",
        "parental familial content",
        (
            r"\b(mother|father|mom|dad)\b(?!.*step)",
            r"\bmy\s+(mom|dad|mother|father)\b",
        ),
    ),
    TosRule(
        "A3_underage_numeric",
        "underage numeric indicators",
        (
            r"\b1[0-7]\s*(?:year|yr|yo)\b",
            r"\b1[0-7]\b.*\bold\b",
        ),
    ),
    TosRule(
        "A4_underage_terms",
        "underage content",
        (
            r"\bteen\b.*\b(sex|fuck|nude|naked|porn)\b",
            r"\b(minor|underage|jailbait)\b",
            r"\bschoolgirl\b.*\b(sex|fuck|nude)\b",
        ),
    ),
    TosRule("B1_rape", "rape content", (r"\brape[dy]?\b", r"\brapist\b")),
    TosRule(
        "B2_force",
        "forced/non-consensual",
        (
            r"\bforced\b",
            r"\bnon[-\s]?consensual\b",
            r"against\s+(?:her|his|their)\s+will\b",
        ),
    ),
    TosRule(
        "B3_coercion",
        "coercion",
        (
            r"\b(blackmail|kidnap|drugged|roofied)\b",
            r"\b(unconscious|passed\s+out)\b.*\b(sex|fuck)\b",
        ),
    ),
    TosRule(
        "C1_fan_sex",
        "fan meetup sexual",
        (
            r"\b(fuck|sex|meet)\b.*\bfan\b.*\b(fuck|sex|meet)\b",
            r"\bmeet\s+up\b.*\bfan\b",
            r"\bfan\s+meetup\b",
        ),
    ),
    TosRule("D1_urine", "urine", (r"\b(pee|piss|urine|golden\s+shower)\b",)),
    TosRule("D2_scat", "scat", (r"\b(scat|poop|shit|feces|defecate)\b.*\b(play|sex|eat)\b",)),
    TosRule("D3_vomit", "vomit", (r"\bvomit\b.*\b(sex|play)\b",)),
    TosRule(
        "E1_animals",
        "bestiality",
        (
            r"\b(bestiality|zoophilia)\b",
            r"\b(dog|horse|animal)\b.*\b(sex|fuck|mount)\b",
        ),
    ),
)

RULE_IDS: tuple[str, ...] = tuple(r.rule_id for r in RULES)

# Step-parent allowlist (fixed): only these rules can be cleared.
ALLOWLIST_CLEARABLE = frozenset({"A1_familial_direct", "A2_parental"})
ALLOWLIST_STEP_PATTERN = r"\bstepmom\b|\bstep\s*mom\b|\bstep-mom\b"
ALLOWLIST_RELATIVES_PATTERN = r"\b(mother|father|brother|sister|uncle|aunt|niece|nephew|son|daughter|cousin)\b"
ALLOWLIST_BLOOD_PATTERN = r"\b(biological|blood|actual|my real)\b"

_COMPILED = tuple((r.rule_id, tuple((p, re.compile(p, TOS_FLAGS)) for p in r.patterns)) for r in RULES)
_STEP = re.compile(ALLOWLIST_STEP_PATTERN, TOS_FLAGS)
_RELATIVES = re.compile(ALLOWLIST_RELATIVES_PATTERN, TOS_FLAGS)
_BLOOD = re.compile(ALLOWLIST_BLOOD_PATTERN, TOS_FLAGS)

TOS_CLEAN = "clean"
TOS_FLAGGED = "flagged"


class TosResult(NamedTuple):
    raw_rule_ids: list[str]  # every rule that fired, before the allowlist
    rule_ids: list[str]  # the rules that remain after the allowlist
    reasons: list[str]  # "<rule_id>: <first matching pattern>" for each remaining rule
    allowlist_cleared: bool  # the allowlist removed at least one rule


def _allowlisted(low: str) -> bool:
    return bool(_STEP.search(low)) and not _RELATIVES.search(low) and not _BLOOD.search(low)


def folded_forms(text: str | None) -> tuple[str, ...]:
    """The forms the rules run on: the lower-cased text (the spec's form) and, when it differs, its NFKC case fold,
    so that styled or full-width letters ("𝒻𝑜𝓇𝒸𝑒𝒹", "ＦＯＲＣＥＤ") cannot slip past a rule. Caption identity folds
    these variants together (D5); the compliance check must see what identity sees."""
    low = (text or "").lower()
    fold = unicodedata.normalize("NFKC", text or "").casefold()
    return (low,) if fold == low else (low, fold)


def evaluate_text(text: str | None, rule_ids: frozenset[str] | set[str] | None = None) -> TosResult:
    """Evaluate one text (null counts as empty, which is clean) on each of its ``folded_forms``: a rule fires when
    any pattern matches any form. ``rule_ids`` restricts the rules searched (used by the keyword prefilter of
    ``evaluate_tos``); the allowlist always applies to whatever fired and must hold on every form."""
    forms = folded_forms(text)
    hits: list[tuple[str, str]] = []
    for rule_id, patterns in _COMPILED:
        if rule_ids is not None and rule_id not in rule_ids:
            continue
        hit = next((source for source, rx in patterns for form in forms if rx.search(form)), None)
        if hit is not None:
            hits.append((rule_id, hit))
    raw = [rid for rid, _ in hits]
    cleared = False
    if any(rid in ALLOWLIST_CLEARABLE for rid in raw) and all(_allowlisted(form) for form in forms):
        cleared = True
        hits = [(rid, p) for rid, p in hits if rid not in ALLOWLIST_CLEARABLE]
    return TosResult(raw, [rid for rid, _ in hits], [f"{rid}: {p}" for rid, p in hits], cleared)


# Keyword prefilter (speed only, never changes a result): every pattern of a rule needs one of the rule's literal
# keywords in the lower-cased text. Python's IGNORECASE also equates ``ı``~``i`` and ``ſ``~``s`` with ASCII letters,
# so those two are folded before the literal search; with that fold the prefilter is a strict superset of the regexes.
RULE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "A1_familial_direct": (
        "incest",
        "cousin",
        "brother",
        "sister",
        "uncle",
        "aunt",
        "niece",
        "nephew",
        "son",
        "daughter",
    ),
    "A2_parental": ("mother", "father", "mom", "dad"),
    "A3_underage_numeric": ("10", "11", "12", "13", "14", "15", "16", "17"),
    "A4_underage_terms": ("teen", "minor", "underage", "jailbait", "schoolgirl"),
    "B1_rape": ("rape", "rapist"),
    "B2_force": ("forced", "consensual", "against"),
    "B3_coercion": ("blackmail", "kidnap", "drugged", "roofied", "unconscious", "passed"),
    "C1_fan_sex": ("fan",),
    "D1_urine": ("pee", "piss", "urine", "golden"),
    "D2_scat": ("scat", "poop", "shit", "feces", "defecate"),
    "D3_vomit": ("vomit",),
    "E1_animals": ("bestiality", "zoophilia", "dog", "horse", "animal"),
}
_PREFILTER_FOLD = str.maketrans({"\u0131": "i", "\u017f": "s"})


def candidate_rules(texts: list[str | None]) -> list[frozenset[str]]:
    """Per text, the rules whose keywords occur (a superset of the rules that can match)."""
    folded = pl.Series(["\n".join(folded_forms(t)).translate(_PREFILTER_FOLD) for t in texts], dtype=pl.String)
    hits = {rid: folded.str.contains_any(list(kw)).to_list() for rid, kw in RULE_KEYWORDS.items()}
    return [frozenset(rid for rid in RULE_IDS if hits[rid][i]) for i in range(len(texts))]


_CLEAN = TosResult([], [], [], False)

TOS_RESULT_SCHEMA = {
    "text": pl.String,
    "violation_rule_ids": pl.List(pl.String),
    "violation_reasons": pl.String,
    "tos_status": pl.String,
    "raw_rule_ids": pl.List(pl.String),
    "allowlist_cleared": pl.Boolean,
}


def evaluate_tos(texts: pl.Series) -> pl.DataFrame:
    """One row per input text, in input order.

    Columns: ``text``, ``violation_rule_ids`` (List[String], rule-table order, after the allowlist),
    ``violation_reasons`` (``"<rule_id>: <pattern>"`` joined with ``"; "``, empty string when clean),
    ``tos_status`` (``clean`` | ``flagged``), ``raw_rule_ids`` (before the allowlist), ``allowlist_cleared``.
    Each distinct text is evaluated once.
    """
    s = texts.cast(pl.String).rename("text")
    uniq = s.unique(maintain_order=True).to_list()
    candidates = candidate_rules(uniq)
    results = [evaluate_text(t, c) if c else _CLEAN for t, c in zip(uniq, candidates, strict=True)]
    table = pl.DataFrame(
        {
            "text": uniq,
            "violation_rule_ids": [r.rule_ids for r in results],
            "violation_reasons": ["; ".join(r.reasons) for r in results],
            "tos_status": [TOS_FLAGGED if r.rule_ids else TOS_CLEAN for r in results],
            "raw_rule_ids": [r.raw_rule_ids for r in results],
            "allowlist_cleared": [r.allowlist_cleared for r in results],
        },
        schema=TOS_RESULT_SCHEMA,
    )
    return s.to_frame().join(table, on="text", how="left", nulls_equal=True, maintain_order="left")


def rules_table() -> pl.DataFrame:
    """The rule table as data (one row per pattern), for ops_config / audit display."""
    rows = [
        {
            "rules_version": RULES_VERSION,
            "rule_id": r.rule_id,
            "description": r.description,
            "pattern_no": i + 1,
            "pattern": p,
        }
        for r in RULES
        for i, p in enumerate(r.patterns)
    ]
    return pl.DataFrame(rows)
