"""Hard eligibility rules as a uint16 bit mask per candidate (spec 30 §5.7). Bit constants: `kernels.codes`."""

from __future__ import annotations

import numpy as np
from numba import njit

from of_scheduler_assets.kernels.codes import (
    ALREADY_PRIMARY_TODAY,
    BLOCKED_BY_OVERRIDE,
    CATEGORY_MISMATCH,
    COOLDOWN_ACTIVE,
    EXPLICITNESS_ABOVE_PAGE_MAX,
    FATIGUED,
    INACTIVE_CAPTION,
    MAX_DAILY_USES_REACHED,
    MEDIA_ONLY,
    REUSED_WITHIN_MIN_REUSE_DAYS,
    TOS_FLAGGED,
    UNKNOWN_EXPLICITNESS,
)


@njit(cache=True, nogil=True, error_model="numpy")
def eligibility(
    tos_flagged,
    is_active,
    media_only,
    category_bits,
    allowed_bits,
    explicitness,
    max_explicitness,
    hours_since_use_page,
    min_reuse_days,
    hours_since_use_any,
    cooldown_h,
    fatigue_score,
    fatigue_limit,
    override_min_hours,
    uses_24h,
    max_daily_uses,
    already_primary_today,
):
    """5.7 Bit mask of the failed rules per candidate; 0 = eligible. Evaluated at one instant `now`.

    Per candidate (length k, aligned):
      tos_flagged, is_active, media_only, already_primary_today: bool[k];
      category_bits: uint32[k] (bitset of `codes.CATEGORY_BITS`);
      explicitness: float64[k], NaN = unknown -> counts as 3 (`codes.UNKNOWN_EXPLICITNESS`);
      hours_since_use_page / hours_since_use_any: float64[k], hours from the last send (on this page / on any page)
        to now; +inf = never (NaN is treated the same: no time rule can fire on it);
      cooldown_h: float64[k], hours of agency-wide backoff (`cooldown_hours`, §5.6);
      fatigue_score: float64[k] (§5.5); NaN never fires;
      override_min_hours: float64[k], `cooldown_overrides.min_cooldown_hours` of an override in effect at now for
        (page, caption), 0 or NaN when none;
      uses_24h: float64[k], agency-wide primaries + sends of the caption in the last 24 h.
    Scalars: allowed_bits (uint, categories allowed for the slot type, or the union plannable on the page for the
    slot-independent `is_eligible`), max_explicitness (page max), min_reuse_days (days), fatigue_limit,
    max_daily_uses.
    Rules (bit set when): tos_flagged; not is_active; media_only; (category_bits & allowed_bits) == 0;
      explicitness > max_explicitness; hours_since_use_page < 24 × min_reuse_days;
      hours_since_use_any < cooldown_h (now < last_used_any + cooldown_h); fatigue_score > fatigue_limit;
      hours_since_use_page < override_min_hours; uses_24h >= max_daily_uses; already_primary_today.
    Every time rule is a strict "elapsed < bound" test with a finite bound, so it clears as time passes.
    Returns uint16[k].
    """
    k = tos_flagged.shape[0]
    out = np.zeros(k, dtype=np.uint16)
    reuse_h = 24.0 * min_reuse_days
    for i in range(k):
        m = 0
        if tos_flagged[i]:
            m |= TOS_FLAGGED
        if not is_active[i]:
            m |= INACTIVE_CAPTION
        if media_only[i]:
            m |= MEDIA_ONLY
        if (category_bits[i] & allowed_bits) == 0:
            m |= CATEGORY_MISMATCH
        e = explicitness[i]
        if e != e:
            e = UNKNOWN_EXPLICITNESS
        if e > max_explicitness:
            m |= EXPLICITNESS_ABOVE_PAGE_MAX
        hp = hours_since_use_page[i]
        if hp < reuse_h:
            m |= REUSED_WITHIN_MIN_REUSE_DAYS
        if hours_since_use_any[i] < cooldown_h[i]:
            m |= COOLDOWN_ACTIVE
        if fatigue_score[i] > fatigue_limit:
            m |= FATIGUED
        if hp < override_min_hours[i]:
            m |= BLOCKED_BY_OVERRIDE
        if uses_24h[i] >= max_daily_uses:
            m |= MAX_DAILY_USES_REACHED
        if already_primary_today[i]:
            m |= ALREADY_PRIMARY_TODAY
        out[i] = m
    return out
