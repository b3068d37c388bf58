"""Resolving and downloading (10-ingestion §2.7) against a local HTTP server; catalogue cases 6, 7, 8 (and 9's
type detection)."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import zipfile
from urllib.parse import quote, urlsplit

import pytest
import requests
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from of_scheduler_assets.layer_01_raw.download import (
    REQUEST_HEADERS,
    backoff_delays,
    classify_bytes,
    fetch_report,
)
from of_scheduler_assets.layer_01_raw.email_parsing import Attachment, DownloadTarget, find_download, parse_eml
from of_scheduler_assets_tests.ingestion.http_stub import Resp, StubHTTPServer

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def make_xlsx(rows: int = 5) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Sheet1")
    header = ["Message", "Sending time", "Sender", "Status", "Price", "Sent", "Viewed", "Purchased", "Earnings",
              "Withdrawn by"]
    ws.write_row(0, 0, header)
    for i in range(rows):
        ws.write_row(i + 1, 0, [f"caption {i} " + "x" * 40, "Nov 1, 2026 at 9:0{i} PM", "SD Ana", "sent", "$7.00",
                                "50312", "1200", "12", "$84.00", ""])
    wb.close()
    data = buf.getvalue()
    assert len(data) > 1000
    return data


XLSX = make_xlsx()
CSV = (b"Message,Sending time,Sender,Status,Price,Sent,Viewed,Purchased,Earnings,Withdrawn by\n"
       b'"hello",Nov 1 2026 at 9:00 PM,SD Ana,sent,$7.00,100,10,1,$7.00,\n')


def zip_not_workbook() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a workbook\n" * 200)
    return buf.getvalue()


class LoopbackSession(requests.Session):
    """A requests session that refuses (and records) any non-loopback host: nothing may leave the machine."""

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[str] = []

    def request(self, method, url, *args, **kwargs):
        host = urlsplit(url).hostname
        if host != "127.0.0.1":
            self.violations.append(host or "")
            raise requests.exceptions.InvalidURL(f"test session refuses host {host}")
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def server():
    with StubHTTPServer() as srv:
        yield srv


@pytest.fixture
def session():
    s = LoopbackSession()
    yield s
    assert s.violations == []
    s.close()


class SleepRecorder(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(url_or_target, session, sleeps=None, **kw):
    kw.setdefault("allow_file_urls", False)
    return fetch_report(url_or_target, session=session, sleep=sleeps if sleeps is not None else SleepRecorder(), **kw)


# ----------------------------------------------------------------------------------------------------------------
# classification


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (XLSX, "xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2000, "xls"),
        (CSV, "csv"),
        (b"\xef\xbb\xbf\n\n  MESSAGE;SENDING TIME;Price\n", "csv"),
        (b"<!DOCTYPE html><html><body>Loading...</body></html>", "html"),
        (b"\n  <HTML><BODY>expired</BODY></HTML>", "html"),
        (zip_not_workbook(), "zip_not_workbook"),
        (XLSX[:600], "xlsx"),  # truncated workbook: still a workbook by content (then too small)
        (b'{"downloadUrl": "https://x/y.xlsx"}', "unknown"),
        (b"", "unknown"),
        (b"Name,Value\n1,2\n", "unknown"),
    ],
)
def test_classify_bytes_by_content(data, kind):
    assert classify_bytes(data) == kind


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_classify_bytes_never_raises(data):
    assert classify_bytes(data) in {"xlsx", "xls", "csv", "html", "zip_not_workbook", "unknown"}


def test_backoff_sequence():
    assert backoff_delays() == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delays(10)[-3:] == [60.0, 60.0, 60.0]  # capped at 60 s


# ----------------------------------------------------------------------------------------------------------------
# plain downloads, headers, types


def test_downloads_xlsx_with_browser_headers(server, session):
    url = server.route("/files/report.xlsx", Resp(200, XLSX, {"Content-Type": XLSX_TYPE}))
    result = fetch(url + "?token=SECRET123", session)
    assert result.ok and result.data == XLSX and result.detected_type == "xlsx"
    assert result.final_url == "127.0.0.1/files/report.xlsx"  # host + path, no query
    hit = server.hits["/files/report.xlsx"][0]
    assert hit.query == "token=SECRET123"
    assert hit.headers["user-agent"] == REQUEST_HEADERS["User-Agent"] and "Mozilla/5.0" in hit.headers["user-agent"]
    assert hit.headers["accept"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,")
    assert hit.headers["referer"] == "https://mail.google.com/"


def test_case9_csv_detected_by_content(server, session):
    url = server.route("/files/report.xlsx", Resp(200, CSV, {"Content-Type": "application/octet-stream"}))
    result = fetch(url, session)
    assert result.ok and result.detected_type == "csv" and result.data == CSV


def test_query_strings_never_logged(server, session, caplog):
    caplog.set_level(logging.DEBUG)
    server.route("/gone", Resp(403, b"<html><body>expired</body></html>", HTML))
    result = fetch(server.url("/gone?sig=SECRET123&Expires=1"), session)
    assert result.error == "download_failed"
    assert "/gone" in caplog.text
    assert "SECRET123" not in caplog.text and "SECRET123" not in result.detail
    assert "SECRET123" not in (result.final_url or "")


# ----------------------------------------------------------------------------------------------------------------
# case 6: redirects, SendGrid wrapping, landing pages, JSON


def test_case6_multi_hop_redirects(server, session):
    server.route("/r1", Resp(302, b"", {"Location": "/r2"}))
    server.route("/r2", Resp(301, b"", {"Location": server.url("/r3?x=1")}))
    server.route("/r3", Resp(307, b"", {"Location": "../files/final.xlsx"}))
    server.route("/files/final.xlsx", Resp(200, XLSX))
    result = fetch(server.url("/r1"), session)
    assert result.ok and result.detected_type == "xlsx"
    assert result.final_url == "127.0.0.1/files/final.xlsx"
    assert [server.count(p) for p in ("/r1", "/r2", "/r3", "/files/final.xlsx")] == [1, 1, 1, 1]


def test_case6_redirect_limit(server, session):
    server.route("/loop", Resp(302, b"", {"Location": "/loop"}))
    result = fetch(server.url("/loop"), session)
    assert result.error == "download_failed" and "redirects" in result.detail
    assert server.count("/loop") == 11  # the original request + 10 hops


def test_case6_sendgrid_wrapped_url_is_unwrapped_before_fetching(server, session):
    server.route("/media/abc-123.xlsx", Resp(200, XLSX))
    inner = server.url("/media/abc-123.xlsx")
    upn = quote(quote(f"https://tracking.example.com/open {inner}", safe=""), safe="")
    wrapped = f"https://u4567.ct.sendgrid.net/ls/click?upn={upn}"
    html = f'<html><body><p>report for Luna Example Paid is now ready</p><a href="{wrapped}">Click here</a></body>'
    parsed = parse_eml(
        b"From: no-reply@infloww.com\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n" + html.encode()
    )
    target = find_download(parsed, allow_file_urls=False)
    assert target.rule == "sendgrid_host" and target.original_url == wrapped and target.url == inner
    result = fetch(target, session)
    assert result.ok and result.final_url == "127.0.0.1/media/abc-123.xlsx"
    assert server.count("/media/abc-123.xlsx") == 1


def test_case6_hyphen_escaped_upn(server, session):
    server.route("/media/r.xlsx", Resp(200, XLSX))
    enc = f"http-3A-2F-2F127.0.0.1-3A{server.port}-2Fmedia-2Fr.xlsx"
    result = fetch(f"https://u1.ct.sendgrid.net/ls/click?upn={enc}", session)
    assert result.ok and server.count("/media/r.xlsx") == 1


LANDINGS = {
    "meta_refresh": '<html><head><meta http-equiv="refresh" content="0; url={u}"></head><body>Redirecting</body>',
    "js_location": "<html><body><script>window.location.href = '{u}';</script></body></html>",
    "js_assign": '<html><body><script>setTimeout(function(){{location.assign("{u}")}}, 10)</script></body></html>',
    "window_open": "<html><body><script>window.open('{u}')</script></body></html>",
    "button_onclick": "<html><body><button onclick=\"location.href='{u}'\">Get file</button></body></html>",
    "anchor_xlsx": '<html><body><a href="https://cdn.example.invalid/logo.png">logo</a>'
                   '<a href="{u}">your file</a></body></html>',
    "og_url": '<html><head><meta property="og:url" content="{u}"></head><body></body></html>',
    "raw_text": "<html><body><p>Copy this link: {u}</p></body></html>",
}


@pytest.mark.parametrize("kind", sorted(LANDINGS))
def test_case6_landing_pages(server, session, kind):
    server.route("/dl/report-1.xlsx", Resp(200, XLSX))
    target = server.url("/dl/report-1.xlsx")
    server.route("/landing", Resp(200, LANDINGS[kind].format(u=target).encode(), HTML))
    result = fetch(server.url("/landing"), session)
    assert result.ok, result.detail
    assert result.detected_type == "xlsx" and result.final_url == "127.0.0.1/dl/report-1.xlsx"
    assert server.count("/landing") == 1 and server.count("/dl/report-1.xlsx") == 1


def test_case6_relative_anchor_and_entities(server, session):
    server.route("/dl/r.xlsx", Resp(200, XLSX))
    server.route("/pages/landing", Resp(200, b'<html><body><a href="/dl/r.xlsx?a=1&amp;b=2">get</a></body></html>',
                                        HTML))
    result = fetch(server.url("/pages/landing"), session)
    assert result.ok and server.hits["/dl/r.xlsx"][0].query == "a=1&b=2"


@pytest.mark.parametrize("key", ["downloadUrl", "download_url", "file_url", "url", "href"])
def test_case6_json_response(server, session, key):
    server.route("/api/file/77", Resp(200, XLSX))
    body = json.dumps({"status": "ok", "data": {key: server.url("/api/file/77")}}).encode()
    server.route("/api/export", Resp(200, body, {"Content-Type": "application/json"}))
    result = fetch(server.url("/api/export"), session)
    assert result.ok and result.detected_type == "xlsx" and server.count("/api/file/77") == 1


def test_case6_url_parameter_of_the_final_url(server, session):
    server.route("/dl/r.xlsx", Resp(200, XLSX))
    inner = quote(server.url("/dl/r.xlsx"), safe="")
    server.route("/go", Resp(302, b"", {"Location": f"/interstitial?url={inner}"}))
    server.route("/interstitial", Resp(200, b"<html><body>Please wait</body></html>", HTML))
    result = fetch(server.url("/go"), session)
    assert result.ok and server.count("/interstitial") == 1 and server.count("/dl/r.xlsx") == 1


def test_case6_landing_leads_to_landing(server, session):
    server.route("/dl/r.xlsx", Resp(200, XLSX))
    server.route("/step2", Resp(200, f"<html><body><script>location.replace('{server.url('/dl/r.xlsx')}')"
                                     f"</script></body></html>".encode(), HTML))
    server.route("/step1", Resp(200, b'<html><head><meta http-equiv="refresh" content="1;URL=/step2">'
                                     b"</head></html>", HTML))
    result = fetch(server.url("/step1"), session)
    assert result.ok and [server.count(p) for p in ("/step1", "/step2", "/dl/r.xlsx")] == [1, 1, 1]


# ----------------------------------------------------------------------------------------------------------------
# case 7: expired / 403 / 404


@pytest.mark.parametrize("status", [403, 404, 410])
def test_case7_expired_link_is_download_failed_without_retry(server, session, status):
    server.route("/expired.xlsx", Resp(status, b"<!doctype html><html><body><h1>Link expired</h1></body></html>",
                                       HTML))
    sleeps = SleepRecorder()
    result = fetch(server.url("/expired.xlsx"), session, sleeps)
    assert result.error == "download_failed" and f"HTTP {status}" in result.detail
    assert server.count("/expired.xlsx") == 1 and sleeps == []


def test_case7_html_error_page_with_200(server, session):
    server.route("/link/expired", Resp(200, b"<!doctype html><html><head><title>403 Forbidden</title></head>"
                                            b"<body><h1>Link expired</h1></body></html>", HTML))
    result = fetch(server.url("/link/expired"), session)
    assert result.error == "download_failed" and result.data is None


def test_case7_one_try_per_candidate_and_at_most_five(server, session):
    links = "".join(f'<a href="/dl/c{i}.xlsx">file {i}</a>' for i in range(8))
    server.route("/landing", Resp(200, f"<html><body>{links}</body></html>".encode(), HTML))
    for i in range(8):
        server.route(f"/dl/c{i}.xlsx", Resp(403, b"<html><body>expired</body></html>", HTML))
    sleeps = SleepRecorder()
    result = fetch(server.url("/landing"), session, sleeps)
    assert result.error == "download_failed"
    assert [server.count(f"/dl/c{i}.xlsx") for i in range(8)] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert sleeps == [] and result.http_requests == 6


def test_case7_no_candidates_on_a_landing_page(server, session):
    server.route("/landing", Resp(200, b'<html><body><a href="https://example.invalid/help">help</a></body></html>',
                                  HTML))
    result = fetch(server.url("/landing"), session)
    assert result.error == "download_failed" and server.count("/landing") == 1


# ----------------------------------------------------------------------------------------------------------------
# retries


@pytest.mark.parametrize(("failures", "expected_sleeps"), [([429], [1.0]), ([503], [1.0]), ([500, 502, 504],
                                                                                           [1.0, 2.0, 4.0])])
def test_transient_statuses_are_retried_with_backoff(server, session, failures, expected_sleeps):
    server.route("/f.xlsx", *[Resp(s, b"busy", {"Retry-After": "120"}) for s in failures], Resp(200, XLSX))
    sleeps = SleepRecorder()
    result = fetch(server.url("/f.xlsx"), session, sleeps)
    assert result.ok and result.data == XLSX
    assert server.count("/f.xlsx") == len(failures) + 1
    assert list(sleeps) == expected_sleeps


def test_persistent_503_gives_up_after_five_attempts(server, session):
    server.route("/f.xlsx", Resp(503, b"down"))
    sleeps = SleepRecorder()
    result = fetch(server.url("/f.xlsx"), session, sleeps)
    assert result.error == "download_failed" and "503" in result.detail
    assert server.count("/f.xlsx") == 5 and list(sleeps) == [1.0, 2.0, 4.0, 8.0]


def test_connection_errors_are_retried(session):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    sleeps = SleepRecorder()
    result = fetch(f"http://127.0.0.1:{port}/f.xlsx", session, sleeps, timeout=(2, 2))
    assert result.error == "download_failed" and "ConnectionError" in result.detail
    assert list(sleeps) == [1.0, 2.0, 4.0, 8.0]


def test_read_timeouts_are_retried(server, session):
    def slow(_hit):
        time.sleep(1.0)  # the stub server answers slowly on purpose: the client's 0.3 s read timeout must fire
        return Resp(200, XLSX)

    server.route("/slow.xlsx", slow, Resp(200, XLSX))
    sleeps = SleepRecorder()
    result = fetch(server.url("/slow.xlsx"), session, sleeps, timeout=(2, 0.3))
    assert result.ok and server.count("/slow.xlsx") == 2 and list(sleeps) == [1.0]


# ----------------------------------------------------------------------------------------------------------------
# case 8: too large, too small, HTML saved as .xlsx, ZIP that is not a workbook


@pytest.mark.parametrize("content_length", [True, False])
def test_response_larger_than_the_cap(server, session, content_length):
    big = XLSX + b"\x00" * 300_000
    server.route("/big.xlsx", Resp(200, big, content_length=content_length))
    result = fetch(server.url("/big.xlsx"), session, max_bytes=100_000)
    assert result.error == "file_too_large" and result.data is None
    assert fetch(server.url("/big.xlsx"), session, max_bytes=1_000_000).ok


def test_case8_html_saved_as_xlsx(server, session):
    body = b"<!DOCTYPE html><html><head><title>Infloww</title></head><body>" + b"<p>Loading...</p>" * 80 + b"</body>"
    server.route("/files/report.xlsx", Resp(200, body, {"Content-Type": XLSX_TYPE}))
    result = fetch(server.url("/files/report.xlsx"), session)
    assert result.error == "not_a_spreadsheet" and result.data is None
    server.route("/export", Resp(200, body, {"Content-Disposition": 'attachment; filename="report.xlsx"'}))
    assert fetch(server.url("/export"), session).error == "not_a_spreadsheet"


@pytest.mark.parametrize(("data", "error"), [
    (XLSX[:600], "file_too_small"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500, "file_too_small"),
    (b"messagesending time", "file_too_small"),  # a 19-byte CSV
    (zip_not_workbook(), "not_a_spreadsheet"),
    (b"\x00\x01 binary junk " * 200, "not_a_spreadsheet"),
])
def test_case8_bad_files(server, session, data, error):
    server.route("/files/r.xlsx", Resp(200, data))
    result = fetch(server.url("/files/r.xlsx"), session)
    assert result.error == error and result.data is None


def test_min_sizes_are_inclusive_boundaries():
    exactly_20 = Attachment("r.csv", "text/csv", b"Message,Sending time")
    assert fetch_report(DownloadTarget("attachment", attachment=exactly_20), allow_file_urls=False).ok


# ----------------------------------------------------------------------------------------------------------------
# attachments and file:// URLs


def test_attachment_target(session):
    ok = fetch(DownloadTarget("attachment", attachment=Attachment("r.xlsx", XLSX_TYPE, XLSX)), session)
    assert ok.ok and ok.detected_type == "xlsx" and ok.http_requests == 0
    bad = fetch(DownloadTarget("attachment", attachment=Attachment("r.xlsx", XLSX_TYPE, b"<html><body>x</body>")),
                session)
    assert bad.error == "not_a_spreadsheet"


def test_file_urls_local_mode_only(tmp_path, session):
    path = tmp_path / "dir with space" / "report.xlsx"
    path.parent.mkdir()
    path.write_bytes(XLSX)
    result = fetch(path.as_uri(), session, allow_file_urls=True)
    assert result.ok and result.data == XLSX and result.final_url.endswith("/dir with space/report.xlsx")
    assert fetch(path.as_uri(), session, allow_file_urls=False).error == "download_failed"
    missing = fetch((tmp_path / "expired.xlsx").as_uri(), session, allow_file_urls=True)
    assert missing.error == "download_failed" and "does not exist" in missing.detail
    assert fetch(path.as_uri(), session, allow_file_urls=True, max_bytes=1000).error == "file_too_large"
    html = tmp_path / "saved.xlsx"
    html.write_bytes(b"<!DOCTYPE html><html><body>" + b"x" * 2000 + b"</body></html>")
    assert fetch(html.as_uri(), session, allow_file_urls=True).error == "not_a_spreadsheet"
    error_page = tmp_path / "expired.html"
    error_page.write_bytes(b"<!doctype html><html><body><h1>Link expired</h1></body></html>")
    assert fetch(error_page.as_uri(), session, allow_file_urls=True).error == "download_failed"


def test_no_target_is_no_download_link():
    assert fetch_report(None, allow_file_urls=True).error == "no_download_link"
