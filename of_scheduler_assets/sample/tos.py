"""The generator's view of the TOS rules: the product's own rule table (10-ingestion §10.4), so the world's injected
violations and the pipeline's compliance filter can never disagree."""

from __future__ import annotations

from of_scheduler_assets.layer_02_staging.tos import evaluate_text


def raw_hits(text: str) -> list[str]:
    """Every rule that fires, before the step-parent allowlist."""
    return evaluate_text(text).raw_rule_ids


def tos_rules(text: str) -> list[str]:
    """Rule ids that remain after the step-parent allowlist (A3/A4 are never cleared)."""
    return evaluate_text(text).rule_ids
