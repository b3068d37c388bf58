"""A stand-in for the three Gmail API endpoints the mailbox uses, on 127.0.0.1 (free port):

* GET /gmail/v1/users/{user}/messages?q=&pageToken=&maxResults=   (newest first, `nextPageToken` = next offset)
* GET /gmail/v1/users/{user}/messages/{id}?format=full|minimal|metadata
* GET /gmail/v1/users/{user}/messages/{id}/attachments/{aid}

Failures can be scripted per endpoint kind (`fail_next("list", 503)`), and every call is recorded."""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class StubMessage:
    id: str
    internal_ms: int
    payload: dict
    thread_id: str = ""
    attachments: dict[str, bytes] = field(default_factory=dict)


def report_payload(
    page: str, link: str | None = None, *, sender: str = "Infloww <no-reply@infloww.com>", when: datetime | None = None,
    xlsx: tuple[str, str, bytes] | None = None,
) -> dict:
    """A Gmail `payload` tree: multipart/mixed > multipart/alternative > (text/plain, text/html) [+ attachment]."""
    when = when or datetime(2026, 11, 1, tzinfo=UTC)
    html = (f"<html><body><p>The OF mass message history report you requested for {page} is now ready.</p>"
            + (f'<p><a href="{link}">Download</a></p>' if link else "") + "</body></html>")
    text = f"The OF mass message history report you requested for {page} is now ready.\n"
    alt = {
        "partId": "0", "mimeType": "multipart/alternative", "filename": "",
        "headers": [{"name": "Content-Type", "value": 'multipart/alternative; boundary="b1"'}], "body": {"size": 0},
        "parts": [
            {"partId": "0.0", "mimeType": "text/plain", "filename": "",
             "headers": [{"name": "Content-Type", "value": 'text/plain; charset="utf-8"'}],
             "body": {"size": len(text), "data": b64url(text.encode())}},
            {"partId": "0.1", "mimeType": "text/html", "filename": "",
             "headers": [{"name": "Content-Type", "value": 'text/html; charset="utf-8"'}],
             "body": {"size": len(html), "data": b64url(html.encode())}},
        ],
    }
    parts = [alt]
    if xlsx is not None:
        name, aid, data = xlsx
        parts.append({
            "partId": "1", "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "filename": name,
            "headers": [{"name": "Content-Disposition", "value": f'attachment; filename="{name}"'}],
            "body": {"size": len(data), "attachmentId": aid},
        })
    return {
        "partId": "", "mimeType": "multipart/mixed", "filename": "",
        "headers": [
            {"name": "From", "value": sender},
            {"name": "Subject", "value": "OF mass message history report is ready for download"},
            {"name": "Date", "value": format_datetime(when)},
            {"name": "Content-Type", "value": 'multipart/mixed; boundary="b0"'},
        ],
        "body": {"size": 0},
        "parts": parts,
    }


class GmailStub:
    def __init__(self, user: str) -> None:
        self.user = user
        self.messages: dict[str, StubMessage] = {}
        self.calls: list[tuple[str, dict]] = []  # (kind, params) kind in list|get|attachment
        self.failures: dict[str, list[int]] = defaultdict(list)
        self.auth_headers: list[str | None] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _send(self, status: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                segs = [unquote(s) for s in parts.path.split("/") if s]
                if segs[:3] != ["gmail", "v1", "users"] or len(segs) < 5 or segs[4] != "messages":
                    return self._send(404, {"error": {"code": 404, "message": "unknown path"}})
                if segs[3] != stub.user:
                    return self._send(403, {"error": {"code": 403, "message": "wrong user"}})
                kind = {5: "list", 6: "get", 8: "attachment"}.get(len(segs))
                if kind is None:
                    return self._send(404, {"error": {"code": 404, "message": "unknown path"}})
                with stub._lock:
                    stub.calls.append((kind, {**params, "_path": parts.path}))
                    stub.auth_headers.append(self.headers.get("Authorization"))
                    queue = stub.failures.get(kind)
                    status = queue.pop(0) if queue else None
                if status is not None:
                    return self._send(status, {"error": {"code": status, "message": "scripted failure"}})
                if kind == "list":
                    return self._send(200, stub._list(params))
                msg = stub.messages.get(segs[5])
                if msg is None:
                    return self._send(404, {"error": {"code": 404, "message": "Requested entity was not found."}})
                if kind == "get":
                    return self._send(200, stub._message_json(msg, params.get("format", "full")))
                data = msg.attachments.get(segs[7])
                if data is None:
                    return self._send(404, {"error": {"code": 404, "message": "no attachment"}})
                return self._send(200, {"size": len(data), "data": b64url(data)})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- behaviour
    def add(self, msg: StubMessage) -> None:
        self.messages[msg.id] = msg

    def fail_next(self, kind: str, *statuses: int) -> None:
        self.failures[kind].extend(statuses)

    def calls_of(self, kind: str) -> list[dict]:
        return [p for k, p in self.calls if k == kind]

    def _list(self, params: dict) -> dict:
        ordered = sorted(self.messages.values(), key=lambda m: (-m.internal_ms, m.id))  # newest first, like Gmail
        offset = int(params.get("pageToken") or 0)
        size = int(params.get("maxResults") or 100)
        page = ordered[offset: offset + size]
        out: dict = {"resultSizeEstimate": len(ordered)}
        if page:
            out["messages"] = [{"id": m.id, "threadId": m.thread_id or m.id} for m in page]
        if offset + size < len(ordered):
            out["nextPageToken"] = str(offset + size)
        return out

    def _message_json(self, msg: StubMessage, fmt: str) -> dict:
        out = {"id": msg.id, "threadId": msg.thread_id or msg.id, "labelIds": ["INBOX"],
               "internalDate": str(msg.internal_ms), "sizeEstimate": 1000, "historyId": "1"}
        if fmt != "minimal":
            out["payload"] = msg.payload
        return out

    # -- lifecycle
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> GmailStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
