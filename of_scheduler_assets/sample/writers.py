"""Per-report file writing (email + linked report file), run in a process pool.

Workers read the world from the module global ``_CTX`` (set once per worker by the pool initializer); every random choice of a report
is seeded by (seed, report index) only, so the output is identical for any worker count.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import quopri
import random
import zipfile
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from of_scheduler_assets.identity import safe

from . import faults as F
from .xlsx import workbook_bytes

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
SUBJECT = "OF mass message history report is ready for download"
FROM = "Infloww <no-reply@infloww.com>"
DENVER = ZoneInfo("America/Denver")
LOGO = "https://cdn.mcusercontent.com/images/infloww/logo.png"
UNSUB = "https://mail.infloww-notify.net/unsubscribe?u=7f3a9c&id="

# quirk bits
Q_NOPAD, Q_AGENT, Q_LOADTOOL, Q_FLOAT, Q_COMMA, Q_CREATOR, Q_TYPE, Q_NUMERIC, Q_DATETIME = (1 << i for i in range(9))
QUIRK_NAMES = {
    Q_NOPAD: "nopad_time",
    Q_AGENT: "trailing_agent",
    Q_LOADTOOL: "loadtool_amounts",
    Q_FLOAT: "float_counts",
    Q_COMMA: "comma_counts",
    Q_CREATOR: "creator_column",
    Q_TYPE: "type_column",
    Q_NUMERIC: "numeric_cells",
    Q_DATETIME: "datetime_cell",
}
QUIRK_PROB = {
    Q_NOPAD: 0.08,
    Q_AGENT: 0.04,
    Q_LOADTOOL: 0.04,
    Q_FLOAT: 0.03,
    Q_COMMA: 0.03,
    Q_CREATOR: 0.04,
    Q_TYPE: 0.03,
    Q_NUMERIC: 0.03,
    Q_DATETIME: 0.02,
}

_CTX: dict = {}


def set_context(ctx: dict) -> None:
    global _CTX
    _CTX = ctx


def _count(v: int, q: int):
    if q & Q_NUMERIC:
        return int(v)
    if q & Q_FLOAT:
        return f"{v}.0"
    if q & Q_COMMA:
        return f"{v:,}"
    return str(v)


def build_table(r: int, rnd: random.Random):
    c = _CTX
    q = c["quirks"][r]
    lo = c["row_lo"][r]
    n = c["n_rows"][r]
    header = list(HEADER)
    rows = []
    meta = []  # per row: (event, price, purchased, viewed, unsent, multiline)
    agents = c["agents"]
    for j in range(lo, lo + n):
        e = c["row_event"][j]
        price = int(c["ev_price"][e])
        viewed = int(c["row_viewed"][j])
        purch = int(c["row_purchased"][j])
        unsent = bool(c["row_unsent"][j])
        sent = int(c["ev_recipients"][e])
        msg = "" if c["ev_media_only"][e] else c["texts"][c["ev_caption"][e]]
        if q & Q_DATETIME:
            t = dt.datetime(1970, 1, 1) + dt.timedelta(minutes=int(c["ev_den_min"][e]))
        else:
            t = c["t_nopad"][e] if q & Q_NOPAD else c["t_pad"][e]
            if q & Q_AGENT and rnd.random() < 0.3:
                t = t + " " + agents[rnd.randrange(len(agents))]
        if price == 0:
            p = "-"
        elif q & Q_NUMERIC:
            p = float(price)
        elif q & Q_LOADTOOL:
            p = f"{price}.00"
        else:
            p = f"${price}.00"
        earn = price * purch
        if q & Q_NUMERIC:
            ev = float(earn)
        elif q & Q_LOADTOOL:
            ev = f"{float(earn)}"
        else:
            ev = f"${earn:,}.00"
        row = [
            msg,
            t,
            c["ev_sender"][e],
            "unsent" if unsent else "sent",
            p,
            _count(sent, q),
            _count(viewed, q),
            _count(purch, q),
            ev,
            c["ev_withdrawn"][e] if unsent else "",
        ]
        rows.append(row)
        meta.append((e, price, purch, viewed, unsent, "\n" in msg, sent))
    if q & Q_CREATOR:
        header.append("creator ")
        nm = c["email_names"][r]
        for row in rows:
            row.append(nm if rnd.random() < 0.8 else "")
    if q & Q_TYPE:
        header.append("Type")
        for row, m in zip(rows, meta, strict=True):
            row.append("PPV" if m[1] > 0 else "Mass message")
    return header, rows, meta


# ---------------------------------------------------------------------------------------------------------------
def _xlsx_bytes(sheets: list[tuple[str, list[list]]]) -> bytes:
    return workbook_bytes(sheets)


def _csv_bytes(table: list[list]) -> bytes:
    import csv

    s = io.StringIO()
    w = csv.writer(s, lineterminator="\r\n")
    for row in table:
        w.writerow(["" if v is None else (v if isinstance(v, str) else str(v)) for v in row])
    return b"\xef\xbb\xbf" + s.getvalue().encode("utf-8")


def _rezip(data: bytes, mutate) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = mutate(info.filename, zin.read(info.filename))
            zi = zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, body)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------------
def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _b64(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii")


def _html(name: str | None, link: str | None, rid: str, anchor: str = "Download") -> str:
    sentence = (
        f"The OF mass message history report you requested for {name} is now ready."
        if name is not None
        else "The OF mass message history report you requested is now ready."
    )
    dl = f'<p><a href="{link}" style="background:#6c4cf5;color:#fff;padding:10px 18px">{anchor}</a></p>' if link else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>\n'
        f'<a href="{LOGO}"><img src="{LOGO}" alt="Infloww" width="120"></a>\n'
        "<p>Hi there,</p>\n"
        f"<p>Good news! {sentence}</p>\n{dl}\n"
        "<p>The link expires in 7 days.</p>\n"
        f'<p style="font-size:11px;color:#888">You received this email because you have an Infloww account. '
        f'<a href="{UNSUB}{rid}">Unsubscribe</a></p>\n</body></html>\n'
    )


def _plain(name: str | None, link: str | None) -> str:
    s = (
        f"Hi there,\n\nGood news! The OF mass message history report you requested for {name} is now ready.\n"
        if name is not None
        else "Hi there,\n\nGood news! The OF mass message history report you requested is now ready.\n"
    )
    if link:
        s += f"\nDownload: {link}\n"
    return s + "\nThe link expires in 7 days.\n"


def build_email(
    msg_id: str,
    date_hdr: str,
    name: str | None,
    link: str | None,
    variant: int,
    rid: str,
    sender: str = FROM,
    subject: str = SUBJECT,
    special: str | None = None,
) -> bytes:
    b1, b2 = f"=_alt_{rid}", f"=_mix_{rid}"
    head = (
        f"From: {sender}\nTo: reports@agency.example\nSubject: {subject}\nDate: {date_hdr}\n"
        f"Message-ID: <{msg_id}>\nMIME-Version: 1.0\n"
    )
    html_part = 'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n' + _qp(
        _html(name, link, rid)
    )
    plain_part = 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n' + _b64(
        _plain(name, link)
    )
    if special == "plain_text_only":
        return (
            head
            + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            + _qp(_plain(name, link))
        ).encode("utf-8")
    if special == "undecodable_part":
        bad = (
            (b'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n')
            + _plain(name, link).encode("utf-8")
            + b"\n\xff\xfe\xfa broken footer \xc3\n"
        )
        return (
            (head + f'Content-Type: multipart/alternative; boundary="{b1}"\n\n--{b1}\n').encode()
            + bad
            + (f"\n--{b1}\n" + html_part + f"\n--{b1}--\n").encode()
        )
    if special == "nested_multipart_deep":
        b3 = f"=_rel_{rid}"
        body = (
            f'Content-Type: multipart/mixed; boundary="{b2}"\n\n--{b2}\n'
            f'Content-Type: multipart/related; boundary="{b3}"\n\n--{b3}\n'
            f'Content-Type: multipart/alternative; boundary="{b1}"\n\n--{b1}\n{plain_part}\n--{b1}\n'
            f"{html_part}\n--{b1}--\n\n--{b3}--\n\n--{b2}--\n"
        )
        return (head + body).encode("utf-8")
    if variant == 0:
        body = f'Content-Type: multipart/alternative; boundary="{b1}"\n\n--{b1}\n{plain_part}\n--{b1}\n{html_part}\n--{b1}--\n'
    elif variant == 1:
        body = 'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n' + _b64(
            _html(name, link, rid)
        )
    else:
        body = (
            f'Content-Type: multipart/mixed; boundary="{b2}"\n\n--{b2}\n'
            f'Content-Type: multipart/alternative; boundary="{b1}"\n\n--{b1}\n{plain_part}\n--{b1}\n'
            f"{html_part}\n--{b1}--\n\n--{b2}--\n"
        )
    return (head + body).encode("utf-8")


# ---------------------------------------------------------------------------------------------------------------
def _eligible(kind: str, meta, multi: bool) -> int | None | bool:
    need = F.KINDS[kind][4]
    if need == "":
        return True
    if need == "multi":
        return multi
    cand = []
    for i, m in enumerate(meta):
        e, price, purch, viewed, unsent, ml, sent = m
        if (
            need == "rows"
            or (need == "paid" and price > 0 and viewed >= 1)
            or (need == "free" and price == 0 and viewed >= 2)
            or (need == "unsent" and unsent)
            or (need == "multiline" and ml)
        ):
            cand.append(i)
    return cand or False


def _row_fault(kind: str, i: int, header, rows, meta, c) -> str:
    row = rows[i]
    e, price, purch, viewed, unsent, ml, sent = meta[i]
    if kind == "summary_row":
        rows.append(
            [
                "Total",
                "",
                "",
                "",
                "",
                str(sum(m[6] for m in meta)),
                str(sum(m[3] for m in meta)),
                str(sum(m[2] for m in meta)),
                f"${sum(m[1] * m[2] for m in meta):,}.00",
                "",
            ]
            + [""] * (len(header) - 10)
        )
        return "a Total row without a send time appended"
    if kind == "time_extra_spaces":
        row[1] = "  " + c["t_pad"][e].replace(" at ", "   at  ") + " "
    elif kind == "time_excel_serial":
        row[1] = round(25569 + int(c["ev_den_min"][e]) / 1440.0, 8)
    elif kind == "time_garbage":
        row[1] = "Sept 31, 2025 at 9:00 PM"
    elif kind == "time_nan":
        row[1] = "NaT"
    elif kind == "time_year_2012":
        row[1] = c["t_pad"][e][:8] + "2012" + c["t_pad"][e][12:]
    elif kind == "time_future":
        t = dt.datetime(1970, 1, 1) + dt.timedelta(minutes=int(c["rep_den_min"]) + 3 * 1440)
        row[1] = t.strftime("%b %d, %Y at %I:%M %p")
    elif kind == "time_dst_gap":
        row[1] = "Mar 08, 2026 at 02:30 AM"
    elif kind == "price_negative_parens":
        row[4] = f"(${price}.00)"
    elif kind == "price_implausible":
        row[4] = "$1,234.00"
        row[8] = f"${1234 * purch:,}.00"
    elif kind == "price_unparsable":
        row[4] = "abc"
    elif kind == "earnings_blank":
        row[8] = ""
    elif kind == "viewed_blank":
        row[6] = ""
    elif kind == "count_negative":
        row[6] = "-5"
    elif kind == "count_non_integer":
        row[6] = "12.5"
    elif kind == "sent_blank":
        row[5] = ""
    elif kind == "view_gt_sent":
        row[6] = str(sent + 17)
    elif kind == "purchase_gt_view":
        row[7] = str(viewed + 3)
        row[8] = f"${price * (viewed + 3):,}.00"
    elif kind == "earnings_mismatch":
        row[8] = f"${price * purch + 7:,}.00"
    elif kind == "free_with_purchases":
        row[7] = "2"
        row[8] = "$0.00"
    elif kind == "earnings_gt_max":
        row[8] = f"${price * sent + 100:,}.00"
    elif kind == "zero_sent_with_activity":
        row[5] = "0"
        row[6] = str(max(1, viewed))
        row[7] = "0"
        row[8] = "$0.00"
    elif kind == "unsent_without_withdrawer":
        row[9] = ""
    elif kind == "unknown_status":
        row[3] = "scheduled"
    elif kind == "message_br_tags":
        row[0] = row[0].replace("\n", "<br>")
    elif kind == "message_zero_width":
        row[0] = row[0].replace(" ", " \u200b", 1) + "\ufeff"
    elif kind == "message_crlf":
        row[0] = row[0].replace("\n", "\r\n")
    elif kind == "empty_free_message":
        row[0] = ""
    elif kind == "replacement_char_in_message":
        row[0] = row[0] + " \ufffd"
    elif kind == "creator_column_mismatch":
        if "creator " not in header:
            header.append("creator ")
            for rr in rows:
                rr.append("")
        row[header.index("creator ")] = c["other_page_name"]
    elif kind == "identical_row":
        rows.insert(i + 1, list(row))
        meta.insert(i + 1, meta[i])
    for k, v in enumerate(row):  # a corrupted row never keeps numeric/datetime cells that contradict the text
        if isinstance(v, dt.datetime) and kind.startswith("time"):
            row[k] = c["t_pad"][e]
    return ""


def write_report(r: int):
    c = _CTX
    rnd = random.Random(f"{c['seed']}|report|{r}")
    out: Path = c["out"]
    up = c["rep_page_name"][r]
    date = c["rep_date"][r]
    rid = hashlib.sha256(f"{c['seed']}|{up}|{date}|{r}".encode()).hexdigest()[:16]
    received = dt.datetime.fromtimestamp(int(c["rep_received_s"][r]), dt.UTC).astimezone(DENVER)
    msg_id = f"{received.strftime('%Y%m%d%H%M%S')}.{rid}@mail.infloww.com"
    date_hdr = format_datetime(received)
    name = c["email_names"][r]
    header, rows, meta = build_table(r, rnd)
    fault_kind = None
    records: list[dict] = []
    fault_ord = c["fault_ord"][r]
    multi = c["rep_multi"][r]
    if fault_ord >= 0:
        kinds = c["fault_kinds"]
        for k in range(len(kinds)):
            kind = kinds[(fault_ord + k) % len(kinds)]
            el = _eligible(kind, meta, multi)
            if el is not False:
                fault_kind = kind
                break
    ddir = out / "downloads" / c["rep_username_page"][r]
    ddir.mkdir(parents=True, exist_ok=True)
    ext = "csv" if fault_kind == "csv_instead_of_xlsx" else ("html" if fault_kind == "html_error_page" else "xlsx")
    fpath = ddir / f"{date}_{rid[:12]}.{ext}"
    link = fpath.as_uri()
    n_written = len(rows)
    special = None
    row_no = None
    detail = ""
    sheets = None
    if fault_kind is not None:
        cat, scope, outcome, reason, need = F.KINDS[fault_kind]
        if scope == "row":
            cand = _eligible(fault_kind, meta, multi)
            i = cand[rnd.randrange(len(cand))]
            c["rep_den_min"] = c["rep_den_mins"][r]
            c["other_page_name"] = c["other_names"][r]
            detail = _row_fault(fault_kind, i, header, rows, meta, c)
            row_no = (len(rows)) if fault_kind == "summary_row" else i + 1
            if fault_kind == "identical_row":
                for rn in (i + 1, i + 2):
                    records.append(_rec(fault_kind, msg_id, fpath, rn, f"rows {i + 1} and {i + 2} are identical"))
            else:
                records.append(_rec(fault_kind, msg_id, fpath, row_no, detail or f"row {row_no} corrupted"))
        else:
            records.append(_rec(fault_kind, msg_id, fpath, None, ""))
        if fault_kind == "headers_only":
            rows = []
        elif fault_kind == "missing_sent_column":
            k = header.index("Sent")
            header.pop(k)
            for rr in rows:
                rr.pop(k)
        elif fault_kind == "duplicate_price_column":
            k = header.index("Price")
            header.insert(k + 1, "Amount")
            for rr in rows:
                rr.insert(k + 1, rr[k])
        elif fault_kind == "header_variants":
            header[:10] = [
                "message",
                "SENDING TIME",
                "Sender ",
                "Status",
                " Price",
                "Sent",
                "Views",
                "Purchased",
                "Earnings",
                "Withdrawn_by",
            ]
        elif fault_kind in ("page_name_absent",):
            name = None
        elif fault_kind == "both_pages_name":
            name = c["rep_display"][r] + " (Both Pages)"
        elif fault_kind == "bare_creator_name":
            name = c["rep_display"][r]
        elif fault_kind == "unknown_page_name":
            name = c["typo_names"][r]
            if "creator " in header:  # else every row would (rightly) be flagged creator_column_mismatch
                k = header.index("creator ")
                for rr in rows:
                    rr[k] = ""
        elif fault_kind in ("plain_text_only", "nested_multipart_deep", "undecodable_part"):
            special = fault_kind
        elif fault_kind == "no_download_link":
            link = None
        elif fault_kind == "missing_file":
            link = (ddir / f"{date}_{rid[:12]}_expired.xlsx").as_uri()
        n_written = len(rows)
        records[-1]["detail"] = records[-1]["detail"] or f"{fault_kind}: {F.KINDS[fault_kind][3] or 'no reason'}"
    table = [header] + rows
    data: bytes | None
    if fault_kind == "csv_instead_of_xlsx":
        data = _csv_bytes(table)
    elif fault_kind == "html_error_page":
        data = (
            b"<!doctype html><html><head><title>403 Forbidden</title></head><body><h1>Link expired</h1>"
            b"<p>This download link has expired. Request a new report.</p></body></html>"
        )
    elif fault_kind == "html_as_xlsx":
        data = (
            b"<!DOCTYPE html><html><head><title>Infloww</title></head><body>"
            + b"<p>Loading...</p>" * 80
            + b"</body></html>"
        )
    elif fault_kind == "tiny_file":
        data = _xlsx_bytes([("Sheet1", [header])])[:600]
    elif fault_kind == "zip_not_workbook":
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
            z.writestr(zipfile.ZipInfo("readme.txt", (1980, 1, 1, 0, 0, 0)), "not a workbook\n" * 200)
        data = bio.getvalue()
    elif fault_kind in ("missing_file", "no_download_link"):
        data = None
    else:
        if fault_kind == "title_rows_above_header":
            sheets = [("Sheet1", [["OF mass message history"], [f"Exported {date}"], []] + table)]
        elif fault_kind == "trailing_blank_rows":
            sheets = [("Sheet1", table + [[] for _ in range(4)] + [[None] * 12])]
        elif fault_kind == "extra_sheets":
            sheets = [("Mass messages", table), ("Summary", [["Total rows", str(len(rows))]]), ("Notes", [["-"]])]
        elif fault_kind == "empty_first_sheet":
            sheets = [("Sheet1", []), ("Sheet2", table)]
        else:
            sheets = [("Sheet1", table)]
        data = _xlsx_bytes(sheets)
        if fault_kind == "corrupt_workbook":
            data = _rezip(data, lambda n, b: b[: len(b) // 2] + b"\x00garbage<<" if n.endswith("sheet1.xml") else b)
    nbytes = 0
    if data is not None:
        fpath.write_bytes(data)
        nbytes += len(data)
    edir = out / "inbox" / "reports" / date
    edir.mkdir(parents=True, exist_ok=True)
    variant = c["email_variant"][r]
    eml = build_email(msg_id, date_hdr, name, link, variant, rid, special=special)
    epath = edir / f"{safe(msg_id)}.eml"
    epath.write_bytes(eml)
    nbytes += len(eml)
    n_emails = 1
    if records:
        for rec in records:
            rec["email_file"] = str(epath)
            if rec["scope"] == "email":
                rec["file"] = str(epath)
    if fault_kind == "duplicate_report_same_day":
        mid2 = msg_id.replace("@", "-again@")
        eml2 = build_email(mid2, format_datetime(received + dt.timedelta(minutes=7)), name, link, variant, rid + "b")
        p2 = edir / f"{safe(mid2)}.eml"
        p2.write_bytes(eml2)
        nbytes += len(eml2)
        n_emails += 1
        records[-1].update(message_id=mid2, file=str(p2), detail=f"second request of {msg_id}, same file")
    elif fault_kind == "duplicate_message_id":
        p2 = edir / "resent" / f"{safe(msg_id)}.eml"
        p2.parent.mkdir(exist_ok=True)
        p2.write_bytes(eml)
        nbytes += len(eml)
        n_emails += 1
        records[-1].update(file=str(p2), detail="byte-identical copy with the same Message-ID")
    elif fault_kind == "wrong_sender":
        mid2 = msg_id.replace("@", "-digest@")
        eml2 = build_email(
            mid2,
            date_hdr,
            name,
            link,
            0,
            rid + "w",
            sender="Infloww News <news@infloww.com>",
            subject="Your weekly Infloww digest",
        )
        p2 = edir / f"{safe(mid2)}.eml"
        p2.write_bytes(eml2)
        nbytes += len(eml2)
        n_emails += 1
        records[-1].update(message_id=mid2, file=str(p2), detail="not a report: wrong sender and subject")
    return (
        n_written,
        nbytes,
        n_emails,
        1 if data is not None else 0,
        records,
        [QUIRK_NAMES[b] for b in QUIRK_NAMES if c["quirks"][r] & b],
    )


def _rec(kind, msg_id, fpath, row_no, detail):
    cat, scope, outcome, reason, _ = F.KINDS[kind]
    return {
        "kind": kind,
        "catalogue_no": cat,
        "message_id": msg_id,
        "file": str(fpath),
        "row_number": row_no,
        "scope": scope,
        "expected_outcome": outcome,
        "expected_reason": reason,
        "expected_flags": ([reason] + F.EXTRA_FLAGS.get(kind, [])) if outcome == "staged_with_flag" else [],
        "detail": detail,
    }


def write_chunk(rs: list[int]):
    return [write_report(r) for r in rs]
