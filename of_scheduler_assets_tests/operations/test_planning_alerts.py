"""40-planning §8: INFEASIBLE_WINDOW findings of the latest QA run become "Schedule Check" alerts."""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_06_rankings.planning_schemas import QA_SCHEMA
from of_scheduler_assets.ops_monitor.alerts import ALERT_SCHEMA, planning_alerts

T0 = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def qa_rows(run_at: dt.datetime, rows: list[tuple[str, str, dt.date]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"run_at": run_at, "check_name": c, "severity": "WARN", "username_page": p, "date_local": d,
          "details": f"window [20, 22] cannot hold 3 PPVs 2 h apart ({c})", "run_id": run_at.isoformat()}
         for c, p, d in rows],
        schema_overrides=QA_SCHEMA,
    ).select([pl.col(c).cast(t) if c in {"run_at", "check_name", "severity", "username_page", "date_local",
                                             "details", "run_id"} else pl.lit(None, t).alias(c)
              for c, t in QA_SCHEMA.items()])  # fmt: skip


def test_infeasible_windows_of_the_latest_run_become_schedule_check_alerts():
    d1, d2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
    old = qa_rows(T0, [("INFEASIBLE_WINDOW", "gone__paid", d1)])
    new = qa_rows(T0 + dt.timedelta(hours=24), [("INFEASIBLE_WINDOW", "a__paid", d1), ("INFEASIBLE_WINDOW", "a__paid", d2),
                                               ("MIN_GAP_LT_2H", "b__paid", d1)])  # fmt: skip
    alerts = planning_alerts(pl.concat([old, new]))
    assert alerts.schema == pl.Schema(ALERT_SCHEMA)
    assert alerts.height == 2  # the latest run only; other checks are not alerts
    assert set(alerts["username_page"]) == {"a__paid"}
    assert (alerts["severity"] == "WARNING").all() and (alerts["alert_type"] == "Schedule Check").all()
    assert (alerts["action_required"] == "Review timing").all()
    assert sorted(m.split(":")[0] for m in alerts["message"]) == [f"Check schedule for {d1}", f"Check schedule for {d2}"]
    # the same finding in a later run keeps its alert id (one open alert per page-day, not one per run)
    again = planning_alerts(qa_rows(T0 + dt.timedelta(hours=48), [("INFEASIBLE_WINDOW", "a__paid", d1)]))
    assert again["alert_id"][0] in set(alerts["alert_id"])


def test_no_findings_no_alerts():
    assert planning_alerts(qa_rows(T0, [("MIN_GAP_LT_2H", "a__paid", dt.date(2026, 11, 24))])).is_empty()
    assert planning_alerts(pl.DataFrame(schema=QA_SCHEMA)).is_empty()
