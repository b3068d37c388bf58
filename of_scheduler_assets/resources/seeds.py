"""Seed CSVs: versioned in the package (`of_scheduler_assets/seeds/`), replaceable per installation.

A file of the same name in the override folder (`OF_SCHEDULER_SEEDS`, default `<home>/seeds`, where the sample world
writes its alias seed) replaces the packaged one. Seeds are read as text; typing is the assets' job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from of_scheduler_assets import settings


@dataclass(frozen=True)
class SeedFile:
    name: str
    frame: pl.DataFrame
    source: str
    sha256: str


def read_seed_bytes(name: str, override_dir: Path | None) -> tuple[bytes, str]:
    if override_dir is not None and (override_dir / f"{name}.csv").is_file():
        path = override_dir / f"{name}.csv"
        return path.read_bytes(), str(path)
    packaged = importlib_resources.files("of_scheduler_assets").joinpath(f"seeds/{name}.csv")
    return packaged.read_bytes(), f"package:seeds/{name}.csv"


def parse_seed(name: str, data: bytes, source: str) -> SeedFile:
    frame = pl.read_csv(data, infer_schema=False) if data.strip() else pl.DataFrame()
    return SeedFile(name=name, frame=frame, source=source, sha256=hashlib.sha256(data).hexdigest())


class SeedsResource(dg.ConfigurableResource):
    """Reads seed CSVs, preferring the override folder over the packaged copies."""

    override_dir: str | None = Field(default=None, description="Folder whose CSVs replace packaged seeds of the same name.")

    def read(self, name: str) -> SeedFile:
        data, source = read_seed_bytes(name, Path(self.override_dir) if self.override_dir else None)
        return parse_seed(name, data, source)


def seeds_resource_from_env() -> SeedsResource:
    return SeedsResource(override_dir=str(settings.seeds_override_dir()))
