"""pandera models of the semantic tables: every transform output validates; key, dow and hod violations fail."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandera.errors as pe
import polars as pl
import pytest

from of_scheduler_assets.layer_04_semantic import schemas as S
from of_scheduler_assets.layer_04_semantic import transforms as T

from .support import creator_stats_frame, make_fact, pages_frame, ts

AS_OF = dt.date(2025, 9, 28)
PAGES = ["anna__paid", "bella__free", "cora__vip", "tomo__paid"]
TZ = {"tomo__paid": "Asia/Tokyo", "cora__vip": "Europe/Berlin"}


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(400):
        page = PAGES[i % 4]
        sent = int(rng.integers(50, 2000))
        viewed = int(rng.integers(0, sent))
        purchased = int(rng.integers(0, max(1, viewed // 10)))
        price = float(rng.choice([0, 5, 9.99, 15, 25]))
        rows.append(
            dict(username_page=page, caption_id="CAP_" + f"{int(rng.integers(0, 12)):016x}",
                 sending_ts_utc=ts(2025, 6, 1) + dt.timedelta(minutes=int(rng.integers(0, 120 * 24 * 60))),
                 sent=sent, viewed=viewed, purchased=purchased if price else 0,
                 earnings=round(purchased * price, 2) if price else 0, price=price,
                 page_type=page.split("__")[1])
        )  # fmt: skip
    fact = make_fact(rows, tz=TZ)
    pages = pages_frame([{"username_page": p, "page_type": p.split("__")[1], "tz": TZ.get(p, "America/New_York")}
                         for p in PAGES])  # fmt: skip
    cs = creator_stats_frame(
        [{"username_page": p, "active_fans": 100 * (i + 1), "new_fans": 10 * i, "renew_on_rate": 0.1 * i,
          "change_expired_fans_count": i} for i, p in enumerate(PAGES)]
    )  # fmt: skip
    return fact, pages, cs


def outputs(world) -> dict[str, pl.DataFrame]:
    fact, pages, cs = world
    health = T.page_health_7d(fact, pages, cs, AS_OF)
    return {
        "caption_performance_daily": T.caption_performance_daily(
            fact,
            AS_OF,
            captions=pl.DataFrame(
                {"caption_id": [f"CAP_{i:016x}" for i in range(12)], "primary_category": ["a", "b"] * 6}
            ),
        ),  # fmt: skip
        "page_performance_daily": T.page_performance_daily(fact, AS_OF),
        "page_health_7d": health,
        "tier_thresholds": T.tier_thresholds(health, AS_OF),
        "page_tier_assignment": T.page_tier_assignment(health, AS_OF),
        "page_state_daily": T.page_state_daily(health, AS_OF),
        "page_dow_hod_profile": T.page_dow_hod_profile(fact, AS_OF),
        "page_price_profile": T.page_price_profile(fact, AS_OF),
        "page_price_points": T.page_price_points(fact, AS_OF),
        "page_volume_profile": T.page_volume_profile(fact, AS_OF),
        "learning_signals_28d": T.learning_signals_28d(fact, AS_OF),
    }


def test_every_output_validates(world):
    outs = outputs(world)
    assert set(outs) == set(S.SCHEMAS)
    for name, df in outs.items():
        assert df.height > 0, name
        S.SCHEMAS[name].validate(df, lazy=True)
    dh = outs["page_dow_hod_profile"]
    assert dh["dow_local"].null_count() > 0 and set(dh["dow_local"].drop_nulls()) <= set(range(7))


def test_duplicate_keys_rejected(world):
    outs = outputs(world)
    for name in ("caption_performance_daily", "page_performance_daily", "page_dow_hod_profile", "page_state_daily"):
        df = outs[name]
        with pytest.raises(pe.SchemaError):
            S.SCHEMAS[name].validate(pl.concat([df, df.head(1)]))


@pytest.mark.parametrize(("col", "value"), [("dow_local", 7), ("hod_local", 24), ("temporal_multiplier", 1.6)])
def test_dow_hod_ranges(world, col, value):
    df = outputs(world)["page_dow_hod_profile"]
    bad = df.with_columns(pl.lit(value).cast(df.schema[col]).alias(col))
    with pytest.raises(pe.SchemaError):
        S.PageDowHodProfile.validate(bad)


def test_free_page_renew_state_rejected(world):
    df = outputs(world)["page_state_daily"]
    bad = df.with_columns(
        pl.when(pl.col("page_type") == "free")
        .then(pl.lit("retain"))
        .otherwise(pl.col("page_state"))
        .alias("page_state")
    )
    with pytest.raises(pe.SchemaError):
        S.PageStateDaily.validate(bad)


def test_metric_dictionary_covers_section_5():
    md = T.METRIC_DICTIONARY
    assert all(set(m) == {"name", "table", "formula", "unit", "grain"} for m in md)
    names = {m["name"] for m in md}
    for n in ("send_events", "recipients", "rps_gross", "rps_net", "buy_rate", "open_rate", "view_rate",
              "conversion", "revenue_per_event", "arppu", "revenue_per_1k", "decayed_x", "smoothed_rate"):  # fmt: skip
        assert n in names
    assert len({(m["name"], m["table"]) for m in md}) == len(md)
