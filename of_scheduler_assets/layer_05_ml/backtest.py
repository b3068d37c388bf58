"""Walk-forward backtest of the prior-chain model on logged data (`30-ml-and-ranking.md` §10.2). Pure polars + numpy.

Folds
-----
Weeks are ISO weeks in UTC (Monday 00:00 UTC to the next Monday). The evaluated weeks are the last ``weeks`` whole
weeks before ``as_of`` (the week containing ``as_of`` is not evaluated). Evaluated week T+1 starting at ``W`` is
predicted by the prior chain (``page_priors`` / ``caption_priors``) fitted at ``cutoff = W`` (the end of week T) on
the data known at that time:

* ``events`` given (``stg_message_events``, one row per snapshot): every fact row whose send is before the cutoff and
  that has a snapshot received by the cutoff, with the metrics (``sent``, ``viewed``, ``purchased``,
  ``earnings_usd`` → ``earnings_gross_usd``) of its latest snapshot received by the cutoff (ties: latest
  ``ingested_at``, lowest ``row_number``, as ``latest_snapshots``); ``is_model_eligible`` is recomputed from that
  snapshot's quality flag. No later metric growth leaks (``fit_source = "snapshots"``).
* otherwise (``fit_source = "fact_first_report"``): the fact rows with ``first_report_received_at`` ≤ cutoff, with
  their LATEST metrics treated as known at the cutoff. That leaks later metric growth (purchases that arrived after
  the cutoff) into the fit; it is stated in the caveats.

Evaluation (per fold): PPV sends (``price_cents`` > 0) of the week with ``is_model_eligible``, ``sent`` > 0 and mature
metrics (latest snapshot ≥ ``maturity_hours`` after sending). Predicted RPS = q × p(q) with p the caption-on-page
``p_buy`` of the chain (a caption absent from the priors, and a send without caption, takes the page row: ``μ_P``)
and the price adjustment ``price_adjusted(p, q, q̄, β_P)``; realised RPS = earnings_gross / sent.

Measures
--------
(a) calibration: pooled sends in 10 deciles of predicted RPS (ordinal rank on (predicted, ``message_send_key``)); per
    decile the recipient-weighted mean predicted RPS Σ sent·pred / Σ sent and the realised RPS Σ earnings / Σ sent
    (ratios of sums); overall ``calibration_ratio`` = Σ earnings / Σ sent·pred; Spearman rank correlation (average
    ranks) between predicted and realised per-send RPS.
(b) agreement-stratified lift: per page-week the distinct captions sent are ranked by the model's caption score
    (q_ref × p(q_ref), q_ref the page reference price; the ordering does not depend on q_ref); a send is "in top-k"
    when its caption ranks ≤ ``top_k``. Strata page × DOW × 4-hour block × price band (pooled over weeks); in each
    stratum with both groups, RPS_in − RPS_out (ratios of sums); estimate Σ n_s (RPS_in − RPS_out) / Σ n_s with n_s
    the stratum's send count (and the ratio Σ n_s RPS_in / Σ n_s RPS_out). Sends without caption are excluded.
(c) direct method under the fitted model: per page-week, the model value of its top-1 caption in every send's place
    (same recipients and price) vs the model value of the sends made: Σ sent·q·p_top1(q) / Σ sent·q·p_c(q). Two
    candidate sets: ``all`` (every caption of the page's priors, incl. the never-sent page row) and ``sent_set``
    (captions the humans sent on that page that week; less extrapolation).

Uncertainty: a bootstrap over page-week clusters (``n_boot`` resamples with replacement of the clusters, one
``numpy.random.Generator(seed)``; the same draws for every measure), 95 % percentile intervals; Kish effective sample
sizes (Σw)² / Σw² of the weights of each estimate; mean, median and 10 % trimmed mean (10 % cut from each tail) of the
per-unit values (sends, strata or page-weeks, see ``unit``) next to the ratio-of-sums estimate.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from of_scheduler_assets.layer_03_foundation.transforms import ELIGIBLE_FLAGS, quality_flag_expr
from of_scheduler_assets.layer_05_ml.priors import caption_priors, dsum, page_priors, price_adjusted

__all__ = ["CAVEATS", "BacktestResult", "fit_frame", "fold_week_starts", "spearman", "walk_forward"]

UTC_US = pl.Datetime("us", "UTC")
MATURITY_HOURS = 72.0
DEFAULT_PRICE_BAND_EDGES = (10.0, 20.0, 40.0)
METRIC_COLS = ["sent", "viewed", "purchased", "earnings_gross_usd"]

CAVEATS = """\
Caveats of the walk-forward backtest on logged data (30-ml-and-ranking §10.2):
- No propensities: the human choices were not logged with their probabilities, so inverse-propensity (IPS) and
  doubly-robust (DR) estimates are not valid and are not reported; every number here is observational.
- Confounding: the humans chose captions, times and prices with information we do not see (fan chatter, promotions,
  creator context); realised differences between sends the model agrees with and the others mix model quality with
  that information. The stratified lift (b) is agreement, not a causal effect.
- Positivity: never-tried (caption, slot, price) pairs are extrapolated by the model; the direct-method estimate (c)
  over all captions values captions the page never sent with the prior chain itself (the `sent_set` variant limits
  this to captions the humans sent that week).
- Interference: one mass message affects the purchases of the next few hours' messages (fatigue, cannibalisation);
  sends are not independent units and the direct method ignores it (and ignores repeat/fatigue constraints).
- Maturity: purchases keep arriving for days; only sends whose latest snapshot is >= 72 h after sending are
  evaluated, and younger metrics in the fit understate rates.
- Drift: behaviour, audiences and prices drift; a fold fitted at week T says little about weeks far ahead, and the
  average over 12 folds hides trends (see the per-fold table).
- Look-ahead: when the snapshot history (stg_message_events) is not supplied, each fold uses the sends first reported
  by its cutoff but with their LATEST metrics, leaking later metric growth into the fit (fit_source
  fact_first_report). With the snapshots each send's latest snapshot received by the cutoff is used.
- Weeks are ISO weeks in UTC; DOW and hour blocks are page-local; eligibility at a cutoff is recomputed from the
  snapshot's quality flag.
- The only unbiased answer is prospective randomisation: a per-page slot-level switchback between the ranker and the
  humans, possible once recommendations are followed and logged with their probabilities.
"""


@dataclass(frozen=True)
class BacktestResult:
    """Output of ``walk_forward``.

    ``folds``: one row per evaluated week (cutoff, fit rows, evaluated/immature sends, per-fold measures).
    ``per_fold``: evaluated sends with predictions, keyed by the week's Monday (UTC date).
    ``predictions``: all folds' evaluated sends (the concatenation of ``per_fold``).
    ``calibration``: deciles of predicted RPS (measure a).
    ``lift_strata``: per stratum RPS in / out of the model's top-k (measure b).
    ``direct_method``: per page-week model vs human value (measure c).
    ``summary``: one row per measure: estimate, 95 % cluster-bootstrap interval, sizes, robust unit statistics.
    """

    folds: pl.DataFrame
    per_fold: dict[dt.date, pl.DataFrame]
    predictions: pl.DataFrame
    calibration: pl.DataFrame
    lift_strata: pl.DataFrame
    direct_method: pl.DataFrame
    summary: pl.DataFrame
    caveats: str
    report_md: str
    fit_source: str
    calibration_png: bytes | None = None
    params: dict = field(default_factory=dict)


# --- folds and as-of data ---------------------------------------------------------------------------------------------


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def _week_start(ts: dt.datetime) -> dt.datetime:
    d = _utc(ts).date()
    monday = d - dt.timedelta(days=d.weekday())
    return dt.datetime.combine(monday, dt.time(0), tzinfo=dt.UTC)


def fold_week_starts(as_of: dt.datetime, weeks: int) -> list[dt.datetime]:
    """Mondays 00:00 UTC of the last ``weeks`` whole ISO weeks before ``as_of`` (oldest first)."""
    current = _week_start(as_of)
    return [current - dt.timedelta(days=7 * i) for i in range(weeks, 0, -1)]


def fit_frame(fact: pl.DataFrame, cutoff: dt.datetime, events: pl.DataFrame | None = None) -> pl.DataFrame:
    """The fact as known at ``cutoff`` (see the module docstring): snapshot-exact with ``events``, else the rows
    first reported by the cutoff with their latest metrics."""
    cutoff = _utc(cutoff)
    c = pl.lit(cutoff).cast(UTC_US)
    base = fact.filter(pl.col("sending_ts_utc") < c)
    if events is None:
        return base.filter(pl.col("first_report_received_at").is_not_null() & (pl.col("first_report_received_at") <= c))
    order, desc = ["message_send_key", "report_received_at"], [False, True]
    for col, d in (("ingested_at", True), ("row_number", False)):
        if col in events.columns:
            order.append(col)
            desc.append(d)
    snap = (
        events.filter(pl.col("report_received_at") <= c)
        .sort(order, descending=desc)
        .unique("message_send_key", keep="first", maintain_order=True)
        .select(
            "message_send_key",
            pl.col("sent").alias("_s_sent"),
            pl.col("viewed").alias("_s_viewed"),
            pl.col("purchased").alias("_s_purchased"),
            pl.col("earnings_usd").alias("_s_earn"),
        )
    )
    joined = base.join(snap, on="message_send_key", how="inner")
    flag = quality_flag_expr().is_in(ELIGIBLE_FLAGS)
    out = joined.with_columns(
        pl.col("_s_sent").cast(fact.schema["sent"]).alias("sent"),
        pl.col("_s_viewed").cast(fact.schema["viewed"]).alias("viewed"),
        pl.col("_s_purchased").cast(fact.schema["purchased"]).alias("purchased"),
        pl.col("_s_earn").cast(fact.schema["earnings_gross_usd"]).alias("earnings_gross_usd"),
    )
    out = out.with_columns(pl.col("earnings_gross_usd").alias("earnings_usd")).with_columns(
        flag.fill_null(False).alias("is_model_eligible")
    )
    return out.select(fact.columns)


# --- prediction -------------------------------------------------------------------------------------------------------


def _eval_sends(fact: pl.DataFrame, start: dt.datetime, maturity_hours: float) -> tuple[pl.DataFrame, int]:
    """(mature evaluable PPV sends of the week, number excluded as immature)."""
    s, e = pl.lit(start).cast(UTC_US), pl.lit(start + dt.timedelta(days=7)).cast(UTC_US)
    week = fact.filter(
        (pl.col("sending_ts_utc") >= s)
        & (pl.col("sending_ts_utc") < e)
        & pl.col("is_model_eligible").fill_null(False)
        & (pl.col("price_cents") > 0)
        & (pl.col("sent") > 0)
    )
    age_h = (pl.col("latest_report_received_at") - pl.col("sending_ts_utc")).dt.total_microseconds() / 3.6e9
    mature = week.filter(age_h.fill_null(-1.0) >= maturity_hours)
    return mature, week.height - mature.height


def _score(p: pl.Expr, q: pl.Expr) -> pl.Expr:
    return q * price_adjusted(p, q, pl.col("q_bar"), pl.col("beta_P"))


def _predict(sends: pl.DataFrame, priors: pl.DataFrame, week_start: dt.datetime, top_k: int) -> pl.DataFrame:
    q = pl.col("price_usd").cast(pl.Float64)
    pri = priors.select("username_page", "caption_id", "prior_level", "p_buy", "q_bar", "beta_P", "ref_price")
    # caption score at the page reference price (ordering is price-independent: p · q̄^β)
    pri = pri.with_columns(_score(pl.col("p_buy"), pl.col("ref_price")).alias("score"))
    page_rows = pri.filter(pl.col("caption_id").is_null()).drop("caption_id")
    cap_rows = pri.filter(pl.col("caption_id").is_not_null())
    df = (
        sends.select(
            "message_send_key",
            "username_page",
            "caption_id",
            "sending_ts_utc",
            "dow_local",
            "hod_local",
            "price_usd",
            "price_cents",
            "sent",
            "earnings_gross_usd",
        )  # fmt: skip
        .join(cap_rows, on=["username_page", "caption_id"], how="left")
        .join(page_rows, on="username_page", how="left", suffix="_page")
    )
    use_page = pl.col("p_buy").is_null()
    df = df.with_columns(
        *[
            pl.when(use_page).then(pl.col(f"{c}_page")).otherwise(pl.col(c)).alias(c)
            for c in ("prior_level", "p_buy", "q_bar", "beta_P", "ref_price", "score")
        ],  # fmt: skip
    ).drop([c for c in df.columns if c.endswith("_page") and c != "username_page"])
    df = (
        df.with_columns(
            pl.lit(week_start.date()).alias("week_start"),
            q.alias("price"),
            pl.col("sent").cast(pl.Float64).alias("recipients"),
            pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0.0).alias("earnings"),
        )
        .with_columns(
            price_adjusted(pl.col("p_buy"), pl.col("price"), pl.col("q_bar"), pl.col("beta_P")).alias("p_at_price"),
        )
        .with_columns(
            (pl.col("price") * pl.col("p_at_price")).alias("predicted_rps"),
            (pl.col("earnings") / pl.col("recipients")).alias("realised_rps"),
        )
    )
    # (b) top-k among the distinct captions sent on the page this week
    caps = (
        df.filter(pl.col("caption_id").is_not_null())
        .group_by("username_page", "caption_id")
        .agg(pl.col("score").first())
        .sort(["username_page", "score", "caption_id"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("username_page").alias("caption_rank"))
    )
    df = df.join(caps.select("username_page", "caption_id", "caption_rank"), on=["username_page", "caption_id"],
                 how="left").with_columns((pl.col("caption_rank") <= top_k).alias("in_top_k"))  # fmt: skip
    # (c) top-1: over all captions of the page's priors, and over the captions sent this week
    best_all = (
        pri.sort(["username_page", "score", "caption_id"], descending=[False, True, False], nulls_last=True)
        .group_by("username_page", maintain_order=True)
        .first()
        .select(
            "username_page",
            pl.col("caption_id").alias("top1_all_caption_id"),
            pl.col("p_buy").alias("_p1a"),
            pl.col("q_bar").alias("_q1a"),
        )  # fmt: skip
    )
    best_sent = (
        df.filter(pl.col("caption_rank") == 1)
        .group_by("username_page")
        .agg(
            pl.col("caption_id").first().alias("top1_sent_caption_id"),
            pl.col("p_buy").first().alias("_p1s"),
            pl.col("q_bar").first().alias("_q1s"),
        )  # fmt: skip
    )
    df = df.join(best_all, on="username_page", how="left").join(best_sent, on="username_page", how="left")
    v_all = pl.col("price") * price_adjusted(pl.col("_p1a"), pl.col("price"), pl.col("_q1a"), pl.col("beta_P"))
    v_sent = pl.col("price") * price_adjusted(pl.col("_p1s"), pl.col("price"), pl.col("_q1s"), pl.col("beta_P"))
    df = df.with_columns(
        v_all.fill_null(pl.col("predicted_rps")).alias("top1_all_rps"),
        v_sent.fill_null(pl.col("predicted_rps")).alias("top1_sent_rps"),
    )
    return df.drop("_p1a", "_q1a", "_p1s", "_q1s").sort("sending_ts_utc", "message_send_key")


# --- statistics -------------------------------------------------------------------------------------------------------


def _avg_rank(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    bounds = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1], [True])))
    avg = (bounds[:-1] + bounds[1:] - 1) / 2.0 + 1.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(avg, np.diff(bounds))
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties; nan with fewer than 2 points or a constant input."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape[0] < 2:
        return math.nan
    rx, ry = _avg_rank(x), _avg_rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / den if den > 0 else math.nan


def _kish(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=np.float64)
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def _trimmed_mean(v: np.ndarray, cut: float = 0.1) -> float:
    v = np.sort(np.asarray(v, dtype=np.float64)[np.isfinite(v)])
    if v.size == 0:
        return math.nan
    k = int(math.floor(cut * v.size))
    return float(v[k : v.size - k].mean()) if v.size - 2 * k > 0 else float(v.mean())


def _unit_stats(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    return float(v.mean()), float(np.median(v)), _trimmed_mean(v)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _lift_from_sums(e_in, s_in, n_in, e_out, s_out, n_out) -> tuple[float, float]:
    ok = (s_in > 0) & (s_out > 0)
    if not ok.any():
        return math.nan, math.nan
    r_in, r_out = e_in[ok] / s_in[ok], e_out[ok] / s_out[ok]
    n = n_in[ok] + n_out[ok]
    diff = float((n * (r_in - r_out)).sum() / n.sum())
    den = float((n * r_out).sum())
    return diff, (float((n * r_in).sum()) / den if den > 0 else math.nan)


def _price_band(edges: tuple[float, ...]) -> pl.Expr:
    band = pl.lit(0, pl.Int32)
    for e in edges:
        band = band + (pl.col("price") >= e).cast(pl.Int32)
    return band


# --- main -------------------------------------------------------------------------------------------------------------


def walk_forward(
    fact: pl.DataFrame,
    dim_page: pl.DataFrame,
    *,
    as_of: dt.datetime,
    weeks: int = 12,
    seed: int = 7,
    n_boot: int = 1000,
    half_life_days: float = 14,
    window_days: int = 90,
    nu_sends: float = 2,
    nu_page_sends: float = 2,
    lift_prior_events: float = 2,
    events: pl.DataFrame | None = None,
    top_k: int = 10,
    maturity_hours: float = MATURITY_HOURS,
    price_band_edges: tuple[float, ...] = DEFAULT_PRICE_BAND_EDGES,
    plot: bool = True,
) -> BacktestResult:
    """§10.2 walk-forward backtest (see the module docstring). ``events``: optional ``stg_message_events`` (every
    snapshot) for snapshot-exact fits."""
    as_of = _utc(as_of)
    fit_source = "snapshots" if events is not None else "fact_first_report"
    pages_all = dim_page.select(pl.col("username_page").cast(pl.String))
    fold_rows, per_fold = [], {}
    for start in fold_week_starts(as_of, weeks):
        sends, immature = _eval_sends(fact, start, maturity_hours)
        fit = fit_frame(fact, start, events)
        row = {"week_start": start.date(), "cutoff": start, "fit_rows": fit.height, "eval_sends": sends.height,
               "immature_excluded": immature}  # fmt: skip
        if sends.height:
            dp = pl.concat([pages_all, sends.select("username_page")]).unique().sort("username_page")
            kw = dict(half_life_days=half_life_days, window_days=window_days, nu_sends=nu_sends,
                      nu_page_sends=nu_page_sends)  # fmt: skip
            # beta_P is rounded to 1e-12: upstream ``page_price_points`` takes float sums in a parallel group-by
            # whose order varies between runs (last-ulp noise); rounding keeps the backtest bit-reproducible.
            pp = page_priors(fit, dp, start, **kw).with_columns(pl.col("beta_P").round(12))
            cp = caption_priors(fit, dp, start, lift_prior_events=lift_prior_events, pages=pp, **kw)
            per_fold[start.date()] = _predict(sends, cp, start, top_k)
        fold_rows.append(row)

    pred_schema_empty = not per_fold
    predictions = pl.concat(list(per_fold.values()), how="vertical") if per_fold else pl.DataFrame()
    if not pred_schema_empty:
        predictions = predictions.with_columns(
            (pl.col("hod_local") // 4).cast(pl.Int32).alias("hour_block"),
            _price_band(price_band_edges).alias("price_band"),
        )
    folds = pl.DataFrame(fold_rows, schema={"week_start": pl.Date, "cutoff": UTC_US, "fit_rows": pl.Int64,
                                            "eval_sends": pl.Int64, "immature_excluded": pl.Int64})  # fmt: skip
    cal, strata, dm, summary, folds = _measures(predictions, folds, seed=seed, n_boot=n_boot)
    png = _calibration_png(cal) if plot and cal.height else None
    params = dict(as_of=as_of, weeks=weeks, seed=seed, n_boot=n_boot, half_life_days=half_life_days,
                  window_days=window_days, nu_sends=nu_sends, nu_page_sends=nu_page_sends,
                  lift_prior_events=lift_prior_events, top_k=top_k, maturity_hours=maturity_hours,
                  price_band_edges=tuple(price_band_edges), fit_source=fit_source)  # fmt: skip
    report = _report_md(params, folds, summary, cal, fit_source)
    return BacktestResult(
        folds=folds, per_fold=per_fold, predictions=predictions, calibration=cal, lift_strata=strata,
        direct_method=dm, summary=summary, caveats=CAVEATS, report_md=report, fit_source=fit_source,
        calibration_png=png, params=params,
    )  # fmt: skip


SUMMARY_SCHEMA = {
    "measure": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
    "n_sends": pl.Int64, "n_clusters": pl.Int64, "n_eff": pl.Float64, "unit": pl.String, "n_units": pl.Int64,
    "unit_mean": pl.Float64, "unit_median": pl.Float64, "unit_trimmed_mean": pl.Float64,
}  # fmt: skip


def _measures(pred: pl.DataFrame, folds: pl.DataFrame, *, seed: int, n_boot: int):
    fold_cols = {"predicted_rps": pl.Float64, "realised_rps": pl.Float64, "calibration_ratio": pl.Float64,
                 "spearman": pl.Float64, "dm_ratio_all": pl.Float64, "dm_ratio_sent_set": pl.Float64}  # fmt: skip
    if pred.height == 0:
        empty = pl.DataFrame(schema=SUMMARY_SCHEMA)
        folds = folds.with_columns(*[pl.lit(None, t).alias(c) for c, t in fold_cols.items()])
        return pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), empty, folds

    pred = pred.sort("username_page", "week_start", "sending_ts_utc", "message_send_key").with_columns(
        (pl.col("recipients") * pl.col("predicted_rps")).alias("_wp"),
        (pl.col("recipients") * pl.col("top1_all_rps")).alias("_wa"),
        (pl.col("recipients") * pl.col("top1_sent_rps")).alias("_ws"),
        pl.struct("username_page", "week_start").rank("dense").cast(pl.Int64).sub(1).alias("_cl"),
    )
    # ---- (a) calibration deciles (pooled, ordinal rank on (pred, key))
    n = pred.height
    cal_src = pred.sort("predicted_rps", "message_send_key").with_columns(
        (pl.int_range(0, n) * 10 // n + 1).cast(pl.Int32).alias("decile")
    )
    cal = (
        cal_src.group_by("decile")
        .agg(
            pl.len().alias("sends"),
            dsum(pl.col("recipients")).alias("recipients"),
            pl.col("predicted_rps").min().alias("predicted_min"),
            pl.col("predicted_rps").max().alias("predicted_max"),
            dsum(pl.col("_wp")).alias("_wp"),
            dsum(pl.col("earnings")).alias("earnings"),
        )
        .with_columns(
            (pl.col("_wp") / pl.col("recipients")).alias("mean_predicted_rps"),
            (pl.col("earnings") / pl.col("recipients")).alias("realised_rps"),
        )
        .with_columns((pl.col("realised_rps") / pl.col("mean_predicted_rps")).alias("realised_over_predicted"))
        .drop("_wp")
        .sort("decile")
    )

    # ---- arrays per send and per cluster
    cl = pred["_cl"].to_numpy()
    n_cl = int(cl.max()) + 1
    rec = pred["recipients"].to_numpy()
    earn = pred["earnings"].to_numpy()
    wp, wa, ws = pred["_wp"].to_numpy(), pred["_wa"].to_numpy(), pred["_ws"].to_numpy()
    p_rps, r_rps = pred["predicted_rps"].to_numpy(), pred["realised_rps"].to_numpy()
    c_rec, c_earn = np.bincount(cl, rec, n_cl), np.bincount(cl, earn, n_cl)
    c_wp, c_wa, c_ws = np.bincount(cl, wp, n_cl), np.bincount(cl, wa, n_cl), np.bincount(cl, ws, n_cl)
    starts = np.searchsorted(cl, np.arange(n_cl))
    lengths = np.bincount(cl, minlength=n_cl)

    # ---- (b) lift strata: rows = (stratum, cluster)
    lp = pred.filter(pl.col("in_top_k").is_not_null()).with_columns(
        pl.struct("username_page", "dow_local", "hour_block", "price_band").rank("dense").cast(pl.Int64).sub(1)
        .alias("_st")
    )  # fmt: skip
    lift_rows = (
        lp.group_by("_st", "_cl", "username_page", "dow_local", "hour_block", "price_band")
        .agg(
            dsum(pl.when(pl.col("in_top_k")).then(pl.col("earnings")).otherwise(0.0)).alias("e_in"),
            dsum(pl.when(pl.col("in_top_k")).then(pl.col("recipients")).otherwise(0.0)).alias("s_in"),
            pl.col("in_top_k").sum().cast(pl.Float64).alias("n_in"),
            dsum(pl.when(pl.col("in_top_k")).then(0.0).otherwise(pl.col("earnings"))).alias("e_out"),
            dsum(pl.when(pl.col("in_top_k")).then(0.0).otherwise(pl.col("recipients"))).alias("s_out"),
            (~pl.col("in_top_k")).sum().cast(pl.Float64).alias("n_out"),
        )
        .sort("_st", "_cl")
    )
    n_st = int(lp["_st"].max()) + 1 if lp.height else 0
    l_st, l_cl = lift_rows["_st"].to_numpy(), lift_rows["_cl"].to_numpy()
    l_vals = [lift_rows[c].to_numpy().astype(np.float64) for c in ("e_in", "s_in", "n_in", "e_out", "s_out", "n_out")]

    def lift_est(cw: np.ndarray) -> tuple[float, float]:
        if n_st == 0:
            return math.nan, math.nan
        w = cw[l_cl]
        sums = [np.bincount(l_st, w * v, n_st) for v in l_vals]
        return _lift_from_sums(*sums)

    strata = (
        lift_rows.group_by("username_page", "dow_local", "hour_block", "price_band")
        .agg(*[pl.col(c).sort_by("_cl").cum_sum().last() for c in ("e_in", "s_in", "n_in", "e_out", "s_out", "n_out")])
        .with_columns(
            (pl.col("e_in") / pl.col("s_in")).alias("rps_in_top_k"),
            (pl.col("e_out") / pl.col("s_out")).alias("rps_not_top_k"),
            (pl.col("n_in") + pl.col("n_out")).alias("stratum_sends"),
            ((pl.col("s_in") > 0) & (pl.col("s_out") > 0)).alias("has_contrast"),
        )
        .with_columns((pl.col("rps_in_top_k") - pl.col("rps_not_top_k")).alias("rps_diff"))
        .sort("username_page", "dow_local", "hour_block", "price_band")
    )

    # ---- (c) direct method per page-week
    dm = (
        pred.group_by("_cl", "username_page", "week_start")
        .agg(
            pl.len().alias("sends"),
            dsum(pl.col("recipients")).alias("recipients"),
            dsum(pl.col("_wp")).alias("human_value"),
            dsum(pl.col("_wa")).alias("model_value_all"),
            dsum(pl.col("_ws")).alias("model_value_sent_set"),
            dsum(pl.col("earnings")).alias("realised_value"),
            pl.col("top1_all_caption_id").first(),
            pl.col("top1_sent_caption_id").first(),
        )
        .with_columns(
            (pl.col("model_value_all") / pl.col("human_value")).alias("dm_ratio_all"),
            (pl.col("model_value_sent_set") / pl.col("human_value")).alias("dm_ratio_sent_set"),
        )
        .sort("_cl")
    )

    # ---- point estimates
    def estimates(cw: np.ndarray, idx: np.ndarray | None) -> dict[str, float]:
        srec, searn, swp = float(cw @ c_rec), float(cw @ c_earn), float(cw @ c_wp)
        sp = spearman(p_rps, r_rps) if idx is None else spearman(p_rps[idx], r_rps[idx])
        ld, lr = lift_est(cw)
        return {
            "realised_rps": searn / srec if srec > 0 else math.nan,
            "predicted_rps": swp / srec if srec > 0 else math.nan,
            "calibration_ratio": searn / swp if swp > 0 else math.nan,
            "spearman": sp,
            "lift_rps_diff": ld,
            "lift_rps_ratio": lr,
            "dm_ratio_all": float(cw @ c_wa) / swp if swp > 0 else math.nan,
            "dm_ratio_sent_set": float(cw @ c_ws) / swp if swp > 0 else math.nan,
        }

    point = estimates(np.ones(n_cl), None)
    rng = np.random.Generator(np.random.PCG64(seed))
    boot = {k: np.full(n_boot, np.nan) for k in point}
    for b in range(n_boot):
        draw = rng.integers(0, n_cl, size=n_cl)
        cw = np.bincount(draw, minlength=n_cl).astype(np.float64)
        d = np.sort(draw)
        offs = np.repeat(starts[d] - np.concatenate(([0], np.cumsum(lengths[d])[:-1])), lengths[d])
        idx = offs + np.arange(int(lengths[d].sum()))
        for k, v in estimates(cw, idx).items():
            boot[k][b] = v

    # ---- per-fold measures
    fold_stats = []
    for wk, g in pred.group_by("week_start", maintain_order=True):
        gr, ge, gp = g["recipients"].sum(), g["earnings"].sum(), g["_wp"].sum()
        fold_stats.append({
            "week_start": wk[0], "predicted_rps": gp / gr, "realised_rps": ge / gr,
            "calibration_ratio": ge / gp if gp > 0 else None,
            "spearman": _nan_none(spearman(g["predicted_rps"].to_numpy(), g["realised_rps"].to_numpy())),
            "dm_ratio_all": g["_wa"].sum() / gp if gp > 0 else None,
            "dm_ratio_sent_set": g["_ws"].sum() / gp if gp > 0 else None,
        })  # fmt: skip
    fs = pl.DataFrame(fold_stats, schema={"week_start": pl.Date, **fold_cols})
    folds = folds.join(fs, on="week_start", how="left").sort("week_start")

    # ---- summary
    send_rps_unit = ("send", r_rps, _kish(rec))
    cl_ratio = _ratio(c_earn, c_wp)
    st = strata.filter(pl.col("has_contrast"))
    units = {
        "realised_rps": send_rps_unit,
        "predicted_rps": ("send", p_rps, _kish(rec)),
        "calibration_ratio": ("page_week", cl_ratio, _kish(c_wp)),
        "spearman": ("fold", folds["spearman"].drop_nulls().to_numpy(), float(n)),
        "lift_rps_diff": ("stratum", st["rps_diff"].to_numpy(), _kish(st["stratum_sends"].to_numpy())),
        "lift_rps_ratio": (
            "stratum",
            _ratio(st["rps_in_top_k"].to_numpy(), st["rps_not_top_k"].to_numpy()),
            _kish(st["stratum_sends"].to_numpy()),
        ),  # fmt: skip
        "dm_ratio_all": ("page_week", _ratio(c_wa, c_wp), _kish(c_wp)),
        "dm_ratio_sent_set": ("page_week", _ratio(c_ws, c_wp), _kish(c_wp)),
    }
    rows = []
    for k, est in point.items():
        bv = boot[k][np.isfinite(boot[k])]
        lo, hi = (float(np.quantile(bv, 0.025)), float(np.quantile(bv, 0.975))) if bv.size else (None, None)
        unit, vals, neff = units[k]
        vals = np.asarray(vals, dtype=np.float64)
        mean, med, trim = _unit_stats(vals)
        rows.append({
            "measure": k, "estimate": _nan_none(est), "ci_low": lo, "ci_high": hi, "n_sends": n, "n_clusters": n_cl,
            "n_eff": neff, "unit": unit, "n_units": int(np.isfinite(vals).sum()), "unit_mean": _nan_none(mean),
            "unit_median": _nan_none(med), "unit_trimmed_mean": _nan_none(trim),
        })  # fmt: skip
    summary = pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
    return cal, strata, dm.drop("_cl"), summary, folds


def _nan_none(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


# --- report -----------------------------------------------------------------------------------------------------------


def _md_table(df: pl.DataFrame, digits: int = 4) -> str:
    if df.height == 0:
        return "_(no rows)_\n"

    def fmt(v) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.{digits}g}" if math.isfinite(v) else "–"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.iter_rows()]
    return "\n".join(lines) + "\n"


def _report_md(params: dict, folds: pl.DataFrame, summary: pl.DataFrame, cal: pl.DataFrame, fit_source: str) -> str:
    head = (
        f"# Walk-forward backtest (30-ml-and-ranking §10.2)\n\n"
        f"as of {params['as_of'].isoformat()}, {params['weeks']} weekly folds, fit source `{fit_source}`, "
        f"top-k = {params['top_k']}, maturity ≥ {params['maturity_hours']:g} h, bootstrap {params['n_boot']} "
        f"resamples of page-weeks (seed {params['seed']}), 95 % percentile intervals.\n\n"
    )
    parts = [head, "## Summary\n\n", _md_table(summary), "\n## Folds\n\n", _md_table(folds.drop("cutoff")),
             "\n## Calibration by predicted-RPS decile (recipient-weighted)\n\n", _md_table(cal),
             "\n## Caveats\n\n", CAVEATS]  # fmt: skip
    return "".join(parts)


def _calibration_png(cal: pl.DataFrame) -> bytes | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    x, y = cal["mean_predicted_rps"].to_numpy(), cal["realised_rps"].to_numpy()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=80)
    hi = float(np.nanmax(np.concatenate([x, y, [0.0]]))) * 1.05 or 1.0
    ax.plot([0, hi], [0, hi], color="grey", lw=1, ls="--")
    ax.plot(x, y, marker="o")
    ax.set_xlabel("mean predicted RPS (USD)")
    ax.set_ylabel("realised RPS (USD)")
    ax.set_title("Calibration by predicted-RPS decile")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
