"""Property: caption_performance_daily summed over captions equals page_performance_daily per page and day
(facts without media-only rows, which only the page level counts)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from of_scheduler_assets.layer_04_semantic.transforms import caption_performance_daily, page_performance_daily

from .support import make_fact

PAGES = ["anna__paid", "bella__free", "tomo__paid"]
TZ = {"tomo__paid": "Asia/Tokyo"}
CAPS = ["CAP_" + c * 16 for c in "abc"]
T0 = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)

event = st.fixed_dictionaries(
    {
        "username_page": st.sampled_from(PAGES),
        "caption_id": st.sampled_from(CAPS),
        "sending_ts_utc": st.integers(0, 6 * 24 * 60).map(lambda m: T0 + dt.timedelta(minutes=m)),
        "sent": st.integers(0, 500),
        "viewed": st.integers(0, 500),
        "purchased": st.integers(0, 20),
        "earnings": st.integers(0, 20_000).map(lambda c: c / 100),
        "price": st.sampled_from([0, 5, 9.99, 25]),
        "eligible": st.booleans(),
        "is_unsent": st.booleans(),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=40))
def test_caption_sums_equal_page_sums(rows):
    f = make_fact(rows, tz=TZ)
    as_of = dt.date(2025, 9, 8)
    keys = ["metric_date", "username_page"]
    sums = ["send_events", "recipients", "views", "purchases", "revenue_gross", "revenue_net"]
    cap = caption_performance_daily(f, as_of).group_by(keys).agg(pl.col(sums).sum())
    page = page_performance_daily(f, as_of)
    joined = page.select(keys + sums + ["rps_gross", "buy_rate", "distinct_captions"]).join(
        cap, on=keys, how="full", suffix="_cap", coalesce=True
    )
    assert joined.height == page.height == cap.height
    for c in sums:
        assert (joined[c] == joined[f"{c}_cap"]).all(), c
    # the page ratio is the ratio of the caption sums
    rps = joined.select(
        pl.when(pl.col("recipients_cap") > 0)
        .then(pl.col("revenue_gross_cap").cast(pl.Float64) / pl.col("recipients_cap"))
        .alias("x"),
        "rps_gross",
    )
    assert ((rps["x"] - rps["rps_gross"]).abs().fill_null(0) < 1e-12).all()
    assert (rps["x"].is_null() == rps["rps_gross"].is_null()).all()
