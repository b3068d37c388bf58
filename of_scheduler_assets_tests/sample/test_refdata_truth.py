"""Caption bank, creator statistics, scheduler assignments, seeds and the truth tables."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

import numpy as np
import polars as pl

from of_scheduler_assets.identity import caption_id, compact_key, normalise_page_name
from of_scheduler_assets.sample.tos import tos_rules
from of_scheduler_assets.sample.truth import TruthModel, purchase_prob


def _csv_rows(path):
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    return raw, list(csv.reader(io.StringIO(text, newline="")))


def test_curated_bank_26_header_16_values_crlf_bom(main_world):
    out, _ = main_world
    d = out / "inbox" / "caption_bank"
    boms = 0
    for t in ("bump", "tip", "renew", "ppv"):
        raw, rows = _csv_rows(d / f"bank_{t}.csv")
        boms += raw.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
        assert len(rows[0]) == 26
        data = [r for r in rows[1:] if r]
        assert data and all(len(r) == 16 for r in data)
        assert any(not r for r in rows[1:])  # blank rows
        assert {r[2] for r in data} == {t.upper()}
        fmt = Counter("midnight" if r[3].endswith("T00:00:00Z") else "time" for r in data)
        assert fmt["time"] and (fmt["midnight"] or len(data) < 20)
    assert 0 < boms < 4


def test_bank_duplicates_tos_and_allowlist(main_world):
    out, _ = main_world
    d = out / "inbox" / "caption_bank"
    rows = []
    for t in ("ppv", "bump", "renew", "tip"):
        rows += [r for r in _csv_rows(d / f"bank_{t}.csv")[1][1:] if r]
    ids = Counter(r[0] for r in rows)
    assert any(v >= 2 for v in ids.values())  # duplicate ids (same text, other created_ts)
    by_cap = Counter(caption_id(r[1]) for r in rows)
    assert sum(1 for r in rows if by_cap[caption_id(r[1])] >= 2 and ids[r[0]] == 1) >= 1  # variant texts
    rules = Counter(";".join(tos_rules(r[1])) for r in rows)
    flagged = {k: v for k, v in rules.items() if k}
    assert flagged["A1_familial_direct"] > flagged.get("A2_parental", 0) > 0
    total_flagged = sum(flagged.values())
    assert 0.001 <= total_flagged / len(rows) <= 0.01
    texts = [r[1] for r in rows]
    assert any("step mom" in t.lower() and not tos_rules(t) for t in texts)  # cleared by the allowlist
    assert any("step mom" in t.lower() and tos_rules(t) == ["A3_underage_numeric"] for t in texts)


def test_caption_logger_exports(main_world):
    out, _ = main_world
    raw, rows = _csv_rows(out / "inbox" / "caption_bank" / "caption_logger_ppv.csv")
    assert rows[0] == [
        "Preview",
        "Type",
        "PriceLastSent",
        "ID",
        "WordCount",
        "LengthCat",
        "BestTime",
        "Theme | Tags",
        "LastUsedDate",
        "LastUsedBy",
        "TimesUsed",
        "LastUsedPage",
        "Explicitness",
    ]
    _, rows_b = _csv_rows(out / "inbox" / "caption_bank" / "caption_logger_bump.csv")
    data = rows[1:] + rows_b[1:]
    assert all(re.fullmatch(r"C\d{5}", r[3]) for r in data)
    assert Counter(r[3] for r in data).most_common(1)[0][1] >= 2
    assert any("\n" in r[0] for r in data)
    dates = [r[8] for r in data if r[8]]
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", x) for x in dates)
    assert any(re.fullmatch(r"\d\d/\d\d/\d{4}", x) for x in dates)
    assert 0.05 <= len(dates) / len(data) <= 0.25
    pages = {r[11] for r in data}
    assert "TEST" in pages and any("(Both Pages)" in p for p in pages)


def test_creator_stats_formats(main_world):
    out, _ = main_world
    files = sorted((out / "inbox" / "creator_stats").glob("creator_statistics_*.csv"))
    assert len(files) >= 3
    periods, ranks, fans, subl, names = set(), [], [], [], []
    for f in files:
        _, rows = _csv_rows(f)
        assert rows[0][0] == "Date_Time America_New_York" and len(rows[0]) == 24
        for r in rows[1:]:
            periods.add(r[0])
            ranks.append(r[8])
            fans.append(int(r[12]))
            subl.append(r[23])
            names.append(r[1])
    kinds = {("dash" if " - " in p else "to" if " to " in p else "single") for p in periods}
    assert kinds == {"dash", "to", "single"}
    assert any(x.startswith("#") for x in ranks) and any(x.endswith("%") for x in ranks)
    assert min(fans) < 0
    assert {"N/A"} <= set(subl) and any("months" in s for s in subl) and any("days" in s for s in subl)
    seeds = pl.read_csv(out / "seeds" / "page_aliases.csv")
    keys = {compact_key(a) for a in seeds["alias"]}
    assert all(normalise_page_name(n)[1] in keys for n in names)
    assert any(n.isupper() for n in names) and any("Paid Page" in n for n in names)


def test_scheduler_assignments_and_roster(main_world):
    out, _ = main_world
    raw, rows = _csv_rows(out / "inbox" / "scheduler_assignments" / "scheduler_assignments.csv")
    assert rows[0] == ["scheduler_email", "username_std"]
    roster = pl.read_csv(out / "seeds" / "scheduler_roster.csv")
    codes = set(roster["scheduler_code"])
    assert roster["is_manager"].to_list().count(True) == 1
    for label, _ in rows[1:]:
        s = " ".join(label.split())
        s = re.sub(r"^(lead sd|lead)\s+", "", s, flags=re.I)
        s = re.sub(r"^sd\s+", "", s, flags=re.I)
        assert s.upper() in codes, label
        assert "@" not in label
    assert any("  " in r[0] for r in rows[1:])


def test_history_is_drawn_from_the_truth_model(main_world):
    out, _ = main_world
    tm = TruthModel.from_dir(out / "truth")
    params = json.loads((out / "truth" / "params.json").read_text())
    assert params["fatigue_decay"] == 0.85 and params["recipients_uniform"] == [0.85, 1.0]
    ev = pl.read_parquet(out / "truth" / "events.parquet")
    sample = ev.filter(pl.col("price") > 0).head(200)
    for r in sample.iter_rows(named=True):
        p = tm.purchase_probability(
            r["username_page"], r["caption_id"], r["price"], r["dow_local"], r["hod_local"], r["recent_sends"]
        )
        assert abs(p - r["p_buy"]) < 1e-15
    assert tm.purchase_probability(sample["username_page"][0], sample["caption_id"][0], 0, 0, 0, 0) == 0
    # purchases are Binomial(recipients, p): totals agree within sampling error
    paid = ev.filter(pl.col("price") > 0)
    exp = float((paid["recipients"] * paid["p_buy"]).sum())
    got = float(paid["purchased_final"].sum())
    assert abs(got - exp) < 4 * np.sqrt(exp) + 5
    # fatigue lowers the probability and price elasticity is in [0.5, 1.5]
    assert purchase_prob(1e-4, 1.0, 10, 14, 1.0, 1.0, 3) < purchase_prob(1e-4, 1.0, 10, 14, 1.0, 1.0, 0)
    pages = pl.read_parquet(out / "truth" / "pages.parquet")
    assert pages["price_beta"].min() >= 0.5 and pages["price_beta"].max() <= 1.5
    dh = pl.read_parquet(out / "truth" / "dow_hod_effects.parquet")
    assert dh["mult"].min() >= 0.7 and dh["mult"].max() <= 1.3 and set(dh["dow"]) == set(range(7))
    caps = pl.read_parquet(out / "truth" / "captions.parquet")
    assert all(caption_id(t) == c for t, c in zip(caps["text"].head(500), caps["caption_id"].head(500), strict=True))
    lift = np.log(caps.filter(pl.col("source") == "bank")["lift"].to_numpy())
    assert 0.5 <= lift.std() <= 0.7
