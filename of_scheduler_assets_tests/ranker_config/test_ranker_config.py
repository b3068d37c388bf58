"""Ranker configuration (30-ml-and-ranking §6): the packaged named configs, validation, override merge, and the
per-page A/B allocation of §6.3."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import yaml

from of_scheduler_assets.layer_06_rankings.allocation import CONFIG_ASSIGNMENT_LOG_SCHEMA, ab_uniform, assign_configs
from of_scheduler_assets.resources.ranker_config import (
    ConfigError,
    NamedRankerConfig,
    RankerConfigResource,
    load_ranker_config,
    packaged_ranker_config_text,
)

DAY = dt.date(2026, 11, 27)

# The §6.1 table, transcribed independently of the YAML: parameter -> (active, new, experiment).
TABLE_6_1: dict[str, tuple] = {
    "strategy": ("balanced", "explore", "exploit"),
    "epsilon": (0.10, 0.25, 0.05),
    "ucb_c": (2.0, 3.0, 1.0),
    "ucb_cap_mult": (2.0, 2.0, 2.0),
    "new_caption_boost": (1.5, 2.0, 1.0),
    "novelty_weight": (0.10, 0.10, 0.10),
    "min_samples_for_exploitation": (10, 20, 5),
    "nu_sends": (2, 1, 4),
    "nu_page_sends": (2, 2, 2),
    "lift_prior_events": (2, 2, 2),
    "stats_half_life_days": (14, 14, 14),
    "stats_window_days": (90, 90, 90),
    "min_reuse_days": (28, 28, 28),
    "cooldown.base_hours": (6, 4, 8),
    "cooldown.backoff_factor": (1.5, 1.3, 2.0),
    "cooldown.min_hours": (6, 4, 8),
    "cooldown.max_cooldown_days": (21, 21, 21),
    "cooldown.max_daily_uses": (3, 5, 2),
    "fatigue_limit": (0.8, 0.9, 0.7),
    "cross_page_block_hours": (6, 6, 6),
    "penalty_same_day_mult": (1.0, 1.0, 1.0),
    "penalty_cross_page_mult": (0.75, 0.75, 0.75),
    "diversity_enforce_ban": (False, False, False),
    "temporal_half_life_days": (45, 45, 45),
    "temporal_prior_sends": (3, 3, 3),
    "wilson_z": (1.645, 1.645, 1.645),
    "price_prior_sends": (2, 2, 2),
    "min_price_events": (2, 2, 2),
    "price_window_days": (90, 90, 90),
    "price_adjustment": ("elasticity", "elasticity", "elasticity"),
    "explore_pool_size": (50, 50, 50),
    "max_explorer_share": (0.25, 0.25, 0.25),
    "top_k": (10, 10, 10),
    "horizon_hours": (24, 24, 24),
}
CONFIG_NAMES = ("active", "new", "experiment")


def _flat(cfg: NamedRankerConfig) -> dict:
    dumped = cfg.model_dump()
    cooldown = dumped.pop("cooldown")
    return dumped | {f"cooldown.{k}": v for k, v in cooldown.items()}


# --- the packaged file ------------------------------------------------------------------------------------------------


def test_packaged_configs_match_the_table_of_6_1():
    loaded = load_ranker_config()
    assert set(loaded.model.configs) == set(CONFIG_NAMES)
    for i, name in enumerate(CONFIG_NAMES):
        flat = _flat(loaded.model.configs[name])
        assert set(flat) == set(TABLE_6_1), name  # the table is the whole parameter set, nothing more, nothing less
        for param, values in TABLE_6_1.items():
            assert flat[param] == values[i], (name, param)


def test_packaged_file_states_every_parameter_explicitly():
    raw = yaml.safe_load(packaged_ranker_config_text())
    for name in CONFIG_NAMES:
        keys = set(raw["configs"][name]) - {"cooldown"} | {f"cooldown.{k}" for k in raw["configs"][name]["cooldown"]}
        assert keys == set(TABLE_6_1), name


def test_packaged_presets_slot_map_run_parameters_and_experiment():
    model = load_ranker_config().model
    assert model.strategies == {"explore": 0.25, "balanced": 0.10, "exploit": 0.05}
    assert model.slot_type_categories == {
        "ppv": ["ppv"], "bump": ["bump"], "renew": ["renew"], "link_drop": ["link_drop"], "drip": ["drip", "bump"],
        "tip": ["tip"],
    }
    assert (model.default_ppv_price, model.top_m, model.backtest_weeks, model.feature_store_retention_days) == (
        10, 256, 12, 90)
    assert [e.model_dump() for e in model.experiments] == [{
        "id": "exp_aggressive_v1", "config": "experiment", "control": "active", "traffic_share": 0.0,
        "start": dt.date(2025, 10, 1), "end": None, "eligible_lifecycle": ["active"],
    }]
    assert isinstance(model.version, str) and model.version


def test_config_version_is_version_plus_content_hash_and_moves_with_an_override():
    base = load_ranker_config()
    assert base.config_version == f"{base.model.version}-{base.sha256[:8]}"
    assert load_ranker_config().config_version == base.config_version  # deterministic
    assert load_ranker_config(packaged_ranker_config_text()).config_version == base.config_version

    over = load_ranker_config(None, "configs:\n  active:\n    ucb_c: 2.5\n")
    assert over.model.configs["active"].ucb_c == 2.5
    assert over.model.configs["active"].fatigue_limit == 0.8  # untouched keys survive the merge
    assert over.model.configs["new"].ucb_c == 3.0
    assert over.config_version != base.config_version
    assert over.config_version.startswith(base.model.version + "-")


def test_epsilon_may_be_omitted_and_comes_from_the_preset():
    raw = yaml.safe_load(packaged_ranker_config_text())
    del raw["configs"]["new"]["epsilon"]
    assert load_ranker_config(yaml.safe_dump(raw)).model.configs["new"].epsilon == 0.25


def test_config_for_lifecycle_and_by_name():
    loaded = load_ranker_config()
    assert loaded.config_for("new") == loaded.model.configs["new"]
    assert loaded.config_for("active") == loaded.model.configs["active"]
    assert loaded.config_for("inactive") is None
    assert loaded.config("experiment").epsilon == 0.05
    assert loaded.categories_for("drip") == ["drip", "bump"]
    with pytest.raises(ValueError, match="lifecycle_state"):
        loaded.config_for("retired")
    with pytest.raises(KeyError, match="nope"):
        loaded.config("nope")


def test_resource_loads_packaged_file_and_override(tmp_path):
    assert RankerConfigResource().load().config_version == load_ranker_config().config_version
    override = tmp_path / "ranker_override.yaml"
    override.write_text("top_m: 128\n", "utf-8")
    loaded = RankerConfigResource(override_path=str(override)).load()
    assert loaded.model.top_m == 128
    assert loaded.config_version != load_ranker_config().config_version


# --- validation (§6.2) -----------------------------------------------------------------------------------------------

_TWO_EXPERIMENTS = """
experiments:
  - {id: a, config: experiment, control: active, traffic_share: 0.6, start: 2025-10-01, end: null,
     eligible_lifecycle: [active]}
  - {id: b, config: experiment, control: active, traffic_share: 0.5, start: 2025-10-01, end: null,
     eligible_lifecycle: [active]}
"""


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("configs:\n  active:\n    max_explorer_share: 0.05\n", "configs.active.epsilon"),  # ε 0.10 > 0.05
        ("configs:\n  new:\n    epsilon: 0.30\n    max_explorer_share: 0.25\n", "configs.new.epsilon"),
        (_TWO_EXPERIMENTS, "experiments.traffic_share"),  # Σ = 1.1
        ("slot_type_categories:\n  drip: [drip, bogus]\n", "slot_type_categories.drip"),
        ("slot_type_categories:\n  tip: []\n", "slot_type_categories.tip"),
        ("slot_type_categories:\n  story: [bump]\n", "slot_type_categories.story"),
        ("configs:\n  new:\n    novelty_weight: -0.1\n", "configs.new.novelty_weight"),
        ("configs:\n  active:\n    fatigue_limit: 1.5\n", "configs.active.fatigue_limit"),
        ("configs:\n  experiment:\n    cooldown:\n      max_daily_uses: 0\n",
         "configs.experiment.cooldown.max_daily_uses"),
        ("configs:\n  active:\n    price_adjustment: linear\n", "configs.active.price_adjustment"),
        ("configs:\n  active:\n    strategy: yolo\n", "configs.active.strategy"),
        ("configs:\n  active:\n    strategy: explore\n", "configs.active.epsilon"),  # preset 0.25 ≠ ε 0.10
        ("configs:\n  active:\n    thompson: true\n", "configs.active.thompson"),  # extra keys are refused
        ("strategies:\n  explore: 1.5\n", "strategies.explore"),
        ("top_m: 0\n", "top_m"),
        ("experiments:\n  - {id: x, config: nope, control: active, traffic_share: 0.1, start: 2025-10-01}\n",
         "experiments.0.config"),
        ("experiments:\n  - {id: x, config: experiment, control: new, traffic_share: 0.1, start: 2025-10-01}\n",
         "experiments.0.control"),
        ("experiments:\n  - {id: x, config: experiment, control: active, traffic_share: 0.1, start: 2025-10-01,"
         " eligible_lifecycle: [new]}\n", "experiments.0.eligible_lifecycle"),
        ("experiments:\n  - {id: x, config: experiment, control: active, traffic_share: 0.1, start: 2025-10-01,"
         " end: 2025-09-01, eligible_lifecycle: [active]}\n", "experiments.0.end"),
        ("experiments:\n  - {id: x, config: experiment, control: active, traffic_share: -0.1, start: 2025-10-01,"
         " eligible_lifecycle: [active]}\n", "experiments.0.traffic_share"),
        ("configs: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_offending_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_ranker_config(None, override)


@pytest.mark.parametrize(("path", "key"), [(("slot_type_categories", "renew"), "slot_type_categories.renew"),
                                           (("configs", "new"), "configs.new"),
                                           (("configs", "active", "cooldown"), "configs.active.cooldown")])
def test_missing_sections_are_named(path, key):
    raw = yaml.safe_load(packaged_ranker_config_text())
    node = raw
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_ranker_config(yaml.safe_dump(raw))


def test_shares_summing_to_exactly_one_are_valid():
    text = _TWO_EXPERIMENTS.replace("0.6", "0.3").replace("0.5", "0.7")
    assert [e.traffic_share for e in load_ranker_config(None, text).model.experiments] == [0.3, 0.7]


# --- allocation (§6.3) ------------------------------------------------------------------------------------------------


def _experiments(*entries: dict) -> str:
    base = {"config": "experiment", "control": "active", "start": dt.date(2025, 10, 1), "end": None,
            "eligible_lifecycle": ["active"]}
    return yaml.safe_dump({"experiments": [base | e for e in entries]})


def _pages(n: int, lifecycle: str = "active") -> pl.DataFrame:
    return pl.DataFrame({"username_page": [f"creator{i:05d}__paid" for i in range(n)], "lifecycle_state": lifecycle})


def test_new_runs_new_inactive_is_absent_and_output_is_the_audit_log():
    pages = pl.DataFrame({
        "username_page": ["zed__vip", "amy__free", "bob__paid", "cat__paid"],
        "lifecycle_state": ["active", "new", "inactive", "active"],
        "tz": ["America/New_York"] * 4,  # other columns are ignored
    })
    cfg = load_ranker_config(None, _experiments({"id": "exp1", "traffic_share": 0.5}))
    out = assign_configs(pages, cfg, DAY)
    assert out.schema == pl.Schema(CONFIG_ASSIGNMENT_LOG_SCHEMA)
    assert out["username_page"].to_list() == ["amy__free", "cat__paid", "zed__vip"]  # sorted; inactive absent
    new = out.row(0, named=True)
    assert new == {"assigned_date": DAY, "username_page": "amy__free", "lifecycle_state": "new", "experiment_id": None,
                   "u": None, "config_name": "new", "config_version": cfg.config_version}
    for row in out.filter(pl.col("lifecycle_state") == "active").iter_rows(named=True):
        assert row["u"] == ab_uniform("exp1", row["username_page"])
        in_exp = row["u"] < 0.5
        assert row["config_name"] == ("experiment" if in_exp else "active")
        assert row["experiment_id"] == ("exp1" if in_exp else None)


def test_packaged_share_zero_puts_every_active_page_on_active():
    out = assign_configs(_pages(500), load_ranker_config(), DAY)
    assert out.height == 500
    assert out["config_name"].unique().to_list() == ["active"]
    assert out["experiment_id"].null_count() == 500
    assert out["u"].null_count() == 0  # the experiment was evaluated: its draw is logged


def test_half_share_splits_pages_and_the_split_is_stable_across_days():
    cfg = load_ranker_config(None, _experiments({"id": "exp_half", "traffic_share": 0.5}))
    pages = _pages(2000)
    day1 = assign_configs(pages, cfg, DAY)
    share = (day1["config_name"] == "experiment").mean()
    assert abs(share - 0.5) <= 0.05
    day2 = assign_configs(pages.reverse(), cfg, DAY + dt.timedelta(days=17))
    assert day2.drop("assigned_date").equals(day1.drop("assigned_date"))  # same pages in the same arms


def test_appending_an_unrelated_experiment_with_share_zero_moves_no_page():
    pages = _pages(2000)
    before = assign_configs(pages, load_ranker_config(None, _experiments({"id": "e1", "traffic_share": 0.4})), DAY)
    after_cfg = load_ranker_config(None, _experiments({"id": "e1", "traffic_share": 0.4},
                                                      {"id": "e2", "traffic_share": 0.0}))
    after = assign_configs(pages, after_cfg, DAY)
    assert after.drop("config_version").equals(before.drop("config_version"))
    # a later experiment with a positive share only takes pages from the `active` default, never from e1
    grown = assign_configs(pages, load_ranker_config(None, _experiments({"id": "e1", "traffic_share": 0.4},
                                                                        {"id": "e2", "traffic_share": 0.3})), DAY)
    joined = before.join(grown, on="username_page", suffix="_g")
    assert joined.filter(pl.col("experiment_id") == "e1")["experiment_id_g"].to_list() == ["e1"] * int(
        (before["experiment_id"] == "e1").sum())
    e2 = grown.filter(pl.col("experiment_id") == "e2")
    assert e2.height > 0
    assert e2["u"].is_between(0.4, 0.7, closed="left").all()  # e2 owns the cumulative range [0.4, 0.7)
    assert all(u == ab_uniform("e2", p) for p, u in e2.select("username_page", "u").iter_rows())


def test_experiment_outside_its_window_is_ignored():
    pages = _pages(300)
    window = {"id": "exp_window", "traffic_share": 1.0, "start": dt.date(2026, 12, 1), "end": dt.date(2026, 12, 31)}
    cfg = load_ranker_config(None, _experiments(window))
    for day in (dt.date(2026, 11, 30), dt.date(2027, 1, 1)):
        out = assign_configs(pages, cfg, day)
        assert out["config_name"].unique().to_list() == ["active"], day
        assert out["experiment_id"].null_count() == out["u"].null_count() == 300  # nothing evaluated
    for day in (dt.date(2026, 12, 1), dt.date(2026, 12, 31)):  # both ends inclusive
        out = assign_configs(pages, cfg, day)
        assert out["config_name"].unique().to_list() == ["experiment"], day
        assert out["experiment_id"].unique().to_list() == ["exp_window"]


def test_first_listed_experiment_wins_and_control_logs_the_first_draw():
    cfg = load_ranker_config(None, _experiments({"id": "e1", "traffic_share": 0.3}, {"id": "e2", "traffic_share": 0.3}))
    out = assign_configs(_pages(1000), cfg, DAY)
    for row in out.iter_rows(named=True):
        u1, u2 = ab_uniform("e1", row["username_page"]), ab_uniform("e2", row["username_page"])
        if u1 < 0.3:
            assert (row["experiment_id"], row["u"]) == ("e1", u1)
        elif 0.3 <= u2 < 0.6:
            assert (row["experiment_id"], row["u"]) == ("e2", u2)
        else:
            assert (row["experiment_id"], row["u"], row["config_name"]) == (None, u1, "active")


def test_invalid_pages_are_refused_and_empty_input_gives_an_empty_log():
    cfg = load_ranker_config()
    with pytest.raises(ValueError, match="lifecycle_state"):
        assign_configs(pl.DataFrame({"username_page": ["a"], "lifecycle_state": ["retired"]}), cfg, DAY)
    with pytest.raises(ValueError, match="duplicate"):
        assign_configs(pl.DataFrame({"username_page": ["a", "a"], "lifecycle_state": ["new", "active"]}), cfg, DAY)
    with pytest.raises(ValueError, match="lack columns"):
        assign_configs(pl.DataFrame({"username_page": ["a"]}), cfg, DAY)
    empty = assign_configs(pl.DataFrame(schema={"username_page": pl.String, "lifecycle_state": pl.String}), cfg, DAY)
    assert empty.height == 0 and empty.schema == pl.Schema(CONFIG_ASSIGNMENT_LOG_SCHEMA)
