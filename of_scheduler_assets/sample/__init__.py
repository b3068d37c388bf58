"""Deterministic synthetic world for of-scheduler (no Dagster imports).

``of-scheduler-sample [--scale 1.0] [--seed 7] [--out DIR] [--days 180] [--end-date 2026-11-01] [--faults 0.0]
[--workers N]`` (also ``python -m of_scheduler_assets.sample``) writes under OUT (default ``settings.home()``):

* ``inbox/reports/YYYY-MM-DD/<safe message id>.eml``: one Infloww notification per active page per day.
* ``downloads/<username_page>/<YYYY-MM-DD>_<id>.xlsx``: the linked report (10-ingestion §3 exact format).
* ``inbox/caption_bank/``: ``bank_{ppv,bump,renew,tip}.csv`` (26 header names, 16 values per row, CRLF, BOM on ppv/tip)
  and ``caption_logger_{bump,ppv}.csv``.
* ``inbox/creator_stats/creator_statistics_<period end>.csv``: weekly snapshots (§11).
* ``inbox/scheduler_assignments/scheduler_assignments.csv`` (§12).
* ``seeds/page_aliases.csv`` (``alias,username_std,page_type,source,note,valid_from``; ``page_type`` is pinned only
  for creators with one page, otherwise the name's page-type token decides), ``seeds/scheduler_roster.csv``
  (``scheduler_code,display_name,email,is_manager,is_active,can_view_all,sender_aliases``) and
  ``seeds/page_registry.csv`` with columns ``username_page`` (key), ``username_std``, ``page_type``
  (free/paid/vip), ``display_name``, ``tz`` (page IANA zone), ``report_tz`` (zone of report wall times),
  ``is_paid`` (true for paid and vip), ``state`` (active), ``active_from`` (first report date),
  ``assigned_scheduler_code`` (empty = unassigned).
* ``truth/``: ``pages.parquet``, ``captions.parquet``, ``dow_hod_effects.parquet``, ``events.parquet``,
  ``params.json``; the model is :mod:`.truth`.
* ``sample_manifest.json`` and ``faults_manifest.json`` (see :mod:`.faults`).

Only the generator's own sub-folders/files above are wiped before writing.
"""

GENERATOR_VERSION = "0.1.0"
