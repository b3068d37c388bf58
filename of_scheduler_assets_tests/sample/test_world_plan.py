"""World-size parameters at scale 1.0 (planned and built in memory, no files) are within 10 % of the real agency."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from of_scheduler_assets.identity import caption_id, caption_norm, compact_key, normalise_page_name
from of_scheduler_assets.sample.world import build_world, plan_world


def _within(value, target, tol=0.10):
    return abs(value - target) <= tol * target


@pytest.fixture(scope="module")
def world_full():
    return build_world(plan_world(1.0, seed=7, days=180))


def test_scale_one_volumes_within_ten_percent(world_full):
    w = world_full
    assert _within(w.pages["username_std"].n_unique(), 122)
    assert _within(w.pages.height, 150)
    assert _within(w.aliases.height, 267)
    assert _within(w.captions.height, 35000)
    distinct_events = len(np.unique(w.rows["event"]))
    assert _within(distinct_events, 250000)
    assert _within(w.reports.height, 27000)
    assert (~w.roster["is_manager"]).sum() == 15 and w.roster["is_manager"].sum() == 1
    # page types: free/paid pairs and a few vip pages
    pt = w.pages.group_by("username_std").agg(pl.col("page_type").sort().alias("types"))
    kinds = [tuple(t) for t in pt["types"].to_list()]
    assert sum(1 for k in kinds if k[:2] == ("free", "paid")) >= 20
    assert 2 <= sum(1 for k in kinds if "vip" in k) <= 6


def test_schedulers_two_to_five_pages_and_twins_share(world_full):
    w = world_full
    assigned = w.pages.filter(w.pages["assigned_scheduler_code"].is_not_null())
    per = assigned.group_by("assigned_scheduler_code").len()["len"].to_list()
    assert len(per) == 15 and min(per) >= 2 and max(per) <= 5
    per_creator = assigned.group_by("username_std").agg(pl.col("assigned_scheduler_code").n_unique().alias("n"))
    assert per_creator["n"].max() == 1


def test_every_email_spelling_resolves_by_compact_key(world_full):
    w = world_full
    alias = {}
    for a, std in zip(w.aliases["alias"], w.aliases["username_std"], strict=True):
        alias.setdefault(compact_key(a), set()).add(std)
    up = w.reports["username_page"].to_list()
    for name, page in zip(w.email_names[:5000], up[:5000], strict=True):
        _, ck, ptype, both, _ = normalise_page_name(name)
        std, pt = page.split("__")
        assert alias[ck] == {std} and not both
        assert ptype in (pt, None)


def test_caption_identity_matches_spec():
    assert caption_norm("𝒯𝒽𝒶𝓃𝓀 you &amp;  me<br>\n<3 …") == "thank you & me <3 ..."
    assert caption_id("Hello") == caption_id("  hello ") and caption_id("Hello").startswith("CAP_")
    assert len(caption_id("x")) == 20
    assert normalise_page_name("Mia Demo (paid)")[:3] == ("mia_demo", "miademo", "paid")
    assert normalise_page_name("luna_example_paid_page")[:3] == ("luna_example", "lunaexample", "paid")
    assert normalise_page_name("Ms. Ava Sample (Both Pages)")[3] is True
    assert normalise_page_name("Luna’s Example FREE")[2] == "free"
