"""Foundation layer transforms (20-warehouse §3): dim_caption (real SCD2), fact_message_send, dim_page, dim_creator,
dim_scheduler. Pure polars, no Dagster; deterministic (every ordering ends with a unique tie-break).

Choices where the spec is silent (also in the module docstrings of each function):
- dim_caption tracked-change time t: the latest known ``ingested_at`` of the inputs describing the caption (a bank
  input without ``ingested_at`` counts as ``now``); t is never earlier than 1 µs after the version it closes.
- A caption that disappears from every input gets a new version with ``is_active = false`` (change_reason
  ``removed``); ``is_active`` is otherwise ``tos_status == clean``.
- Type-1 (overwritten on every row of a caption, never versioned): caption_hash, caption_hash_raw, caption_norm,
  source_category, bank_ids, source, first_seen_at.
- caption_version_at: a send earlier than the first version (a back-filled report) gets the first version.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from of_scheduler_assets.layer_02_staging.reference import (
    CATEGORY_ORDER,
    MAX_CAPTION_LEN,
    MIN_CAPTION_LEN,
    classify_frame,
)
from of_scheduler_assets.layer_02_staging.tos import evaluate_tos

UTC_US = pl.Datetime("us", "UTC")
OPEN_END = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
DEFAULT_TZ = "America/New_York"

# --- helpers -----------------------------------------------------------------------------------------------------------


def _sha_map(col: pl.Expr | str, n: int | None = None) -> pl.Expr:
    """sha256 hex of a string column, computed once per distinct value."""
    expr = pl.col(col) if isinstance(col, str) else col

    def f(s: pl.Series) -> pl.Series:
        uniq = s.unique().drop_nulls().to_list()
        table = {u: hashlib.sha256(u.encode("utf-8")).hexdigest()[:n] for u in uniq}
        return s.replace_strict(table, default=None, return_dtype=pl.String)

    return expr.map_batches(f, return_dtype=pl.String)


def _ensure(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add missing columns as nulls of the given type."""
    return frame.with_columns([pl.lit(None, t).alias(c) for c, t in schema.items() if c not in frame.columns])


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def _sort_categories(col: str) -> pl.Expr:
    rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return (
        pl.col(col)
        .list.unique()
        .list.eval(
            pl.element().sort_by(pl.element().replace_strict(rank, default=99, return_dtype=pl.Int64), pl.element())
        )
    )


# --- dim_caption (§3.4) ------------------------------------------------------------------------------------------------

TRACKED = [
    "caption_text",
    "categories",
    "primary_category",
    "explicitness",
    "content_tags",
    "tos_status",
    "tos_rule_ids",
    "is_active",
]
TYPE1 = ["caption_hash", "caption_hash_raw", "caption_norm", "source_category", "bank_ids", "source", "first_seen_at"]

REPORT_CAPTIONS_SCHEMA: dict[str, pl.DataType] = {
    "caption_id": pl.String,
    "caption_hash": pl.String,
    "caption_hash_raw": pl.String,
    "caption_text": pl.String,
    "caption_norm": pl.String,
    "first_seen_at": UTC_US,
    "categories": pl.List(pl.String),
    "primary_category": pl.String,
    "ingested_at": UTC_US,
}

DIM_CAPTION_SCHEMA: dict[str, pl.DataType] = {
    "caption_sk": pl.String,
    "caption_id": pl.String,
    "caption_hash": pl.String,
    "caption_hash_raw": pl.String,
    "caption_text": pl.String,
    "caption_norm": pl.String,
    "categories": pl.List(pl.String),
    "primary_category": pl.String,
    "source_category": pl.String,
    "explicitness": pl.Int64,
    "content_tags": pl.List(pl.String),
    "tos_status": pl.String,
    "tos_rule_ids": pl.List(pl.String),
    "bank_ids": pl.List(pl.String),
    "source": pl.String,
    "char_len": pl.Int64,
    "word_count": pl.Int64,
    "emoji_count": pl.Int64,
    "has_link": pl.Boolean,
    "has_hashtag": pl.Boolean,
    "has_mention": pl.Boolean,
    "has_price_mention": pl.Boolean,
    "len_bin": pl.String,
    "emoji_bin": pl.String,
    "has_cta": pl.Boolean,
    "has_urgency": pl.Boolean,
    "ends_with_question": pl.Boolean,
    "family_key": pl.String,
    "first_seen_at": UTC_US,
    "is_active": pl.Boolean,
    "valid_from": UTC_US,
    "valid_to": UTC_US,
    "is_current": pl.Boolean,
    "change_reason": pl.String,
}

EMOJI_CLASS = r"[\x{1F300}-\x{1FAFF}\x{2600}-\x{27BF}]"
CTA_RE = r"\b(click|tap|open|unlock|watch|see|dm|message|reply|tip|bundle|sale|special|discount)\b"
URGENCY_RE = r"\b(now|today|tonight|hurry|limited|exclusive|last chance|only)\b|!!"
PRICE_MENTION_RE = r"\$\s?\d"
CURRENCY_AMOUNT_RE = r"[$€£]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars?|bucks)\b"


def report_captions(stg_message_events: pl.DataFrame) -> pl.DataFrame:
    """Distinct captions of the reports (10-ingestion §10.2: 3 ≤ trimmed length ≤ 2,000 and no U+FFFD).

    Columns ``REPORT_CAPTIONS_SCHEMA``: first-seen display text (earliest send, then ingested_at, message_id,
    row_number), ``first_seen_at`` = min send time, ``categories`` = set of §10.3 categories over the prices it was
    sent at, ``primary_category`` = the first-seen row's category, ``ingested_at`` = the time the current category set
    was complete (max over categories of the first ``ingested_at`` that produced it)."""
    stg = stg_message_events
    trimmed = pl.col("caption_text").fill_null("").str.strip_chars()
    rows = stg.filter(
        trimmed.str.len_chars().is_between(MIN_CAPTION_LEN, MAX_CAPTION_LEN)
        & ~pl.col("caption_text").fill_null("").str.contains("\ufffd", literal=True)
    ).with_columns(
        caption_lower=pl.col("caption_text").str.to_lowercase(),
        price_context=pl.col("price_cents").cast(pl.Float64),
    )
    if rows.is_empty():
        return pl.DataFrame(schema=REPORT_CAPTIONS_SCHEMA)
    rows = classify_frame(rows, text_col="caption_lower", price_col="price_context").sort(
        ["caption_id", "sending_ts_utc", "ingested_at", "message_id", "row_number"]
    )
    per_cat = rows.group_by("caption_id", "category").agg(cat_ingested_at=pl.col("ingested_at").min())
    cats = (
        per_cat.group_by("caption_id")
        .agg(categories=pl.col("category"), ingested_at=pl.col("cat_ingested_at").max())
        .with_columns(categories=_sort_categories("categories"))
    )
    first = rows.group_by("caption_id", maintain_order=True).agg(
        pl.col("caption_hash").first(),
        pl.col("caption_hash_raw").first(),
        pl.col("caption_text").first(),
        pl.col("caption_norm").first(),
        first_seen_at=pl.col("sending_ts_utc").min(),
        primary_category=pl.col("category").first(),
    )
    return (
        first.join(cats, on="caption_id", how="left")
        .select(list(REPORT_CAPTIONS_SCHEMA))
        .cast(REPORT_CAPTIONS_SCHEMA)
        .sort("caption_id")
    )


def _explicitness(tag_col: str, explicitness_map: pl.DataFrame | None) -> pl.Expr:
    """§10.3: mapped level; by default ``OTHER`` → unknown (null) and every other tag → 3; no tag → unknown."""
    tag = pl.col(tag_col).str.strip_chars().str.to_uppercase()
    mapping: dict[str, int | None] = {"OTHER": None}
    if explicitness_map is not None and explicitness_map.height:
        for row in explicitness_map.select("content_tag", "explicitness_level").iter_rows():
            if row[0] is not None:
                mapping[str(row[0]).strip().upper()] = row[1]
    known = [k for k in mapping]
    levels = tag.replace_strict(mapping, default=None, return_dtype=pl.Int64)
    return (
        pl.when(tag.is_null() | (tag == ""))
        .then(None)
        .when(tag.is_in(known))
        .then(levels)
        .otherwise(pl.lit(3, pl.Int64))
    )


def text_features(frame: pl.DataFrame) -> pl.DataFrame:
    """§3.4 text features from ``caption_text`` (counts) and ``caption_norm`` (pattern flags, family key)."""
    text = pl.col("caption_text").fill_null("")
    norm = pl.col("caption_norm").fill_null("")
    word_count = text.str.count_matches(r"\S+").cast(pl.Int64)
    emoji_count = text.str.count_matches(EMOJI_CLASS).cast(pl.Int64)
    family_src = (
        norm.str.replace_all(CURRENCY_AMOUNT_RE, " ")
        .str.replace_all(r"\d", " ")
        .str.replace_all(EMOJI_CLASS, " ")
        .str.replace_all(r"[\x{200D}\x{FE0F}\x{1F3FB}-\x{1F3FF}]", " ")
        .str.replace_all(r"[^\w\s]|_", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return frame.with_columns(
        char_len=text.str.len_chars().cast(pl.Int64),
        word_count=word_count,
        emoji_count=emoji_count,
        has_link=norm.str.contains(r"https?://|www\."),
        has_hashtag=norm.str.contains(r"#\w"),
        has_mention=norm.str.contains(r"@\w"),
        has_price_mention=norm.str.contains(PRICE_MENTION_RE),
        len_bin=pl.when(word_count < 12)
        .then(pl.lit("short"))
        .when(word_count <= 24)
        .then(pl.lit("med"))
        .otherwise(pl.lit("long")),
        emoji_bin=pl.when(emoji_count == 0)
        .then(pl.lit("none"))
        .when(emoji_count <= 2)
        .then(pl.lit("lite"))
        .otherwise(pl.lit("heavy")),
        has_cta=norm.str.contains(CTA_RE),
        has_urgency=norm.str.contains(URGENCY_RE),
        ends_with_question=norm.str.strip_chars().str.ends_with("?"),
        family_key=_sha_map(family_src),
    )


def _current_state(
    stg_caption_bank: pl.DataFrame | None,
    report_caps: pl.DataFrame | None,
    explicitness_map: pl.DataFrame | None,
    now: dt.datetime,
) -> pl.DataFrame:
    """One row per caption_id: the state the inputs describe now, plus ``_change_ts``."""
    bank = stg_caption_bank if stg_caption_bank is not None else pl.DataFrame()
    bank = _ensure(
        bank,
        {
            "caption_id": pl.String,
            "caption_hash": pl.String,
            "caption_hash_raw": pl.String,
            "caption_text": pl.String,
            "caption_norm": pl.String,
            "bank_caption_id": pl.String,
            "alias_ids": pl.List(pl.String),
            "categories": pl.List(pl.String),
            "primary_category": pl.String,
            "source_category": pl.String,
            "tos_status": pl.String,
            "tos_rule_ids": pl.List(pl.String),
            "explicitness_tag": pl.String,
            "created_ts": UTC_US,
            "ingested_at": UTC_US,
        },
    )
    b = (
        bank.sort("caption_id")
        .unique("caption_id", keep="first", maintain_order=True)
        .select(
            "caption_id",
            b_hash="caption_hash",
            b_hash_raw="caption_hash_raw",
            b_text="caption_text",
            b_norm="caption_norm",
            b_cats="categories",
            b_primary="primary_category",
            source_category="source_category",
            b_tos="tos_status",
            b_rules="tos_rule_ids",
            b_tag="explicitness_tag",
            b_ids=pl.concat_list(pl.col("bank_caption_id"), pl.col("alias_ids").fill_null([])),
            b_created="created_ts",
            b_ts=pl.col("ingested_at").fill_null(pl.lit(now, UTC_US)),
            _in_bank=pl.lit(True),
        )
    )
    r = report_caps if report_caps is not None else pl.DataFrame(schema=REPORT_CAPTIONS_SCHEMA)
    r = _ensure(r, REPORT_CAPTIONS_SCHEMA).select(
        "caption_id",
        r_hash="caption_hash",
        r_hash_raw="caption_hash_raw",
        r_text="caption_text",
        r_norm="caption_norm",
        r_cats="categories",
        r_primary="primary_category",
        r_first="first_seen_at",
        r_ts=pl.col("ingested_at").fill_null(pl.lit(now, UTC_US)),
        _in_report=pl.lit(True),
    )
    cur = b.join(r, on="caption_id", how="full", coalesce=True).with_columns(
        pl.col("_in_bank").fill_null(False), pl.col("_in_report").fill_null(False)
    )
    cur = cur.with_columns(
        caption_hash=pl.coalesce("b_hash", "r_hash"),
        caption_hash_raw=pl.coalesce("b_hash_raw", "r_hash_raw"),
        caption_text=pl.coalesce("b_text", "r_text"),
        caption_norm=pl.coalesce("b_norm", "r_norm"),
        categories=pl.concat_list(pl.col("b_cats").fill_null([]), pl.col("r_cats").fill_null([])),
        primary_category=pl.coalesce("b_primary", "r_primary"),
        explicitness=_explicitness("b_tag", explicitness_map),
        content_tags=pl.when(pl.col("b_tag").str.strip_chars().fill_null("") != "")
        .then(pl.concat_list(pl.col("b_tag").str.strip_chars().str.to_uppercase()))
        .otherwise(pl.lit([], pl.List(pl.String))),
        bank_ids=pl.col("b_ids").fill_null([]).list.drop_nulls().list.unique().list.sort(),
        source=pl.when(pl.col("_in_bank") & pl.col("_in_report"))
        .then(pl.lit("both"))
        .when(pl.col("_in_bank"))
        .then(pl.lit("bank"))
        .otherwise(pl.lit("report")),
        first_seen_at=pl.min_horizontal("b_created", "r_first"),
        _change_ts=pl.max_horizontal("b_ts", "r_ts"),
    ).with_columns(categories=_sort_categories("categories"))
    # TOS: the bank's own verdict; report-only captions are evaluated here (D17).
    need = cur.filter(pl.col("b_tos").is_null())
    if need.height:
        tos = evaluate_tos(need["caption_text"])
        need = need.select("caption_id").with_columns(r_tos=tos["tos_status"], r_rules=tos["violation_rule_ids"])
        cur = cur.join(need, on="caption_id", how="left")
    else:
        cur = cur.with_columns(r_tos=pl.lit(None, pl.String), r_rules=pl.lit(None, pl.List(pl.String)))
    cur = cur.with_columns(
        tos_status=pl.coalesce("b_tos", "r_tos").fill_null("clean"),
        tos_rule_ids=pl.coalesce("b_rules", "r_rules").fill_null([]),
    ).with_columns(
        is_active=pl.col("tos_status") == "clean",
        first_seen_at=pl.col("first_seen_at").fill_null(pl.lit(now, UTC_US)),
    )
    keep = [c for c in DIM_CAPTION_SCHEMA if c in cur.columns] + ["_change_ts"]
    return cur.select(keep).sort("caption_id")


def _signature(frame: pl.DataFrame) -> pl.Expr:
    """A string that differs iff a tracked attribute differs (null-safe, list-safe)."""
    parts = []
    for c in TRACKED:
        dtype = frame.schema[c]
        if isinstance(dtype, pl.List):
            e = pl.col(c).list.join("\x1f")
        else:
            e = pl.col(c).cast(pl.String)
        parts.append(e.fill_null("\x00"))
    return pl.concat_str(parts, separator="\x1e")


def _finish(rows: pl.DataFrame) -> pl.DataFrame:
    rows = text_features(rows).with_columns(
        caption_sk=_sha_map(
            pl.col("caption_id") + pl.lit("|") + pl.col("valid_from").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"), 16
        )
    )
    return rows.select(list(DIM_CAPTION_SCHEMA)).cast(DIM_CAPTION_SCHEMA).sort("caption_id", "valid_from")


def build_dim_caption(
    stg_caption_bank: pl.DataFrame | None,
    report_captions: pl.DataFrame | None,
    previous: pl.DataFrame | None,
    *,
    explicitness_map: pl.DataFrame | None,
    now: dt.datetime,
) -> pl.DataFrame:
    """SCD2 merge of §3.4. ``previous`` is the last materialised ``dim_caption`` (None on the first build).
    A tracked-attribute change at t closes the current row (``valid_to = t``) and opens one at t; type-1 columns are
    overwritten on every row; unchanged inputs return ``previous`` unchanged."""
    now = _utc(now)
    cur = _current_state(stg_caption_bank, report_captions, explicitness_map, now)
    cur = cur.with_columns(_sig=_signature(cur))
    open_end = pl.lit(OPEN_END, UTC_US)

    if previous is None or previous.is_empty():
        rows = cur.with_columns(
            valid_from=pl.col("first_seen_at"),
            valid_to=open_end,
            is_current=pl.lit(True),
            change_reason=pl.lit("initial"),
        )
        return _finish(rows)

    prev = previous.select(list(DIM_CAPTION_SCHEMA)).cast(DIM_CAPTION_SCHEMA)
    prev_cur = prev.filter(pl.col("is_current"))
    prev_sig = prev_cur.with_columns(_psig=_signature(prev_cur)).select(
        "caption_id", "_psig", _pvalid_from="valid_from"
    )

    # captions that vanished from every input: a version with is_active = false
    gone = prev_cur.join(cur.select("caption_id"), on="caption_id", how="anti").with_columns(
        is_active=pl.lit(False), _change_ts=pl.lit(now, UTC_US)
    )
    gone = gone.select([c for c in cur.columns if c not in ("_sig",)]).with_columns(_sig=_signature(gone))
    state = pl.concat([cur, gone.select(cur.columns)], how="vertical").join(prev_sig, on="caption_id", how="left")

    new_ids = state.filter(pl.col("_psig").is_null())
    changed = state.filter(pl.col("_psig").is_not_null() & (pl.col("_sig") != pl.col("_psig"))).with_columns(
        _t=pl.max_horizontal("_change_ts", pl.col("_pvalid_from") + pl.duration(microseconds=1))
    )
    reason = (
        pl.when(~pl.col("is_active") & pl.col("caption_id").is_in(gone["caption_id"].implode()))
        .then(pl.lit("removed"))
        .otherwise(pl.lit("changed"))
    )

    inserted_new = new_ids.with_columns(
        valid_from=pl.col("first_seen_at"), valid_to=open_end, is_current=pl.lit(True), change_reason=pl.lit("initial")
    )
    inserted_changed = changed.with_columns(
        valid_from=pl.col("_t"), valid_to=open_end, is_current=pl.lit(True), change_reason=reason
    )
    closes = changed.select("caption_id", _close_at="_t")

    # type-1 overwrite for every caption still described by the inputs
    type1 = state.select("caption_id", *[pl.col(c).alias(f"_t1_{c}") for c in TYPE1])
    old = (
        prev.join(closes, on="caption_id", how="left")
        .with_columns(
            valid_to=pl.when(pl.col("is_current") & pl.col("_close_at").is_not_null())
            .then(pl.col("_close_at"))
            .otherwise(pl.col("valid_to")),
            is_current=pl.col("is_current") & pl.col("_close_at").is_null(),
        )
        .join(type1, on="caption_id", how="left")
        .with_columns([pl.coalesce(f"_t1_{c}", c).alias(c) for c in TYPE1])
    )
    rows = pl.concat(
        [
            old.select(list(DIM_CAPTION_SCHEMA)).cast(DIM_CAPTION_SCHEMA),
            _finish(pl.concat([inserted_new, inserted_changed], how="diagonal_relaxed")),
        ],
        how="vertical",
    )
    # text features follow caption_text of each version: recompute for all rows (deterministic, idempotent)
    return _finish(rows)


def caption_version_at(dim_caption: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """Attach ``caption_sk`` of the version valid at ``sending_ts_utc`` (valid_from ≤ ts < valid_to). A send earlier
    than the first version gets the first version; a caption absent from the dimension gets null."""
    base = facts.drop("caption_sk", strict=False).with_row_index("_r")
    dim = dim_caption.select("caption_id", "caption_sk", "valid_from", "valid_to")
    hit = (
        base.select("_r", "caption_id", "sending_ts_utc")
        .join(dim, on="caption_id", how="inner")
        .filter((pl.col("valid_from") <= pl.col("sending_ts_utc")) & (pl.col("sending_ts_utc") < pl.col("valid_to")))
        .select("_r", "caption_sk")
    )
    first = dim.sort("caption_id", "valid_from").unique("caption_id", keep="first", maintain_order=True)
    early = (
        base.select("_r", "caption_id", "sending_ts_utc")
        .join(first, on="caption_id", how="inner")
        .filter(pl.col("sending_ts_utc") < pl.col("valid_from"))
        .select("_r", "caption_sk")
    )
    sk = pl.concat([hit, early]).unique("_r", keep="first")
    return base.join(sk, on="_r", how="left").sort("_r").drop("_r")


# --- fact_message_send (§3.5) ------------------------------------------------------------------------------------------

FACT_SCHEMA: dict[str, pl.DataType] = {
    "message_send_key": pl.String,
    "msg_key": pl.String,
    "dup_ordinal": pl.Int64,
    "username_page": pl.String,
    "username_std": pl.String,
    "page_type": pl.String,
    "caption_id": pl.String,
    "caption_hash": pl.String,
    "caption_sk": pl.String,
    "is_media_only": pl.Boolean,
    "sender_std": pl.String,
    "scheduler_code": pl.String,
    "sending_ts_utc": UTC_US,
    "send_date": pl.Date,
    "send_date_local": pl.Date,
    "dow_local": pl.Int64,
    "hod_local": pl.Int64,
    "iso_year": pl.Int64,
    "iso_week": pl.Int64,
    "price_usd": pl.Decimal(10, 2),
    "price_cents": pl.Int64,
    "is_free": pl.Boolean,
    "message_kind": pl.String,
    "sent": pl.Int64,
    "viewed": pl.Int64,
    "purchased": pl.Int64,
    "earnings_gross_usd": pl.Decimal(12, 2),
    "platform_fee_applied": pl.Float64,
    "earnings_net_usd": pl.Decimal(12, 2),
    "status": pl.String,
    "is_unsent": pl.Boolean,
    "withdrawn_by_std": pl.String,
    "status_flips": pl.Int64,
    "view_rate": pl.Float64,
    "buy_rate": pl.Float64,
    "conversion": pl.Float64,
    "rps_gross": pl.Float64,
    "rps_net": pl.Float64,
    "revenue_per_purchase": pl.Float64,
    "quality_flag": pl.String,
    "is_model_eligible": pl.Boolean,
    "dq_flags": pl.List(pl.String),
    "snapshot_count": pl.Int64,
    "first_report_received_at": UTC_US,
    "latest_report_received_at": UTC_US,
    "metrics_age_hours": pl.Float64,
    "is_mature": pl.Boolean,
    "latest_message_id": pl.String,
    "archive_uri": pl.String,
    "ingested_at": UTC_US,
}
QUALITY_FLAGS = ["zero_sends", "view_anomaly", "purchase_anomaly", "revenue_anomaly", "valid"]
ELIGIBLE_FLAGS = ["valid", "view_anomaly"]


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den.is_null() | (den == 0)).then(None).otherwise(num.cast(pl.Float64) / den.cast(pl.Float64))


def quality_flag_expr() -> pl.Expr:
    """20-warehouse §2.3, first match wins (on sent, viewed, purchased, earnings_usd, price_cents)."""
    sent, viewed, purchased = pl.col("sent"), pl.col("viewed").fill_null(0), pl.col("purchased").fill_null(0)
    earn_cents = (pl.col("earnings_usd").cast(pl.Float64).fill_null(0) * 100).round(0)
    return (
        pl.when(sent == 0)
        .then(pl.lit("zero_sends"))
        .when(viewed > sent)
        .then(pl.lit("view_anomaly"))
        .when(purchased > viewed)
        .then(pl.lit("purchase_anomaly"))
        .when((earn_cents > pl.col("price_cents") * sent) | ((pl.col("price_cents") == 0) & (purchased > 0)))
        .then(pl.lit("revenue_anomaly"))
        .otherwise(pl.lit("valid"))
    )


def build_fact_message_send(
    latest: pl.DataFrame,
    dim_caption: pl.DataFrame | None,
    *,
    platform_fee: float = 0.2,
    maturity_hours: int = 72,
) -> pl.DataFrame:
    """One row per ``message_send_key`` from ``latest_snapshots`` output (§3.5 columns, in order)."""
    f = (
        latest.with_columns(
            send_date=pl.col("sending_ts_utc").dt.date(),
            send_date_local=pl.col("sending_date_local"),
            iso_year=pl.col("sending_date_local").dt.iso_year().cast(pl.Int64),
            iso_week=pl.col("sending_date_local").dt.week().cast(pl.Int64),
            message_kind=pl.when(pl.col("price_cents") > 0).then(pl.lit("ppv")).otherwise(pl.lit("free")),
            earnings_gross_usd=pl.col("earnings_usd").cast(pl.Decimal(12, 2)),
            platform_fee_applied=pl.lit(float(platform_fee), pl.Float64),
            earnings_net_usd=(pl.col("earnings_usd").cast(pl.Float64) * (1.0 - float(platform_fee)))
            .round(2)
            .cast(pl.Decimal(12, 2)),
            is_unsent=(pl.col("status") == "unsent").fill_null(False),
            quality_flag=quality_flag_expr(),
            latest_report_received_at=pl.col("report_received_at"),
            latest_message_id=pl.col("message_id"),
        )
        .with_columns(
            view_rate=_safe_div(pl.col("viewed"), pl.col("sent")),
            buy_rate=_safe_div(pl.col("purchased"), pl.col("sent")),
            conversion=_safe_div(pl.col("purchased"), pl.col("viewed")),
            rps_gross=_safe_div(pl.col("earnings_gross_usd"), pl.col("sent")),
            rps_net=_safe_div(pl.col("earnings_net_usd"), pl.col("sent")),
            revenue_per_purchase=_safe_div(pl.col("earnings_gross_usd"), pl.col("purchased")),
            is_model_eligible=pl.col("quality_flag").is_in(ELIGIBLE_FLAGS),
            metrics_age_hours=(pl.col("latest_report_received_at") - pl.col("sending_ts_utc")).dt.total_microseconds()
            / 3_600_000_000.0,
        )
        .with_columns(is_mature=(pl.col("metrics_age_hours") >= maturity_hours).fill_null(False))
    )
    if dim_caption is not None:
        f = caption_version_at(dim_caption, f)
    else:
        f = f.with_columns(caption_sk=pl.lit(None, pl.String))
    return f.select(list(FACT_SCHEMA)).cast(FACT_SCHEMA).sort("send_date", "message_send_key")


# --- dim_page (§3.1, §3.6) ---------------------------------------------------------------------------------------------

DIM_PAGE_SCHEMA: dict[str, pl.DataType] = {
    "username_page": pl.String,
    "username_std": pl.String,
    "page_type": pl.String,
    "display_name": pl.String,
    "is_paid": pl.Boolean,
    "tz": pl.String,
    "report_tz": pl.String,
    "local_min_hour": pl.Int64,
    "local_max_hour": pl.Int64,
    "max_explicitness": pl.Int64,
    "lifecycle_state": pl.String,
    "page_state": pl.String,
    "tier": pl.String,
    "tier_source": pl.String,
    "assigned_scheduler_code": pl.String,
    "identity_source": pl.String,
    "merged_into": pl.String,
    "first_seen_at": UTC_US,
    "last_report_at": UTC_US,
    "last_stats_at": UTC_US,
    "last_send_at": UTC_US,
    "new_until": UTC_US,
    "is_active": pl.Boolean,
    "active_reason": pl.String,
    "config_name": pl.String,
    "config_version": pl.String,
}
PROBATION_DAYS = 7


def _text_col(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, pl.String).alias(col)
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s).alias(col)


def _int_col(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, pl.Int64).alias(col)
    return pl.col(col).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False).alias(col)


def _ts_col(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, UTC_US).alias(col)
    dtype = frame.schema[col]
    if dtype == pl.String:
        return pl.col(col).str.to_datetime(strict=False, time_zone="UTC").cast(UTC_US).alias(col)
    if dtype == pl.Date:
        return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(col)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return pl.col(col).dt.replace_time_zone("UTC").cast(UTC_US).alias(col)
    return pl.col(col).cast(UTC_US).alias(col)


def _latest_per_page(frame: pl.DataFrame, ts: str, value_cols: list[str], tie: list[str]) -> pl.DataFrame:
    cols = ["username_page", ts, *value_cols, *[t for t in tie if t not in value_cols and t != ts]]
    return (
        frame.select(cols)
        .sort(["username_page", ts, *tie], descending=[False, True, *[False] * len(tie)], nulls_last=True)
        .unique("username_page", keep="first", maintain_order=True)
    )


def build_dim_page(
    registry: pl.DataFrame | None,
    creator_stats: pl.DataFrame | None,
    report_pages: pl.DataFrame | None,
    assignments: pl.DataFrame | None,
    overrides: pl.DataFrame | None,
    *,
    activity_window_days: int = 21,
    now: dt.datetime,
    active_overrides: pl.DataFrame | None = None,
    probation_days: int = PROBATION_DAYS,
    default_tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """§3.1 columns not needing later layers (page_state/tier/config null, tier_source ``pending``), §3.6 activity.

    Inputs (all optional, all after alias resolution, i.e. with ``username_page``):
    ``registry`` page_registry seed; ``creator_stats`` stg_creator_stats; ``report_pages`` stg_message_events (or any
    frame with username_page, username_std, page_type, report_received_at, sending_ts_utc, page_name_raw,
    identity_source); ``assignments`` stg_scheduler_assignments; ``overrides`` page_overrides (username_page,
    updated_at, optional assigned_scheduler_code / scheduler_code, local_min_hour, local_max_hour, max_explicitness,
    report_tz; latest row wins); ``active_overrides`` (username_page, include, note, updated_at). If ``overrides``
    itself carries an ``include`` column it is used as the active overrides when ``active_overrides`` is None."""
    now = _utc(now)
    window_start = now - dt.timedelta(days=activity_window_days)
    key = {"username_page": pl.String, "username_std": pl.String, "page_type": pl.String}

    parts: list[pl.DataFrame] = []
    reg = pl.DataFrame(schema=key)
    if registry is not None and registry.height:
        reg = (
            registry.select(
                _text_col(registry, "username_page"),
                _text_col(registry, "username_std"),
                _text_col(registry, "page_type").str.to_lowercase().alias("page_type"),
                _text_col(registry, "display_name").alias("reg_display"),
                _text_col(registry, "tz").alias("reg_tz"),
                _text_col(registry, "report_tz").alias("reg_report_tz"),
                _int_col(registry, "local_min_hour").alias("reg_min"),
                _int_col(registry, "local_max_hour").alias("reg_max"),
                _int_col(registry, "max_explicitness").alias("reg_expl"),
                _text_col(registry, "assigned_scheduler_code").str.to_uppercase().alias("reg_sched"),
                _ts_col(registry, "active_from").alias("reg_first"),
            )
            .filter(pl.col("username_page").is_not_null())
            .unique("username_page", keep="first", maintain_order=True)
        )
        parts.append(reg.select(*key, _src=pl.lit(0), identity_source=pl.lit("seed")))

    stats_latest = pl.DataFrame(schema={"username_page": pl.String})
    if creator_stats is not None and creator_stats.height:
        cs = creator_stats.with_columns(
            _ts_col(creator_stats, "snapshot_ts_utc"),
            _ts_col(creator_stats, "ingested_at"),
            pl.col("period_end").cast(pl.Date),
        )
        stats_latest = (
            cs.sort(
                ["username_page", "period_end", "ingested_at", "source_file_sha256", "row_number"],
                descending=[False, True, True, False, False],
                nulls_last=True,
            )
            .group_by("username_page", maintain_order=True)
            .agg(
                pl.col("username_std").first(),
                pl.col("page_type").first(),
                cs_display=pl.col("creator_display").first(),
                last_stats_at=pl.col("snapshot_ts_utc").max(),
                cs_first=pl.col("snapshot_ts_utc").min(),
                last_period_end=pl.col("period_end").max(),
            )
        )
        parts.append(stats_latest.select(*key, _src=pl.lit(1), identity_source=pl.lit("creator_stats")))

    rep = pl.DataFrame(schema={"username_page": pl.String})
    if report_pages is not None and report_pages.height:
        rp = report_pages.with_columns(
            _ts_col(report_pages, "report_received_at"),
            _ts_col(report_pages, "sending_ts_utc"),
            _text_col(report_pages, "page_name_raw"),
            _text_col(report_pages, "identity_source"),
        )
        # One row per distinct spelling first (a few per page), so the ordering below never sorts every report row.
        spellings = rp.group_by("username_page", "username_std", "page_type", "page_name_raw", "identity_source").agg(
            pl.col("report_received_at").max(),
            _last_send=pl.col("sending_ts_utc").max(),
            _first_send=pl.col("sending_ts_utc").min(),
        )
        rep = (
            spellings.sort(
                ["username_page", "report_received_at", "page_name_raw"],
                descending=[False, True, False],
                nulls_last=True,
            )
            .group_by("username_page", maintain_order=True)
            .agg(
                pl.col("username_std").first(),
                pl.col("page_type").first(),
                rep_display=pl.col("page_name_raw").first(),
                rep_identity=pl.col("identity_source").first(),
                last_report_at=pl.col("report_received_at").max(),
                last_send_at=pl.col("_last_send").max(),
                rep_first=pl.col("_first_send").min(),
            )
        )
        parts.append(
            rep.select(
                *key,
                _src=pl.lit(2),
                identity_source=pl.when(pl.col("rep_identity") == "auto")
                .then(pl.lit("auto"))
                .otherwise(pl.lit("seed")),
            )
        )

    asg_latest = pl.DataFrame(schema={"username_page": pl.String})
    if assignments is not None and assignments.height:
        a = assignments.with_columns(_ts_col(assignments, "ingested_at"))
        tie = [c for c in ("source_file_sha256", "row_number") if c in a.columns]
        asg_latest = _latest_per_page(a, "ingested_at", ["scheduler_code", "username_std", "page_type"], tie).select(
            "username_page", "username_std", "page_type", asg_sched="scheduler_code", asg_first="ingested_at"
        )
        parts.append(asg_latest.select(*key, _src=pl.lit(3), identity_source=pl.lit("seed")))

    if not parts:
        return pl.DataFrame(schema=DIM_PAGE_SCHEMA)
    universe = (
        pl.concat([p.cast({"_src": pl.Int64}) for p in parts], how="vertical_relaxed")
        .filter(pl.col("username_page").is_not_null())
        .sort("username_page", "_src")
        .unique("username_page", keep="first", maintain_order=True)
        .drop("_src")
    )

    pg = universe
    for frame, cols in (
        (reg, [c for c in reg.columns if c.startswith("reg_")]),
        (stats_latest, ["cs_display", "last_stats_at", "cs_first", "last_period_end"]),
        (rep, ["rep_display", "last_report_at", "last_send_at", "rep_first"]),
        (asg_latest, ["asg_sched", "asg_first"]),
    ):
        present = [c for c in cols if c in frame.columns]
        pg = pg.join(frame.select("username_page", *present), on="username_page", how="left") if present else pg
    pg = _ensure(
        pg,
        {
            "reg_display": pl.String,
            "reg_tz": pl.String,
            "reg_report_tz": pl.String,
            "reg_min": pl.Int64,
            "reg_max": pl.Int64,
            "reg_expl": pl.Int64,
            "reg_sched": pl.String,
            "reg_first": UTC_US,
            "cs_display": pl.String,
            "last_stats_at": UTC_US,
            "cs_first": UTC_US,
            "last_period_end": pl.Date,
            "rep_display": pl.String,
            "last_report_at": UTC_US,
            "last_send_at": UTC_US,
            "rep_first": UTC_US,
            "asg_sched": pl.String,
            "asg_first": UTC_US,
        },
    )

    # page_overrides: latest row per page
    ov = pl.DataFrame(schema={"username_page": pl.String})
    if overrides is not None and overrides.height:
        o = overrides.with_columns(_ts_col(overrides, "updated_at"))
        sched_col = "assigned_scheduler_code" if "assigned_scheduler_code" in o.columns else "scheduler_code"
        o = o.select(
            "username_page",
            "updated_at",
            _text_col(o, sched_col).str.to_uppercase().alias("ov_sched"),
            _int_col(o, "local_min_hour").alias("ov_min"),
            _int_col(o, "local_max_hour").alias("ov_max"),
            _int_col(o, "max_explicitness").alias("ov_expl"),
            _text_col(o, "report_tz").alias("ov_report_tz"),
            _text_col(o, "tz").alias("ov_tz"),
        ).with_row_index("_i")
        ov = (
            o.sort(["username_page", "updated_at", "_i"], descending=[False, True, True], nulls_last=True)
            .unique("username_page", keep="first", maintain_order=True)
            .drop("_i", "updated_at")
        )
        if active_overrides is None and "include" in overrides.columns:
            active_overrides = overrides
    pg = _ensure(
        pg.join(ov, on="username_page", how="left"),
        {
            "ov_sched": pl.String,
            "ov_min": pl.Int64,
            "ov_max": pl.Int64,
            "ov_expl": pl.Int64,
            "ov_report_tz": pl.String,
            "ov_tz": pl.String,
        },
    )

    ao = pl.DataFrame(schema={"username_page": pl.String, "ao_include": pl.Boolean})
    if active_overrides is not None and active_overrides.height:
        a = active_overrides.with_columns(_ts_col(active_overrides, "updated_at")).with_row_index("_i")
        inc = pl.col("include")
        if a.schema["include"] != pl.Boolean:
            inc = inc.cast(pl.String).str.strip_chars().str.to_lowercase().is_in(["true", "1", "yes", "y", "t"])
        ao = (
            a.with_columns(ao_include=inc)
            .sort(["username_page", "updated_at", "_i"], descending=[False, True, True], nulls_last=True)
            .unique("username_page", keep="first", maintain_order=True)
            .select("username_page", "ao_include")
        )
    pg = pg.join(ao, on="username_page", how="left")

    lo = pl.coalesce("ov_min", "reg_min", pl.lit(0)).clip(0, 23)
    hi = pl.coalesce("ov_max", "reg_max", pl.lit(23)).clip(0, 23)
    stats_recent = (pl.col("last_period_end") >= pl.lit(window_start.date())).fill_null(False)
    report_recent = (pl.col("last_report_at") >= pl.lit(window_start, UTC_US)).fill_null(False)
    first_seen = pl.min_horizontal("reg_first", "cs_first", "rep_first", "asg_first")
    pg = (
        pg.with_columns(
            display_name=pl.coalesce("reg_display", "cs_display", "rep_display"),
            is_paid=pl.col("page_type").is_in(["paid", "vip"]),
            tz=pl.coalesce("ov_tz", "reg_tz", pl.lit(default_tz)),
            report_tz=pl.coalesce("ov_report_tz", "reg_report_tz"),
            local_min_hour=pl.min_horizontal(lo, hi).cast(pl.Int64),
            local_max_hour=pl.max_horizontal(lo, hi).cast(pl.Int64),
            max_explicitness=pl.coalesce("ov_expl", "reg_expl", pl.lit(3)).clip(1, 3).cast(pl.Int64),
            assigned_scheduler_code=pl.coalesce("ov_sched", "asg_sched", "reg_sched", pl.lit("unassigned")),
            merged_into=pl.lit(None, pl.String),
            first_seen_at=first_seen,
            is_active=pl.when(pl.col("ao_include").is_not_null())
            .then(pl.col("ao_include"))
            .otherwise(stats_recent | report_recent),
            active_reason=pl.when(pl.col("ao_include") == False)  # noqa: E712
            .then(pl.lit("override_out"))
            .when(stats_recent)
            .then(pl.lit("stats"))
            .when(report_recent)
            .then(pl.lit("report"))
            .when(pl.col("ao_include") == True)  # noqa: E712
            .then(pl.lit("override_in"))
            .otherwise(None),
            page_state=pl.lit(None, pl.String),
            tier=pl.lit(None, pl.String),
            tier_source=pl.lit("pending"),
            config_name=pl.lit(None, pl.String),
            config_version=pl.lit(None, pl.String),
        )
        .with_columns(
            new_until=(pl.col("first_seen_at").dt.truncate("1d") + pl.duration(days=probation_days)),
        )
    )
    pg = pg.with_columns(lifecycle_state=lifecycle_expr(local_today(pg, now)))
    return pg.select(list(DIM_PAGE_SCHEMA)).cast(DIM_PAGE_SCHEMA).sort("username_page")


def local_today(pages: pl.DataFrame, now: dt.datetime) -> pl.Expr:
    """The page-local date of ``now`` for each row (column ``tz``; unknown zones fall back to the default)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    dates: dict[str, dt.date] = {}
    for tz in pages["tz"].drop_nulls().unique().to_list():
        try:
            dates[tz] = now.astimezone(ZoneInfo(tz)).date()
        except (ZoneInfoNotFoundError, ValueError):
            dates[tz] = now.astimezone(ZoneInfo(DEFAULT_TZ)).date()
    fallback = now.astimezone(ZoneInfo(DEFAULT_TZ)).date()
    return pl.col("tz").replace_strict(dates, default=fallback, return_dtype=pl.Date)


def lifecycle_expr(today: pl.Expr) -> pl.Expr:
    """40-planning §7, the one lifecycle rule (dim_page, the onboarding queue and past-dated evaluations agree):
    ``inactive`` when the activity rule fails; else ``new`` while probation lasts (``new_until`` on or after the
    page-local today: it expires once ``new_until < local today``); else ``active``."""
    return (
        pl.when(~pl.col("is_active").fill_null(False))
        .then(pl.lit("inactive"))
        .when(pl.col("new_until").is_not_null() & (pl.col("new_until").dt.date() >= today))
        .then(pl.lit("new"))
        .otherwise(pl.lit("active"))
    )


def attach_latest_tier_and_state(
    dim_page: pl.DataFrame,
    tier_assignment: pl.DataFrame | None,
    page_state: pl.DataFrame | None,
    page_overrides: pl.DataFrame | None,
) -> pl.DataFrame:
    """§3.1 ``page_state``, ``tier``, ``tier_source`` from the latest ``page_state_daily`` / ``page_tier_assignment``
    row of each page (the semantic layer computes them daily from the facts, which are downstream of this table, so
    dim_page carries the last computed values). Without an engine row: an override tier wins (``override``), else
    ``LOW`` / ``pending`` (40-planning §7); without a state row: ``balance`` (§4.5 default)."""

    def latest(frame: pl.DataFrame | None, cols: list[str]) -> pl.DataFrame:
        if frame is None or frame.is_empty():
            return pl.DataFrame(schema={"username_page": pl.String, **{c: pl.String for c in cols}})
        return (
            frame.sort(["username_page", "computed_date"], descending=[False, True])
            .unique("username_page", keep="first", maintain_order=True)
            .select("username_page", *[pl.col(c).cast(pl.String) for c in cols])
        )

    tiers = latest(tier_assignment, ["tier", "tier_source"]).rename({"tier": "_tier", "tier_source": "_tier_source"})
    states = latest(page_state, ["page_state"]).rename({"page_state": "_state"})
    ov = pl.DataFrame(schema={"username_page": pl.String, "_ov_tier": pl.String})
    if page_overrides is not None and page_overrides.height and "tier_override" in page_overrides.columns:
        o = page_overrides.filter(pl.col("tier_override").is_not_null()).with_row_index("_i")
        order = ["username_page", "updated_at", "_i"] if "updated_at" in o.columns else ["username_page", "_i"]
        ov = (
            o.sort(order, descending=[False] + [True] * (len(order) - 1), nulls_last=True)
            .unique("username_page", keep="first", maintain_order=True)
            .select("username_page", _ov_tier=pl.col("tier_override").cast(pl.String).str.to_uppercase())
        )
    out = (
        dim_page.drop("tier", "tier_source", "page_state")
        .join(tiers, on="username_page", how="left")
        .join(states, on="username_page", how="left")
        .join(ov, on="username_page", how="left")
        .with_columns(
            tier=pl.coalesce("_tier", "_ov_tier", pl.lit("LOW")),
            tier_source=pl.when(pl.col("_tier").is_not_null())
            .then(pl.col("_tier_source"))
            .when(pl.col("_ov_tier").is_not_null())
            .then(pl.lit("override"))
            .otherwise(pl.lit("pending")),
            page_state=pl.col("_state").fill_null("balance"),
        )
    )
    return out.select(list(DIM_PAGE_SCHEMA)).cast(DIM_PAGE_SCHEMA)


# --- dim_creator (§3.2) ------------------------------------------------------------------------------------------------

DIM_CREATOR_SCHEMA: dict[str, pl.DataType] = {
    "username_std": pl.String,
    "display_name": pl.String,
    "pages": pl.List(pl.String),
    "n_pages": pl.Int64,
    "first_seen_at": UTC_US,
    "last_send_at": UTC_US,
    "days_since_last_send": pl.Int64,
    "account_status": pl.String,
    "revenue_gross_90d": pl.Float64,
    "active_days_90d": pl.Int64,
    "avg_daily_revenue": pl.Float64,
    "revenue_volatility": pl.Float64,
    "performance_segment": pl.String,
}
PAGE_TYPE_RANK = {"paid": 0, "vip": 1, "free": 2}


def build_dim_creator(
    dim_page: pl.DataFrame, fact: pl.DataFrame, *, now: dt.datetime, window_days: int = 90
) -> pl.DataFrame:
    """§3.2: one row per username_std. Daily revenue is per ACTIVE local send date (never per event); volatility is
    the sample sd (ddof 1) of daily gross revenue over active days (null with one active day)."""
    now = _utc(now)
    start = now - dt.timedelta(days=window_days)
    base = (
        dim_page.with_columns(_r=pl.col("page_type").replace_strict(PAGE_TYPE_RANK, default=9, return_dtype=pl.Int64))
        .sort("username_std", "_r", "username_page")
        .group_by("username_std", maintain_order=True)
        .agg(
            display_name=pl.col("display_name").drop_nulls().first(),
            pages=pl.col("username_page").sort(),
            n_pages=pl.len().cast(pl.Int64),
            first_seen_at=pl.col("first_seen_at").min(),
            _page_last=pl.col("last_send_at").max(),
        )
    )
    f = fact.filter(pl.col("sending_ts_utc") <= pl.lit(now, UTC_US))
    last = f.group_by("username_std").agg(_fact_last=pl.col("sending_ts_utc").max())
    recent = f.filter(pl.col("sending_ts_utc") > pl.lit(start, UTC_US))
    daily = recent.group_by("username_std", "send_date_local").agg(
        rev=pl.col("earnings_gross_usd").cast(pl.Float64).fill_null(0).sum()
    )
    m = daily.group_by("username_std").agg(
        revenue_gross_90d=pl.col("rev").sum().round(2),
        active_days_90d=pl.len().cast(pl.Int64),
        revenue_volatility=pl.col("rev").std(ddof=1),
    )
    out = (
        base.join(last, on="username_std", how="left")
        .join(m, on="username_std", how="left")
        .with_columns(
            last_send_at=pl.max_horizontal("_page_last", "_fact_last"),
            revenue_gross_90d=pl.col("revenue_gross_90d").fill_null(0.0),
            active_days_90d=pl.col("active_days_90d").fill_null(0),
        )
        .with_columns(
            days_since_last_send=(pl.lit(now, UTC_US) - pl.col("last_send_at")).dt.total_days().cast(pl.Int64),
            avg_daily_revenue=pl.when(pl.col("active_days_90d") > 0)
            .then(pl.col("revenue_gross_90d") / pl.col("active_days_90d"))
            .otherwise(0.0),
        )
        .with_columns(
            account_status=pl.when(pl.col("days_since_last_send") <= 7)
            .then(pl.lit("active"))
            .when(pl.col("days_since_last_send") <= 30)
            .then(pl.lit("dormant"))
            .when(pl.col("days_since_last_send") <= 90)
            .then(pl.lit("at_risk"))
            .otherwise(pl.lit("churned")),
            performance_segment=pl.when(pl.col("avg_daily_revenue") >= 100)
            .then(pl.lit("whale"))
            .when(pl.col("avg_daily_revenue") >= 10)
            .then(pl.lit("high_value"))
            .when(pl.col("avg_daily_revenue") >= 1)
            .then(pl.lit("regular"))
            .when(pl.col("avg_daily_revenue") > 0)
            .then(pl.lit("casual"))
            .otherwise(pl.lit("inactive")),
        )
    )
    return out.select(list(DIM_CREATOR_SCHEMA)).cast(DIM_CREATOR_SCHEMA).sort("username_std")


# --- dim_scheduler (§3.3) ----------------------------------------------------------------------------------------------

DIM_SCHEDULER_SCHEMA: dict[str, pl.DataType] = {
    "scheduler_code": pl.String,
    "display_name": pl.String,
    "email": pl.String,
    "is_manager": pl.Boolean,
    "is_active": pl.Boolean,
    "can_view_all": pl.Boolean,
    "pages": pl.List(pl.String),
    "n_pages": pl.Int64,
    "sender_aliases": pl.List(pl.String),
    "is_provisional": pl.Boolean,
}


def build_dim_scheduler(roster: pl.DataFrame | None, dim_page: pl.DataFrame) -> pl.DataFrame:
    """§3.3: roster seed rows plus provisional entries for codes assigned in dim_page but missing from the roster."""
    r = roster if roster is not None else pl.DataFrame()
    r = _ensure(r, {c: t for c, t in DIM_SCHEDULER_SCHEMA.items() if c not in ("pages", "n_pages", "is_provisional")})
    r = (
        r.select([c for c in DIM_SCHEDULER_SCHEMA if c not in ("pages", "n_pages", "is_provisional")])
        .with_columns(pl.col("scheduler_code").str.strip_chars().str.to_uppercase(), is_provisional=pl.lit(False))
        .unique("scheduler_code", keep="first", maintain_order=True)
    )
    pages = (
        dim_page.filter(
            pl.col("assigned_scheduler_code").is_not_null() & (pl.col("assigned_scheduler_code") != "unassigned")
        )
        .group_by(scheduler_code="assigned_scheduler_code")
        .agg(pages=pl.col("username_page").sort())
    )
    prov = pages.join(r, on="scheduler_code", how="anti").select(
        "scheduler_code",
        display_name=pl.col("scheduler_code"),
        email=pl.lit(None, pl.String),
        is_manager=pl.lit(False),
        is_active=pl.lit(True),
        can_view_all=pl.lit(False),
        sender_aliases=pl.lit([], pl.List(pl.String)),
        is_provisional=pl.lit(True),
    )
    out = pl.concat(
        [
            r.cast({k: DIM_SCHEDULER_SCHEMA[k] for k in r.columns}),
            prov.cast({k: DIM_SCHEDULER_SCHEMA[k] for k in prov.columns}),
        ],
        how="vertical",
    )
    out = (
        out.join(pages, on="scheduler_code", how="left")
        .with_columns(pages=pl.col("pages").fill_null([]), sender_aliases=pl.col("sender_aliases").fill_null([]))
        .with_columns(n_pages=pl.col("pages").list.len().cast(pl.Int64))
    )
    return out.select(list(DIM_SCHEDULER_SCHEMA)).cast(DIM_SCHEDULER_SCHEMA).sort("scheduler_code")
