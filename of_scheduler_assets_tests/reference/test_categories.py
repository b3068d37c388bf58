"""Category rules of 10-ingestion §10.3 (scalar and vectorised agree)."""

from __future__ import annotations

import polars as pl
import pytest

from of_scheduler_assets.layer_02_staging.reference import CATEGORY_LABELS, classify_caption, classify_frame

CASES = [
    ("unlock my new set", 15.0, "ppv"),
    ("renew now for a surprise", 5, "ppv"),  # price first: any priced send is ppv
    ("renew now for a surprise", 0, "renew"),
    ("my renewal gift is waiting", 0.0, "renew"),
    ("click https://of.example/renew-offer", None, "renew"),
    ("renewed energy today", 0, "bump"),  # \brenew\b does not match "renewed"
    ("tip me if you liked it", 0, "tip"),
    ("send a tip for the full video", 0, "tip"),
    ("send tip babe", 0, "tip"),
    ("tip and i'll send more", 0, "tip"),
    ("tip to get the bonus", 0, "tip"),
    ("a $5 tip unlocks it", 0, "tip"),
    ("tip $10 for more", 0, "tip"),
    ("tipsy tonight", 0, "bump"),
    ("my free page https://of.example/luna", 0, "link_drop"),
    ("http://insecure.example is not a link drop", 0, "bump"),
    ("good morning babe", 0, "bump"),
    ("good morning babe", None, "bump"),
    ("good morning babe", True, "ppv"),  # a PPV bank type counts as price > 0
    ("", 0, "bump"),
]


@pytest.mark.parametrize(("text", "price", "expected"), CASES)
def test_classify_caption_first_match_wins(text, price, expected):
    assert classify_caption(text, price) == expected


def test_classify_frame_matches_scalar_and_sets_flags():
    frame = pl.DataFrame(
        {
            "caption_lower": [c[0] for c in CASES],
            "price_context": [float(c[1]) if c[1] is not None else None for c in CASES],
        }
    )
    out = classify_frame(frame)
    assert out["category"].to_list() == [c[2] for c in CASES]
    flags = out.filter(pl.col("caption_lower") == "click https://of.example/renew-offer").row(0, named=True)
    assert flags["has_link"] and flags["contains_renew"] and not flags["mentions_tip"]
    priced_tip = classify_frame(
        pl.DataFrame({"caption_lower": ["send a tip https://x.example"], "price_context": [7.0]})
    ).row(0, named=True)
    # flags are independent of the category: a priced text still records its link and tip mention
    assert priced_tip["category"] == "ppv" and priced_tip["has_link"] and priced_tip["mentions_tip"]


def test_labels_cover_every_category():
    assert CATEGORY_LABELS["ppv"] == "MassMessage PPV" and CATEGORY_LABELS["bump"] == "Follow Up MassMessage Bump"
    assert {c for _, _, c in CASES} <= set(CATEGORY_LABELS)
