"""Reference-data drops: caption bank exports, creator statistics, scheduler assignments (10-ingestion §10-12)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

import numpy as np

from of_scheduler_assets.identity import caption_norm
from of_scheduler_assets.layer_02_staging.reference import CURATED_POSITIONAL_FIELDS

from . import captions as C
from .captions import single_line
from .tos import tos_rules

# The export names 26 columns, but rows hold only the 16 positional fields the product reads (10-ingestion §10.1).
BANK_HEADER = [*CURATED_POSITIONAL_FIELDS, "tone", "theme", "explicitness", "price_tier", "last_used_ts", "times_used", "performance_score", "notes", "updated_ts", "owner"]
LOGGER_HEADER = [
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
TAGS = [
    "OTHER",
    "G/G",
    "BUNDLE",
    "BJ",
    "B/G",
    "JOI",
    "SOLO",
    "SQUIRT",
    "ANAL",
    "POV",
    "OUTDOOR",
    "3SOME",
    "STRIPTEASE",
    "CUMSHOT",
    "BONDAGE",
    "PUBLIC TEASE",
    "ROLEPLAY",
    "DILDO RIDING",
    "FOOT FETISH",
    "DOM/SUB",
]
BEST = ["Morning", "Afternoon", "Evening", "Late Night", "Overnight"]
TOS_MIX = [("A1", 87), ("A2", 39), ("A3", 6), ("A1A2", 3), ("B3", 2), ("D2", 1)]


def _emoji_count(t: str) -> int:
    return sum(1 for ch in t if 0x1F300 <= ord(ch) <= 0x1FAFF or 0x2600 <= ord(ch) <= 0x27BF)


def _csv(rows: list[list[str]], bom: bool) -> bytes:
    s = io.StringIO()
    w = csv.writer(s, lineterminator="\r\n")
    for r in rows:
        if r is None:
            s.write("\r\n")
        else:
            w.writerow(r)
    return (b"\xef\xbb\xbf" if bom else b"") + s.getvalue().encode("utf-8")


def _bank_row(text: str, typ: str, created: str, sheet: str) -> list[str]:
    import re

    return [
        hashlib.sha256(text.encode("utf-8")).hexdigest(),
        text,
        typ,
        created,
        sheet,
        "ACTIVE",
        str(len(text)),
        str(len(text.split())),
        str(_emoji_count(text)),
        str("#" in text),
        str("@" in text),
        str(bool(re.search(r"\$\s?\d", text))),
        str("{name}" in text),
        str(typ == "PPV"),
        str(typ != "TIP"),
        str(typ == "TIP"),
    ]


def write_caption_bank(
    out: Path, world, seed: int, fault_rate: float, page_names: list[str], sched_first: list[str]
) -> tuple[dict, list[dict], list[dict]]:
    """Returns (stats, fault records, tos truth rows)."""
    rng = np.random.default_rng([seed, 20])
    d = out / "inbox" / "caption_bank"
    d.mkdir(parents=True, exist_ok=True)
    caps = world.captions
    texts = caps["text"].to_list()
    cats = caps["category"].to_list()
    base = dt.datetime(2024, 6, 1)
    files: dict[str, list] = {"ppv": [], "bump": [], "renew": [], "tip": []}
    bank_type = {"ppv": "PPV", "bump": "BUMP", "link_drop": "BUMP", "renew": "RENEW", "tip": "TIP"}
    for i, (t, cat) in enumerate(zip(texts, cats, strict=True)):
        typ = bank_type[cat]
        f = "bump" if cat == "link_drop" else cat
        ts = base + dt.timedelta(minutes=int(rng.integers(0, 700 * 1440)))
        created = ts.strftime("%Y-%m-%dT%H:%M:%SZ") if rng.random() < 0.7 else ts.strftime("%Y-%m-%dT00:00:00Z")
        line = single_line(t)
        files[f].append(_bank_row(line, typ, created, f"{typ.title()} captions {2024 + i % 2}.xlsx"))
        u = rng.random()
        if u < 0.06:  # exact duplicate text (same id) with another created_ts
            files[f].append(
                _bank_row(
                    line, typ, (ts + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"), "Imported duplicates.xlsx"
                )
            )
        elif u < 0.10:  # whitespace / case variant -> different id, same caption_norm
            var = line.replace(" ", "  ", 1) if rng.random() < 0.5 else line.upper() if len(line) < 60 else line + " "
            assert caption_norm(var) == caption_norm(t)
            files[f].append(_bank_row(var, typ, created, "Imported duplicates.xlsx"))
    # TOS-violating rows and allowlist cases (catalogue #34), in the proportions of §13
    n_tos_total = max(6, round(138 * len(texts) / 35000))
    tos_truth: list[dict] = []
    k = 0
    for key, share in TOS_MIX:
        n = max(1, round(n_tos_total * share / 138))
        for j in range(n):
            txt = C.TOS_TEXTS[key][j % len(C.TOS_TEXTS[key])] + f" #{k:03d}"
            k += 1
            tgt = "ppv" if j % 2 == 0 else "bump"
            files[tgt].append(
                _bank_row(txt, "PPV" if tgt == "ppv" else "BUMP", "2025-02-03T10:00:00Z", "Old bank.xlsx")
            )
            tos_truth.append({"text": txt, "tos_status": "flagged", "tos_rules": ";".join(tos_rules(txt))})
    for txt in C.ALLOWLIST_CLEARED:
        files["ppv"].append(_bank_row(txt, "PPV", "2025-02-03T10:00:00Z", "Old bank.xlsx"))
        tos_truth.append({"text": txt, "tos_status": "ok", "tos_rules": ""})
    for txt in C.ALLOWLIST_STAYS:
        files["ppv"].append(_bank_row(txt, "PPV", "2025-02-03T10:00:00Z", "Old bank.xlsx"))
        tos_truth.append({"text": txt, "tos_status": "flagged", "tos_rules": ";".join(tos_rules(txt))})
    fault_records: list[dict] = []
    stats = {"bank_rows": 0, "bank_files": 0}
    for f, rows in files.items():
        order = rng.permutation(len(rows))
        rows = [rows[i] for i in order]
        # blank rows
        for _ in range(max(1, len(rows) // 2000)):
            rows.insert(int(rng.integers(len(rows) + 1)), None)
        if fault_rate > 0:
            for kind, reason in (
                ("bank_mojibake", "mojibake"),
                ("bank_empty_caption", "empty_caption"),
                ("bank_too_short", "caption_length_out_of_range"),
            ):
                pos = int(rng.integers(len(rows) + 1))
                txt = {
                    "bank_mojibake": "Caf\ufffd night special \ufffd unlock now",
                    "bank_empty_caption": "",
                    "bank_too_short": "ok",
                }[kind]
                obj = _bank_row(txt, f.upper(), "2025-03-01T00:00:00Z", "Broken export.xlsx")
                rows.insert(pos, obj)
                fault_records.append(
                    {
                        "kind": kind,
                        "catalogue_no": 31 if kind == "bank_mojibake" else None,
                        "file": str(d / f"bank_{f}.csv"),
                        "scope": "row",
                        "expected_outcome": "quarantined",
                        "expected_reason": reason,
                        "expected_flags": [],
                        "_obj": obj,
                        "_rows": rows,
                        "detail": f"caption bank row {kind}",
                    }
                )
        data = _csv([BANK_HEADER] + rows, bom=f in ("ppv", "tip"))
        (d / f"bank_{f}.csv").write_bytes(data)
        for rec in fault_records:
            if rec.get("_rows") is rows:
                rec["row_number"] = next(i for i, x in enumerate(rows) if x is rec["_obj"]) + 1
        stats["bank_rows"] += sum(1 for r in rows if r is not None)
        stats["bank_files"] += 1
    for rec in fault_records:
        rec.pop("_obj", None)
        rec.pop("_rows", None)
    # caption logger exports (bump and ppv): ~half of those captions again, multi-line previews, repeating ids
    for f, typ in (("bump", "BUMP"), ("ppv", "PPV")):
        rows = []
        pool = [i for i, c in enumerate(cats) if (c == f or (f == "bump" and c == "link_drop"))]
        pick = [i for i in pool if rng.random() < 0.5]
        next_id = 10000 + (0 if f == "bump" else 50000)
        for i in pick:
            t = texts[i]
            wc = len(t.split())
            lc = "Short" if wc <= 20 else "Medium" if wc <= 50 else "Long" if wc <= 100 else "XL"
            cid = next_id if rng.random() > 0.03 else max(10000, next_id - int(rng.integers(1, 50)))
            next_id += 1
            last = ""
            by = ""
            page = ""
            if rng.random() < 0.12:
                ts = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 300 * 1440)))
                last = ts.strftime("%Y-%m-%d %H:%M") if rng.random() < 0.5 else ts.strftime("%m/%d/%Y")
                by = sched_first[int(rng.integers(len(sched_first)))]
                by = by.upper() if rng.random() < 0.3 else by.lower() if rng.random() < 0.3 else by
                u = rng.random()
                page = "TEST" if u < 0.05 else page_names[int(rng.integers(len(page_names)))]
            price = f"${int(rng.choice([5, 10, 13, 15, 17, 20]))}" if typ == "PPV" else "$0"
            rows.append(
                [
                    t,
                    typ,
                    price,
                    f"C{cid:05d}",
                    str(wc),
                    lc,
                    BEST[int(rng.integers(5))],
                    "",
                    last,
                    by,
                    str(int(rng.integers(0, 9))),
                    page,
                    TAGS[int(rng.integers(len(TAGS)))],
                ]
            )
        (d / f"caption_logger_{f}.csv").write_bytes(_csv([LOGGER_HEADER] + rows, bom=(f == "bump")))
        stats["bank_rows"] += len(rows)
        stats["bank_files"] += 1
    if fault_rate > 0:  # a file whose rows have neither 16 nor 26 fields -> whole file quarantined
        bad = [BANK_HEADER] + [
            _bank_row(single_line(texts[i]), "BUMP", "2025-03-01T00:00:00Z", "x.xlsx")[:12] for i in range(3)
        ]
        p = d / "bank_bump_partial_export.csv"
        p.write_bytes(_csv(bad, bom=False))
        fault_records.append(
            {
                "kind": "bank_header_field_mismatch",
                "catalogue_no": 32,
                "file": str(p),
                "row_number": None,
                "scope": "file",
                "expected_outcome": "quarantined",
                "expected_reason": "header_field_mismatch",
                "expected_flags": [],
                "detail": "26 header names, 12 values per row",
            }
        )
        stats["bank_rows"] += 3
        stats["bank_files"] += 1
    return stats, fault_records, tos_truth


def _row_no(rows, pos) -> int:
    """1-based data row number counting blank rows too (they are rows of the file)."""
    return pos + 1


STATS_HEADER = [
    "Date_Time America_New_York",
    "Creator",
    "Subscription Net",
    "New subscriptions Net",
    "Recurring subscriptions Net",
    "Tips Net",
    "Total earnings Net",
    "Contribution %",
    "OF ranking",
    "Following",
    "Fans with renew on",
    "Renew on %",
    "New fans",
    "Active fans",
    "Change in expired fan count",
    "Posts Net",
    "Message Net",
    "Streams Net",
    "Refund Net",
    "Creator group",
    "Avg spend per spender Net",
    "Avg spend per transaction Net",
    "Avg earnings per fan Net",
    "Avg subscription length",
]


def _money(x: float) -> str:
    return f"${x:,.2f}"


def write_creator_stats(out: Path, world, seed: int, fault_rate: float) -> tuple[int, int, list[dict]]:
    rng = np.random.default_rng([seed, 21])
    d = out / "inbox" / "creator_stats"
    d.mkdir(parents=True, exist_ok=True)
    pages = world.pages
    plan = world.plan
    start = plan.end_date - dt.timedelta(days=plan.days - 1)
    # weekly periods Tuesday..Monday ending on or before end_date
    end = plan.end_date
    while end.weekday() != 0:
        end -= dt.timedelta(days=1)
    periods = []
    while end - dt.timedelta(days=6) >= start:
        periods.append((end - dt.timedelta(days=6), end))
        end -= dt.timedelta(days=7)
    periods.reverse()
    n_rows = 0
    records: list[dict] = []
    for w, (a, b) in enumerate(periods):
        fmt = w % 3
        if fmt == 0:
            period = f"{a:%Y-%m-%d} - {b:%Y-%m-%d}"
        elif fmt == 1:
            period = f"{a:%m/%d/%Y} to {b:%m/%d/%Y}"
        else:
            period = f"{b:%Y/%m/%d}"
        rows = []
        for p in pages.iter_rows(named=True):
            if p["active_from"] > b:
                continue
            t = p["page_type"]
            disp = p["display_name"]
            u = rng.random()
            if p["n_creator_pages"] == 1 and u < 0.25:
                name = disp if rng.random() < 0.5 else disp.upper()
            else:
                suffix = {
                    "paid": ["Paid Page", "PAID", "Paid", "(paid)"],
                    "free": ["FREE", "Free", "Free Page"],
                    "vip": ["VIP", "Vip"],
                }[t]
                name = f"{disp if rng.random() < 0.7 else disp.lower()} {suffix[int(rng.integers(len(suffix)))]}"
            paid = t != "free"
            active = int(p["audience_size"] * rng.uniform(0.9, 3.5)) if t == "free" else int(p["audience_size"])
            sub = float(np.round(active * rng.uniform(0.05, 0.2), 2)) if paid else 0.0
            tips = float(np.round(rng.gamma(2, 150), 2))
            msg = float(np.round(rng.gamma(2, 900) * (p["sends_per_day"] / 9), 2))
            tot = sub + tips + msg
            renew = float(rng.uniform(0.05, 0.71)) if paid else 0.0
            contrib = rng.uniform(0.1, 60)
            contrib_s = f"{contrib:.2f}%" if rng.random() < 0.8 else f"{round(contrib, 2) + 1e-13!r}%"
            rank = f"{rng.uniform(0.1, 30):.1f}%" if rng.random() < 0.8 else f"#{int(rng.integers(1, 500))}"
            subl = rng.random()
            subl_s = (
                "N/A"
                if subl < 0.15
                else f"{int(rng.integers(1, 90))} days"
                if subl < 0.75
                else f"{int(rng.integers(1, 12))} months"
            )
            rows.append(
                [
                    period,
                    name,
                    _money(sub),
                    _money(sub * 0.6),
                    _money(sub * 0.4),
                    _money(tips),
                    _money(tot),
                    contrib_s,
                    rank,
                    str(int(rng.integers(0, 800))),
                    str(int(active * renew)),
                    f"{renew * 100:.2f}%",
                    str(int(rng.integers(-99, 455))),
                    str(active),
                    str(int(rng.integers(-300, 300))),
                    _money(float(rng.gamma(1, 50))),
                    _money(msg),
                    _money(0.0),
                    _money(float(rng.gamma(1, 10))),
                    "" if rng.random() < 0.9 else "Group A",
                    _money(float(rng.uniform(5, 60))),
                    _money(float(rng.uniform(4, 30))),
                    _money(tot / max(active, 1)),
                    subl_s,
                ]
            )
        if fault_rate > 0 and w == len(periods) - 1 and rows:
            for kind, val, reason in (
                ("stats_missing_period", "", "missing_period"),
                ("stats_unparsable_period", "week 34", "unparsable_period"),
            ):
                bad = list(rows[0])
                bad[0] = val
                rows.append(bad)
                records.append(
                    {
                        "kind": kind,
                        "catalogue_no": 35,
                        "file": str(d / f"creator_statistics_{b}.csv"),
                        "row_number": len(rows),
                        "scope": "row",
                        "expected_outcome": "quarantined",
                        "expected_reason": reason,
                        "expected_flags": [],
                        "detail": f"period {val!r}",
                    }
                )
        (d / f"creator_statistics_{b}.csv").write_bytes(_csv([STATS_HEADER] + rows, bom=False))
        n_rows += len(rows)
    return len(periods), n_rows, records


def write_assignments(out: Path, world, fault_rate: float) -> tuple[int, list[dict]]:
    d = out / "inbox" / "scheduler_assignments"
    d.mkdir(parents=True, exist_ok=True)
    rows = [[label, name] for (label, name, code, up, lead) in world.assignments]
    records = []
    p = d / "scheduler_assignments.csv"
    if fault_rate > 0 and rows:
        rows.append(["", rows[0][1]])
        records.append(
            {
                "kind": "assignment_missing_scheduler",
                "catalogue_no": 36,
                "file": str(p),
                "row_number": len(rows),
                "scope": "row",
                "expected_outcome": "quarantined",
                "expected_reason": "missing_scheduler",
                "expected_flags": [],
                "detail": "empty label",
            }
        )
        multi = world.pages.filter(world.pages["n_creator_pages"] > 1)
        if multi.height:
            rows.append([rows[0][0], multi["username_std"][0]])
            records.append(
                {
                    "kind": "assignment_ambiguous_page",
                    "catalogue_no": 17,
                    "file": str(p),
                    "row_number": len(rows),
                    "scope": "row",
                    "expected_outcome": "quarantined",
                    "expected_reason": "ambiguous_page",
                    "expected_flags": [],
                    "detail": "bare creator name of a creator with several pages",
                }
            )
    p.write_bytes(_csv([["scheduler_email", "username_std"]] + rows, bom=False).replace(b"\r\n", b"\n"))
    return len(rows), records
