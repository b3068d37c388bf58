"""`ops_config`: the versioned YAML configuration, its typed models and the Dagster resource that loads it.

The YAML lives in the package (`of_scheduler_assets/config/ops_config.yaml`); an optional override file
(`OF_SCHEDULER_CONFIG`) is merged on top. Sections are typed models; later layers add theirs (ranker, planning, ...).
An invalid file raises `ConfigError` with the offending keys, and nothing downstream runs on it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _valid_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not an IANA time zone: {value!r}") from exc
    return value


class PlatformConfig(_Section):
    report_timezone: str = "America/Denver"
    default_page_timezone: str = "America/New_York"
    team_timezone: str = "Asia/Manila"
    platform_fee: float = Field(0.20, ge=0.0, lt=1.0)
    maturity_hours: int = Field(72, ge=0)
    max_price_usd: float = Field(1000, gt=0)

    _zones = field_validator("report_timezone", "default_page_timezone", "team_timezone")(_valid_zone)


class IngestionConfig(_Section):
    allow_file_urls: bool = True
    max_new_messages_per_run: int = Field(500, ge=1)
    max_new_messages_per_backfill: int = Field(5000, ge=1)
    run_time_budget_s: int = Field(1500, ge=1)
    run_bytes_budget: int = Field(1 << 30, ge=1)
    max_download_bytes: int = Field(50 << 20, ge=1)
    max_attempts_before_alert: int = Field(3, ge=1)
    activity_window_days: int = Field(21, ge=1)


class GmailConfig(_Section):
    query: str
    list_page_size: int = Field(100, ge=1, le=500)


class ArchiveConfig(_Section):
    prefix: str | None = None


class ExportsConfig(_Section):
    team_sheets: str = Field("xlsx", pattern="^(xlsx|gsheets)$")


class WarehouseConfig(_Section):
    """20-warehouse: rebuild windows of the partitioned tables and the semantic parameters."""

    fact_rebuild_days: int = Field(9, ge=1)
    metrics_rebuild_days: int = Field(10, ge=1)
    probation_days: int = Field(7, ge=0)
    temporal_window_days: int = Field(180, ge=7)
    temporal_half_life_days: float = Field(45.0, gt=0)
    temporal_prior_sends: float = Field(3.0, ge=0)
    price_window_days: int = Field(90, ge=7)
    price_half_life_days: float = Field(14.0, gt=0)


class OpsConfigModel(_Section):
    version: str
    platform: PlatformConfig
    ingestion: IngestionConfig
    gmail: GmailConfig
    archive: ArchiveConfig
    freshness: dict[str, float]
    exports: ExportsConfig
    warehouse: WarehouseConfig = WarehouseConfig()


def packaged_config_text() -> str:
    return importlib_resources.files("of_scheduler_assets").joinpath("config/ops_config.yaml").read_text("utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


class LoadedConfig(BaseModel):
    model: OpsConfigModel
    raw: dict[str, Any]
    config_version: str
    sha256: str


def load_config(base_text: str, override_text: str | None = None) -> LoadedConfig:
    """Parse, merge and validate; `config_version` = version + first 8 hex of the merged content's sha256."""
    try:
        raw = yaml.safe_load(base_text) or {}
        if override_text:
            raw = _merge(raw, yaml.safe_load(override_text) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"ops_config is not valid YAML: {exc}") from exc
    try:
        model = OpsConfigModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"ops_config is invalid: {problems}") from exc
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return LoadedConfig(model=model, raw=raw, config_version=f"{model.version}-{digest[:8]}", sha256=digest)


class OpsConfigResource(dg.ConfigurableResource):
    """Loads `ops_config.yaml` from the package, merged with the optional override file `OF_SCHEDULER_CONFIG`."""

    override_path: str | None = Field(default=None, description="YAML merged over the packaged config (production).")

    def load(self) -> LoadedConfig:
        override = Path(self.override_path).read_text("utf-8") if self.override_path else None
        return load_config(packaged_config_text(), override)
