"""Resolving and downloading the report file (10-ingestion §2.7). Pure logic over `requests` and the file system.

`fetch_report` never raises for bad inputs: it returns a `FetchResult` with either the bytes and their detected type,
or an error code (`download_failed`, `file_too_small`, `file_too_large`, `not_a_spreadsheet`, `no_download_link`)
and a human detail string. URLs are logged and reported as host + path only (query strings can carry tokens).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import requests

from of_scheduler_assets.layer_01_raw.email_parsing import DownloadTarget, safe_query_free, unwrap_url

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 50 << 20
MAX_REDIRECTS = 10
MAX_CANDIDATES = 5
MAX_ATTEMPTS = 5
BACKOFF_CAP_S = 60.0
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
MIN_BYTES = {"xlsx": 1000, "xls": 1000, "csv": 20}
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SPREADSHEET_TYPES = ("xlsx", "xls", "csv")
ERROR_CODES = ("download_failed", "file_too_small", "file_too_large", "not_a_spreadsheet", "no_download_link")

REQUEST_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "Accept": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
        "application/octet-stream;q=0.9,text/html;q=0.5,*/*;q=0.1"
    ),
    "Referer": "https://mail.google.com/",
}



class _RedactQueryStrings(logging.Filter):
    """urllib3 logs request lines (path + query) at DEBUG; query strings can carry tokens, so they are cut."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                a.split("?", 1)[0] + "?<redacted>" if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


_redactor = _RedactQueryStrings()
for _name in ("urllib3.connectionpool", "requests.packages.urllib3.connectionpool"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactQueryStrings) for f in _logger.filters):
        _logger.addFilter(_redactor)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


# ----------------------------------------------------------------------------------------------------------------
# retry policy (shared with the Gmail adapter)


def backoff_delays(max_attempts: int = MAX_ATTEMPTS, cap: float = BACKOFF_CAP_S) -> list[float]:
    """Sleeps between attempts: 1, 2, 4, 8, ... seconds, each capped at `cap`; `max_attempts - 1` of them."""
    return [float(min(cap, 2**i)) for i in range(max(0, max_attempts - 1))]


class RetryableError(Exception):
    """A transient failure (HTTP 429/5xx, connection error, timeout) worth another attempt."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


T = TypeVar("T")


def call_with_retries(
    fn: Callable[[], T],
    *,
    is_retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], Any] = time.sleep,
    max_attempts: int = MAX_ATTEMPTS,
    what: str = "call",
) -> tuple[T, int]:
    """Run `fn` up to `max_attempts` times with the deterministic backoff; re-raise the last error.
    Returns (result, attempts used)."""
    delays = backoff_delays(max_attempts)
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(), attempt
        except BaseException as exc:  # noqa: BLE001 - classified below
            if attempt >= max_attempts or not is_retryable(exc):
                raise
            delay = delays[attempt - 1]
            log.warning("%s failed (attempt %d/%d: %s); retrying in %.0f s", what, attempt, max_attempts,
                        type(exc).__name__, delay)
            sleep(delay)


# ----------------------------------------------------------------------------------------------------------------
# classification


def _zip_members(data: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _text_head(data: bytes, n: int = 8192) -> str:
    head = data[:n]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            # a cut multi-byte sequence at the end of the window is fine
            return head.decode("utf-8", errors="strict" if len(head) < n else "ignore")
        except UnicodeDecodeError:
            return head.decode("latin-1")


_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head>", b"<body>")


def classify_bytes(data: bytes) -> str:
    """Detected type by content (§2.7): xlsx | xls | csv | html | zip_not_workbook | unknown.

    A ZIP is a workbook when it holds `xl/workbook.xml`; an unreadable (truncated, corrupt) ZIP whose raw bytes
    name workbook parts is still `xlsx` (the size check / workbook parser decide), otherwise `zip_not_workbook`."""
    if data.startswith(ZIP_MAGIC):
        members = _zip_members(data)
        if members is not None:
            return "xlsx" if "xl/workbook.xml" in members else "zip_not_workbook"
        if b"xl/" in data or b"[Content_Types].xml" in data:
            return "xlsx"
        return "zip_not_workbook"
    if data.startswith(OLE_MAGIC):
        return "xls"
    text = _text_head(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    low = first.lower()
    if "message" in low and "sending time" in low:
        return "csv"
    head = data[:512].lower()
    if any(marker in head for marker in _HTML_MARKERS):
        return "html"
    return "unknown"


# ----------------------------------------------------------------------------------------------------------------
# landing pages


_A_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE | re.DOTALL)
_ONCLICK = re.compile(
    r"""onclick\s*=\s*["']\s*(?:window\.|document\.)?location(?:\.href)?\s*=\s*(?:&#39;|&quot;|['"])(.+?)(?:&#39;|&quot;|['"])""",
    re.IGNORECASE | re.DOTALL,
)
_META_REFRESH = re.compile(r"""<meta\b[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.IGNORECASE | re.DOTALL)
_META_CONTENT_URL = re.compile(r"""content\s*=\s*["'][^"']*?url\s*=\s*['"]?([^"'>\s]+)""", re.IGNORECASE)
_OG_URL = re.compile(r"""<meta\b[^>]*property\s*=\s*["']og:url["'][^>]*>""", re.IGNORECASE | re.DOTALL)
_CONTENT_ATTR = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_JS_LOCATION = re.compile(
    r"""(?:location\.href\s*=\s*|location\.assign\s*\(\s*|location\.replace\s*\(\s*|window\.open\s*\(\s*|"""
    r"""location\s*=\s*)['"]([^'"]+)['"]""",
    re.IGNORECASE,
)
_INFLOWW_MEDIA = re.compile(r"https://media\.infloww\.com/[A-Za-z0-9\-]+\.xlsx", re.IGNORECASE)
_ANY_XLSX = re.compile(r"""https?://[^\s"'<>]+?\.xlsx(?:\?[^\s"'<>]*)?""", re.IGNORECASE)
_JSON_KEYS = ("url", "href", "downloadUrl", "download_url", "file_url")


def _json_urls(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for key in _JSON_KEYS:
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                yield value.strip()
        for value in obj.values():
            if isinstance(value, dict | list):
                yield from _json_urls(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _json_urls(item)


def landing_candidates(body: bytes, final_url: str) -> list[str]:
    """Candidate file URLs on a landing page (§2.7), in the order of the spec, absolute, de-duplicated."""
    text = body.decode("utf-8", errors="replace")
    found: list[str] = []
    # 1. a url= query parameter of the final URL
    for piece in urlsplit(final_url).query.split("&"):
        key, _, value = piece.partition("=")
        if key.lower() == "url" and value:
            found.append(unquote(unquote(value)))
    # 2. <a href> ending in .xlsx
    for href in _A_HREF.findall(text):
        href = html_lib.unescape(href).strip()
        if urlsplit(href).path.lower().endswith(".xlsx"):
            found.append(href)
    # 3. onclick="location.href='...'"
    found.extend(html_lib.unescape(m) for m in _ONCLICK.findall(text))
    # 4. <meta http-equiv=refresh content="0; url=...">
    for tag in _META_REFRESH.findall(text):
        m = _META_CONTENT_URL.search(tag)
        if m:
            found.append(html_lib.unescape(m.group(1)))
    # 5. og:url
    for tag in _OG_URL.findall(text):
        m = _CONTENT_ATTR.search(tag)
        if m:
            found.append(html_lib.unescape(m.group(1)))
    # 6. JS location.href / assign / replace / window.open
    found.extend(html_lib.unescape(m) for m in _JS_LOCATION.findall(text))
    # 7. raw media.infloww.com / any http(s) .xlsx URL
    found.extend(_INFLOWW_MEDIA.findall(text))
    found.extend(html_lib.unescape(m) for m in _ANY_XLSX.findall(text))
    # 8. JSON body
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            found.extend(_json_urls(json.loads(stripped)))
        except ValueError:
            pass
    out: list[str] = []
    for url in found:
        url = url.strip()
        if not url or url.startswith(("#", "javascript:", "mailto:")):
            continue
        absolute = unwrap_url(urljoin(final_url, url))
        if urlsplit(absolute).scheme.lower() not in ("http", "https"):
            continue
        if absolute not in out:
            out.append(absolute)
    return out


# ----------------------------------------------------------------------------------------------------------------
# fetching


@dataclass(frozen=True)
class FetchResult:
    data: bytes | None = None
    detected_type: str | None = None
    final_url: str | None = None  # host + path only
    error: str | None = None
    detail: str = ""
    http_requests: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.data is not None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0

    @property
    def host(self) -> str | None:
        return self.final_url.split("/", 1)[0] if self.final_url and not self.final_url.startswith("file:") else None

    @property
    def path(self) -> str | None:
        if not self.final_url:
            return None
        if self.final_url.startswith("file://"):
            return self.final_url[len("file://"):]
        return "/" + self.final_url.split("/", 1)[1] if "/" in self.final_url else "/"


class _Fail(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class _Response:
    status: int
    url: str
    body: bytes
    content_disposition: str = ""


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableError):
        return True
    return isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError)


class _Fetcher:
    def __init__(self, session: requests.Session, max_bytes: int, sleep: Callable[[float], Any], timeout: tuple):
        self.session = session
        self.max_bytes = max_bytes
        self.sleep = sleep
        self.timeout = timeout
        self.requests = 0

    def _one(self, url: str) -> requests.Response:
        self.requests += 1
        log.info("GET %s", safe_query_free(url))
        resp = self.session.get(
            url, headers=REQUEST_HEADERS, stream=True, allow_redirects=False, timeout=self.timeout
        )
        if resp.status_code in RETRYABLE_STATUS:
            resp.close()
            raise RetryableError(f"HTTP {resp.status_code} from {safe_query_free(url)}", resp.status_code)
        return resp

    def _read(self, resp: requests.Response, url: str) -> bytes:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            resp.close()
            raise _Fail("file_too_large", f"{safe_query_free(url)}: Content-Length {length} > {self.max_bytes}")
        buf = bytearray()
        try:
            for chunk in resp.iter_content(chunk_size=65536):
                buf.extend(chunk)
                if len(buf) > self.max_bytes:
                    raise _Fail("file_too_large", f"{safe_query_free(url)}: more than {self.max_bytes} bytes")
        finally:
            resp.close()
        return bytes(buf)

    def get(self, url: str) -> _Response:
        """GET with manual redirects (<= 10 hops); each hop retried on transient errors."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            def attempt(u: str = current) -> tuple[requests.Response, bytes | None]:
                resp = self._one(u)
                if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                    resp.close()
                    return resp, None
                return resp, self._read(resp, u)

            try:
                (resp, body), _ = call_with_retries(
                    attempt, is_retryable=_is_retryable, sleep=self.sleep, what=f"GET {safe_query_free(current)}"
                )
            except RetryableError as exc:
                raise _Fail("download_failed", f"{exc} after {MAX_ATTEMPTS} attempts") from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                raise _Fail(
                    "download_failed",
                    f"{type(exc).__name__} on {safe_query_free(current)} after {MAX_ATTEMPTS} attempts",
                ) from None
            except requests.RequestException as exc:
                raise _Fail("download_failed", f"{type(exc).__name__} on {safe_query_free(current)}") from None
            if body is None:
                location = resp.headers.get("Location")
                if not location:
                    raise _Fail("download_failed", f"redirect without Location from {safe_query_free(current)}")
                nxt = urljoin(current, location)
                if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                    raise _Fail("download_failed", f"redirect to a non-http URL from {safe_query_free(current)}")
                current = nxt
                continue
            return _Response(resp.status_code, current, body, resp.headers.get("Content-Disposition", ""))
        raise _Fail("download_failed", f"more than {MAX_REDIRECTS} redirects from {safe_query_free(url)}")


def _claims_spreadsheet(url: str, content_disposition: str) -> bool:
    """The server presented the body as a spreadsheet file (name in the path or Content-Disposition)."""
    path = urlsplit(url).path.lower()
    if path.endswith((".xlsx", ".xls", ".csv")):
        return True
    m = re.search(r"""filename\*?\s*=\s*(?:UTF-8'')?["']?([^"';]+)""", content_disposition or "", re.IGNORECASE)
    return bool(m and m.group(1).strip().lower().endswith((".xlsx", ".xls", ".csv")))


def _accept(data: bytes, where: str, *, max_bytes: int) -> tuple[str, bytes]:
    """Type + size checks for a body that is supposed to be the report; raises `_Fail`."""
    if len(data) > max_bytes:
        raise _Fail("file_too_large", f"{where}: {len(data)} bytes > {max_bytes}")
    kind = classify_bytes(data)
    if kind in SPREADSHEET_TYPES:
        if len(data) < MIN_BYTES[kind]:
            raise _Fail("file_too_small", f"{where}: {kind} of {len(data)} bytes (minimum {MIN_BYTES[kind]})")
        return kind, data
    if kind == "zip_not_workbook":
        raise _Fail("not_a_spreadsheet", f"{where}: a ZIP archive without xl/workbook.xml")
    raise _Fail("not_a_spreadsheet", f"{where}: content is {kind}, not a spreadsheet")


def _read_file_url(url: str, max_bytes: int) -> bytes:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _Fail("download_failed", f"file URL with a remote host: {parts.netloc}")
    path = Path(url2pathname(unquote(parts.path)))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _Fail("file_too_large", f"file://{parts.path}: {size} bytes > {max_bytes}")
        return path.read_bytes()
    except FileNotFoundError:
        raise _Fail("download_failed", f"file://{parts.path} does not exist") from None
    except IsADirectoryError:
        raise _Fail("download_failed", f"file://{parts.path} is a directory") from None
    except PermissionError:
        raise _Fail("download_failed", f"file://{parts.path} is not readable") from None


def fetch_report(
    target: DownloadTarget | str | None,
    *,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    allow_file_urls: bool,
    session: requests.Session | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
) -> FetchResult:
    """Obtain the report bytes for a `DownloadTarget` (or a URL string): attachment bytes, a local file (file://,
    only when `allow_file_urls`), or an HTTP download with redirects, retries, the byte cap and the landing-page
    candidate search (at most 5 candidates, each fetched once)."""
    if target is None:
        return FetchResult(error="no_download_link", detail="the email has no usable download link")
    if isinstance(target, DownloadTarget) and target.attachment is not None:
        att = target.attachment
        try:
            kind, data = _accept(att.data, f"attachment {att.name!r}", max_bytes=max_bytes)
        except _Fail as fail:
            return FetchResult(error=fail.code, detail=fail.detail)
        return FetchResult(data=data, detected_type=kind, final_url=f"attachment:{att.name}")
    url = target.url if isinstance(target, DownloadTarget) else target
    if not url:
        return FetchResult(error="no_download_link", detail="empty download URL")
    url = unwrap_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        if not allow_file_urls:
            return FetchResult(error="download_failed", detail="file:// URLs are not allowed in this environment")
        try:
            data = _read_file_url(url, max_bytes)
            kind = classify_bytes(data)
            if kind in ("html", "unknown") and not _claims_spreadsheet(url, ""):
                # an error page saved in place of the report (e.g. `expired.html`), not a mis-named file
                raise _Fail("download_failed", f"{safe_query_free(url)}: a {kind} page, not the report")
            kind, data = _accept(data, safe_query_free(url), max_bytes=max_bytes)
        except _Fail as fail:
            return FetchResult(error=fail.code, detail=fail.detail, final_url=safe_query_free(url))
        return FetchResult(data=data, detected_type=kind, final_url=safe_query_free(url))
    if scheme not in ("http", "https"):
        return FetchResult(error="no_download_link", detail=f"unsupported URL scheme {scheme!r}")

    own_session = session is None
    sess = session or requests.Session()
    fetcher = _Fetcher(sess, max_bytes, sleep, timeout)
    try:
        return _fetch_http(fetcher, url, max_bytes)
    finally:
        if own_session:
            sess.close()


def _fetch_http(fetcher: _Fetcher, url: str, max_bytes: int) -> FetchResult:
    queue: list[str] = [url]
    tried: set[str] = set()
    candidates_used = 0
    last: _Fail | None = None
    first_final: str | None = None
    while queue:
        current = queue.pop(0)
        if current in tried:
            continue
        if current != url:
            if candidates_used >= MAX_CANDIDATES:
                break
            candidates_used += 1
        tried.add(current)
        try:
            resp = fetcher.get(current)
        except _Fail as fail:
            if fail.code == "file_too_large":
                return FetchResult(error=fail.code, detail=fail.detail, http_requests=fetcher.requests)
            last = fail
            continue
        where = safe_query_free(resp.url)
        first_final = first_final or where
        if resp.status >= 400:
            last = _Fail("download_failed", f"HTTP {resp.status} from {where}")
            continue
        kind = classify_bytes(resp.body)
        if kind in ("html", "unknown"):
            found = [c for c in landing_candidates(resp.body, resp.url) if c not in tried and c not in queue]
            if found:
                queue.extend(found)
                continue
            if _claims_spreadsheet(resp.url, resp.content_disposition):
                # an HTML (or other non-spreadsheet) body served as a report file: "HTML saved as .xlsx"
                last = _Fail("not_a_spreadsheet", f"{where}: content is {kind}, served as a spreadsheet file")
            else:
                last = _Fail("download_failed", f"{where}: a {kind} page without a usable download link")
            continue
        try:
            kind, data = _accept(resp.body, where, max_bytes=max_bytes)
        except _Fail as fail:
            last = fail
            continue
        log.info("downloaded %d bytes (%s) from %s", len(data), kind, where)
        return FetchResult(data=data, detected_type=kind, final_url=where, http_requests=fetcher.requests)
    if last is None:
        last = _Fail("download_failed", f"no usable candidate after {candidates_used} candidates")
    return FetchResult(error=last.code, detail=last.detail, final_url=first_final, http_requests=fetcher.requests)


__all__ = [
    "ERROR_CODES",
    "FetchResult",
    "RetryableError",
    "backoff_delays",
    "call_with_retries",
    "classify_bytes",
    "fetch_report",
    "landing_candidates",
]
