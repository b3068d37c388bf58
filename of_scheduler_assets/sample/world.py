"""Planning and vectorised simulation of the synthetic agency (no file I/O here).

``plan_world`` returns the target sizes for a scale without building anything (cheap; used by tests for the
scale-1.0 volume check). ``build_world`` draws creators, pages, aliases, schedulers, captions, send events (from
:mod:`.truth`), daily reports and report rows (snapshots) with numpy/polars.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from of_scheduler_assets.identity import caption_norm, compact_key, normalise_page_name

from . import truth
from .captions import generate_captions

REPORT_TZ = "America/Denver"
TARGETS = {"creators": 122, "pages": 150, "aliases": 267, "captions": 35000, "events": 250000, "schedulers": 15}
CATEGORY_SHARE = {"ppv": 0.629, "bump": 0.354 - 0.0042, "renew": 0.0069, "tip": 0.0056, "link_drop": 0.0042}
EVENT_RATE = TARGETS["events"] / (TARGETS["pages"] * 180)  # sends per page-day

FIRST = [
    "Luna",
    "Mia",
    "Ava",
    "Zoe",
    "Ivy",
    "Nora",
    "Ella",
    "Ruby",
    "Lila",
    "Cora",
    "Jade",
    "Skye",
    "Nina",
    "Tess",
    "Remi",
    "Kira",
    "Lexi",
    "Maya",
    "Gia",
    "Roxy",
    "Sage",
    "Dani",
    "Bree",
    "Cleo",
    "Faye",
    "Hana",
    "Isla",
    "Juno",
    "Kat",
    "Lola",
    "Mila",
    "Nia",
    "Opal",
    "Pia",
    "Quinn",
    "Rae",
    "Sia",
    "Tara",
    "Uma",
    "Vera",
    "Wren",
    "Xena",
    "Yara",
    "Zara",
    "Bella",
    "Chloe",
    "Daisy",
    "Eva",
    "Fiona",
    "Grace",
]
LAST = [
    "Example",
    "Demo",
    "Sample",
    "Rose",
    "Vale",
    "Storm",
    "Frost",
    "Blake",
    "Lane",
    "Moon",
    "Star",
    "Bloom",
    "Rivers",
    "Hart",
    "Knight",
    "Wilde",
    "Sky",
    "Monroe",
    "Blue",
    "Dior",
    "Rain",
    "Fox",
    "Grey",
    "Belle",
    "Jade",
    "Reign",
    "Lux",
    "Noir",
    "Cruz",
    "Kane",
    "Snow",
    "Marie",
    "Hayes",
    "Love",
    "Angel",
    "Dawn",
    "West",
    "Stone",
    "Parker",
    "Quinn",
    "Cole",
    "Sinclair",
    "Vance",
    "Mercer",
    "Lovelace",
    "Sterling",
    "Ember",
    "Ash",
    "Haze",
]
SCHED = [
    "NOVA",
    "KIT",
    "ROWAN B",
    "JULES",
    "MARCO",
    "TESS",
    "PAOLO",
    "RICA",
    "JAY",
    "BEA",
    "LEO",
    "MIKA",
    "SAM",
    "ARIEL",
    "DEX",
    "KAYE",
    "NICO",
    "ROB",
    "LIA",
    "VINCE",
    "JOY",
    "ALDO",
    "PEARL",
    "IKE",
    "MAE",
    "GUS",
    "ODI",
    "RENZ",
    "TONI",
    "CHAD",
]
CHATTERS = [
    "Rowan",
    "Jules",
    "Kai",
    "Mags",
    "Pao",
    "Rics",
    "Jomar",
    "Kath",
    "Bryce",
    "Leni",
    "Migs",
    "Tin",
    "Sol",
    "Ely",
    "Nash",
    "Cath",
    "Dwight",
    "Ynna",
    "Gab",
    "Red",
]
PAGE_TZS = ["America/New_York"] * 6 + ["America/Chicago", "America/Los_Angeles", "America/Denver", "Europe/London"]


@dataclass
class Plan:
    scale: float
    seed: int
    days: int
    end_date: dt.date
    creators: int
    pages_target: int
    aliases_target: int
    captions: int
    events_target: int
    schedulers: int
    caption_counts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["end_date"] = self.end_date.isoformat()
        return d


def plan_world(
    scale: float = 1.0, seed: int = 7, days: int = 180, end_date: dt.date | str = dt.date(2026, 11, 1)
) -> Plan:
    if isinstance(end_date, str):
        end_date = dt.date.fromisoformat(end_date)
    n_creators = max(1, round(TARGETS["creators"] * scale))
    n_pages = _page_count(n_creators)
    n_captions = max(60, round(TARGETS["captions"] * scale))
    counts = {c: max(2, round(n_captions * s)) for c, s in CATEGORY_SHARE.items()}
    counts["bump"] += n_captions - sum(counts.values())
    return Plan(
        scale,
        seed,
        days,
        end_date,
        n_creators,
        n_pages,
        round(n_pages * TARGETS["aliases"] / TARGETS["pages"]),
        n_captions,
        round(EVENT_RATE * n_pages * days),
        max(2, round(TARGETS["schedulers"] * scale)),
        counts,
    )


def _pair_counts(n_creators: int) -> tuple[int, int]:
    n_pair = round(0.197 * n_creators)
    n_vip = round(0.033 * n_creators)
    if n_creators >= 2:
        n_pair = max(1, n_pair)
    if n_creators >= 4:
        n_vip = max(1, n_vip)
    return n_pair, min(n_vip, n_pair)


def _page_count(n_creators: int) -> int:
    n_pair, n_vip = _pair_counts(n_creators)
    return n_creators + n_pair + n_vip


@dataclass
class World:
    plan: Plan
    pages: pl.DataFrame
    aliases: pl.DataFrame
    roster: pl.DataFrame
    assignments: list
    captions: pl.DataFrame
    events: pl.DataFrame
    reports: pl.DataFrame
    rows: dict  # numpy arrays of report rows (snapshots), grouped by report via reports["row_lo"/"row_hi"]
    dow_hod: pl.DataFrame
    email_names: list  # per report: page name spelling used in the email
    extra: dict = field(default_factory=dict)


def _name_variants(display: str, std: str, ptype: str | None, rng: np.random.Generator) -> list[str]:
    """Spellings of one page that real mails use (all share the display name's compact_key)."""
    first, last = display.split(" ", 1)
    t = ptype or ""
    T = t.upper()
    cap = t.capitalize()
    out = [
        f"{display} {cap}".strip(),
        f"{display} ({t})" if t else display,
        f"{std}_{t}_page" if t else std,
        f"{(first + last).upper()} {T}".strip(),
        f"{first}’s {last} {cap} Page" if t else f"{display}'s Page",
        f"{display} 🌙 {cap}".strip(),
        f"{display.lower()} {t}".strip(),
        f"{first} {last}'s {cap} Page".strip(),
        f"{display} - {cap}".strip(),
        f"{display.upper()} {T} PAGE".strip(),
        f"{first}{last} {cap} 💕".strip(),
        f"{display}  {cap}.".strip(),
        f"{std.replace('_', ' ')} {T}".strip(),
    ]
    return out


def build_world(plan: Plan) -> World:
    rng = np.random.default_rng([plan.seed, 1])
    n_c = plan.creators
    # ---- creators and pages ---------------------------------------------------------------------------------
    names: list[tuple[str, str]] = []
    seen_compact: set[str] = set()
    order = rng.permutation(len(FIRST) * len(LAST))
    for k in order:
        f, last = FIRST[k // len(LAST)], LAST[k % len(LAST)]
        disp = f"{f} {last}"
        std = f"{f}_{last}".lower()
        ck = compact_key(disp)
        if ck in seen_compact or normalise_page_name(disp)[2] is not None:
            continue
        seen_compact.add(ck)
        names.append((disp, std))
        if len(names) == n_c:
            break
    n_pair, n_vip = _pair_counts(n_c)
    page_rows = []
    for i, (disp, std) in enumerate(names):
        if i < n_pair:
            types = ["free", "paid"] + (["vip"] if i < n_vip else [])
        else:
            types = ["paid"] if rng.random() < 0.45 else ["free"]
        for t in types:
            page_rows.append((std, t, disp, len(types)))
    n_p = len(page_rows)
    ptype = np.array([r[1] for r in page_rows])
    aud_med = np.select([ptype == "free", ptype == "paid"], [26000.0, 14000.0], 5000.0)
    audience = np.clip(np.round(aud_med * rng.lognormal(0, 0.55, n_p)), 3000, 52000).astype(np.int64)
    base_open = np.clip(0.011 * rng.lognormal(0, 0.45, n_p), 0.002, 0.06)
    base_buy = 6.0e-5 * rng.lognormal(0, 0.35, n_p) * np.where(ptype == "free", 1.0, 1.6)
    beta = rng.uniform(0.5, 1.5, n_p)
    tz = np.array([PAGE_TZS[int(x)] for x in rng.integers(len(PAGE_TZS), size=n_p)])
    rate = np.clip(EVENT_RATE * rng.lognormal(0, 0.6, n_p), 1.0, 33.0)
    rate *= EVENT_RATE / rate.mean()
    rate = np.clip(rate, 0.8, 33.0)
    paid_share = np.clip(rng.beta(14, 19, n_p), 0.2, 0.7)
    late = rng.random(n_p) < 0.07
    active_from_off = np.where(late, rng.integers(10, max(11, plan.days * 2 // 3), n_p), -8)
    win_start = rng.uniform(6.0, 12.0, n_p)  # local hour the page starts sending
    win_len = rng.uniform(10.0, 16.0, n_p)
    start_date = plan.end_date - dt.timedelta(days=plan.days - 1)
    up = [f"{r[0]}__{r[1]}" for r in page_rows]
    # a creator's pages share tz, report-time offset
    for i in range(1, n_p):
        if page_rows[i][0] == page_rows[i - 1][0]:
            tz[i] = tz[i - 1]
            active_from_off[i] = active_from_off[i - 1]
    pages = pl.DataFrame(
        {
            "username_page": up,
            "username_std": [r[0] for r in page_rows],
            "page_type": ptype.tolist(),
            "display_name": [r[2] for r in page_rows],
            "n_creator_pages": [r[3] for r in page_rows],
            "tz": tz.tolist(),
            "report_tz": [REPORT_TZ] * n_p,
            "audience_size": audience,
            "base_open_rate": base_open,
            "base_buy_rate": base_buy,
            "ref_price": [truth.DEFAULT_PARAMS["ref_price_usd"]] * n_p,
            "price_beta": beta,
            "sends_per_day": rate,
            "paid_share": paid_share,
            "active_from": [start_date + dt.timedelta(days=int(x)) for x in active_from_off],
            "window_start_hour": win_start,
            "window_hours": win_len,
        }
    )
    # ---- schedulers ---------------------------------------------------------------------------------------
    n_s = plan.schedulers
    codes = SCHED[:n_s] if n_s <= len(SCHED) else SCHED + [f"SD{i}" for i in range(n_s - len(SCHED))]
    caps = rng.integers(2, 6, n_s)
    assign: dict[str, str] = {}
    creator_order = rng.permutation(n_c)
    s_i = 0
    remaining = caps.copy()
    for ci in creator_order:
        std = names[ci][1]
        k = sum(1 for r in page_rows if r[0] == std)
        placed = False
        for j in range(n_s):
            sj = (s_i + j) % n_s
            if remaining[sj] >= k:
                remaining[sj] -= k
                assign[std] = codes[sj]
                s_i = sj + 1
                placed = True
                break
        if not placed and all(remaining < 1):
            break
    sched_of_page = [assign.get(r[0]) for r in page_rows]
    pages = pages.with_columns(pl.Series("assigned_scheduler_code", sched_of_page, dtype=pl.Utf8))
    sender_label = {c: (f"SD {c.title()}" if i % 3 else c.split(" ")[0].title()) for i, c in enumerate(codes)}
    roster = pl.DataFrame(
        {
            "scheduler_code": codes + ["MGR DANA"],
            "display_name": [c.title() for c in codes] + ["Dana (manager)"],
            "email": [c.lower().replace(" ", ".") + "@agency.example" for c in codes] + ["dana@agency.example"],
            "is_manager": [False] * n_s + [True],
            "is_active": [True] * (n_s + 1),
            "can_view_all": [False] * n_s + [True],
            "sender_aliases": [";".join(sorted({sender_label[c].casefold(), c.casefold()})) for c in codes] + ["dana"],
        }
    )
    # ---- aliases and name spellings -----------------------------------------------------------------------
    alias_rows = []
    spellings: list[list[str]] = []
    target_extra = max(0, plan.aliases_target - n_p)
    extra_prob = target_extra / n_p
    used_nicks: set[str] = set()
    for std, t, disp, k in page_rows:
        pin = t if k == 1 else ""
        variants = _name_variants(disp, std, t, rng)
        chosen = [variants[0]]
        if rng.random() < min(1.0, extra_prob * 0.78):
            chosen.append(variants[1 + int(rng.integers(len(variants) - 1))])
        nick = None
        if k == 1 and rng.random() < min(1.0, extra_prob * 0.22 / 0.55):
            nick = f"{disp.split(' ')[0]} {disp.split(' ')[1][0]}. Official"
            if compact_key(nick) in used_nicks or compact_key(nick) in seen_compact:
                nick = None
            else:
                used_nicks.add(compact_key(nick))
                chosen.append(nick)
        for j, a in enumerate(chosen):
            src = ["email", "creator_stats", "caption_logger", "scheduler_sheet", "manual"][j % 5 if j < 2 else 4]
            alias_rows.append((a, std, pin, src, "nickname" if a == nick else "", "2025-01-01"))
        sp = variants[:]
        if nick:
            sp.append(nick)
        spellings.append(sp)
    aliases = pl.DataFrame(
        alias_rows, schema=["alias", "username_std", "page_type", "source", "note", "valid_from"], orient="row"
    ).unique(subset=["alias"], keep="first", maintain_order=True)
    # verify every spelling resolves (compact key exact match, page type from the token or the pinned alias)
    alias_ck: dict[str, set[str]] = {}
    for a, std in zip(aliases["alias"], aliases["username_std"], strict=True):
        alias_ck.setdefault(compact_key(a), set()).add(std)
    for i, sp in enumerate(spellings):
        std, t, _, k = page_rows[i]
        for s in sp:
            ak, ck, tt, both, _several = normalise_page_name(s)
            assert alias_ck.get(ck) == {std}, (s, ck)
            assert not both and (tt == t or (tt is None and k == 1)), (s, tt, t)
    # ---- captions -----------------------------------------------------------------------------------------
    crng = np.random.default_rng([plan.seed, 2])
    link_names = [s.replace("_", "") + "_free" for s in pages["username_std"].to_list()]
    caps_list = generate_captions(crng, plan.caption_counts, link_names)
    cat = np.array([c for c, _ in caps_list])
    texts = [t for _, t in caps_list]
    norms = [caption_norm(t) for t in texts]
    import hashlib

    hashes = [hashlib.sha256(n.encode()).hexdigest() for n in norms]
    n_cap = len(texts)
    lift = np.exp(crng.normal(-0.18, 0.6, n_cap))
    base_price = _draw_prices(crng, n_cap)
    captions = pl.DataFrame(
        {
            "caption_idx": np.arange(n_cap),
            "caption_id": ["CAP_" + h[:16] for h in hashes],
            "caption_hash": hashes,
            "caption_norm": norms,
            "text": texts,
            "category": cat.tolist(),
            "lift": lift,
            "base_price": base_price,
        }
    )
    # ---- dow x hod effects (per page, within +-30 %) ------------------------------------------------------
    hod = np.arange(24)
    phase = rng.uniform(0, 2 * np.pi, n_p)
    dow_eff = rng.uniform(-0.08, 0.08, (n_p, 7))
    mult = (
        1.0
        + 0.18 * np.sin(2 * np.pi * (hod[None, None, :] - 14) / 24 + phase[:, None, None] * 0.2)
        + dow_eff[:, :, None]
        + 0.04 * np.cos(2 * np.pi * hod[None, None, :] / 8)
    )
    mult = np.clip(mult, 0.7, 1.3)  # shape (pages, 7, 24)
    dow_hod = pl.DataFrame(
        {
            "username_page": np.repeat(np.array(up), 7 * 24),
            "dow": np.tile(np.repeat(np.arange(7), 24), n_p),
            "hod": np.tile(hod, 7 * n_p),
            "mult": mult.reshape(-1),
        }
    )
    # ---- events ---------------------------------------------------------------------------------------------
    events = _simulate_events(plan, pages, captions, mult, codes, sender_label, sched_of_page, rng)
    reports, rows, email_names = _reports(plan, pages, events, spellings, rng)
    return World(
        plan,
        pages,
        aliases,
        roster,
        _assignment_rows(page_rows, assign, sender_label, rng, spellings),
        captions,
        events,
        reports,
        rows,
        dow_hod,
        email_names,
        {"sender_label": sender_label, "spellings": spellings, "codes": codes},
    )


PRICE_VALUES = np.array(
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 25, 27, 30, 35, 40, 45, 50]
)
PRICE_WEIGHTS = np.array([3, 2, 14, 3, 5, 4, 6, 6, 3, 7, 10, 6, 13, 5, 11, 4, 4, 6, 3, 4, 1.5, 2.5, 1.5, 0.6, 0.3, 0.3])


def _draw_prices(rng, n):
    return PRICE_VALUES[rng.choice(len(PRICE_VALUES), size=n, p=PRICE_WEIGHTS / PRICE_WEIGHTS.sum())]


def _simulate_events(plan, pages, captions, mult, codes, sender_label, sched_of_page, rng) -> pl.DataFrame:
    erng = np.random.default_rng([plan.seed, 3])
    n_p = pages.height
    start_date = plan.end_date - dt.timedelta(days=plan.days - 1)
    first_day = start_date - dt.timedelta(days=8)
    n_days = (plan.end_date - first_day).days + 1
    af = np.array([(d - first_day).days for d in pages["active_from"]])
    af = np.maximum(af, 0)
    rate = pages["sends_per_day"].to_numpy()
    day_idx = np.arange(n_days)
    wk = (np.array([(first_day + dt.timedelta(days=int(d))).weekday() for d in day_idx]) >= 5) * 0.1 + 0.95
    lam = rate[:, None] * wk[None, :] * (day_idx[None, :] >= af[:, None])
    cnt = erng.poisson(lam)
    pidx = np.repeat(np.repeat(np.arange(n_p), n_days), cnt.reshape(-1))
    didx = np.repeat(np.tile(day_idx, n_p), cnt.reshape(-1))
    ws = pages["window_start_hour"].to_numpy()[pidx]
    wl = pages["window_hours"].to_numpy()[pidx]
    minute_local = np.floor((ws + erng.random(len(pidx)) ** 1.15 * wl) * 60).astype(np.int64)
    base = _date_min(first_day)
    local_naive = base + didx * 1440 + minute_local
    # same-minute pairs: a few sends copy the minute of another send of the same page and day
    n_e = len(pidx)
    order = np.lexsort((local_naive, pidx))
    pidx, didx, local_naive = pidx[order], didx[order], local_naive[order]
    same = (erng.random(n_e) < 0.012) & (np.r_[False, pidx[1:] == pidx[:-1]])
    local_naive = np.where(same, np.r_[local_naive[:1], local_naive[:-1]], local_naive)
    # local wall time -> UTC per page time zone (DST safe: ambiguous -> earliest, non-existent -> shifted forward)
    tzs = pages["tz"].to_numpy()[pidx]
    utc = np.empty(n_e, dtype=np.int64)
    for z in np.unique(tzs):
        m = tzs == z
        s = _m2dt(local_naive[m])
        conv = s.dt.replace_time_zone(z, ambiguous="earliest", non_existent="null")
        conv = conv.fill_null(s.dt.offset_by("1h").dt.replace_time_zone(z, ambiguous="earliest", non_existent="null"))
        utc[m] = _dt2m(conv.dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    # avoid report-zone (Denver) wall times that are ambiguous (fold=1 would be misread by a fold-0 parser)
    den = _m2dt(utc).dt.replace_time_zone("UTC").dt.convert_time_zone(REPORT_TZ).dt.replace_time_zone(None)
    back = _dt2m(
        den.dt.replace_time_zone(REPORT_TZ, ambiguous="earliest").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    )
    utc = np.where(back != utc, utc + 60, utc)
    # local dow/hod in page tz
    dow = np.empty(n_e, dtype=np.int64)
    hod = np.empty(n_e, dtype=np.int64)
    for z in np.unique(tzs):
        m = tzs == z
        loc = _m2dt(utc[m]).dt.replace_time_zone("UTC").dt.convert_time_zone(z)
        dow[m] = loc.dt.weekday().to_numpy() - 1
        hod[m] = loc.dt.hour().to_numpy()
    # ---- message content ----------------------------------------------------------------------------------
    ptype = pages["page_type"].to_numpy()[pidx]
    is_paid = erng.random(n_e) < pages["paid_share"].to_numpy()[pidx]
    cat = captions["category"].to_numpy()
    pools = {c: np.flatnonzero(cat == c) for c in ("ppv", "bump", "renew", "tip", "link_drop")}
    u = erng.random(n_e)
    free_cat = np.where(u < 0.9, "bump", np.where(u < 0.95, "tip", np.where(u < 0.975, "link_drop", "renew")))
    free_cat = np.where((free_cat == "renew") & (ptype == "free"), "bump", free_cat)
    ecat = np.where(is_paid, "ppv", free_cat)
    cap_idx = np.empty(n_e, dtype=np.int64)
    fav = erng.random(n_e) < 0.55
    for c, pool in pools.items():
        m = ecat == c
        if not m.any():
            continue
        uni = pool[erng.integers(len(pool), size=m.sum())]
        # favourites: a page-specific small window of the pool -> re-sends of the same caption on one page
        width = max(3, min(len(pool), 60))
        off = (pidx[m] * 7919) % len(pool)
        favs = pool[(off + erng.integers(width, size=m.sum())) % len(pool)]
        cap_idx[m] = np.where(fav[m], favs, uni)
    bprice = captions["base_price"].to_numpy()[cap_idx]
    price = np.where(is_paid, np.where(erng.random(n_e) < 0.8, bprice, _draw_prices(erng, n_e)), 0).astype(np.int64)
    # rare identical-minute re-send of the same caption to a second list (different counts)
    dup = np.flatnonzero(erng.random(n_e) < 0.003)
    if len(dup):
        keep = np.r_[np.arange(n_e), dup]
        pidx, didx, utc, dow, hod, ptype, cap_idx, price = (
            a[keep] for a in (pidx, didx, utc, dow, hod, ptype, cap_idx, price)
        )
        n_e = len(pidx)
    # ---- senders --------------------------------------------------------------------------------------------
    n_codes = len(codes)
    dom_code = np.array([c if c else codes[(i * 5) % n_codes] for i, c in enumerate(sched_of_page)])
    dom = np.array([sender_label[c] for c in dom_code])
    others = np.array(CHATTERS)
    r = erng.random(n_e)
    other_pick = others[(pidx * 3 + erng.integers(4, size=n_e)) % len(others)]
    sender = np.where(r < 0.86, dom[pidx], other_pick)
    # ---- truth draws ----------------------------------------------------------------------------------------
    order = np.lexsort((np.arange(n_e), utc, cap_idx, pidx))
    key = (pidx[order] * (len(captions) + 1) + cap_idx[order]).astype(np.int64)
    kt = key.astype(np.float64) * 1e8 + utc[order]
    lo = np.searchsorted(kt, kt - 28 * 1440, side="right")
    recent_sorted = np.arange(n_e) - lo
    recent = np.empty(n_e, dtype=np.int64)
    recent[order] = recent_sorted
    aud = pages["audience_size"].to_numpy()[pidx]
    recipients = np.maximum(1, np.round(aud * erng.uniform(0.85, 1.0, n_e))).astype(np.int64)
    m_dh = mult[pidx, dow, hod]
    lift = captions["lift"].to_numpy()[cap_idx]
    pb = truth.purchase_prob(
        pages["base_buy_rate"].to_numpy()[pidx],
        lift,
        price,
        pages["ref_price"].to_numpy()[pidx],
        pages["price_beta"].to_numpy()[pidx],
        m_dh,
        recent,
    )
    pv = truth.view_prob(pages["base_open_rate"].to_numpy()[pidx], lift, m_dh, recent)
    purchased = erng.binomial(recipients, pb)
    viewed = purchased + erng.binomial(recipients - purchased, pv)
    # ---- status -----------------------------------------------------------------------------------------------
    free = price == 0
    unsent = erng.random(n_e) < np.where(free, 0.945, 0.40)
    delay = np.where(free, erng.exponential(240, n_e), erng.exponential(900, n_e)).astype(np.int64) + 1
    unsend_at = np.where(unsent, utc + delay, np.iinfo(np.int64).max // 2)
    wd_other = erng.random(n_e) < 0.07
    withdrawn_by = np.where(
        unsent, np.where(wd_other, np.where(sender == dom[pidx], others[pidx % len(others)], dom[pidx]), sender), ""
    )
    media_only = (price > 0) & (erng.random(n_e) < 0.002)
    ev = pl.DataFrame(
        {
            "event_idx": np.arange(n_e),
            "page_idx": pidx,
            "username_page": np.array(pages["username_page"])[pidx],
            "ts_utc_min": utc,
            "dow_local": dow,
            "hod_local": hod,
            "caption_idx": cap_idx,
            "caption_id": captions["caption_id"].to_numpy()[cap_idx],
            "price": price,
            "sender": sender,
            "recipients": recipients,
            "viewed_final": viewed,
            "purchased_final": purchased,
            "p_buy": pb,
            "p_view": pv,
            "recent_sends": recent,
            "dow_hod_mult": m_dh,
            "unsend_at_min": unsend_at,
            "withdrawn_by": withdrawn_by,
            "media_only": media_only,
        }
    )
    # chronological order per page; event_idx re-assigned
    ev = ev.sort(["page_idx", "ts_utc_min", "event_idx"]).with_columns(pl.int_range(pl.len()).alias("event_idx"))
    return ev


def _reports(plan, pages, events, spellings, rng):
    rrng = np.random.default_rng([plan.seed, 4])
    n_p = pages.height
    start_date = plan.end_date - dt.timedelta(days=plan.days - 1)
    rep_page, rep_day = [], []
    af = pages["active_from"].to_list()
    for p in range(n_p):
        d0 = max(0, (af[p] - start_date).days)
        for d in range(d0, plan.days):
            rep_page.append(p)
            rep_day.append(d)
    rep_page = np.array(rep_page, dtype=np.int64)
    rep_day = np.array(rep_day, dtype=np.int64)
    n_r = len(rep_page)
    page_off = rrng.integers(3, 50, n_p)
    local = _date_min(start_date) + rep_day * 1440 + 5 * 60 + page_off[rep_page] + rrng.integers(0, 9, n_r)
    received = _dt2m(
        _m2dt(local)
        .dt.replace_time_zone(REPORT_TZ, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    received_s = received * 60 + rrng.integers(0, 60, n_r)
    gen = received - rrng.integers(1, 4, n_r)
    ts = events["ts_utc_min"].to_numpy()
    pg = events["page_idx"].to_numpy()
    key = pg.astype(np.float64) * 1e9 + ts
    lo = np.searchsorted(key, rep_page.astype(np.float64) * 1e9 + gen - 7 * 1440, side="left")
    hi = np.searchsorted(key, rep_page.astype(np.float64) * 1e9 + gen, side="left")
    n_rows = hi - lo
    # rows newest first: event indices hi-1 .. lo
    total = int(n_rows.sum())
    row_lo = np.r_[0, np.cumsum(n_rows)[:-1]]
    rep_of_row = np.repeat(np.arange(n_r), n_rows)
    pos = np.arange(total) - row_lo[rep_of_row]
    eidx = hi[rep_of_row] - 1 - pos
    age_h = (gen[rep_of_row] - ts[eidx]) / 60.0
    P = truth.DEFAULT_PARAMS
    mv = truth.maturity(age_h, P["maturity_tau_view_h"])
    mp = truth.maturity(age_h, P["maturity_tau_purchase_h"])
    viewed = np.floor(events["viewed_final"].to_numpy()[eidx] * mv).astype(np.int64)
    purchased = np.floor(events["purchased_final"].to_numpy()[eidx] * mp).astype(np.int64)
    purchased = np.minimum(purchased, viewed)
    unsent = events["unsend_at_min"].to_numpy()[eidx] <= gen[rep_of_row]
    rows = {"report": rep_of_row, "event": eidx, "viewed": viewed, "purchased": purchased, "unsent": unsent}
    # email page-name spelling per report: mostly the page's main spelling, a minority of variants
    u = rrng.random(n_r)
    email_names = []
    for r in range(n_r):
        sp = spellings[rep_page[r]]
        email_names.append(sp[0] if u[r] < 0.6 else sp[int(rrng.integers(len(sp)))])
    up = pages["username_page"].to_numpy()
    dates = (np.datetime64(start_date.isoformat(), "D") + rep_day).astype(str)
    reports = pl.DataFrame(
        {
            "report_idx": np.arange(n_r),
            "page_idx": rep_page,
            "username_page": up[rep_page],
            "report_date": dates,
            "received_utc_s": received_s,
            "gen_utc_min": gen,
            "row_lo": row_lo,
            "n_rows": n_rows,
        }
    )
    return reports, rows, email_names


def _assignment_rows(page_rows, assign, sender_label, rng, spellings):
    out = []
    for _i, (std, t, _disp, k) in enumerate(page_rows):
        code = assign.get(std)
        if not code:
            continue
        u = rng.random()
        if u < 0.2:
            label = "Lead SD" + " " * int(rng.integers(2, 8)) + code
        elif u < 0.5:
            label = code
        elif u < 0.7:
            label = "SD " + code.title()
        elif u < 0.85:
            label = code.replace(" ", " " * int(rng.integers(2, 6))) + " " * int(rng.integers(0, 3))
        else:
            label = code.lower()
        with_type = k > 1 or rng.random() < 0.5
        name = std + "_" + t if with_type else std
        if rng.random() < 0.3:
            # spaces deleted in one system; the page-type token stays a separate token (10-ingestion §6.1)
            name = std.replace("_", "") + ("_" + t if with_type else "")
        out.append((label, name, code, f"{std}__{t}", label.lower().startswith("lead")))
    return out


def _date_min(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days * 1440


def _m2dt(minutes) -> pl.Series:
    return pl.Series(np.asarray(minutes, dtype=np.int64) * 60_000_000).cast(pl.Datetime("us"))


def _dt2m(s: pl.Series) -> np.ndarray:
    return (s.cast(pl.Datetime("us")).cast(pl.Int64).to_numpy() // 60_000_000).astype(np.int64)
