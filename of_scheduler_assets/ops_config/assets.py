"""Dagster wiring of the `ops_config` layer: the loaded YAML and the seed tables (content hash = data version)."""


import dagster as dg
import polars as pl

from of_scheduler_assets.checks.contracts import contract_check
from of_scheduler_assets.ops_config import override_schemas, overrides, schemas, transforms
from of_scheduler_assets.resources.config import OpsConfigResource
from of_scheduler_assets.resources.seeds import SeedsResource

GROUP = "ops_config"


@dg.asset(key_prefix=[GROUP], group_name=GROUP, description="The validated ops_config.yaml (+ override), one row per setting.")
def ops_config(ops_config_file: OpsConfigResource) -> dg.Output[pl.DataFrame]:
    loaded = ops_config_file.load()
    frame = transforms.flatten_config(loaded.raw, loaded.config_version, loaded.sha256)
    return dg.Output(
        frame,
        data_version=dg.DataVersion(loaded.sha256),
        metadata={"config_version": loaded.config_version, "settings": frame.height},
    )


def _seed_asset(name: str, transform, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, key_prefix=[GROUP], group_name=GROUP, description=description)
    def _asset(seeds: SeedsResource) -> dg.Output[pl.DataFrame]:
        seed = seeds.read(name)
        frame = transform(seed)
        return dg.Output(
            frame,
            data_version=dg.DataVersion(seed.sha256),
            metadata={"seed_source": seed.source, "seed_sha256": seed.sha256, "rows": frame.height},
        )

    return _asset


page_aliases = _seed_asset("page_aliases", transforms.page_aliases, "Alias spellings of page names (10-ingestion §6.2).")
scheduler_roster = _seed_asset("scheduler_roster", transforms.scheduler_roster, "Schedulers and their sender aliases.")
explicitness_map = _seed_asset("explicitness_map", transforms.explicitness_map, "Caption-logger content tag -> level.")
page_registry = _seed_asset("page_registry", transforms.passthrough_seed, "Known pages with time zones (seed).")

page_overrides = _seed_asset("page_overrides", overrides.page_overrides,
                             "Per-page overrides: tier, scheduler, local send window, explicitness, time zones.")
active_overrides = _seed_asset("active_overrides", overrides.active_overrides,
                               "Force a page in or out of the active set, with a note (20-warehouse §3.6).")
cooldown_overrides = _seed_asset("cooldown_overrides", overrides.cooldown_overrides,
                                 "Per (page, caption) minimum hours since the last send on the page while in effect "
                                 "(blocked_by_override, 30-ml §5.7).")

ASSETS = [ops_config, page_aliases, scheduler_roster, explicitness_map, page_registry, page_overrides, active_overrides,
          cooldown_overrides]
CHECKS = [
    contract_check(ops_config.key, schemas.OpsConfigTable),
    contract_check(page_aliases.key, schemas.PageAliases),
    contract_check(scheduler_roster.key, schemas.SchedulerRoster),
    contract_check(explicitness_map.key, schemas.ExplicitnessMap),
    contract_check(page_overrides.key, override_schemas.PageOverrides),
    contract_check(active_overrides.key, override_schemas.ActiveOverrides),
    contract_check(cooldown_overrides.key, override_schemas.CooldownOverrides),
]
