"""Decayed statistics and the empirical-Bayes prior chain (`30-ml-and-ranking.md` §3): ``caption_priors`` and
``page_priors``. Pure, vectorised, deterministic polars.

Inputs are ``fact_message_send`` rows with ``is_model_eligible`` whose page-local send date lies in the
``window_days`` calendar days ending at the computation date (and whose send time is not after the computation time).
Weights ``w = 0.5 ** (age_days / half_life_days)``, age from ``sending_ts_utc`` to the computation time (≥ 0).
The buy chain uses PPV events (``price_cents > 0``), the open chain every event. Per level x = Σ w × purchased (or
viewed), n = Σ w × sent. Views and purchases are capped at ``sent`` per event (an eligible ``view_anomaly`` row may
report viewed > sent), so every rate stays in [0, 1].

Levels: global G and page P use every eligible event (page-level statistics include media-only PPVs, 20-warehouse
§2.3); the caption levels (C on other pages, CP) drop media-only rows and rows without ``caption_id``.

Output shapes
-------------
``page_priors``: one row per page (pages of ``dim_page`` ∪ pages with eligible events in the window):
``mu_P`` / ``mu_open_P`` (page rates smoothed towards the global rate with ``nu_P = nu_page_sends × m_P``), ``m_P``
(median recipients per send over the window; the agency median for a page without sends), ``nu_P``, ``nu`` (the
caption-level strength ``nu_sends × m_P``), ``beta_P`` (price elasticity), ``ref_price`` (page ``p50`` → agency
median PPV price → 10) and the global rates.

``caption_priors`` (stored, compact; ``caption_prior_tables``): one row per page with ``caption_id = null``
(``prior_level = page``), the prior of a caption never sent anywhere (``p_buy = mu_P``, ``p_open = mu_open_P``,
lift 1), plus one row per (page, caption) with caption-level events ON that page (``prior_level = caption_page``;
its lift is over the other pages: caption total − own). Nothing is materialised for page × caption pairs without
own events.

``caption_lift`` (stored, one row per caption with caption-level events on any page): the totals over every page
``x_C`` / ``e_C`` (decayed purchases and their expectation Σ n_cp × μ_p) and ``x_open_C`` / ``e_open_C``, the page
counts ``pages_cp`` / ``pages_buy`` / ``pages_open``, and ``lift_buy`` / ``lift_open``: the lift L_C of a page on
which the caption was never sent (its "other pages" are all pages). A caption sent only on other pages therefore
gets ``p = mu_P × L_C`` (the prior mean capped at 1) at use: ``expand_caption_priors`` builds those
``caption_other_pages`` rows (for given (page, caption) keys or the full grid), and ``caption_priors(...)`` returns
the full page × caption frame of the same columns (fine at small scale: simulation, backtest, tests). The formulas
live once, in ``prior_chain_exprs``; the feature store evaluates them per candidate from the compact pair.

Determinism: every float sum over events (``dsum``) is a fixed-point sum (terms rounded to multiples of 2^-64,
added as Int128), exact and associative, so reruns, shuffled inputs, other chunkings and thread counts give
bit-identical outputs; "other pages" sums are caption totals minus the page's own in the same fixed point (exact,
no cancellation).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from of_scheduler_assets.layer_04_semantic.transforms import (
    _as_of,
    _fixed,
    _in_window,
    _unfixed,
    _weight,
    dsum,
    page_price_points,
    page_price_profile,
    safe_div,
)

__all__ = ["CAPTION_LIFT_COLUMNS", "CAPTION_PRIOR_COLUMNS", "PAGE_PRIOR_COLUMNS", "caption_prior_tables",
           "caption_priors", "dsum", "eb_smooth", "expand_caption_priors", "page_priors", "price_adjusted",
           "prior_chain_exprs", "prior_events"]  # fmt: skip

KEY_PC = ["username_page", "caption_id"]
DEFAULT_PPV_PRICE = 10.0


def eb_smooth(x: pl.Expr, n: pl.Expr, mu: pl.Expr, nu: pl.Expr) -> pl.Expr:
    """(x + nu × mu) / (n + nu); ``mu`` when n + nu = 0 (kernel 5.2)."""
    den = n + nu
    return pl.when(den > 0).then((x + nu * mu) / den).otherwise(mu)


def prior_events(
    fact: pl.DataFrame | pl.LazyFrame, as_of: dt.date | dt.datetime, *, half_life_days: float, window_days: int
) -> pl.LazyFrame:
    """Eligible events of the window with the decayed quantities: ``_w``, ``_is_ppv``, ``_caption_ok`` and the
    weighted ``_wx_buy``, ``_wn_buy`` (PPV only), ``_wx_open``, ``_wn_open``, ``_wrev``."""
    as_of_date, as_of_ts = _as_of(as_of)
    sent = pl.col("sent").cast(pl.Float64)
    is_ppv = pl.col("price_cents") > 0
    return (
        fact.lazy()
        .filter(
            pl.col("is_model_eligible").fill_null(False)
            & _in_window(as_of_date, window_days)
            & (pl.col("sending_ts_utc") <= as_of_ts)
        )
        .with_columns(
            _weight(as_of_ts, half_life_days).alias("_w"),
            is_ppv.alias("_is_ppv"),
            (~pl.col("is_media_only").fill_null(False) & pl.col("caption_id").is_not_null()).alias("_caption_ok"),
            pl.min_horizontal(pl.col("purchased").fill_null(0), pl.col("sent")).cast(pl.Float64).alias("_buy"),
            pl.min_horizontal(pl.col("viewed").fill_null(0), pl.col("sent")).cast(pl.Float64).alias("_view"),
        )
        .with_columns(
            pl.when(is_ppv).then(pl.col("_w") * pl.col("_buy")).otherwise(0.0).alias("_wx_buy"),
            pl.when(is_ppv).then(pl.col("_w") * sent).otherwise(0.0).alias("_wn_buy"),
            (pl.col("_w") * pl.col("_view")).alias("_wx_open"),
            (pl.col("_w") * sent).alias("_wn_open"),
            (pl.col("_w") * pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0.0)).alias("_wrev"),
        )
    )


def _elasticity(points: pl.DataFrame, pages: pl.DataFrame) -> pl.DataFrame:
    """β_P: negated slope of the recipient-weighted least-squares fit of log(smoothed buy rate) on log(price) over
    the page's price points (smoothed rate (w_purchases + ν_P μ_P) / (w_recipients + ν_P)), clamped to [0, 2];
    1.0 with fewer than 3 usable points (price > 0, smoothed rate > 0, recipients > 0) or no price variation."""
    df = (
        points.lazy()
        .join(pages.lazy().select("username_page", "mu_P", "nu_P"), on="username_page", how="inner")
        .with_columns(
            eb_smooth(pl.col("w_purchases"), pl.col("w_recipients"), pl.col("mu_P"), pl.col("nu_P")).alias("_r"),
            pl.col("recipients").cast(pl.Float64).alias("_wt"),
        )
        .filter((pl.col("price_dollars") > 0) & (pl.col("_r") > 0) & (pl.col("_wt") > 0))
        .with_columns(pl.col("price_dollars").cast(pl.Float64).log().alias("_x"), pl.col("_r").log().alias("_y"))
        .sort("username_page", "price_dollars")
        .group_by("username_page", maintain_order=True)
        .agg(
            pl.len().alias("_k"),
            dsum(pl.col("_wt") * pl.col("_x")).alias("_sx"),
            dsum(pl.col("_wt") * pl.col("_y")).alias("_sy"),
            dsum(pl.col("_wt")).alias("_sw"),
            pl.col("_x", "_y", "_wt").sort_by("_x"),
        )
        .with_columns((pl.col("_sx") / pl.col("_sw")).alias("_mx"), (pl.col("_sy") / pl.col("_sw")).alias("_my"))
        .explode("_x", "_y", "_wt")
        .group_by("username_page", maintain_order=True)
        .agg(
            pl.col("_k").first(),
            dsum(pl.col("_wt") * (pl.col("_x") - pl.col("_mx")) * (pl.col("_y") - pl.col("_my"))).alias("_sxy"),
            dsum(pl.col("_wt") * (pl.col("_x") - pl.col("_mx")) ** 2).alias("_sxx"),
        )
        .with_columns(
            pl.when((pl.col("_k") >= 3) & (pl.col("_sxx") > 1e-12))
            .then((-pl.col("_sxy") / pl.col("_sxx")).clip(0.0, 2.0))
            .otherwise(None)
            .alias("beta_P"),
            pl.col("_k").cast(pl.Int64).alias("price_points"),
        )
        .select("username_page", "beta_P", "price_points")
    )
    return df.collect()


def page_priors(
    fact: pl.DataFrame | pl.LazyFrame,
    dim_page: pl.DataFrame,
    as_of: dt.date | dt.datetime,
    *,
    half_life_days: float = 14.0,
    window_days: int = 90,
    nu_sends: float = 2.0,
    nu_page_sends: float = 2.0,
    _events: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """One row per page (columns ``PAGE_PRIOR_COLUMNS``); see the module docstring."""
    as_of_date, _ = _as_of(as_of)
    ev = (
        _events
        if _events is not None
        else prior_events(fact, as_of, half_life_days=half_life_days, window_days=window_days)
    )
    glob = ev.select(
        dsum(pl.col("_wx_buy")).alias("x_G"),
        dsum(pl.col("_wn_buy")).alias("n_G"),
        dsum(pl.col("_wx_open")).alias("x_open_G"),
        dsum(pl.col("_wn_open")).alias("n_open_G"),
        pl.col("sent").cast(pl.Float64).median().alias("m_agency"),
        pl.col("price_usd").cast(pl.Float64).filter(pl.col("_is_ppv")).median().alias("agency_price"),
    ).collect()
    g = glob.row(0, named=True)
    mu_g = g["x_G"] / g["n_G"] if g["n_G"] else 0.0
    mu_open_g = g["x_open_G"] / g["n_open_G"] if g["n_open_G"] else 0.0
    m_agency = g["m_agency"] if g["m_agency"] is not None else 0.0
    agency_price = g["agency_price"] if g["agency_price"] is not None else DEFAULT_PPV_PRICE

    per_page = ev.group_by("username_page").agg(
        pl.len().cast(pl.Int64).alias("send_events_window"),
        dsum(pl.col("_wx_buy")).alias("x_P"),
        dsum(pl.col("_wn_buy")).alias("n_P"),
        dsum(pl.col("_wx_open")).alias("x_open_P"),
        dsum(pl.col("_wn_open")).alias("n_open_P"),
        pl.col("sent").cast(pl.Float64).median().alias("_m"),
    )
    cols = ["username_page"] + [c for c in ("page_type",) if c in dim_page.columns]
    pages = (
        pl.concat(
            [dim_page.lazy().select(pl.col("username_page").cast(pl.String)), ev.select("username_page")],
            how="vertical",
        )
        .unique()
        .join(per_page, on="username_page", how="left")
        .join(dim_page.lazy().select(cols).unique("username_page", keep="first"), on="username_page", how="left")
        .with_columns(
            pl.col("send_events_window").fill_null(0),
            *[pl.col(c).fill_null(0.0) for c in ("x_P", "n_P", "x_open_P", "n_open_P")],
            pl.col("_m").fill_null(m_agency).alias("m_P"),
            pl.lit(mu_g, pl.Float64).alias("mu_G"),
            pl.lit(mu_open_g, pl.Float64).alias("mu_open_G"),
        )
        .with_columns(
            (nu_page_sends * pl.col("m_P")).alias("nu_P"),
            (nu_sends * pl.col("m_P")).alias("nu"),
        )
        .with_columns(
            eb_smooth(pl.col("x_P"), pl.col("n_P"), pl.col("mu_G"), pl.col("nu_P")).alias("mu_P"),
            eb_smooth(pl.col("x_open_P"), pl.col("n_open_P"), pl.col("mu_open_G"), pl.col("nu_P")).alias("mu_open_P"),
        )
        .collect()
    )
    if "page_type" not in pages.columns:
        pages = pages.with_columns(pl.lit(None, pl.String).alias("page_type"))
    points = page_price_points(fact, as_of, window_days=window_days, half_life_days=half_life_days)
    beta = _elasticity(points, pages)
    prof = page_price_profile(fact, as_of, window_days=window_days).select("username_page", "p50")
    out = (
        pages.join(beta, on="username_page", how="left")
        .join(prof, on="username_page", how="left")
        .with_columns(
            pl.col("beta_P").fill_null(1.0),
            pl.col("price_points").fill_null(0),
            pl.col("p50").alias("price_p50"),
            pl.coalesce(pl.col("p50"), pl.lit(agency_price, pl.Float64)).alias("ref_price"),
            pl.lit(as_of_date).alias("computed_date"),
        )
    )
    return out.select(PAGE_PRIOR_COLUMNS).sort("username_page")


PAGE_PRIOR_COLUMNS = [
    "computed_date", "username_page", "page_type", "send_events_window", "m_P", "nu_P", "nu", "mu_G", "mu_open_G",
    "x_P", "n_P", "x_open_P", "n_open_P", "mu_P", "mu_open_P", "beta_P", "price_points", "price_p50", "ref_price",
]  # fmt: skip


def _lift(x_other: pl.Expr, e_other: pl.Expr, has_other: pl.Expr, lam: float) -> pl.Expr:
    raw = ((x_other + lam) / (e_other + lam)).clip(0.25, 4.0)
    return pl.when(has_other & ((e_other + lam) > 0)).then(raw).otherwise(1.0)


# Columns that `_finish` turns into a CAPTION_PRIOR_COLUMNS row (one implementation of the §3 formulas for the stored
# rows, the page rows and the caption_other_pages rows expanded at use).
_ROW_INPUTS = ["username_page", "caption_id", "prior_level", "send_events_cp", "x_cp", "n_cp", "x_open_cp",
               "n_open_cp", "r_cp", "lift_buy", "lift_open", "_qbar", "m_P", "nu", "mu_P", "mu_open_P", "beta_P",
               "ref_price", "computed_date"]  # fmt: skip
_PAGE_COLS = ["username_page", "m_P", "nu", "mu_P", "mu_open_P", "beta_P", "ref_price"]


def prior_chain_exprs() -> list[pl.Expr]:
    """The prior means, smoothed probabilities, raw decayed rates, smoothing weight and q̄ of §3 from the columns
    ``x_cp``, ``n_cp``, ``x_open_cp``, ``n_open_cp``, ``r_cp`` (0 without own events), ``lift_buy``, ``lift_open``,
    ``mu_P``, ``mu_open_P``, ``nu``, ``_qbar`` (null without own PPV events) and ``ref_price``: the one
    implementation used for the stored rows, the expanded rows and the feature store's candidates."""
    prior_buy = pl.min_horizontal(pl.col("mu_P") * pl.col("lift_buy"), pl.lit(1.0))
    prior_open = pl.min_horizontal(pl.col("mu_open_P") * pl.col("lift_open"), pl.lit(1.0))
    return [
        prior_buy.alias("prior_buy"),
        prior_open.alias("prior_open"),
        eb_smooth(pl.col("x_cp"), pl.col("n_cp"), prior_buy, pl.col("nu")).alias("p_buy"),
        eb_smooth(pl.col("x_open_cp"), pl.col("n_open_cp"), prior_open, pl.col("nu")).alias("p_open"),
        safe_div(pl.col("x_cp"), pl.col("n_cp")).alias("buy_rate_decayed"),
        safe_div(pl.col("x_open_cp"), pl.col("n_open_cp")).alias("open_rate_decayed"),
        safe_div(pl.col("r_cp"), pl.col("n_open_cp")).alias("rps_decayed"),
        safe_div(pl.col("n_cp"), pl.col("n_cp") + pl.col("nu")).fill_null(0.0).alias("smoothing_weight"),
        pl.coalesce(pl.col("_qbar"), pl.col("ref_price")).alias("q_bar"),
    ]


def _finish(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.with_columns(*prior_chain_exprs()).select(CAPTION_PRIOR_COLUMNS)


def caption_prior_tables(
    fact: pl.DataFrame | pl.LazyFrame,
    dim_page: pl.DataFrame,
    as_of: dt.date | dt.datetime,
    *,
    half_life_days: float = 14.0,
    window_days: int = 90,
    nu_sends: float = 2.0,
    nu_page_sends: float = 2.0,
    lift_prior_events: float = 2.0,
    pages: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored, compact prior chain: ``(caption_priors, caption_lift)`` (shapes in the module docstring).

    ``caption_priors`` (columns ``CAPTION_PRIOR_COLUMNS``): one ``page`` row per page (``caption_id`` null) and one
    ``caption_page`` row per (page, caption) with caption-level events on that page; ``caption_lift`` (columns
    ``CAPTION_LIFT_COLUMNS``): one row per caption with caption-level events on any page, whose ``lift_buy`` /
    ``lift_open`` are the lifts of a page WITHOUT own events of the caption (its "other pages" are all pages).
    ``expand_caption_priors`` turns the pair into the full page × caption frame of ``caption_priors``.

    Per caption-page: ``x_cp``/``n_cp`` (decayed purchases / PPV recipients), ``x_open_cp``/``n_open_cp`` (decayed
    views / recipients), ``r_cp`` (decayed gross revenue), the raw decayed rates ``buy_rate_decayed`` = x/n,
    ``open_rate_decayed``, ``rps_decayed`` = Σ(rev × w) / Σ(sent × w) over all events (null when n = 0), the lifts
    ``lift_buy`` / ``lift_open`` (L_C of §3 over the other pages; 1 when never sent elsewhere), ``p_buy`` /
    ``p_open`` (never null), ``smoothing_weight`` = n_cp / (n_cp + ν) (0 when both are 0), ``q_bar`` (recipient-
    weighted mean historical PPV price on the page, the page ``ref_price`` when never sent there as PPV), ``beta_P``,
    and ``send_events_cp``.
    """
    as_of_date, _ = _as_of(as_of)
    ev = prior_events(fact, as_of, half_life_days=half_life_days, window_days=window_days)
    if pages is None:
        pages = page_priors(
            fact, dim_page, as_of, half_life_days=half_life_days, window_days=window_days, nu_sends=nu_sends,
            nu_page_sends=nu_page_sends, _events=ev,
        )  # fmt: skip
    pg = pages.lazy().select(_PAGE_COLS)
    sums = {"x_cp": "_wx_buy", "n_cp": "_wn_buy", "x_open_cp": "_wx_open", "n_open_cp": "_wn_open", "r_cp": "_wrev"}
    cp = (
        ev.filter(pl.col("_caption_ok"))
        .group_by(KEY_PC)
        .agg(
            pl.len().cast(pl.Int64).alias("send_events_cp"),
            *[_fixed(pl.col(src)).sum().alias(f"_i_{out}") for out, src in sums.items()],
            # recipient-weighted mean price: exact integer sums (cents × recipients)
            (pl.col("price_cents") * pl.col("sent")).filter(pl.col("_is_ppv")).sum().alias("_price_x_sent"),
            pl.col("sent").filter(pl.col("_is_ppv")).sum().alias("_ppv_sent"),
        )
        .with_columns(*[_unfixed(pl.col(f"_i_{out}")).alias(out) for out in sums])
        .join(pg, on="username_page", how="inner")
        .with_columns(
            # expected purchases / views at the page rate, in fixed point (exact cross-page sums and differences)
            _fixed(pl.col("n_cp") * pl.col("mu_P")).alias("_i_e_buy"),
            _fixed(pl.col("n_open_cp") * pl.col("mu_open_P")).alias("_i_e_open"),
            (pl.col("n_cp") > 0).cast(pl.Int64).alias("_has_buy"),
            (pl.col("n_open_cp") > 0).cast(pl.Int64).alias("_has_open"),
        )
        .collect()
    )
    tot = (
        cp.lazy()
        .group_by("caption_id")
        .agg(
            pl.len().cast(pl.Int64).alias("pages_cp"),
            pl.col("_has_buy").sum().alias("pages_buy"),
            pl.col("_has_open").sum().alias("pages_open"),
            *[pl.col(f"_i_{c}").sum().alias(f"_t_{c}") for c in ("x_cp", "e_buy", "x_open_cp", "e_open")],
        )
        .collect()
    )
    lam = float(lift_prior_events)
    # other pages of a page with own events = caption total − own, exact in fixed point
    own = (
        cp.lazy()
        .join(tot.lazy(), on="caption_id", how="inner")
        .with_columns(
            pl.lit("caption_page").alias("prior_level"),
            _lift(
                _unfixed(pl.col("_t_x_cp") - pl.col("_i_x_cp")),
                _unfixed(pl.col("_t_e_buy") - pl.col("_i_e_buy")),
                (pl.col("pages_buy") - pl.col("_has_buy")) > 0,
                lam,
            ).alias("lift_buy"),
            _lift(
                _unfixed(pl.col("_t_x_open_cp") - pl.col("_i_x_open_cp")),
                _unfixed(pl.col("_t_e_open") - pl.col("_i_e_open")),
                (pl.col("pages_open") - pl.col("_has_open")) > 0,
                lam,
            ).alias("lift_open"),
            safe_div(pl.col("_price_x_sent"), pl.col("_ppv_sent") * 100).alias("_qbar"),
            pl.lit(as_of_date).alias("computed_date"),
        )
        .select(_ROW_INPUTS)
    )
    page_rows = pg.with_columns(
        pl.lit(None, pl.String).alias("caption_id"),
        pl.lit("page").alias("prior_level"),
        pl.lit(0, pl.Int64).alias("send_events_cp"),
        *[pl.lit(0.0).alias(c) for c in ("x_cp", "n_cp", "x_open_cp", "n_open_cp", "r_cp")],
        pl.lit(1.0).alias("lift_buy"),
        pl.lit(1.0).alias("lift_open"),
        pl.lit(None, pl.Float64).alias("_qbar"),
        pl.lit(as_of_date).alias("computed_date"),
    ).select(_ROW_INPUTS)
    compact = _finish(pl.concat([own, page_rows], how="vertical")).sort(KEY_PC, nulls_last=True).collect()
    lift = (
        tot.lazy()
        .with_columns(
            *[
                _unfixed(pl.col(f"_t_{c}")).alias(o)
                for c, o in (("x_cp", "x_C"), ("e_buy", "e_C"), ("x_open_cp", "x_open_C"), ("e_open", "e_open_C"))
            ],
        )  # fmt: skip
        .with_columns(
            _lift(pl.col("x_C"), pl.col("e_C"), pl.col("pages_buy") > 0, lam).alias("lift_buy"),
            _lift(pl.col("x_open_C"), pl.col("e_open_C"), pl.col("pages_open") > 0, lam).alias("lift_open"),
            pl.lit(as_of_date).alias("computed_date"),
        )
        .select(CAPTION_LIFT_COLUMNS)
        .sort("caption_id")
        .collect()
    )
    return compact, lift


def expand_caption_priors(
    compact: pl.DataFrame | pl.LazyFrame, lift: pl.DataFrame | pl.LazyFrame, keys: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """The full prior frame from the stored pair (``caption_prior_tables``), lazily: the stored rows plus one
    ``caption_other_pages`` row per (page, caption) without own events whose caption is in ``caption_lift`` (prior
    ``mu_P × L_C``, no own history). ``keys`` (``username_page``, ``caption_id``): expand only these pairs and keep
    only their rows (the page rows are then left out); every page of the page rows × every lift caption otherwise.
    The page columns (``m_P``, ``nu``, ``mu_P``, …) come from the page rows, so the pair is self-contained."""
    compact, lift = compact.lazy(), lift.lazy()
    page_rows = compact.filter(pl.col("caption_id").is_null())
    own = compact.filter(pl.col("caption_id").is_not_null())
    if keys is None:
        grid = page_rows.select("username_page").join(lift.select("caption_id"), how="cross")
    else:
        grid = keys.select(KEY_PC).filter(pl.col("caption_id").is_not_null())
        own = own.join(grid, on=KEY_PC, how="semi")
    other = (
        grid.join(own.select(KEY_PC), on=KEY_PC, how="anti")
        .join(lift.select("caption_id", "lift_buy", "lift_open"), on="caption_id", how="inner")
        .join(page_rows.select(*_PAGE_COLS, "computed_date"), on="username_page", how="inner")
        .with_columns(
            pl.lit("caption_other_pages").alias("prior_level"),
            pl.lit(0, pl.Int64).alias("send_events_cp"),
            *[pl.lit(0.0).alias(c) for c in ("x_cp", "n_cp", "x_open_cp", "n_open_cp", "r_cp")],
            pl.lit(None, pl.Float64).alias("_qbar"),
        )
        .select(_ROW_INPUTS)
    )
    parts = [own, _finish(other)] if keys is not None else [own, _finish(other), page_rows]
    return pl.concat([p.select(CAPTION_PRIOR_COLUMNS) for p in parts], how="vertical")


def caption_priors(
    fact: pl.DataFrame | pl.LazyFrame,
    dim_page: pl.DataFrame,
    as_of: dt.date | dt.datetime,
    *,
    half_life_days: float = 14.0,
    window_days: int = 90,
    nu_sends: float = 2.0,
    nu_page_sends: float = 2.0,
    lift_prior_events: float = 2.0,
    pages: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The full prior chain per (page, caption) (columns ``CAPTION_PRIOR_COLUMNS``): every page × every caption with
    caption-level history on any page, plus the page rows; ``expand_caption_priors(*caption_prior_tables(...))``.
    Fine at small scale (simulation, backtest, tests); the assets store the compact pair instead.

    ``pages``: a precomputed ``page_priors`` frame (computed here when omitted). Columns: see
    ``caption_prior_tables``."""
    compact, lift = caption_prior_tables(
        fact, dim_page, as_of, half_life_days=half_life_days, window_days=window_days, nu_sends=nu_sends,
        nu_page_sends=nu_page_sends, lift_prior_events=lift_prior_events, pages=pages,
    )  # fmt: skip
    return expand_caption_priors(compact, lift).sort(KEY_PC, nulls_last=True).collect()


CAPTION_PRIOR_COLUMNS = [
    "computed_date", "username_page", "caption_id", "prior_level", "send_events_cp", "x_cp", "n_cp", "x_open_cp",
    "n_open_cp", "r_cp", "buy_rate_decayed", "open_rate_decayed", "rps_decayed", "m_P", "nu", "mu_P", "mu_open_P",
    "lift_buy", "lift_open", "prior_buy", "prior_open", "p_buy", "p_open", "smoothing_weight", "q_bar", "beta_P",
    "ref_price",
]  # fmt: skip
CAPTION_LIFT_COLUMNS = ["computed_date", "caption_id", "pages_cp", "pages_buy", "pages_open", "x_C", "e_C",
                        "x_open_C", "e_open_C", "lift_buy", "lift_open"]  # fmt: skip


def price_adjusted(p: pl.Expr, q: pl.Expr, q_bar: pl.Expr, beta: pl.Expr) -> pl.Expr:
    """p(q) = p × (q / q̄)^(−β); p itself when q or q̄ is not positive."""
    ok = (q > 0) & (q_bar > 0)
    return pl.when(ok).then(p * (q / q_bar) ** (-beta)).otherwise(p)
