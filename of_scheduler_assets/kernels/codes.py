"""Eligibility reason codes (spec 30 §5.7) and slot-type category bits (§7.1). Pure Python, no Numba.

The bit values are a stable contract: they are stored in masks, logged and decoded by name. Append new codes at the
end; never renumber.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# --- eligibility bits (uint16 mask per candidate, 0 = eligible) -----------------------------------------------------
TOS_FLAGGED = 1 << 0
INACTIVE_CAPTION = 1 << 1
MEDIA_ONLY = 1 << 2
CATEGORY_MISMATCH = 1 << 3
EXPLICITNESS_ABOVE_PAGE_MAX = 1 << 4
REUSED_WITHIN_MIN_REUSE_DAYS = 1 << 5
COOLDOWN_ACTIVE = 1 << 6
FATIGUED = 1 << 7
BLOCKED_BY_OVERRIDE = 1 << 8
MAX_DAILY_USES_REACHED = 1 << 9
ALREADY_PRIMARY_TODAY = 1 << 10

#: code name -> bit, in the order of spec §5.7 (also the decode order).
ELIGIBILITY_CODES: dict[str, int] = {
    "tos_flagged": TOS_FLAGGED,
    "inactive_caption": INACTIVE_CAPTION,
    "media_only": MEDIA_ONLY,
    "category_mismatch": CATEGORY_MISMATCH,
    "explicitness_above_page_max": EXPLICITNESS_ABOVE_PAGE_MAX,
    "reused_within_min_reuse_days": REUSED_WITHIN_MIN_REUSE_DAYS,
    "cooldown_active": COOLDOWN_ACTIVE,
    "fatigued": FATIGUED,
    "blocked_by_override": BLOCKED_BY_OVERRIDE,
    "max_daily_uses_reached": MAX_DAILY_USES_REACHED,
    "already_primary_today": ALREADY_PRIMARY_TODAY,
}
ALL_CODES_MASK = 0
for _bit in ELIGIBILITY_CODES.values():
    ALL_CODES_MASK |= _bit

#: Rules that the §7.3 fallback may relax (min_reuse_days, cooldown, fatigue); every other bit stays hard.
FALLBACK_RELAXABLE_MASK = REUSED_WITHIN_MIN_REUSE_DAYS | COOLDOWN_ACTIVE | FATIGUED
#: Rules that depend only on the caption and the page (the universe filters of §2): never relaxed.
HARD_FILTER_MASK = TOS_FLAGGED | INACTIVE_CAPTION | MEDIA_ONLY | CATEGORY_MISMATCH | EXPLICITNESS_ABOVE_PAGE_MAX

#: Explicitness used when a caption's explicitness is unknown (NaN), spec §2.
UNKNOWN_EXPLICITNESS = 3.0


def decode_mask(mask: int) -> list[str]:
    """Code names of the bits set in one eligibility mask, in §5.7 order ([] for 0 = eligible).

    Raises ValueError for bits that name no code (a mask from a newer or corrupt producer).
    """
    m = int(mask)
    if m < 0 or m & ~ALL_CODES_MASK:
        raise ValueError(f"unknown eligibility bits in mask {m:#x}")
    return [name for name, bit in ELIGIBILITY_CODES.items() if m & bit]


def decode_masks(masks: Iterable[int] | np.ndarray) -> list[list[str]]:
    """`decode_mask` for each element (e.g. to fill `ineligible_reasons`)."""
    return [decode_mask(int(m)) for m in np.asarray(masks).ravel()]


def encode_codes(names: Iterable[str]) -> int:
    """Inverse of `decode_mask`: the mask with the named codes set (KeyError on an unknown name)."""
    m = 0
    for name in names:
        m |= ELIGIBILITY_CODES[name]
    return m


# --- categories (per-candidate bitset) and slot types (per-slot allowed bitset), spec §7.1 ----------------------------
CATEGORY_BITS: dict[str, int] = {
    "ppv": 1 << 0,
    "bump": 1 << 1,
    "renew": 1 << 2,
    "tip": 1 << 3,
    "link_drop": 1 << 4,
    "drip": 1 << 5,
}
#: slot type -> bitset of the categories allowed in it (§7.1 table: a drip slot also takes bumps).
SLOT_ALLOWED_BITS: dict[str, int] = {
    "ppv": CATEGORY_BITS["ppv"],
    "bump": CATEGORY_BITS["bump"],
    "renew": CATEGORY_BITS["renew"],
    "tip": CATEGORY_BITS["tip"],
    "link_drop": CATEGORY_BITS["link_drop"],
    "drip": CATEGORY_BITS["drip"] | CATEGORY_BITS["bump"],
}


def category_bitset(categories: Iterable[str]) -> int:
    """Bitset of a caption's categories (KeyError on an unknown category)."""
    m = 0
    for c in categories:
        m |= CATEGORY_BITS[c]
    return m


# Layout of the factor arrays of `kernels.assign` (here so that the ranker reads them without importing Numba).
#: Columns of `slot_f` (float64[S, 4]): the slot's price q (PPV; 0 elsewhere), q^(1−β) (PPV with q > 0, else 0), the
#: novelty scale (q × μ_P on PPV slots, μ_open,P elsewhere) and the temporal multiplier.
SLOT_F = ("price", "q_pow", "novelty_scale", "tm")
#: Columns of `cand_f` (float64[A, 5]): p × q̄^β, the per-unit UCB widths of the buy and open rates, the open rate and
#: novelty_weight × new_caption_boost × level.
CAND_F = ("p_adj", "ucb_buy_unit", "ucb_open_unit", "p_open", "novelty_unit")
#: Columns of `page_pen` (float64[P, 3]): same-day multiplier, cross-page multiplier, 1.0 = ban cross-page conflicts.
PEN_PARAMS = ("penalty_same_day_mult", "penalty_cross_page_mult", "diversity_enforce_ban")
