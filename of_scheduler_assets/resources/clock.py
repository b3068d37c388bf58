"""The computation clock: every "as of now" in the model (activity windows, probation, profiles) reads it.

Production leaves it unset (wall clock). Setting ``OF_SCHEDULER_AS_OF`` (ISO datetime, UTC when naive) pins it, which
makes a whole run reproducible and lets a historical world be evaluated as of its last day.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from pydantic import Field

from of_scheduler_assets import settings


def parse_as_of(value: str) -> dt.datetime:
    ts = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


class ClockResource(dg.ConfigurableResource):
    """``now()`` in UTC: the pinned ``as_of`` when set, else the wall clock."""

    as_of: str | None = Field(default=None, description="ISO datetime to evaluate the model at; unset = wall clock.")

    def now(self) -> dt.datetime:
        return parse_as_of(self.as_of) if self.as_of else dt.datetime.now(dt.UTC)


def clock_resource_from_env() -> ClockResource:
    return ClockResource(as_of=dg.EnvVar("OF_SCHEDULER_AS_OF") if settings._env("OF_SCHEDULER_AS_OF") else None)
