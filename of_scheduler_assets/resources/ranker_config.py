"""The ranker configuration (30-ml-and-ranking §6, D9): named configs, strategy presets, slot types → categories,
run parameters and the A/B experiments, as typed models, with its loader and Dagster resource.

The YAML lives in the package (`of_scheduler_assets/config/ranker.yaml`); an optional override file is merged on top
with the same rule as `ops_config` (mappings key by key, everything else — lists included — replaced whole).
`config_version` = `version` + "-" + the first 8 hex of the sha256 of the merged content. An invalid file raises
`ConfigError` naming every offending key; nothing downstream runs on it.

Decisions beyond the spec text:
- `strategy` names a preset of `strategies`; `epsilon` may be omitted (it is then the preset's ε) and, when given,
  must equal the preset's ε — a custom ε is a new preset, so a config's strategy never lies about its ε.
- `configs` must hold `active` and `new` (the defaults of the allocation); an experiment's `config` and `control`
  must name configs, and `control` must be `active` because every active page outside the experiments runs `active`
  (§6.3). `eligible_lifecycle` may only list `active`: new pages always run `new`, inactive pages are not ranked.
- The slot map must cover exactly the six slot types of §7.1, each with at least one known category.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from of_scheduler_assets.resources.config import ConfigError, _merge

CATEGORIES: tuple[str, ...] = ("ppv", "bump", "renew", "tip", "link_drop", "drip")
SLOT_TYPES: tuple[str, ...] = ("ppv", "bump", "renew", "link_drop", "drip", "tip")
LIFECYCLE_STATES: tuple[str, ...] = ("new", "active", "inactive")
_SHARE_TOLERANCE = 1e-9  # Σ traffic_share ≤ 1 up to float noise (0.1 + 0.2 + 0.7)

__all__ = [
    "CATEGORIES",
    "LIFECYCLE_STATES",
    "SLOT_TYPES",
    "ConfigError",
    "CooldownConfig",
    "ExperimentConfig",
    "LoadedRankerConfig",
    "NamedRankerConfig",
    "RankerConfigModel",
    "RankerConfigResource",
    "load_ranker_config",
    "packaged_ranker_config_text",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CooldownConfig(_Section):
    """Backoff on agency-wide uses in 7 days (§5.7)."""

    base_hours: float = Field(ge=0)
    backoff_factor: float = Field(ge=1.0)
    min_hours: float = Field(ge=0)
    max_cooldown_days: float = Field(gt=0)
    max_daily_uses: int = Field(ge=1)


class NamedRankerConfig(_Section):
    """One named config: every parameter of the §6.1 table."""

    strategy: str
    epsilon: float | None = Field(default=None, ge=0.0, le=1.0)
    ucb_c: float = Field(ge=0)
    ucb_cap_mult: float = Field(ge=0)
    new_caption_boost: float = Field(ge=0)
    novelty_weight: float = Field(ge=0)
    min_samples_for_exploitation: int = Field(ge=0)
    nu_sends: float = Field(ge=0)
    nu_page_sends: float = Field(ge=0)
    lift_prior_events: float = Field(ge=0)
    stats_half_life_days: float = Field(gt=0)
    stats_window_days: int = Field(ge=1)
    min_reuse_days: int = Field(ge=0)
    cooldown: CooldownConfig
    fatigue_limit: float = Field(ge=0.0, le=1.0)
    cross_page_block_hours: float = Field(ge=0)
    penalty_same_day_mult: float = Field(ge=0)
    penalty_cross_page_mult: float = Field(ge=0)
    diversity_enforce_ban: bool
    temporal_half_life_days: float = Field(gt=0)
    temporal_prior_sends: float = Field(ge=0)
    wilson_z: float = Field(gt=0)
    price_prior_sends: float = Field(ge=0)
    min_price_events: int = Field(ge=0)
    price_window_days: int = Field(ge=1)
    price_adjustment: Literal["elasticity", "none"]
    explore_pool_size: int = Field(ge=1)
    max_explorer_share: float = Field(ge=0.0, le=1.0)
    top_k: int = Field(ge=1, le=10)
    horizon_hours: int = Field(ge=1)


class ExperimentConfig(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    config: str
    control: str
    traffic_share: float = Field(ge=0.0, le=1.0)
    start: date
    end: date | None = None
    eligible_lifecycle: list[str] = Field(default_factory=lambda: ["active"], min_length=1)

    def is_live(self, on: date) -> bool:
        """Within [start, end], both inclusive; a null end is open."""
        return self.start <= on and (self.end is None or on <= self.end)


class RankerConfigModel(_Section):
    version: str
    strategies: dict[str, float]
    configs: dict[str, NamedRankerConfig]
    slot_type_categories: dict[str, list[str]]
    default_ppv_price: float = Field(gt=0)
    top_m: int = Field(ge=1)
    backtest_weeks: int = Field(ge=1)
    feature_store_retention_days: int = Field(ge=1)
    experiments: list[ExperimentConfig] = Field(default_factory=list)


def _cross_checks(model: RankerConfigModel) -> list[str]:
    """§6.2 checks that span fields; each problem starts with the offending key."""
    problems: list[str] = []
    for name, eps in model.strategies.items():
        if not 0.0 <= eps <= 1.0:
            problems.append(f"strategies.{name}: ε {eps} is not in [0, 1]")
    for required in ("active", "new"):
        if required not in model.configs:
            problems.append(f"configs.{required}: missing (the allocation's default for {required} pages)")
    for name, cfg in model.configs.items():
        key = f"configs.{name}"
        preset = model.strategies.get(cfg.strategy)
        if preset is None:
            problems.append(f"{key}.strategy: unknown strategy {cfg.strategy!r} (known: {sorted(model.strategies)})")
        elif cfg.epsilon is not None and abs(cfg.epsilon - preset) > 1e-12:
            problems.append(f"{key}.epsilon: {cfg.epsilon} differs from strategies.{cfg.strategy} = {preset}")
        eps = cfg.epsilon if cfg.epsilon is not None else preset
        if eps is not None and eps > cfg.max_explorer_share:
            problems.append(f"{key}.epsilon: ε {eps} exceeds {key}.max_explorer_share {cfg.max_explorer_share}")
        if cfg.cooldown.min_hours > cfg.cooldown.max_cooldown_days * 24:
            problems.append(f"{key}.cooldown.min_hours: {cfg.cooldown.min_hours} h exceeds max_cooldown_days")
    mapped = model.slot_type_categories
    for slot_type in SLOT_TYPES:
        if slot_type not in mapped:
            problems.append(f"slot_type_categories.{slot_type}: slot type not mapped to any category")
    for slot_type, categories in mapped.items():
        key = f"slot_type_categories.{slot_type}"
        if slot_type not in SLOT_TYPES:
            problems.append(f"{key}: unknown slot type (known: {list(SLOT_TYPES)})")
        if not categories:
            problems.append(f"{key}: no category allowed")
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            problems.append(f"{key}: unknown categories {unknown} (known: {list(CATEGORIES)})")
    seen: set[str] = set()
    for i, exp in enumerate(model.experiments):
        key = f"experiments.{i}"
        if exp.id in seen:
            problems.append(f"{key}.id: duplicate experiment id {exp.id!r}")
        seen.add(exp.id)
        if exp.config not in model.configs:
            problems.append(f"{key}.config: unknown config {exp.config!r}")
        if exp.control != "active":
            problems.append(f"{key}.control: must be 'active' (pages outside every experiment run `active`)")
        if exp.end is not None and exp.end < exp.start:
            problems.append(f"{key}.end: {exp.end} is before start {exp.start}")
        bad = [s for s in exp.eligible_lifecycle if s != "active"]
        if bad:
            problems.append(f"{key}.eligible_lifecycle: {bad} not allowed (only active pages enter experiments)")
    total = sum(exp.traffic_share for exp in model.experiments)
    if total > 1.0 + _SHARE_TOLERANCE:
        problems.append(f"experiments.traffic_share: Σ traffic_share = {total:g} exceeds 1")
    return problems


def _resolve_epsilon(model: RankerConfigModel) -> RankerConfigModel:
    configs = {
        name: cfg if cfg.epsilon is not None else cfg.model_copy(update={"epsilon": model.strategies[cfg.strategy]})
        for name, cfg in model.configs.items()
    }
    return model.model_copy(update={"configs": configs})


class LoadedRankerConfig(BaseModel):
    model: RankerConfigModel
    raw: dict[str, Any]
    config_version: str
    sha256: str

    def config(self, config_name: str) -> NamedRankerConfig:
        """A named config (`active`, `new`, `experiment`, ...); KeyError when unknown."""
        try:
            return self.model.configs[config_name]
        except KeyError:
            raise KeyError(f"unknown ranker config {config_name!r} (known: {sorted(self.model.configs)})") from None

    def config_for(self, lifecycle_state: str) -> NamedRankerConfig | None:
        """The default config of a lifecycle state before A/B allocation: `new` → `new`, `active` → `active`,
        `inactive` → None (not ranked). The per-page assignment, experiments included, is `assign_configs`."""
        if lifecycle_state == "inactive":
            return None
        if lifecycle_state not in LIFECYCLE_STATES:
            raise ValueError(f"unknown lifecycle_state {lifecycle_state!r} (known: {list(LIFECYCLE_STATES)})")
        return self.config(lifecycle_state)

    def categories_for(self, slot_type: str) -> list[str]:
        return list(self.model.slot_type_categories[slot_type])


def packaged_ranker_config_text() -> str:
    return importlib_resources.files("of_scheduler_assets").joinpath("config/ranker.yaml").read_text("utf-8")


def load_ranker_config(text: str | None = None, override_text: str | None = None) -> LoadedRankerConfig:
    """Parse (the packaged `ranker.yaml` when `text` is None), merge the override, validate (§6.2)."""
    base_text = packaged_ranker_config_text() if text is None else text
    try:
        raw = yaml.safe_load(base_text) or {}
        if override_text:
            raw = _merge(raw, yaml.safe_load(override_text) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"ranker config is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("ranker config is invalid: the document is not a mapping")
    try:
        model = RankerConfigModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"ranker config is invalid: {problems}") from exc
    problems = _cross_checks(model)
    if problems:
        raise ConfigError(f"ranker config is invalid: {'; '.join(problems)}")
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return LoadedRankerConfig(
        model=_resolve_epsilon(model), raw=raw, config_version=f"{model.version}-{digest[:8]}", sha256=digest
    )


class RankerConfigResource(dg.ConfigurableResource):
    """Loads `ranker.yaml` from the package, merged with the optional override file."""

    override_path: str | None = Field(default=None, description="YAML merged over the packaged ranker config.")

    def load(self) -> LoadedRankerConfig:
        override = Path(self.override_path).read_text("utf-8") if self.override_path else None
        return load_ranker_config(None, override)
