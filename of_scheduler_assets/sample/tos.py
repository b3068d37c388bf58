"""TOS compliance rules of 10-ingestion §10.4 (D17), used to label the synthetic bank's ground truth."""

from __future__ import annotations

import re

_F = re.IGNORECASE | re.DOTALL
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "A1_familial_direct",
        (
            r"\b(incest|cousin|brother|sister|uncle|aunt|niece|nephew)\b",
            r"\b(son|daughter|stepdaughter|stepson)\b",
            r"\bmom\s+and\s+son\b",
            r"\bdad\s+and\s+daughter\b",
        ),
    ),
    ("A2_parental", (r"\b(mother|father|mom|dad)\b(?!.*step)", r"\bmy\s+(mom|dad|mother|father)\b")),
    ("A3_underage_numeric", (r"\b1[0-7]\s*(?:year|yr|yo)\b", r"\b1[0-7]\b.*\bold\b")),
    (
        "A4_underage_terms",
        (
            r"\bteen\b.*\b(sex|fuck|nude|naked|porn)\b",
            r"\b(minor|underage|jailbait)\b",
            r"\bschoolgirl\b.*\b(sex|fuck|nude)\b",
        ),
    ),
    ("B1_rape", (r"\brape[dy]?\b", r"\brapist\b")),
    ("B2_force", (r"\bforced\b", r"\bnon[-\s]?consensual\b", r"against\s+(?:her|his|their)\s+will\b")),
    ("B3_coercion", (r"\b(blackmail|kidnap|drugged|roofied)\b", r"\b(unconscious|passed\s+out)\b.*\b(sex|fuck)\b")),
    (
        "C1_fan_sex",
        (r"\b(fuck|sex|meet)\b.*\bfan\b.*\b(fuck|sex|meet)\b", r"\bmeet\s+up\b.*\bfan\b", r"\bfan\s+meetup\b"),
    ),
    ("D1_urine", (r"\b(pee|piss|urine|golden\s+shower)\b",)),
    ("D2_scat", (r"\b(scat|poop|shit|feces|defecate)\b.*\b(play|sex|eat)\b",)),
    ("D3_vomit", (r"\bvomit\b.*\b(sex|play)\b",)),
    ("E1_animals", (r"\b(bestiality|zoophilia)\b", r"\b(dog|horse|animal)\b.*\b(sex|fuck|mount)\b")),
)
_COMPILED = tuple((rid, tuple(re.compile(p, _F) for p in pats)) for rid, pats in RULES)
_STEP = re.compile(r"\bstepmom\b|\bstep\s*mom\b|\bstep-mom\b", _F)
_FAMILY = re.compile(r"\b(mother|father|brother|sister|uncle|aunt|niece|nephew|son|daughter|cousin)\b", _F)
_BLOOD = re.compile(r"\b(biological|blood|actual|my real)\b", _F)


def raw_hits(text: str) -> list[str]:
    low = text.lower()
    return [rid for rid, pats in _COMPILED if any(p.search(low) for p in pats)]


def tos_rules(text: str) -> list[str]:
    """Rule ids that remain after the step-parent allowlist (A3/A4 are never cleared)."""
    hits = raw_hits(text)
    if (
        ("A1_familial_direct" in hits or "A2_parental" in hits)
        and _STEP.search(text.lower())
        and not _FAMILY.search(text.lower())
        and not _BLOOD.search(text.lower())
    ):
        hits = [h for h in hits if h not in ("A1_familial_direct", "A2_parental")]
    return hits
