"""The ground-truth response model of the synthetic world (30-ml-and-ranking §10.1).

The generator draws every simulated send from exactly these functions, and evaluation code can load the truth tables
written under ``OUT/truth/`` with :class:`TruthModel` to ask for the true purchase probability or expected revenue per
recipient of any (page, caption, price, local dow, local hod, recent sends) without re-implementing the model.

Model (all per recipient):
* ``eff_lift = caption_lift * fatigue_decay ** recent_sends`` where ``recent_sends`` = sends of the same caption on
  the same page in the ``fatigue_window_days`` (28) days before this send;
* ``p_buy = min(p_max, base_buy_rate * eff_lift * (price / ref_price) ** (-price_beta) * dow_hod_mult)`` for
  ``price > 0``; a free message (price 0) is never bought;
* ``p_view = min(p_max, base_open_rate * eff_lift ** view_lift_exponent * dow_hod_mult)``;
* ``recipients = round(audience_size * Uniform(0.85, 1.0))``;
  ``purchased ~ Binomial(recipients, p_buy)``; ``viewed = purchased + Binomial(recipients - purchased, p_view)``
  (so purchased <= viewed <= recipients); ``earnings = price * purchased``.
* Report snapshots show ``floor(final * (1 - exp(-age_h / tau)))`` with ``tau_view_h <= tau_purchase_h`` (monotone).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DEFAULT_PARAMS: dict = {
    "model_version": "sample-truth-1",
    "fatigue_decay": 0.85,
    "fatigue_window_days": 28,
    "caption_lift_sigma": 0.6,
    "price_beta_range": [0.5, 1.5],
    "dow_hod_amplitude": 0.30,
    "recipients_uniform": [0.85, 1.0],
    "p_max": 0.5,
    "view_lift_exponent": 0.25,
    "ref_price_usd": 14.0,
    "purchases": "Binomial(recipients, p_buy)",
    "views": "purchased + Binomial(recipients - purchased, p_view)",
    "maturity_tau_view_h": 8.0,
    "maturity_tau_purchase_h": 14.0,
    "dow": "0=Monday..6=Sunday, page-local time (pages.tz)",
}


def effective_lift(lift, recent_sends, decay: float = DEFAULT_PARAMS["fatigue_decay"]):
    return np.asarray(lift, dtype=float) * np.power(decay, np.asarray(recent_sends, dtype=float))


def purchase_prob(
    base_buy_rate,
    lift,
    price,
    ref_price,
    price_beta,
    dow_hod_mult,
    recent_sends,
    decay: float = DEFAULT_PARAMS["fatigue_decay"],
    p_max: float = DEFAULT_PARAMS["p_max"],
):
    """Vectorised true purchase probability per recipient (0 for free messages)."""
    price = np.asarray(price, dtype=float)
    safe_price = np.where(price > 0, price, 1.0)
    p = (
        np.asarray(base_buy_rate, dtype=float)
        * effective_lift(lift, recent_sends, decay)
        * np.power(safe_price / np.asarray(ref_price, dtype=float), -np.asarray(price_beta, dtype=float))
        * np.asarray(dow_hod_mult, dtype=float)
    )
    return np.where(price > 0, np.minimum(p, p_max), 0.0)


def view_prob(
    base_open_rate,
    lift,
    dow_hod_mult,
    recent_sends,
    decay: float = DEFAULT_PARAMS["fatigue_decay"],
    exponent: float = DEFAULT_PARAMS["view_lift_exponent"],
    p_max: float = DEFAULT_PARAMS["p_max"],
):
    p = (
        np.asarray(base_open_rate, dtype=float)
        * np.power(effective_lift(lift, recent_sends, decay), exponent)
        * np.asarray(dow_hod_mult, dtype=float)
    )
    return np.minimum(p, p_max)


def maturity(age_hours, tau_hours):
    age = np.maximum(np.asarray(age_hours, dtype=float), 0.0)
    return 1.0 - np.exp(-age / tau_hours)


class TruthModel:
    """Loads ``OUT/truth`` and answers point queries with the same functions the generator used."""

    def __init__(self, pages, captions, dow_hod, params: dict):
        self.params = params
        self.pages = {r["username_page"]: r for r in pages.iter_rows(named=True)}
        self.lift = dict(zip(captions["caption_id"].to_list(), captions["lift"].to_list(), strict=True))
        self.mult = {(r["username_page"], r["dow"], r["hod"]): r["mult"] for r in dow_hod.iter_rows(named=True)}

    @classmethod
    def from_dir(cls, truth_dir: str | Path) -> TruthModel:
        import polars as pl

        d = Path(truth_dir)
        return cls(
            pl.read_parquet(d / "pages.parquet"),
            pl.read_parquet(d / "captions.parquet"),
            pl.read_parquet(d / "dow_hod_effects.parquet"),
            json.loads((d / "params.json").read_text()),
        )

    def purchase_probability(
        self, username_page: str, caption_id: str, price_usd: float, dow: int, hod: int, recent_sends: int
    ) -> float:
        pg = self.pages[username_page]
        return float(
            purchase_prob(
                pg["base_buy_rate"],
                self.lift[caption_id],
                price_usd,
                pg["ref_price"],
                pg["price_beta"],
                self.mult[(username_page, dow, hod)],
                recent_sends,
                self.params["fatigue_decay"],
                self.params["p_max"],
            )
        )

    def view_probability(self, username_page: str, caption_id: str, dow: int, hod: int, recent_sends: int) -> float:
        pg = self.pages[username_page]
        return float(
            view_prob(
                pg["base_open_rate"],
                self.lift[caption_id],
                self.mult[(username_page, dow, hod)],
                recent_sends,
                self.params["fatigue_decay"],
                self.params["view_lift_exponent"],
                self.params["p_max"],
            )
        )

    def expected_revenue_per_recipient(
        self, username_page: str, caption_id: str, price_usd: float, dow: int, hod: int, recent_sends: int
    ) -> float:
        return price_usd * self.purchase_probability(username_page, caption_id, price_usd, dow, hod, recent_sends)
