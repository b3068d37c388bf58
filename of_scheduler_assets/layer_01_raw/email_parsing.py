"""Reading report emails (10-ingestion §2.4-§2.7): RFC 822 / Gmail API messages -> `ParsedEmail`.

Pure functions: no Dagster, no network. The mailbox adapters (`resources/mailbox.py`) produce the inputs; the
downloader (`download.py`) consumes the `DownloadTarget`.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.policy
import email.utils
import hashlib
import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

DEFAULT_SENDER = "no-reply@infloww.com"
DEFAULT_SUBJECT_PHRASE = "OF mass message history report is ready for download"
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".csv")


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes
    # False when the bytes were not fetched (Gmail: only spreadsheet-named attachments are downloaded).
    fetched: bool = True


@dataclass(frozen=True)
class Link:
    href: str
    text: str  # visible text of the anchor (incl. img alt); for plain-text links the label before the URL on its line
    source: str = "html"  # "html" (an <a> element) or "text" (a URL found in a text/plain part)


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    thread_id: str | None
    received_at: datetime | None
    subject: str
    from_address: str
    html: str | None
    text: str
    visible_text: str
    attachments: list[Attachment] = field(default_factory=list)
    hrefs: list[Link] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DownloadTarget:
    """What §2.6 found: an attachment, or a URL (already unwrapped per §2.7) with the rule that matched."""

    rule: str  # attachment | anchor_text | infloww_host | sendgrid_host | file_url
    url: str | None = None
    original_url: str | None = None
    attachment: Attachment | None = None

    @property
    def is_attachment(self) -> bool:
        return self.attachment is not None


# ----------------------------------------------------------------------------------------------------------------
# decoding helpers


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode by the declared charset; unknown charset or undecodable bytes -> UTF-8 with replacement characters."""
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")


def _decode_header(value: str | None) -> str:
    if value is None:
        return ""
    value = str(value)
    try:
        pieces = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the raw header
        return " ".join(value.split())
    if any(isinstance(chunk, bytes) for chunk, _ in pieces):  # at least one RFC 2047 encoded word
        text = "".join(_decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in pieces)
    else:
        text = value
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def _address(value: str | None) -> str:
    _, addr = email.utils.parseaddr(_decode_header(value))
    return addr.strip().lower()


def _strip_brackets(message_id: str | None) -> str | None:
    if not message_id:
        return None
    mid = str(message_id).strip()
    if mid.startswith("<") and mid.endswith(">"):
        mid = mid[1:-1].strip()
    return mid or None


def _to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _to_utc(dt) if dt is not None else None


# ----------------------------------------------------------------------------------------------------------------
# HTML -> visible text + anchors

_BLOCK_TAGS = {
    "p", "div", "br", "tr", "td", "th", "li", "ul", "ol", "table", "tbody", "thead", "h1", "h2", "h3", "h4", "h5",
    "h6", "section", "article", "header", "footer", "center", "blockquote", "hr", "body", "html", "title", "pre",
}
_SKIP_TAGS = {"script", "style", "head"}


class _HtmlScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.anchors: list[tuple[str, list[str]]] = []
        self._anchor_stack: list[int] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag == "body" and "head" in self._skip:
            self._skip = [t for t in self._skip if t != "head"]
        if tag in _SKIP_TAGS:
            self._skip.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append(" ")
        if tag == "a":
            href = next((v for k, v in attrs if k.lower() == "href" and v is not None), None)
            if href is not None:
                self.anchors.append((href.strip(), []))
                self._anchor_stack.append(len(self.anchors) - 1)
            else:
                self._anchor_stack.append(-1)
        elif tag == "img" and self._anchor_stack and self._anchor_stack[-1] >= 0:
            alt = next((v for k, v in attrs if k.lower() == "alt" and v), None)
            if alt:
                self.anchors[self._anchor_stack[-1]][1].append(" " + alt + " ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":  # <a href=... /> has no text
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in _SKIP_TAGS:
            if tag in self._skip:
                idx = len(self._skip) - 1 - self._skip[::-1].index(tag)
                del self._skip[idx:]
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append(" ")
        if tag == "a" and self._anchor_stack:
            self._anchor_stack.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.chunks.append(data)
        for idx in self._anchor_stack:
            if idx >= 0:
                self.anchors[idx][1].append(data)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def html_to_visible_text(html: str) -> tuple[str, list[Link]]:
    """Tags removed, entities unescaped, whitespace collapsed; plus the anchors (href, visible text) in order."""
    scanner = _HtmlScanner()
    try:
        scanner.feed(html)
        scanner.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; keep whatever was read
        pass
    links = [Link(html_lib.unescape(href), _collapse("".join(parts)), "html") for href, parts in scanner.anchors]
    return _collapse("".join(scanner.chunks)), links


_TEXT_URL = re.compile(r"""(?:https?|file)://[^\s<>"'\]\)]+""", re.IGNORECASE)


def _text_links(text: str) -> list[Link]:
    links: list[Link] = []
    for line in text.splitlines():
        for m in _TEXT_URL.finditer(line):
            url = m.group(0).rstrip(".,;:!?")
            label = _collapse(line[: m.start()])
            links.append(Link(url, label, "text"))
    return links


# ----------------------------------------------------------------------------------------------------------------
# RFC 822


def _is_attachment_part(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or bool(part.get_filename())


def _part_filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    return _decode_header(name) if name else ""


def _part_payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: fall back to the raw payload
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", errors="surrogateescape")
        return b""
    return payload


def _assemble(
    *,
    message_id: str,
    thread_id: str | None,
    received_at: datetime | None,
    subject: str,
    from_address: str,
    html_parts: list[str],
    text_parts: list[str],
    attachments: list[Attachment],
) -> ParsedEmail:
    html = html_parts[0] if html_parts else None
    text = "\n\n".join(text_parts)
    links: list[Link] = []
    if html is not None:
        visible, links = html_to_visible_text(html)
    else:
        visible = text  # no HTML part: the plain text as is (page-name captures stay byte-exact)
    seen = {link.href for link in links}
    for link in _text_links(text):
        if link.href not in seen:
            links.append(link)
            seen.add(link.href)
    return ParsedEmail(
        message_id=message_id,
        thread_id=thread_id,
        received_at=received_at,
        subject=subject,
        from_address=from_address,
        html=html,
        text=text,
        visible_text=visible,
        attachments=attachments,
        hrefs=links,
        text_parts=text_parts,
    )


def parse_eml(data: bytes, *, fallback_received_at: datetime | None = None) -> ParsedEmail:
    """Parse RFC 822 bytes. Message id = `Message-ID` without brackets, else sha256 of the bytes; `received_at` =
    the `Date` header in UTC, else `fallback_received_at` (the local adapter passes the file mtime)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    message_id = _strip_brackets(_decode_header(msg.get("Message-ID"))) or hashlib.sha256(data).hexdigest()
    received_at = _parse_date(msg.get("Date"))
    if received_at is None and fallback_received_at is not None:
        received_at = _to_utc(fallback_received_at)
    html_parts: list[str] = []
    text_parts: list[str] = []
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = (part.get_content_type() or "text/plain").lower()
        if ctype == "message/rfc822":
            continue
        if _is_attachment_part(part):
            attachments.append(Attachment(_part_filename(part), ctype, _part_payload(part)))
            continue
        if ctype == "text/html":
            html_parts.append(_decode_bytes(_part_payload(part), part.get_content_charset()))
        elif ctype == "text/plain":
            text_parts.append(_decode_bytes(_part_payload(part), part.get_content_charset()))
        else:  # inline non-text parts (images, octet streams) are kept as attachments
            attachments.append(Attachment(_part_filename(part), ctype, _part_payload(part)))
    return _assemble(
        message_id=message_id,
        thread_id=None,
        received_at=received_at,
        subject=_decode_header(msg.get("Subject")),
        from_address=_address(msg.get("From")),
        html_parts=html_parts,
        text_parts=text_parts,
        attachments=attachments,
    )


# ----------------------------------------------------------------------------------------------------------------
# Gmail API (users.messages.get format=full)


def b64url_decode(data: str) -> bytes:
    data = data.strip()
    padded = data + "=" * (-len(data) % 4)
    try:
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=False)


def _headers(part: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in part.get("headers") or []:
        name = str(h.get("name", "")).lower()
        if name and name not in out:
            out[name] = str(h.get("value", ""))
    return out


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"""charset\s*=\s*"?([^";\s]+)""", content_type, re.IGNORECASE)
    return m.group(1) if m else None


def parse_gmail_message(
    api_json: dict,
    fetch_attachment: Callable[[str], bytes] | None = None,
) -> ParsedEmail:
    """Parse a Gmail API message (format=full). Bodies are base64url; parts carrying only an `attachmentId` are
    fetched through `fetch_attachment(attachment_id)` (text bodies and spreadsheet-named attachments; other
    attachments are listed with `fetched=False`). `received_at` = `internalDate` (epoch ms) in UTC."""
    payload = api_json.get("payload") or {}
    top = _headers(payload)
    received_at: datetime | None = None
    if api_json.get("internalDate") not in (None, ""):
        received_at = datetime.fromtimestamp(int(api_json["internalDate"]) / 1000.0, tz=UTC)
    else:
        received_at = _parse_date(top.get("date"))
    html_parts: list[str] = []
    text_parts: list[str] = []
    attachments: list[Attachment] = []

    def body_bytes(part: dict, *, fetch: bool) -> tuple[bytes, bool]:
        body = part.get("body") or {}
        if body.get("data") is not None:
            return b64url_decode(body["data"]), True
        if body.get("attachmentId") and fetch and fetch_attachment is not None:
            return fetch_attachment(body["attachmentId"]), True
        return b"", not body.get("attachmentId")

    stack = [payload]
    order: list[dict] = []
    while stack:  # depth-first, document order
        part = stack.pop()
        order.append(part)
        stack.extend(reversed(part.get("parts") or []))
    for part in order:
        mime = str(part.get("mimeType") or "").lower()
        if mime.startswith("multipart/") or part.get("parts"):
            continue
        hdrs = _headers(part)
        filename = _decode_header(part.get("filename") or "")
        disposition = hdrs.get("content-disposition", "").split(";")[0].strip().lower()
        if filename or disposition == "attachment":
            wanted = filename.lower().endswith(SPREADSHEET_SUFFIXES)
            data, fetched = body_bytes(part, fetch=wanted)
            attachments.append(Attachment(filename, mime or "application/octet-stream", data, fetched))
            continue
        if mime == "text/html":
            data, _ = body_bytes(part, fetch=True)
            html_parts.append(_decode_bytes(data, _charset(hdrs.get("content-type"))))
        elif mime == "text/plain" or not mime:
            data, _ = body_bytes(part, fetch=True)
            text_parts.append(_decode_bytes(data, _charset(hdrs.get("content-type"))))
        else:
            data, fetched = body_bytes(part, fetch=False)
            attachments.append(Attachment(filename, mime, data, fetched))
    return _assemble(
        message_id=str(api_json.get("id") or _strip_brackets(top.get("message-id")) or ""),
        thread_id=api_json.get("threadId"),
        received_at=received_at,
        subject=_decode_header(top.get("subject")),
        from_address=_address(top.get("from")),
        html_parts=html_parts,
        text_parts=text_parts,
        attachments=attachments,
    )


# ----------------------------------------------------------------------------------------------------------------
# §2.2 filter, §2.5 page name


def is_report_email(
    parsed: ParsedEmail,
    sender: str = DEFAULT_SENDER,
    subject_phrase: str = DEFAULT_SUBJECT_PHRASE,
) -> bool:
    """The sender address equals `sender` (case-insensitive) and the subject contains the phrase (case-insensitive,
    whitespace-insensitive)."""
    if parsed.from_address.strip().lower() != sender.strip().lower():
        return False
    return _collapse(subject_phrase).lower() in _collapse(parsed.subject).lower()


PAGE_NAME_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"report\s+you\s+requested\s+for\s+(.+?)\s+is\s+now\s+ready",
        r"report\s+for\s+(.+?)\s+is\s+now",
        r"requested\s+for\s+(.+?)(?:\s+is|\s+now|$)",
        r"history\s+report\s+for\s+(.+?)(?:\s+is|\s+now|$)",
        r"for\s+([A-Z][a-zA-Z\s]+(?:Paid|Free|VIP)?)\s+is",
    )
)


def extract_page_name(parsed: ParsedEmail) -> str | None:
    """§2.5: the five regexes in order on the visible text, then the plain text, then the Subject; the first
    non-empty (trimmed) capture wins; None when nothing matches (-> `page_name_not_found`)."""
    for source in (parsed.visible_text, parsed.text, parsed.subject):
        if not source:
            continue
        for pattern in PAGE_NAME_PATTERNS:
            for m in pattern.finditer(source):
                capture = m.group(1).strip()
                if capture:
                    return capture
    return None


# ----------------------------------------------------------------------------------------------------------------
# §2.6 finding the file, §2.7 unwrapping


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _fetchable(url: str, allow_file_urls: bool) -> bool:
    scheme = _scheme(url)
    return scheme in ("http", "https") or (scheme == "file" and allow_file_urls)


def _host_is_infloww(host: str) -> bool:
    return host == "infloww.com" or host.endswith(".infloww.com")


_DOWNLOAD_WORD = re.compile(r"download", re.IGNORECASE)


def find_download(parsed: ParsedEmail, allow_file_urls: bool) -> DownloadTarget | None:
    """§2.6, in order: a spreadsheet attachment; the first anchor whose visible text matches `download`; the first
    href on an infloww.com host; the first href on a sendgrid.net host; (local mode) the first file:// href.
    Never an arbitrary link. None -> `no_download_link`."""
    for att in parsed.attachments:
        if att.name and att.name.strip().lower().endswith(SPREADSHEET_SUFFIXES):
            return DownloadTarget(rule="attachment", attachment=att)

    def target(rule: str, href: str) -> DownloadTarget:
        return DownloadTarget(rule=rule, url=unwrap_url(href), original_url=href)

    for link in parsed.hrefs:
        if _DOWNLOAD_WORD.search(link.text) and _fetchable(link.href, allow_file_urls):
            return target("anchor_text", link.href)
    for link in parsed.hrefs:
        if _scheme(link.href) in ("http", "https") and _host_is_infloww(_host(link.href)):
            return target("infloww_host", link.href)
    for link in parsed.hrefs:
        if _scheme(link.href) in ("http", "https") and "sendgrid.net" in _host(link.href):
            return target("sendgrid_host", link.href)
    if allow_file_urls:
        for link in parsed.hrefs:
            if _scheme(link.href) == "file":
                return target("file_url", link.href)
    return None


_SENDGRID_REPLACEMENTS = (("-2F", "/"), ("-3D", "="), ("-26", "&"), ("-3A", ":"), ("-2B", "+"), ("-20", " "))
_EMBEDDED_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_PREFERRED_HOSTS = ("infloww", "amazonaws.com", "cloudfront", "storage.googleapis.com")
_WRAPPER_PARAMS = ("url", "q", "u", "upn", "target", "redirect", "redir", "r", "link")


def _raw_query_params(url: str) -> list[tuple[str, str]]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    out = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        out.append((unquote(key).lower(), value))
    return out


def _ends_xlsx(url: str) -> bool:
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        path = ""
    return path.endswith(".xlsx") or url.lower().endswith(".xlsx")


def _decode_upn(value: str) -> str:
    text = unquote(unquote(value))
    for old, new in _SENDGRID_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def _unwrap_sendgrid(url: str) -> str | None:
    upn = next((v for k, v in _raw_query_params(url) if k == "upn"), None)
    if upn is None:
        return None
    decoded = _decode_upn(upn)
    embedded = [u.rstrip(".,;)") for u in _EMBEDDED_URL.findall(decoded)]
    if not embedded:
        return None
    for u in embedded:
        if _ends_xlsx(u):
            return u
    for u in embedded:
        host = _host(u)
        if any(h in host for h in _PREFERRED_HOSTS):
            return u
    return embedded[0]


def _unwrap_param(url: str) -> str | None:
    params = _raw_query_params(url)
    for name in _WRAPPER_PARAMS:
        for key, value in params:
            if key != name:
                continue
            candidate = unquote(unquote(value)).strip()
            if candidate.lower().startswith(("http://", "https://")):
                return candidate
    return None


def unwrap_url(url: str) -> str:
    """§2.7: SendGrid `upn` decoding (embedded .xlsx preferred, then infloww / amazonaws / cloudfront /
    storage.googleapis.com hosts), then a wrapper query parameter holding an http(s) URL; repeated while it
    changes (nested wrappers, at most 5 levels)."""
    current = (url or "").strip()
    for _ in range(5):
        nxt = _unwrap_sendgrid(current) or _unwrap_param(current)
        if not nxt or nxt == current:
            break
        current = nxt
    return current


def safe_query_free(url: str) -> str:
    """host + path of a URL (query strings and fragments can carry tokens and are never logged)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.scheme.lower() == "file":
        return "file://" + unquote(parts.path)
    return f"{(parts.hostname or '').lower()}{parts.path}"


__all__ = [
    "Attachment",
    "DownloadTarget",
    "Link",
    "ParsedEmail",
    "extract_page_name",
    "find_download",
    "html_to_visible_text",
    "is_report_email",
    "parse_eml",
    "parse_gmail_message",
    "safe_query_free",
    "unwrap_url",
]
