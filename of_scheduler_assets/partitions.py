"""The one daily partitioning of the warehouse (20-warehouse §1): UTC dates from ``settings.history_start()`` up to
and including today, so today's sends already have a partition. Facts are partitioned by ``send_date``, daily metrics
by their ``metric_date`` / ``computed_date``; sharing one definition lets a single run cover all of them."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from of_scheduler_assets import settings

DAILY = dg.DailyPartitionsDefinition(start_date=settings.history_start(), end_offset=1)


def window_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partition window as dates: [first, last] inclusive (one partition or a backfill range)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags of a single run over the partition range [first, last] (keys ``YYYY-MM-DD``)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def trailing_keys(days: int, today: dt.date) -> tuple[str, str]:
    """The partition keys of the last ``days`` days ending at ``today`` (clipped to the first partition)."""
    first = max(today - dt.timedelta(days=days - 1), dt.date.fromisoformat(settings.history_start()))
    return first.isoformat(), today.isoformat()
