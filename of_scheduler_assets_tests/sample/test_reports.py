"""Report files and emails of the main world: exact format, realism ranges, quirks, snapshots."""

from __future__ import annotations

import datetime as dt
import email
import re
import statistics
from collections import Counter, defaultdict
from email import policy
from pathlib import Path

import polars as pl

from of_scheduler_assets.identity import caption_id, compact_key, normalise_page_name

from .conftest import TIME_RE, num, parse_time

HEADER = [
    "Message",
    "Sending time",
    "Sender",
    "Status",
    "Price",
    "Sent",
    "Viewed",
    "Purchased",
    "Earnings",
    "Withdrawn by",
]


def _all_rows(main_reports):
    for page, date, header, rows, _path in main_reports:
        for r in rows:
            yield page, date, header, r


def test_header_and_clean_row_invariants(main_reports):
    assert len(main_reports) > 200
    n = 0
    for _page, date, header, rows, _path in main_reports:
        assert header[:10] == HEADER
        assert set(header[10:]) <= {"creator ", "Type"}
        times = [parse_time(r[1]) for r in rows]
        assert times == sorted(times, reverse=True)  # newest first
        if times:
            report_day = dt.date.fromisoformat(date)
            assert (report_day - min(times).date()).days <= 8
        for r in rows:
            n += 1
            price, sent, viewed, purch, earn = num(r[4]), num(r[5]), num(r[6]), num(r[7]), num(r[8])
            assert earn == price * purch and viewed <= sent and purch <= viewed and sent > 0
            assert r[3] in ("sent", "unsent")
            assert (r[9] not in (None, "")) == (r[3] == "unsent")
            assert price == int(price) and (price == 0 or 3 <= price <= 50)
    assert n > 10000


def test_shape_of_real_data(main_reports):
    rows = [r for _, _, _, r in _all_rows(main_reports)]
    price = [num(r[4]) for r in rows]
    free = [p == 0 for p in price]
    assert 0.50 <= sum(free) / len(rows) <= 0.65
    zero = sum(num(r[7]) == 0 for r in rows) / len(rows)
    assert 0.80 <= zero <= 0.90
    vr = statistics.median(num(r[6]) / num(r[5]) for r in rows)
    assert 0.005 <= vr <= 0.02
    ml = sum("\n" in (r[0] or "") for r in rows) / len(rows)
    assert 0.30 <= ml <= 0.50
    paid = [p for p in price if p > 0]
    assert 10 <= statistics.median(paid) <= 18
    top = [p for p, _ in Counter(paid).most_common(6)]
    assert {5, 15, 17, 13} <= set(top)
    unsent = [r[3] == "unsent" for r in rows]
    assert 0.62 <= sum(unsent) / len(rows) <= 0.78
    free_unsent = [u for u, f in zip(unsent, free, strict=True) if f]
    assert sum(free_unsent) / len(free_unsent) >= 0.88
    assert all(num(r[5]) >= 1000 for r in rows) and max(num(r[5]) for r in rows) <= 53000
    assert all(num(r[7]) == 0 for r, f in zip(rows, free, strict=True) if f)
    lens = [len(r[0]) for r in rows if r[0]]
    assert min(lens) >= 34 and max(lens) <= 751


def test_senders_per_page_one_dominant(main_reports):
    per_page = defaultdict(Counter)
    for page, _, _, r in _all_rows(main_reports):
        per_page[page][r[2]] += 1
    for page, c in per_page.items():
        assert 3 <= len(c) <= 7, (page, c)
        assert c.most_common(1)[0][1] / sum(c.values()) >= 0.75


def test_send_spacing_and_repeats(main_world):
    out, _ = main_world
    ev = pl.read_parquet(out / "truth" / "events.parquet").filter(pl.col("in_reports"))
    gaps = (
        ev.sort("page_idx", "ts_utc_min")
        .with_columns(pl.col("ts_utc_min").diff().over("page_idx").alias("gap"))
        .filter(pl.col("gap") < 360)["gap"]
    )
    assert 30 <= gaps.median() <= 60
    # two different captions in the same minute
    per_min = ev.group_by("page_idx", "ts_utc_min").agg(pl.col("caption_idx").n_unique().alias("n"), pl.len())
    assert per_min.filter(pl.col("n") >= 2).height >= 1
    # the same caption twice in one minute with different counts
    same = ev.group_by("page_idx", "ts_utc_min", "caption_idx").agg(pl.len(), pl.col("recipients").n_unique())
    assert same.filter((pl.col("len") >= 2) & (pl.col("recipients") >= 2)).height >= 1
    # a caption re-sent on another day, and one re-sent at another price
    again = (
        ev.filter(pl.col("price") > 0)
        .group_by("page_idx", "caption_idx")
        .agg(pl.col("price").n_unique().alias("prices"), (pl.col("ts_utc_min") // 1440).n_unique().alias("days"))
    )
    assert again.filter(pl.col("days") >= 2).height >= 1 and again.filter(pl.col("prices") >= 2).height >= 1


def test_every_format_quirk_occurs(main_reports):
    seen = Counter()
    for _page, _date, header, rows, _path in main_reports:
        if "creator " in header:
            seen["creator_col"] += 1
        if "Type" in header:
            seen["type_col"] += 1
        for r in rows:
            t, p, s, e = r[1], r[4], r[5], r[8]
            if isinstance(t, dt.datetime):
                seen["datetime_cell"] += 1
            elif TIME_RE.match(t):
                m = TIME_RE.match(t)
                if len(m[2]) == 1 or len(m[4]) == 1:
                    seen["nopad"] += 1
                if t[m.end() :].strip():
                    seen["agent"] += 1
            if isinstance(s, (int, float)):
                seen["numeric"] += 1
            elif s.endswith(".0"):
                seen["float_count"] += 1
            elif "," in s:
                seen["comma_count"] += 1
            if isinstance(p, str) and re.fullmatch(r"\d+\.00", p):
                seen["plain_price"] += 1
            if isinstance(e, str) and re.fullmatch(r"\d+\.\d", e):
                seen["plain_earnings"] += 1
            if isinstance(p, str) and p.startswith("$"):
                seen["dollar_price"] += 1
    for k in (
        "creator_col",
        "type_col",
        "datetime_cell",
        "nopad",
        "agent",
        "numeric",
        "float_count",
        "comma_count",
        "plain_price",
        "plain_earnings",
        "dollar_price",
    ):
        assert seen[k] >= 1, k


def test_text_features_occur(main_reports):
    texts = {r[0] for _, _, _, r in _all_rows(main_reports) if r[0]}
    joined = "\x00".join(texts)
    assert "\u200d" in joined and "\ufe0f" in joined  # ZWJ sequences, VS16
    assert any(0x1D400 <= ord(ch) <= 0x1D7FF for ch in joined)  # mathematical alphanumerics
    for token in ("&amp;", "’", "…", "https://", "$", "\n\n"):
        assert token in joined, token
    assert any(t != t.strip() for t in texts)
    assert any("\u00a0" in t for t in texts)
    assert any(re.match(r"^[A-Z][a-z]+: ", t) for t in texts)


def test_metrics_grow_between_snapshots_and_status_flips(main_reports):
    history = defaultdict(list)
    for page, date, _header, rows, _path in main_reports:
        keys = Counter((r[0], str(parse_time(r[1])), num(r[4]), r[2]) for r in rows)
        for r in rows:
            k = (r[0], str(parse_time(r[1])), num(r[4]), r[2])
            if keys[k] == 1:
                history[(page,) + k].append((date, num(r[6]), num(r[7]), num(r[8]), r[3], num(r[5])))
    flips = grew = 0
    multi = 0
    for snaps in history.values():
        snaps.sort()
        if len(snaps) >= 5:
            multi += 1
        for a, b in zip(snaps, snaps[1:], strict=False):
            assert b[1] >= a[1] and b[2] >= a[2] and b[3] >= a[3] and b[5] == a[5]
            assert not (a[4] == "unsent" and b[4] == "sent")
            flips += a[4] == "sent" and b[4] == "unsent"
            grew += b[1] > a[1]
    assert flips >= 1 and grew >= 100 and multi >= 100


def _visible(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_emails_parse_and_link_to_existing_reports(main_world):
    out, m = main_world
    alias = {}
    seeds = pl.read_csv(out / "seeds" / "page_aliases.csv")
    for a, std in zip(seeds["alias"], seeds["username_std"], strict=True):
        alias.setdefault(compact_key(a), set()).add(std)
    emls = sorted((out / "inbox" / "reports").rglob("*.eml"))
    assert len(emls) == m["counts"]["emails"] > 200
    kinds = Counter()
    names = set()
    for p in emls:
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        assert msg["From"].addresses[0].addr_spec == "no-reply@infloww.com"
        assert msg["Subject"] == "OF mass message history report is ready for download"
        assert msg["Message-ID"] and msg["Date"]
        kinds[(msg.get_content_type(), sum(1 for _ in msg.walk()))] += 1
        html = next(part.get_content() for part in msg.walk() if part.get_content_type() == "text/html")
        mt = re.search(r"report\s+you\s+requested\s+for\s+(.+?)\s+is\s+now\s+ready", _visible(html), re.I)
        name = mt.group(1).strip()
        names.add(name)
        _, ck, ptype, _, _ = normalise_page_name(name)
        page_dir = None
        hrefs = re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)
        assert not hrefs[0][0].startswith("file://")  # a naive first-link rule picks the logo
        link = next(h for h, text in hrefs if re.search("download", _visible(text), re.I))
        path = Path(link.removeprefix("file://"))
        assert path.exists() and path.stat().st_size > 1000
        page_dir = path.parent.name
        std, pt = page_dir.split("__")
        assert alias[ck] == {std} and ptype in (pt, None)
    assert len(kinds) >= 3  # multipart/alternative, html-only, nested multipart/mixed
    assert any(n != n.title() and "_" in n for n in names) and any("(" in n for n in names)


def test_report_captions_map_to_truth(main_world, main_reports):
    out, _ = main_world
    caps = pl.read_parquet(out / "truth" / "captions.parquet")
    ids = set(caps["caption_id"].to_list())
    msgs = {r[0] for _, _, _, r in _all_rows(main_reports) if r[0]}
    assert all(caption_id(t) in ids for t in msgs)
