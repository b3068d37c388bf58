"""Numba kernels of the ranker (spec 30 §5): pure functions over NumPy arrays, no Dagster, no polars.

Every kernel is `@njit(cache=True, nogil=True, error_model="numpy")`, float64, without fastmath, and has a plain NumPy
twin in `kernels.reference`. Names are resolved lazily so that importing this package (or `kernels.codes`) does not
import Numba; the first access to a kernel imports its module (and loads or compiles it).

    decay_weights, eb_smooth, page_prior, cross_page_lift, prior_chain      (kernels.priors,      §5.1-5.2)
    ucb_bonus, novelty_level, novelty_bonus, fatigue, cooldown_hours         (kernels.bonuses,     §5.3-5.6)
    eligibility                                                              (kernels.eligibility, §5.7)
    wilson_scores, choose_price                                              (kernels.price,       §5.8)
    score_slot                                                               (kernels.score,       §5.9)
    assign_primaries                                                         (kernels.assign,      §5.10)
    decode_mask, encode_codes, ELIGIBILITY_CODES, bit constants              (kernels.codes,       pure Python)
"""

from __future__ import annotations

import importlib
from typing import Any

_LOCATIONS = {
    "decay_weights": "priors",
    "eb_smooth": "priors",
    "page_prior": "priors",
    "cross_page_lift": "priors",
    "prior_chain": "priors",
    "ucb_bonus": "bonuses",
    "novelty_level": "bonuses",
    "novelty_bonus": "bonuses",
    "fatigue": "bonuses",
    "cooldown_hours": "bonuses",
    "eligibility": "eligibility",
    "wilson_scores": "price",
    "choose_price": "price",
    "score_slot": "score",
    "assign_primaries": "assign",
    "decode_mask": "codes",
    "decode_masks": "codes",
    "encode_codes": "codes",
    "ELIGIBILITY_CODES": "codes",
    "CATEGORY_BITS": "codes",
    "SLOT_ALLOWED_BITS": "codes",
}

__all__ = sorted(_LOCATIONS)


def __getattr__(name: str) -> Any:
    mod = _LOCATIONS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value
