"""Reading report emails (10-ingestion §2.4-§2.7) and the local mailbox; catalogue cases 1, 4, 5, 15, 16, 38."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from urllib.parse import quote

import pytest

from of_scheduler_assets.identity import safe as safe_component
from of_scheduler_assets.layer_01_raw.email_parsing import (
    extract_page_name,
    find_download,
    is_report_email,
    parse_eml,
    parse_gmail_message,
    unwrap_url,
)
from of_scheduler_assets.resources.mailbox import LocalFolderMailbox, MailboxResource

SENDER = "Infloww <no-reply@infloww.com>"
SUBJECT = "OF mass message history report is ready for download"
LOGO = "https://cdn.mcusercontent.com/images/infloww/logo.png"
UNSUB = "https://mail.infloww-notify.net/unsubscribe?u=7f3a9c&id=1"
FILE_LINK = "https://media.infloww.com/3f9a2b7c-report.xlsx"


def html_body(page: str | None, link: str | None, anchor: str = "Download") -> str:
    sentence = (f"The OF mass message history report you requested for {page} is now ready."
                if page is not None else "The OF mass message history report you requested is now ready.")
    dl = f'<p><a href="{link}" class="btn"><b>{anchor}</b></a></p>' if link else ""
    return (
        "<!DOCTYPE html><html><head><title>Infloww report</title><style>p {color: red}</style></head><body>\n"
        f'<a href="{LOGO}"><img src="{LOGO}" alt="Infloww" width="120"></a>\n'
        f"<p>Hi&nbsp;there,</p>\n<p>Good news! {sentence}</p>\n{dl}\n"
        f'<p style="font-size:11px">You received this email &amp; more. <a href="{UNSUB}">Unsubscribe</a></p>\n'
        "</body></html>\n"
    )


def plain_body(page: str | None, link: str | None) -> str:
    s = (f"Hi there,\n\nThe OF mass message history report you requested for {page} is now ready.\n"
         if page is not None else "Hi there,\n\nThe OF mass message history report you requested is now ready.\n")
    return s + (f"\nDownload: {link}\n" if link else "") + "\nThe link expires in 7 days.\n"


def make_eml(
    page: str | None = "Luna Example Paid",
    link: str | None = FILE_LINK,
    *,
    msg_id: str | None = "20261101.abc@mail.infloww.com",
    date: str | None = "Sat, 01 Nov 2026 09:30:00 -0600",
    sender: str = SENDER,
    subject: str = SUBJECT,
    html: str | None = "default",
    text: str | None = "default",
    anchor: str = "Download",
) -> bytes:
    """multipart/alternative (plain + html), both with non-trivial transfer encodings."""
    html = html_body(page, link, anchor) if html == "default" else html
    text = plain_body(page, link) if text == "default" else text
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "reports@agency.example"
    msg["Subject"] = subject
    if date:
        msg["Date"] = date
    if msg_id:
        msg["Message-ID"] = f"<{msg_id}>"
    if text is not None:
        msg.set_content(text, cte="base64")
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html", cte="quoted-printable")
        else:
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return bytes(msg)


# ----------------------------------------------------------------------------------------------------------------
# basics


def test_headers_ids_and_dates():
    p = parse_eml(make_eml())
    assert p.message_id == "20261101.abc@mail.infloww.com"  # angle brackets stripped
    assert p.received_at == datetime(2026, 11, 1, 15, 30, tzinfo=UTC)  # -06:00 converted to UTC
    assert p.from_address == "no-reply@infloww.com"
    assert p.subject == SUBJECT
    assert p.thread_id is None
    assert is_report_email(p)


def test_missing_message_id_and_date_fall_back():
    data = make_eml(msg_id=None, date=None)
    fallback = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    p = parse_eml(data, fallback_received_at=fallback)
    assert p.message_id == hashlib.sha256(data).hexdigest()
    assert p.received_at == fallback
    assert parse_eml(make_eml(date="not a date"), fallback_received_at=fallback).received_at == fallback


def test_visible_text_strips_tags_entities_and_invisible_content():
    p = parse_eml(make_eml())
    assert "<" not in p.visible_text and "&amp;" not in p.visible_text and "&nbsp;" not in p.visible_text
    assert "Hi there," in p.visible_text  # &nbsp; unescaped then whitespace-collapsed
    assert "email & more" in p.visible_text
    assert "color: red" not in p.visible_text and "Infloww report" not in p.visible_text  # <style>, <head>
    assert "  " not in p.visible_text
    anchors = [(link.href, link.text) for link in p.hrefs if link.source == "html"]
    assert anchors == [(LOGO, "Infloww"), (FILE_LINK, "Download"), (UNSUB, "Unsubscribe")]


@pytest.mark.parametrize(
    ("sender", "subject", "expected"),
    [
        (SENDER, SUBJECT, True),
        ("NO-REPLY@INFLOWW.COM", "Re: " + SUBJECT.upper(), True),
        ("Infloww News <news@infloww.com>", SUBJECT, False),
        (SENDER, "Your weekly Infloww digest", False),
        ("attacker@evil.example", SUBJECT, False),
    ],
)
def test_is_report_email(sender, subject, expected):
    assert is_report_email(parse_eml(make_eml(sender=sender, subject=subject))) is expected


# ----------------------------------------------------------------------------------------------------------------
# case 4: only text/plain, nested multipart, undecodable part


def test_case4_plain_text_only():
    data = make_eml(page="Mia Demo (paid)", link="file:///srv/downloads/mia/2026-11-01.xlsx", html=None)
    p = parse_eml(data)
    assert p.html is None
    assert p.visible_text == p.text and "report you requested for Mia Demo (paid) is now ready" in p.text
    assert extract_page_name(p) == "Mia Demo (paid)"
    local = find_download(p, allow_file_urls=True)
    assert local is not None and local.url == "file:///srv/downloads/mia/2026-11-01.xlsx"
    assert find_download(p, allow_file_urls=False) is None  # file:// only in local mode


def test_case4_nested_multipart_at_depth():
    inner = MIMEMultipart("alternative")
    inner.attach(MIMEText(plain_body("Ava Sample Free", FILE_LINK), "plain", "utf-8"))
    inner.attach(MIMEText(html_body("Ava Sample Free", FILE_LINK), "html", "utf-8"))
    related = MIMEMultipart("related")
    related.attach(inner)
    mixed2 = MIMEMultipart("mixed")
    mixed2.attach(related)
    outer = MIMEMultipart("mixed")
    outer.attach(mixed2)
    for k, v in (("From", SENDER), ("Subject", SUBJECT), ("Message-ID", "<deep@x>")):
        outer[k] = v
    p = parse_eml(outer.as_bytes())
    assert p.html is not None and "Ava Sample Free" in p.html
    assert "Ava Sample Free" in p.text
    assert extract_page_name(p) == "Ava Sample Free"
    assert find_download(p, allow_file_urls=False).url == FILE_LINK


def test_case4_undecodable_part_gets_replacement_characters():
    boundary = "=_b1"
    raw = (
        f"From: {SENDER}\nSubject: {SUBJECT}\nMessage-ID: <bad@x>\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n--{boundary}\n'
        'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
    ).encode() + plain_body("Luna Example Paid", FILE_LINK).encode() + b"\n\xff\xfe\xfa broken \xc3\n" + (
        f"\n--{boundary}\n"
        'Content-Type: text/html; charset="x-unknown-charset"\nContent-Transfer-Encoding: base64\n\n'
        + base64.encodebytes(html_body("Luna Example Paid", FILE_LINK).encode()).decode()
        + f"\n--{boundary}--\n"
    ).encode()
    p = parse_eml(raw)
    assert "\ufffd" in p.text and "broken" in p.text  # UTF-8 with replacement characters
    assert p.html is not None and "Luna Example Paid" in p.html  # unknown charset -> UTF-8 fallback
    assert extract_page_name(p) == "Luna Example Paid"
    assert find_download(p, allow_file_urls=False).url == FILE_LINK


def test_case4_latin1_and_quoted_printable_are_decoded():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = SENDER, SUBJECT, "<l1@x>"
    msg.set_content("The report you requested for Zoë Café is now ready.", charset="latin-1", cte="quoted-printable")
    assert b"Zo=EB" in bytes(msg)
    p = parse_eml(bytes(msg))
    assert extract_page_name(p) == "Zoë Café"


def test_encoded_subject_and_attachment_names():
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = SENDER, "<att@x>"
    msg["Subject"] = "OF mass message history report for Élodie Paid is ready for download"
    msg.set_content("see attachment")
    msg.add_attachment(b"PK\x03\x04" + b"0" * 2000, maintype="application", subtype="octet-stream",
                       filename="Élodie report.XLSX")
    p = parse_eml(bytes(msg))
    assert p.subject.startswith("OF mass message history report for Élodie Paid")
    target = find_download(p, allow_file_urls=False)
    assert target.rule == "attachment" and target.attachment.name == "Élodie report.XLSX"
    assert target.attachment.data.startswith(b"PK\x03\x04")
    assert extract_page_name(p) == "Élodie Paid"  # from the Subject (pattern 4)


# ----------------------------------------------------------------------------------------------------------------
# case 5: never an arbitrary link


def test_case5_no_download_anchor_logo_and_unsubscribe_only():
    p = parse_eml(make_eml(link=None))
    assert [link.href for link in p.hrefs] == [LOGO, UNSUB]
    assert find_download(p, allow_file_urls=True) is None


def test_case5_link_text_in_another_language_is_not_followed():
    p = parse_eml(make_eml(link="https://files.example.net/r/abc.xlsx", anchor="Télécharger le rapport",
                           text=None))
    assert find_download(p, allow_file_urls=True) is None


def test_case5_download_anchor_beats_earlier_links():
    html = (f'<html><body><a href="{LOGO}">Infloww</a><a href="https://www.infloww.com/">Home</a>'
            '<p>report for Luna Example Paid is now ready</p>'
            '<a href="https://dl.example.net/x"><span>DOWNLOAD</span> now</a></body></html>')
    p = parse_eml(make_eml(html=html, text=None))
    target = find_download(p, allow_file_urls=False)
    assert (target.rule, target.url) == ("anchor_text", "https://dl.example.net/x")


@pytest.mark.parametrize(
    ("links", "rule", "expected"),
    [
        # infloww host beats sendgrid; hosts that merely contain "infloww" do not count
        ([("https://mail.infloww-notify.net/x", "Prefs"), ("https://u1.ct.sendgrid.net/ls/click?upn=abc", "here"),
          ("https://app.infloww.com/reports/9", "Open")], "infloww_host", "https://app.infloww.com/reports/9"),
        ([("https://notinfloww.com/x", "Open"), ("https://u1.ct.sendgrid.net/ls/click?upn=abc", "here")],
         "sendgrid_host", "https://u1.ct.sendgrid.net/ls/click?upn=abc"),
        ([("https://example.org/a", "Open"), ("file:///tmp/r.xlsx", "Open")], "file_url", "file:///tmp/r.xlsx"),
    ],
)
def test_case5_fallback_rules_in_order(links, rule, expected):
    html = "<html><body>" + "".join(f'<a href="{h}">{t}</a>' for h, t in links) + "</body></html>"
    target = find_download(parse_eml(make_eml(html=html, text=None)), allow_file_urls=True)
    assert target.rule == rule and target.original_url == expected


def test_case5_download_anchor_with_file_url_needs_local_mode():
    p = parse_eml(make_eml(link="file:///tmp/r.xlsx", text=None))
    assert find_download(p, allow_file_urls=True).url == "file:///tmp/r.xlsx"
    assert find_download(p, allow_file_urls=False) is None


# ----------------------------------------------------------------------------------------------------------------
# case 15 / 16: page name


def test_case15_page_name_absent():
    p = parse_eml(make_eml(page=None))
    assert extract_page_name(p) is None


@pytest.mark.parametrize(
    ("html_sentence", "text_sentence", "subject", "expected"),
    [
        ("The report you requested for Luna Example Paid is now ready.", None, SUBJECT, "Luna Example Paid"),
        ("Your report for Mia Demo (paid) is now available", None, SUBJECT, "Mia Demo (paid)"),
        ("The report you requested for Ms. Ava Sample (Both Pages) is now ready.", None, SUBJECT,
         "Ms. Ava Sample (Both Pages)"),
        ("The report you requested for Luna's Paid Page is now ready.", None, SUBJECT, "Luna's Paid Page"),
        ("The report you requested for ✨Sky Blu🌙 VIP is now ready.", None, SUBJECT, "✨Sky Blu🌙 VIP"),
        ("The report you requested for  JADE   FREE  is now ready.", None, SUBJECT, "JADE FREE"),
        ("Mass messages requested for Nova Test Paid", None, SUBJECT, "Nova Test Paid"),
        ("Data for Rosa Demo Free is attached", None, SUBJECT, "Rosa Demo Free"),  # pattern 5
        # nothing in the HTML: the plain text, then the Subject
        ("Your report is ready.", "The report you requested for Kira Plain Paid is now ready.", SUBJECT,
         "Kira Plain Paid"),
        ("Your report is ready.", "Your report is ready.",
         "OF mass message history report for Dana Subject VIP", "Dana Subject VIP"),
    ],
)
def test_case16_page_name_phrasings(html_sentence, text_sentence, subject, expected):
    html = f"<html><body><p>{html_sentence}</p></body></html>"
    p = parse_eml(make_eml(html=html, text=text_sentence, subject=subject))
    assert extract_page_name(p) == expected


def test_case16_plain_text_capture_is_byte_exact_apart_from_trimming():
    p = parse_eml(make_eml(html=None, text="The report you requested for  Luna  Example Paid  is now ready."))
    assert extract_page_name(p) == "Luna  Example Paid"


def test_page_name_patterns_are_tried_in_order():
    # pattern 1 would capture "B"; pattern 2 alone would capture "A" (earlier in the text)
    html = "<p>Report for A is now live. The report you requested for B is now ready.</p>"
    assert extract_page_name(parse_eml(make_eml(html=html, text=None))) == "B"


# ----------------------------------------------------------------------------------------------------------------
# case 38: raw names with spaces and special characters


def test_case38_raw_names_kept_and_safe_components():
    page = "Ms. Ava/Sample: \"Both\" Pages ✨"
    mid = "2026.11/01+x=y$%{a}!@mail.infloww.com"
    p = parse_eml(make_eml(page=page, msg_id=mid))
    assert extract_page_name(p) == page  # raw and byte-exact, for the sidecar
    assert p.message_id == mid
    for value in (page, p.message_id, "..", "", "../../etc/passwd"):
        comp = safe_component(value)
        assert comp and "/" not in comp and "\\" not in comp and " " not in comp
        assert comp not in (".", "..")
        assert set(comp) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    assert safe_component(page) == "Ms._Ava_Sample_Both_Pages_"


# ----------------------------------------------------------------------------------------------------------------
# §2.7 unwrapping


def test_unwrap_sendgrid_upn_prefers_xlsx_then_known_hosts():
    inner = "https://media.infloww.com/abc-123.xlsx"
    other = "https://tracking.example.com/pixel"
    upn_raw = quote(quote(f"{other} {inner}", safe=""), safe="")
    assert unwrap_url(f"https://u123.ct.sendgrid.net/ls/click?upn={upn_raw}") == inner
    # SendGrid's own hyphen escapes
    enc = "https-3A-2F-2Fbucket.s3.amazonaws.com-2Freports-2Fr%253Fid-3D7-26sig-3Dab-2Bc"  # ? double-quoted
    assert unwrap_url(f"https://u1.ct.sendgrid.net/ls/click?upn={enc}") == \
        "https://bucket.s3.amazonaws.com/reports/r?id=7&sig=ab+c"
    enc2 = "x-20https-3A-2F-2Fexample.com-2Fa-20https-3A-2F-2Fd1.cloudfront.net-2Ff"
    assert unwrap_url(f"https://u1.ct.sendgrid.net/ls/click?upn={enc2}") == "https://d1.cloudfront.net/f"


@pytest.mark.parametrize("param", ["url", "q", "u", "upn", "target", "redirect", "redir", "r", "link"])
def test_unwrap_query_parameter(param):
    inner = "https://storage.googleapis.com/b/r.xlsx?X-Goog-Signature=abc&x=1"
    wrapped = f"https://click.example.com/track?id=9&{param}={quote(quote(inner, safe=''), safe='')}"
    assert unwrap_url(wrapped) == inner


def test_unwrap_leaves_plain_urls_and_non_url_parameters_alone():
    url = "https://media.infloww.com/r.xlsx?q=term&u=123"
    assert unwrap_url(url) == url
    nested = "https://a.example/?url=" + quote("https://b.example/?redirect=" + quote("https://c.example/f.xlsx",
                                                                                      safe=""), safe="")
    assert unwrap_url(nested) == "https://c.example/f.xlsx"


# ----------------------------------------------------------------------------------------------------------------
# Gmail API message format


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_parse_gmail_message_full_format():
    html = html_body("Luna Example Paid", None).encode("latin-1", errors="ignore")
    xlsx = b"PK\x03\x04" + b"\x00" * 1500
    api = {
        "id": "18c1f0a2b3", "threadId": "18c1f0a2b0", "internalDate": "1761989400000",
        "payload": {
            "mimeType": "multipart/mixed",
            "headers": [{"name": "From", "value": SENDER}, {"name": "Subject", "value": SUBJECT},
                        {"name": "Date", "value": "Thu, 01 Jan 2015 00:00:00 +0000"}],
            "parts": [
                {"mimeType": "multipart/alternative", "parts": [
                    {"mimeType": "text/plain", "headers": [{"name": "Content-Type", "value": "text/plain"}],
                     "body": {"data": _b64url("report for Luna Example Paid is now ready ünï".encode())}},
                    {"mimeType": "text/html",
                     "headers": [{"name": "Content-Type", "value": 'text/html; charset="ISO-8859-1"'}],
                     "body": {"attachmentId": "big-html"}},
                ]},
                {"mimeType": "image/png", "filename": "logo.png", "body": {"attachmentId": "logo"}},
                {"mimeType": "application/octet-stream", "filename": "report.xlsx",
                 "body": {"attachmentId": "att-1", "size": len(xlsx)}},
            ],
        },
    }
    fetched = []

    def fetch(aid: str) -> bytes:
        fetched.append(aid)
        return {"att-1": xlsx, "big-html": html}[aid]

    p = parse_gmail_message(api, fetch)
    assert p.message_id == "18c1f0a2b3" and p.thread_id == "18c1f0a2b0"
    assert p.received_at == datetime.fromtimestamp(1761989400, tz=UTC)  # internalDate, not the Date header
    assert "ünï" in p.text
    assert "Luna Example Paid" in p.visible_text
    assert sorted(fetched) == ["att-1", "big-html"]  # the logo is not downloaded
    logo = next(a for a in p.attachments if a.name == "logo.png")
    assert logo.fetched is False
    target = find_download(p, allow_file_urls=False)
    assert target.rule == "attachment" and target.attachment.data == xlsx


# ----------------------------------------------------------------------------------------------------------------
# case 1 and the local adapter


def _write(path, data: bytes, mtime: float | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_case1_no_matching_email_is_an_empty_listing(tmp_path):
    assert LocalFolderMailbox(tmp_path / "missing").list_new(lambda _i: False, 500) == []
    _write(tmp_path / "a.eml", make_eml(sender="Infloww News <news@infloww.com>", msg_id="news@x"))
    _write(tmp_path / "b" / "c.eml", make_eml(subject="Weekly digest", msg_id="digest@x"))
    _write(tmp_path / "notes.txt", make_eml(msg_id="txt@x"))
    assert LocalFolderMailbox(tmp_path).list_new(lambda _i: False, 500) == []


def test_local_mailbox_recursive_oldest_first_dedup_and_filter(tmp_path):
    _write(tmp_path / "2026-11-02" / "b.eml", make_eml(msg_id="b@x", date="Mon, 02 Nov 2026 10:00:00 +0000"))
    _write(tmp_path / "2026-11-01" / "deep" / "a.eml", make_eml(msg_id="a@x", date="Sun, 01 Nov 2026 10:00:00 +0000"))
    _write(tmp_path / "resent" / "a.eml", make_eml(msg_id="a@x", date="Sun, 01 Nov 2026 10:00:00 +0000"))
    # no Date header: received_at is the file's mtime
    _write(tmp_path / "c.eml", make_eml(msg_id="c@x", date=None), mtime=datetime(2026, 10, 30, tzinfo=UTC).timestamp())
    # old dates are not filtered out locally (no newer_than bound)
    _write(tmp_path / "old.eml", make_eml(msg_id="old@x", date="Tue, 01 Jan 2019 00:00:00 +0000"))
    mailbox = LocalFolderMailbox(tmp_path)
    refs = mailbox.list_new(lambda _i: False, 500)
    assert [r.id for r in refs] == ["old@x", "c@x", "a@x", "b@x"]
    assert refs[1].received_at == datetime(2026, 10, 30, tzinfo=UTC)
    processed = {"old@x", "c@x"}
    assert [r.id for r in mailbox.list_new(processed.__contains__, 1)] == ["a@x"]  # filter before the cap
    parsed = mailbox.fetch(refs[2])
    assert parsed.message_id == "a@x" and extract_page_name(parsed) == "Luna Example Paid"


def test_mailbox_resource_opens_local_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("OF_SCHEDULER_MAILBOX", str(tmp_path / "box"))
    mailbox = MailboxResource().open()
    assert isinstance(mailbox, LocalFolderMailbox) and mailbox.root == tmp_path / "box"
