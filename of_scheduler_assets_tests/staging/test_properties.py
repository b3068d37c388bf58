"""Hypothesis properties of stage_report_rows: conservation, key stability, ordinal matching, price parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from of_scheduler_assets.identity import caption_hash, sha256_hex
from of_scheduler_assets.layer_02_staging.report_rows import sender_std, stage_report_rows
from of_scheduler_assets_tests.staging.helpers import ROSTER, raw_frame, reports_frame

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PIECES = [
    "",
    " ",
    "-",
    "$",
    ",",
    ".",
    "(",
    ")",
    "nan",
    "NaT",
    "None",
    "N/A",
    "Total",
    "at",
    "AM",
    "PM",
    "Sep",
    "2025",
    "13",
    "09:05",
    "1",
    "0",
    "-5",
    "12.5",
    "50,312",
    "45913.5",
    "\n",
    "\r\n",
    "&amp;",
    "<br>",
    "💕",
    "\u00a0",
    "\u200b",
    "SD Nova",
    "unsent",
    "T",
    ":",
]
cell = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.lists(st.sampled_from(_PIECES), max_size=6).map("".join),
    st.sampled_from(
        ["Sep 13, 2025 at 09:05 AM", "$7.00", "48215", "sent", "2025-09-13T09:05:00", "Mar 8, 2026 at 02:30 AM"]
    ),
)
COLUMNS = [
    "message",
    "sending_time",
    "sender",
    "status",
    "price",
    "sent",
    "viewed",
    "purchased",
    "earnings",
    "withdrawn_by",
    "creator",
]
row_strategy = st.fixed_dictionaries({c: cell for c in COLUMNS})


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["m1", "m2", "m3"]), row_strategy), max_size=25))
def test_conservation_on_garbage_cells(rows):
    frames = []
    for mid in ("m1", "m2", "m3"):
        mine = [r for m, r in rows if m == mid]
        frames.append(raw_frame(mine, mid))
    raw = pl.concat(frames)
    result = stage_report_rows(raw, reports_frame(["m1", "m2", "m3"]), ROSTER)
    staged_keys = set(zip(result.staged["message_id"], result.staged["row_number"], strict=True))
    quarantined_keys = set(zip(result.quarantined["source_ref"], result.quarantined["row_number"], strict=True))
    assert not staged_keys & quarantined_keys
    assert staged_keys | quarantined_keys == set(zip(raw["message_id"], raw["row_number"], strict=True))
    for mid in ("m1", "m2", "m3"):
        n_in = raw.filter(pl.col("message_id") == mid).height
        n_out = (
            result.staged.filter(pl.col("message_id") == mid).height
            + result.quarantined.filter(pl.col("source_ref") == mid).height
        )
        assert n_in == n_out
    # staged rows never carry null flags or null keys
    assert result.staged["dq_flags"].null_count() == 0
    assert result.staged["msg_key"].null_count() == 0


messages = st.text(alphabet=st.sampled_from(list("ab \n&<>;💕\u00a0")), max_size=8)
minutes = st.integers(min_value=0, max_value=60 * 24 * 5)
prices = st.sampled_from(["-", "$5.00", "$15.00", "17"])
senders = st.sampled_from(["SD Nova", "Rowan", "sd  nova", "Kit"])


@SETTINGS
@given(
    messages, minutes, prices, senders, st.integers(0, 60000), st.sampled_from(["sent", "unsent"]), st.integers(1, 50)
)
def test_msg_key_stability(message, minute, price, sender, sent, status, row_number):
    """msg_key depends only on page, minute, normalised caption, price and sender_std, exactly as §8 defines it."""
    local = datetime(2025, 9, 8, 0, 0) + timedelta(minutes=minute)
    when = local.strftime("%b %d, %Y at %I:%M %p")
    row = {
        "message": message + "x",
        "sending_time": when,
        "price": price,
        "sender": sender,
        "sent": str(sent),
        "viewed": "0",
        "purchased": "0",
        "earnings": "0",
        "status": status,
        "withdrawn_by": sender,
        "row_number": row_number,
    }
    a = stage_report_rows(raw_frame([row], "mA"), reports_frame(["mA"]), ROSTER).staged.to_dicts()[0]
    b = stage_report_rows(
        raw_frame([{**row, "sent": str(sent + 7), "status": "unsent", "row_number": 99}], "mB"),
        reports_frame(["mB"]),
        ROSTER,
    ).staged.to_dicts()[0]
    cents = {"-": 0, "$5.00": 500, "$15.00": 1500, "17": 1700}[price]
    ts_utc = (local + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%MZ")  # September: Denver = UTC-6
    expected = sha256_hex(
        "|".join(["luna_example__paid", ts_utc, caption_hash(message + "x"), str(cents), sender_std(sender)])
    )
    assert a["msg_key"] == expected == b["msg_key"]


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5000), st.integers(0, 50)), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
    st.integers(0, 1000),
)
def test_dup_ordinal_matches_across_overlapping_reports(sends, rnd, growth):
    """Same-key rows are numbered by counts; in the next report (shuffled row order, viewed grown uniformly,
    a few new rows) ordinal k still denotes the same send."""
    base = []
    for caption, sent, viewed in sends:
        base.append(
            {
                "message": f"caption {caption}",
                "sending_time": "Sep 13, 2025 at 09:05 AM",
                "sent": str(sent * 3 + caption),
                "viewed": str(viewed),
                "purchased": "0",
                "earnings": "0",
                "price": "-",
            }
        )
    # make sends distinguishable: identical (sent, viewed) rows are genuinely interchangeable, skip those
    seen = set()
    unique_rows = []
    for r in base:
        key = (r["message"], r["sent"], r["viewed"])
        if key not in seen:
            seen.add(key)
            unique_rows.append(r)
    order = list(range(len(unique_rows)))
    rnd.shuffle(order)
    newer = [{**unique_rows[i], "viewed": str(int(unique_rows[i]["viewed"]) + growth)} for i in order]
    newer = [{"message": "fresh", "sending_time": "Sep 14, 2025 at 01:00 AM"}] + newer
    raw = pl.concat(
        [raw_frame(unique_rows, "mA"), raw_frame(newer, "mB", received=datetime(2025, 9, 15, 6, tzinfo=UTC))]
    )
    s = stage_report_rows(raw, reports_frame(["mA", "mB"]), ROSTER).staged
    key_a = dict(
        zip(
            s.filter(pl.col("message_id") == "mA")["row_number"],
            s.filter(pl.col("message_id") == "mA")["message_send_key"],
            strict=True,
        )
    )
    key_b = dict(
        zip(
            s.filter(pl.col("message_id") == "mB")["row_number"],
            s.filter(pl.col("message_id") == "mB")["message_send_key"],
            strict=True,
        )
    )
    for new_position, original_index in enumerate(order):
        assert key_b[new_position + 2] == key_a[original_index + 1]
    assert len(set(key_a.values())) == len(unique_rows)


def _reference_cents(text: str) -> int:
    t = text.replace(" ", "").replace("$", "").replace(",", "")
    negative = t.startswith("(") and t.endswith(")")
    value = Decimal(t.strip("()")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(value * 100) * (-1 if negative else 1)


@st.composite
def money_strings(draw):
    whole = draw(st.integers(0, 999))
    decimals = draw(st.integers(0, 3))
    frac = draw(st.integers(0, 10**decimals - 1)) if decimals else None
    number = f"{whole:,}" if draw(st.booleans()) else str(whole)
    if frac is not None:
        number += "." + str(frac).zfill(decimals)
    if draw(st.booleans()):
        number = "$" + number
    if draw(st.booleans()):
        number = f"({number})"
    pad = draw(st.sampled_from(["", " ", "  "]))
    return pad + number + pad


@SETTINGS
@given(st.lists(money_strings(), min_size=1, max_size=20))
def test_price_parser_matches_plain_reference(texts):
    rows = [
        {
            "price": t,
            "sending_time": f"Sep 13, 2025 at 09:{i:02d} AM",
            "purchased": "0",
            "earnings": "0",
            "message": "m",
        }
        for i, t in enumerate(texts)
    ]
    result = stage_report_rows(raw_frame(rows), reports_frame(["m1"]), ROSTER)
    staged = dict(zip(result.staged["row_number"], result.staged["price_cents"], strict=True))
    quarantined = dict(zip(result.quarantined["row_number"], result.quarantined["reason_code"], strict=True))
    for i, text in enumerate(texts, 1):
        expected = _reference_cents(text)
        if expected < 0:
            assert quarantined[i] == "negative_amount"
        else:
            assert staged[i] == expected
            assert result.staged.filter(pl.col("row_number") == i)["price_usd"][0] == Decimal(expected) / 100


@SETTINGS
@given(st.integers(0, 59))
def test_dst_gap_and_overlap_minutes_america_denver(minute):
    gap = f"Mar 8, 2026 at 02:{minute:02d} AM"
    overlap = f"Nov 1, 2026 at 01:{minute:02d} AM"
    rows = [{"sending_time": gap}, {"sending_time": overlap, "message": "other"}]
    raw = raw_frame(rows, received=datetime(2026, 11, 2, 6, tzinfo=UTC))
    s = stage_report_rows(raw, reports_frame(["m1"], page_tz="America/Denver"), ROSTER).staged.to_dicts()
    assert s[0]["sending_ts_utc"] == datetime(2026, 3, 8, 9, minute, tzinfo=UTC)
    assert s[0]["sending_ts_local"] == datetime(2026, 3, 8, 3, minute)
    assert "dst_gap_shifted" in s[0]["dq_flags"]
    assert s[1]["sending_ts_utc"] == datetime(2026, 11, 1, 7, minute, tzinfo=UTC)
    assert "dst_gap_shifted" not in s[1]["dq_flags"]
