"""`cooldown_overrides` → eligibility code `blocked_by_override` (30-ml-and-ranking §5.7): the seed table, its contract,
and its effect on the ranker (an override in effect blocks the caption on its page; once the window ends it does not)."""

from __future__ import annotations

import datetime as dt

import pandera.errors
import polars as pl
import pytest

from of_scheduler_assets.layer_06_rankings.assets import rank_checks
from of_scheduler_assets.ops_config.override_schemas import CooldownOverrides
from of_scheduler_assets.ops_config.overrides import (
    COOLDOWN_OVERRIDES_SCHEMA,
    cooldown_overrides,
    cooldown_overrides_in_effect,
)
from of_scheduler_assets.resources.seeds import SeedsResource, parse_seed
from of_scheduler_assets_tests.rankings.test_ranker import NOW, OLD, RECENT, STAR, _rank, _world

UTC = dt.UTC
HEADER = "username_page,caption_id,min_cooldown_hours,effective_from,effective_to,note\n"
CID = "CAP_00000000000000ab"


def _typed(body: str) -> pl.DataFrame:
    return cooldown_overrides(parse_seed("cooldown_overrides", (HEADER + body).encode(), "test"))


def _overrides(rows: list[dict]) -> pl.DataFrame:
    base = {"min_cooldown_hours": 168.0, "effective_from": None, "effective_to": None, "note": None,
            "seed_source": "test", "seed_sha256": "0" * 64}  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows], schema=COOLDOWN_OVERRIDES_SCHEMA)


# --- the seed table -------------------------------------------------------------------------------------------------
def test_packaged_seed_is_an_empty_typed_table_that_passes_its_contract():
    seed = SeedsResource().read("cooldown_overrides")
    assert seed.source == "package:seeds/cooldown_overrides.csv"
    frame = cooldown_overrides(seed)
    assert frame.height == 0 and frame.schema == pl.Schema(COOLDOWN_OVERRIDES_SCHEMA)
    CooldownOverrides.validate(frame)
    empty = cooldown_overrides(parse_seed("cooldown_overrides", b"", "empty"))
    assert empty.height == 0 and empty.schema == pl.Schema(COOLDOWN_OVERRIDES_SCHEMA)


def test_seed_rows_are_typed_with_the_default_and_whole_day_end_dates():
    frame = _typed(
        f" Alice__Paid ,{CID},,2026-03-01,2026-03-10,holiday repost ban\n"
        "bob__free,cap_00000000000000AB,24,2026-03-01T10:00:00+02:00,2026-03-02 06:30,\n"
        f"carol__vip,{CID},48.5,,,\n"
    )
    CooldownOverrides.validate(frame)
    assert frame["username_page"].to_list() == ["alice__paid", "bob__free", "carol__vip"]
    assert frame["caption_id"].to_list() == [CID] * 3
    assert frame["min_cooldown_hours"].to_list() == [168.0, 24.0, 48.5]  # blank -> 168 (spec default)
    assert frame["effective_from"].to_list() == [dt.datetime(2026, 3, 1, tzinfo=UTC),
                                                 dt.datetime(2026, 3, 1, 8, tzinfo=UTC), None]  # fmt: skip
    # a bare end date covers that whole day; a datetime ends where it says
    assert frame["effective_to"].to_list() == [dt.datetime(2026, 3, 11, tzinfo=UTC),
                                               dt.datetime(2026, 3, 2, 6, 30, tzinfo=UTC), None]  # fmt: skip
    assert frame["note"].to_list() == ["holiday repost ban", None, None]


@pytest.mark.parametrize(
    "body",
    [
        f"alice__paid,{CID},soon,,,\n",  # hours not a number
        f"alice__paid,{CID},-1,,,\n",  # negative hours
        f"alice__paid,{CID},24,2026-03-10,2026-03-01,\n",  # window ends before it starts
        "alice__paid,caption 12,24,,,\n",  # not a caption id
        f"Alice Paid,{CID},24,,,\n",  # not a username_page
    ],
)
def test_contract_rejects_broken_rows(body):
    with pytest.raises(pandera.errors.SchemaError):
        CooldownOverrides.validate(_typed(body))


def test_in_effect_window_is_half_open_and_the_largest_hours_win():
    t = dt.datetime(2026, 3, 5, 12, tzinfo=UTC)
    frame = _overrides([
        {"username_page": "a__paid", "caption_id": "c1", "min_cooldown_hours": 24.0, "effective_from": t,
         "effective_to": t + dt.timedelta(hours=1)},
        {"username_page": "a__paid", "caption_id": "c1", "min_cooldown_hours": 72.0},  # open both ends
        {"username_page": "a__paid", "caption_id": "c2", "effective_to": t},  # ended exactly now
        {"username_page": "a__paid", "caption_id": "c3", "effective_from": t + dt.timedelta(seconds=1)},  # not yet
        {"username_page": "b__paid", "caption_id": "c3", "effective_from": t, "min_cooldown_hours": None},
    ])  # fmt: skip
    got = cooldown_overrides_in_effect(frame, t)
    assert got.rows() == [("a__paid", "c1", 72.0), ("b__paid", "c3", 168.0)]
    assert cooldown_overrides_in_effect(None, t).height == 0


# --- the ranker -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def base(world):
    return _rank(world)


def _on(frame: pl.DataFrame, page: str) -> set[str]:
    return set(frame.filter(pl.col("username_page") == page)["caption_id"].drop_nulls())


def test_override_blocks_the_caption_while_in_effect_and_not_after(world, base):
    # STAR was last sent on b 35 days ago (840 h) and ranks there; on a it was never sent.
    assert STAR in _on(base.filter(~pl.col("is_fallback")), "b__paid")
    assert STAR in _on(base, "a__paid")
    window = {"username_page": "b__paid", "caption_id": STAR, "min_cooldown_hours": 24.0 * 40,
              "effective_from": NOW - dt.timedelta(days=1)}  # fmt: skip
    during = _rank(world, cooldown_overrides=_overrides([{**window, "effective_to": NOW + dt.timedelta(hours=1)}]))
    assert STAR not in _on(during, "b__paid")  # blocked on its page, fallback rows included
    assert STAR in _on(during, "a__paid")  # other pages are not affected
    # the same override read one minute after its window ended: no effect at all
    after = _rank(world, cooldown_overrides=_overrides([{**window, "effective_to": NOW - dt.timedelta(minutes=1)}]))
    assert after.drop("generated_at").equals(base.drop("generated_at"))
    # shorter than the time since the last send: the caption is allowed again ("no rule blocks forever")
    short = _rank(world, cooldown_overrides=_overrides([{**window, "min_cooldown_hours": 800.0}]))
    assert short.drop("generated_at").equals(base.drop("generated_at"))
    # an override on a page where the caption was never sent blocks nothing
    never = _rank(world, cooldown_overrides=_overrides([{**window, "username_page": "a__paid"}]))
    assert never.drop("generated_at").equals(base.drop("generated_at"))


def test_fallback_never_relaxes_an_override(world):
    # page a's ppv bank reduced to captions blocked only by reuse / cooldown / fatigue: slots fall back to them
    f = world["features"].filter(~((pl.col("username_page") == "a__paid")
                                   & pl.col("caption_id").is_in([OLD, STAR, "CAP_0000000000000new"])))  # fmt: skip
    w = {**world, "features": f}
    plain = _rank(w)
    assert RECENT in _on(plain.filter(pl.col("is_fallback")), "a__paid")
    blocked = _rank(w, cooldown_overrides=_overrides([{"username_page": "a__paid", "caption_id": RECENT}]))
    assert RECENT not in _on(blocked, "a__paid")  # used 2 days ago < 168 h: not even a fallback row
    assert blocked.filter(pl.col("username_page") == "a__paid")["is_fallback"].any()


def test_rank_check_flags_an_overridden_caption(world, base):
    ov = _overrides([{"username_page": "b__paid", "caption_id": STAR, "min_cooldown_hours": 24.0 * 40}])
    ok, info = rank_checks(base, world["features"], ov)["no_ineligible_outside_fallback"]
    assert not ok and STAR in info["sample"]
    assert rank_checks(base, world["features"], None)["no_ineligible_outside_fallback"][0]
    ranked = _rank(world, cooldown_overrides=ov)
    assert rank_checks(ranked, world["features"], ov)["no_ineligible_outside_fallback"][0]


# --- the Dagster wiring: the ranking asset reads ops_config.cooldown_overrides from the warehouse ---------------------
def _stub(schema: str, name: str, frame: pl.DataFrame):
    import dagster as dg

    @dg.asset(key=[schema, name], group_name=schema)
    def _table() -> pl.DataFrame:
        return frame

    return _table


def test_ranking_asset_applies_the_warehouse_overrides(world, base, tmp_path):
    import dagster as dg

    from of_scheduler_assets.layer_04_semantic.transforms import page_price_points
    from of_scheduler_assets.layer_06_rankings.assets import RANK, RANK_CHECKS, caption_ranking
    from of_scheduler_assets.resources.clock import ClockResource
    from of_scheduler_assets.resources.ranker_config import RankerConfigResource
    from of_scheduler_assets.resources.warehouse import DuckDBPolarsIOManager, WarehouseReader
    from of_scheduler_assets_tests.rankings.test_ranker import AS_OF

    db = str(tmp_path / "wh.duckdb")
    ov = _overrides([{"username_page": "b__paid", "caption_id": STAR, "min_cooldown_hours": 24.0 * 40}])
    profile = pl.DataFrame(schema={"username_page": pl.String, "dow_local": pl.Int8, "hod_local": pl.Int8,
                                   "temporal_multiplier": pl.Float64, "temporal_multiplier_open": pl.Float64})  # fmt: skip
    stubs = [
        _stub("layer_03_foundation", "dim_page", world["dp"]),
        _stub("layer_03_foundation", "fact_message_send", world["fact"]),
        _stub("layer_04_semantic", "page_dow_hod_profile", profile),
        _stub("layer_04_semantic", "page_price_profile", pl.DataFrame(schema={"username_page": pl.String,
                                                                              "p50": pl.Float64})),
        _stub("layer_04_semantic", "page_price_points", page_price_points(world["fact"], AS_OF)),
        _stub("layer_05_ml", "feature_store", world["features"]),
        _stub("layer_05_ml", "page_priors", world["pp"]),
        _stub("layer_05_ml", "caption_priors", world["cp"]),
        _stub("ops_config", "cooldown_overrides", ov),
    ]  # fmt: skip
    result = dg.materialize(
        [*stubs, caption_ranking],
        resources={"io_manager": DuckDBPolarsIOManager(database=db), "ranker_config": RankerConfigResource(),
                   "clock": ClockResource(as_of=NOW.isoformat()), "warehouse": WarehouseReader(target="local",
                                                                                                 database=db)},
    )  # fmt: skip
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(RANK_CHECKS) and all(e.passed for e in evaluations)
    rank = WarehouseReader(target="local", database=db).read_table("layer_06_rankings", "caption_rank_next24")
    assert STAR not in _on(rank, "b__paid") and STAR in _on(rank, "a__paid")
    assert STAR in _on(base, "b__paid")
    meta = next(m for m in result.get_asset_materialization_events() if m.asset_key == RANK)
    assert meta.materialization.metadata["cooldown_overrides_in_effect"].value == 1
