"""Local folders of the platform: the reference-data drop (inbox), the raw archive and the export files."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from of_scheduler_assets import settings


class StorageResource(dg.ConfigurableResource):
    inbox_dir: str = Field(description="file drops: caption_bank/, creator_stats/, scheduler_assignments/")
    archive_dir: str = Field(description="content-addressed archive of every raw file (10-ingestion §2.8)")
    exports_dir: str = Field(description="local export files")

    @property
    def inbox(self) -> Path:
        return Path(self.inbox_dir)

    @property
    def archive(self) -> Path:
        return Path(self.archive_dir)

    @property
    def exports(self) -> Path:
        return Path(self.exports_dir)


def storage_resource_from_env() -> StorageResource:
    return StorageResource(
        inbox_dir=str(settings.inbox_dir()), archive_dir=str(settings.archive_dir()), exports_dir=str(settings.exports_dir())
    )
