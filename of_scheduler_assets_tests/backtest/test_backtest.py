"""Walk-forward backtest (30-ml-and-ranking §10.2) on a tiny synthetic fact with a known per-caption buy rate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from of_scheduler_assets.layer_05_ml.backtest import (
    CAVEATS,
    fit_frame,
    fold_week_starts,
    spearman,
    walk_forward,
)
from of_scheduler_assets_tests.semantic.support import make_fact, pages_frame

UTC = dt.UTC
PAGES = ["a__paid", "b__paid", "c__paid"]
DIM = pages_frame([{"username_page": p} for p in PAGES])
START = dt.datetime(2025, 6, 2, tzinfo=UTC)  # a Monday
AS_OF = START + dt.timedelta(weeks=10, hours=3)  # Monday of week 10, 03:00
N_CAPS = 8


def _cap(page: str, j: int) -> str:
    return f"CAP_{page[0]}{j:015d}"


def _rate(j: int) -> float:
    return 0.01 + 0.025 * j  # caption j's true buy rate: 0.01 … 0.185


def synthetic_rows(seed: int = 3, sends_per_week: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(10):
        for p in PAGES:
            for s in range(sends_per_week):
                j = int(rng.integers(0, N_CAPS))
                ts = START + dt.timedelta(weeks=w, days=s, hours=int(rng.integers(13, 23)))
                sent = int(rng.integers(150, 400))
                price = [10, 15, 20][int(rng.integers(0, 3))]
                bought = int(rng.binomial(sent, _rate(j)))
                rows.append(dict(username_page=p, caption_id=_cap(p, j), sending_ts_utc=ts, sent=sent,
                                 viewed=min(sent, bought * 3 + 10), purchased=bought, earnings=bought * price,
                                 price=price, message_send_key=f"{p[0]}{w:02d}{s:02d}"))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def fact() -> pl.DataFrame:
    return make_fact(synthetic_rows())


@pytest.fixture(scope="module")
def result(fact):
    return walk_forward(fact, DIM, as_of=AS_OF, weeks=8, n_boot=200, top_k=3)


def _pred_for(res, key: str) -> float:
    return res.predictions.filter(pl.col("message_send_key") == key)["predicted_rps"].item()


# --- folds ------------------------------------------------------------------------------------------------------------


def test_fold_weeks_are_the_last_whole_iso_weeks():
    starts = fold_week_starts(AS_OF, 3)
    assert [s.date() for s in starts] == [dt.date(2025, 7, 21), dt.date(2025, 7, 28), dt.date(2025, 8, 4)]
    assert all(s.weekday() == 0 and s.hour == 0 for s in starts)


def test_folds_shape(result):
    assert result.folds.height == 8
    assert result.fit_source == "fact_first_report"
    assert result.folds["eval_sends"].sum() == result.predictions.height == 8 * 3 * 7
    assert set(result.per_fold) == set(result.folds["week_start"].to_list())
    # every evaluated send lies in its fold's week, after the cutoff
    p = result.predictions
    assert (p["sending_ts_utc"].dt.date() >= p["week_start"]).all()
    assert (p["sending_ts_utc"].dt.date() < p["week_start"] + dt.timedelta(days=7)).all()
    # fits grow with the cutoff
    assert result.folds["fit_rows"].is_sorted()


def _leak_case(first_report_offset_h: float):
    """Week 9 is evaluated (weeks=1, cutoff = Monday of week 9); a week-8 send of caption a/7 (true rate high)
    with ZERO purchases, first reported ``first_report_offset_h`` hours after the cutoff."""
    rows = synthetic_rows()
    cutoff = START + dt.timedelta(weeks=9)
    rows.append(
        dict(
            username_page="a__paid",
            caption_id=_cap("a", 7),
            sending_ts_utc=cutoff - dt.timedelta(hours=2),
            sent=5000,
            viewed=100,
            purchased=0,
            earnings=0,
            price=10,
            message_send_key="leak",
        )
    )
    rows.append(dict(username_page="a__paid", caption_id=_cap("a", 7), sending_ts_utc=cutoff + dt.timedelta(hours=20),
                     sent=200, viewed=50, purchased=30, earnings=300, price=10, message_send_key="probe"))  # fmt: skip
    f = make_fact(rows).with_columns(
        pl.when(pl.col("message_send_key") == "leak")
        .then(pl.lit(cutoff + dt.timedelta(hours=first_report_offset_h)))
        .otherwise(pl.col("first_report_received_at"))
        .alias("first_report_received_at")
    )
    return f, cutoff


def test_send_received_after_cutoff_never_enters_the_fit():
    f_late, cutoff = _leak_case(+1)
    f_early, _ = _leak_case(-1)
    without = make_fact([r for r in synthetic_rows()] + [
        dict(username_page="a__paid", caption_id=_cap("a", 7), sending_ts_utc=cutoff + dt.timedelta(hours=20),
             sent=200, viewed=50, purchased=30, earnings=300, price=10, message_send_key="probe")])  # fmt: skip
    kw = dict(as_of=AS_OF, weeks=1, n_boot=10, top_k=3, plot=False)
    late, early, base = (walk_forward(f, DIM, **kw) for f in (f_late, f_early, without))
    assert "leak" not in fit_frame(f_late, cutoff)["message_send_key"].to_list()
    assert "leak" in fit_frame(f_early, cutoff)["message_send_key"].to_list()
    assert _pred_for(late, "probe") == pytest.approx(_pred_for(base, "probe"), rel=1e-12)
    # the same send received before the cutoff does change the prediction (a 5000-recipient zero-buy send)
    assert _pred_for(early, "probe") < 0.8 * _pred_for(base, "probe")


def _events_from(fact: pl.DataFrame) -> pl.DataFrame:
    """One snapshot per send at first_report_received_at with the fact's metrics."""
    return fact.select(
        "message_send_key", pl.col("first_report_received_at").alias("report_received_at"),
        pl.col("first_report_received_at").alias("ingested_at"), pl.lit(1, pl.Int64).alias("row_number"),
        "sent", "viewed", "purchased", pl.col("earnings_gross_usd").alias("earnings_usd"),
    )  # fmt: skip


def test_snapshots_by_cutoff_replace_latest_metrics():
    """With stg_message_events the fit uses each send's latest snapshot received by the cutoff: the 'leak' send was
    first reported before the cutoff with 0 purchases and grew to 2500 purchases later; the growth must not leak."""
    f_early, cutoff = _leak_case(-1)  # first report 1 h before the cutoff
    events = _events_from(f_early)
    grown = f_early.with_columns(
        pl.when(pl.col("message_send_key") == "leak").then(2500).otherwise(pl.col("purchased")).alias("purchased"),
        pl.when(pl.col("message_send_key") == "leak").then(2500).otherwise(pl.col("viewed")).alias("viewed"),
        pl.when(pl.col("message_send_key") == "leak").then(pl.lit(25000).cast(pl.Decimal(12, 2)))
        .otherwise(pl.col("earnings_gross_usd")).alias("earnings_gross_usd"),
    )  # fmt: skip
    later = events.filter(pl.col("message_send_key") == "leak").with_columns(
        (pl.col("report_received_at") + dt.timedelta(days=2)).alias("report_received_at"),
        pl.lit(2500, pl.Int64).alias("purchased"), pl.lit(2500, pl.Int64).alias("viewed"),
        pl.lit(25000).cast(pl.Decimal(12, 2)).alias("earnings_usd"),
    )  # fmt: skip
    events = pl.concat([events, later.select(events.columns)])
    kw = dict(as_of=AS_OF, weeks=1, n_boot=10, top_k=3, plot=False)
    snap = walk_forward(grown, DIM, events=events, **kw)
    leaky = walk_forward(grown, DIM, **kw)
    exact = walk_forward(f_early, DIM, **kw)  # the fact as it was at the cutoff
    assert snap.fit_source == "snapshots" and leaky.fit_source == "fact_first_report"
    assert _pred_for(snap, "probe") == pytest.approx(_pred_for(exact, "probe"), rel=1e-9)
    assert _pred_for(leaky, "probe") > 1.5 * _pred_for(snap, "probe")
    ff = fit_frame(grown, cutoff, events).filter(pl.col("message_send_key") == "leak")
    assert ff["purchased"].item() == 0


def test_only_mature_sends_are_evaluated(fact):
    wk9 = START + dt.timedelta(weeks=9)
    key = fact.filter(pl.col("sending_ts_utc") >= wk9)["message_send_key"][0]
    young = fact.with_columns(
        pl.when(pl.col("message_send_key") == key)
        .then(pl.col("sending_ts_utc") + dt.timedelta(hours=71))
        .otherwise(pl.col("latest_report_received_at"))
        .alias("latest_report_received_at")
    )
    res = walk_forward(young, DIM, as_of=AS_OF, weeks=1, n_boot=10, top_k=3, plot=False)
    assert key not in res.predictions["message_send_key"].to_list()
    assert res.folds["immature_excluded"].item() == 1
    assert res.folds["eval_sends"].item() == 3 * 7 - 1


# --- measures ---------------------------------------------------------------------------------------------------------


def test_calibration_deciles_are_recipient_weighted_ratios_of_sums(result):
    p = result.predictions.sort("predicted_rps", "message_send_key")
    n = p.height
    p = p.with_columns((pl.int_range(0, n) * 10 // n + 1).alias("d"))
    cal = result.calibration
    assert cal["decile"].to_list() == list(range(1, 11))
    assert cal["sends"].sum() == n and cal["sends"].max() - cal["sends"].min() <= 1
    differs = False
    for d in range(1, 11):
        g = p.filter(pl.col("d") == d)
        row = cal.filter(pl.col("decile") == d).row(0, named=True)
        real = g["earnings"].sum() / g["recipients"].sum()
        predm = (g["recipients"] * g["predicted_rps"]).sum() / g["recipients"].sum()
        assert row["realised_rps"] == pytest.approx(real, rel=1e-12)
        assert row["mean_predicted_rps"] == pytest.approx(predm, rel=1e-12)
        differs |= abs(real - g["realised_rps"].mean()) > 1e-9
    assert differs  # not a mean of per-send RPS
    assert cal["mean_predicted_rps"].is_sorted()


def test_model_ranks_captions_that_truly_differ(result):
    s = {r["measure"]: r for r in result.summary.iter_rows(named=True)}
    assert s["spearman"]["estimate"] > 0.3
    assert s["lift_rps_diff"]["estimate"] > 0
    assert s["lift_rps_ratio"]["estimate"] > 1
    assert s["dm_ratio_all"]["estimate"] >= s["dm_ratio_sent_set"]["estimate"] >= 1.0
    assert 0.6 < s["calibration_ratio"]["estimate"] < 1.5
    # realised RPS rises with the predicted deciles
    cal = result.calibration
    assert cal["realised_rps"][-1] > cal["realised_rps"][0]


def test_spearman_helper():
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # ties take average ranks: x ranks (1.5, 1.5, 3, 4), y ranks (1, 2, 3, 4)
    rx, ry = np.array([1.5, 1.5, 3, 4]), np.array([1.0, 2, 3, 4])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    want = (rx @ ry) / np.sqrt((rx @ rx) * (ry @ ry))
    assert spearman(np.array([5.0, 5, 6, 7]), np.array([1.0, 2, 3, 4])) == pytest.approx(want)
    assert np.isnan(spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])))


def test_bootstrap_reproducible_and_contains_estimate(fact, result):
    again = walk_forward(fact, DIM, as_of=AS_OF, weeks=8, n_boot=200, top_k=3, plot=False)
    assert again.summary.equals(result.summary)
    other = walk_forward(fact, DIM, as_of=AS_OF, weeks=8, n_boot=200, top_k=3, seed=8, plot=False)
    assert not other.summary["ci_low"].equals(result.summary["ci_low"])
    assert other.summary["estimate"].equals(result.summary["estimate"])
    for r in result.summary.iter_rows(named=True):
        assert r["ci_low"] <= r["estimate"] <= r["ci_high"], r["measure"]
        assert r["n_clusters"] == 8 * 3
        assert r["n_eff"] > 0
        for c in ("unit_mean", "unit_median", "unit_trimmed_mean"):
            assert r[c] is not None


def test_direct_method_per_page_week(result):
    dm = result.direct_method
    assert dm.height == 8 * 3
    assert (dm["model_value_all"] >= dm["model_value_sent_set"] - 1e-9).all()
    assert (dm["model_value_sent_set"] >= dm["human_value"] - 1e-9).all()
    p = result.predictions
    tot = (p["recipients"] * p["top1_all_rps"]).sum() / (p["recipients"] * p["predicted_rps"]).sum()
    est = result.summary.filter(pl.col("measure") == "dm_ratio_all")["estimate"].item()
    assert est == pytest.approx(tot, rel=1e-12)


def test_lift_strata_and_top_k(result):
    p = result.predictions
    # at most top_k distinct captions per page-week are in the top-k
    per = p.filter(pl.col("in_top_k")).group_by("username_page", "week_start").agg(pl.col("caption_id").n_unique())
    assert per["caption_id"].max() <= 3
    st = result.lift_strata
    assert st["stratum_sends"].sum() == p.height
    assert st.filter(pl.col("has_contrast")).height > 0


def test_caveats_and_report(result):
    low = CAVEATS.lower()
    for word in ("positivity", "confounding", "interference", "maturity", "drift", "propensit"):
        assert word in low
    assert result.caveats == CAVEATS
    assert "## Summary" in result.report_md and "## Caveats" in result.report_md
    assert "spearman" in result.report_md
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result.calibration_png is None
    else:
        assert result.calibration_png[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_data_before_as_of(fact):
    res = walk_forward(fact, DIM, as_of=START - dt.timedelta(days=30), weeks=2, n_boot=10, plot=False)
    assert res.predictions.height == 0 and res.summary.height == 0
    assert res.folds["eval_sends"].to_list() == [0, 0]
    assert "## Caveats" in res.report_md


def test_never_sent_caption_takes_the_page_prior():
    wk9 = START + dt.timedelta(weeks=9)
    probe = dict(username_page="b__paid", caption_id="CAP_new0000000000000", sending_ts_utc=wk9 + dt.timedelta(hours=30),
                 sent=100, purchased=5, viewed=20, earnings=50, price=10, message_send_key="new")  # fmt: skip
    f = make_fact(synthetic_rows() + [probe])
    res = walk_forward(f, DIM, as_of=AS_OF, weeks=1, n_boot=10, top_k=3, plot=False)
    row = res.predictions.filter(pl.col("message_send_key") == "new").row(0, named=True)
    assert row["prior_level"] == "page"
    from of_scheduler_assets.layer_05_ml.priors import page_priors

    pp = page_priors(fit_frame(f, wk9), DIM, wk9).filter(pl.col("username_page") == "b__paid").row(0, named=True)
    assert row["p_buy"] == pytest.approx(pp["mu_P"], rel=1e-12)
    want = 10 * pp["mu_P"] * (10 / pp["ref_price"]) ** (-pp["beta_P"])
    assert row["predicted_rps"] == pytest.approx(want, rel=1e-9)
