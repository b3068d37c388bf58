"""A stand-in for the Google endpoints the team-sheets export calls through gspread, on 127.0.0.1 (free port):

* POST /token                                   OAuth token for a service-account JWT (RS256, verified)
* GET  /drive/v3/files?q=name = "…"             find a spreadsheet by title (gspread `Client.open`)
* POST /drive/v3/files                          create a spreadsheet (gspread `Client.create`), with "Sheet1"
* GET  /v4/spreadsheets/{id}                    metadata: title and tabs (gspread `fetch_sheet_metadata`)
* POST /v4/spreadsheets/{id}:batchUpdate        addSheet, deleteSheet, repeatCell, updateSheetProperties,
                                                updateDimensionProperties
* POST /v4/spreadsheets/{id}/values:batchClear
* PUT  /v4/spreadsheets/{id}/values/{range}     values.update (`'Tab'!A1`, valueInputOption=RAW)
* GET  /v4/spreadsheets/{id}/values:batchGet    FORMATTED_VALUE rendering (numbers and booleans as text)

Every call needs the bearer token the token endpoint issued. Failures can be scripted per call kind
(`fail_next("values.update", 429)`), and every call is recorded."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account_key(token_uri: str, email: str = "exporter@test-project.iam.gserviceaccount.com"):
    """(service-account JSON dict, public key): a fresh RSA key whose token URI is the stub."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {
        "type": "service_account", "project_id": "test-project", "private_key_id": "k1", "private_key": pem,
        "client_email": email, "client_id": "1", "token_uri": token_uri,
    }
    return info, key.public_key()


def formatted(value) -> str:
    """How Sheets renders a RAW value for FORMATTED_VALUE reads."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SheetsStub:
    def __init__(self, public_key=None) -> None:
        self.public_key = public_key
        self.spreadsheets: dict[str, dict] = {}  # id -> {"title", "sheets": {title: {"id", "values", "hidden"}}}
        self.calls: list[tuple[str, str]] = []  # (kind, path)
        self.failures: dict[str, list[int]] = defaultdict(list)
        self.tokens: set[str] = set()
        self.jwt_claims: list[dict] = []
        self.formats: list[dict] = []
        self._ids = itertools.count(1)
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

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": {"code": status, "message": message, "status": "STUB"}})

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                body = self._body()
                if method == "POST" and parts.path == "/token":
                    return stub._token(self, body)
                if self.headers.get("Authorization", "").removeprefix("Bearer ") not in stub.tokens:
                    return self._error(401, "missing or unknown bearer token")
                kind, args = stub._classify(method, parts.path)
                if kind is None:
                    return self._error(404, f"unknown endpoint {method} {parts.path}")
                with stub._lock:
                    stub.calls.append((kind, parts.path))
                    queue = stub.failures.get(kind)
                    status = queue.pop(0) if queue else None
                if status is not None:
                    return self._error(status, "scripted failure")
                try:
                    payload = json.loads(body) if body else {}
                    with stub._lock:
                        status, out = getattr(stub, "_" + kind.replace(".", "_").replace(":", "_"))(args, params, payload)
                except KeyError as exc:
                    return self._error(404, f"not found: {exc}")
                return self._send(status, out)

            def do_GET(self):  # noqa: N802
                self._route("GET")

            def do_POST(self):  # noqa: N802
                self._route("POST")

            def do_PUT(self):  # noqa: N802
                self._route("PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- auth
    def _token(self, handler, body: bytes) -> None:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER or "assertion" not in form:
            return handler._error(400, "expected a JWT bearer grant")
        head, claims, sig = form["assertion"].split(".")
        if self.public_key is not None:
            try:
                self.public_key.verify(_b64url_decode(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(),
                                       hashes.SHA256())
            except Exception:  # noqa: BLE001
                return handler._error(401, "bad JWT signature")
        with self._lock:
            self.jwt_claims.append(json.loads(_b64url_decode(claims)))
            token = f"stub-token-{len(self.tokens) + 1}"
            self.tokens.add(token)
        handler._send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    # -- routing
    @staticmethod
    def _classify(method: str, path: str) -> tuple[str | None, tuple]:
        if path == "/drive/v3/files":
            return ("drive.list" if method == "GET" else "drive.create"), ()
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(:batchUpdate)?", path)
        if m:
            if m.group(2):
                return ("batchUpdate" if method == "POST" else None), (m.group(1),)
            return ("get" if method == "GET" else None), (m.group(1),)
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)/values:(batchClear|batchGet)", path)
        if m:
            return f"values.{m.group(2)}", (m.group(1),)
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)/values/(.+)", path)
        if m and method == "PUT":
            return "values.update", (m.group(1), unquote(m.group(2)))
        return None, ()

    @staticmethod
    def _tab_of(a1: str) -> str:
        name = a1.split("!")[0]
        return name[1:-1].replace("''", "'") if name.startswith("'") else name

    def _meta(self, sid: str) -> dict:
        book = self.spreadsheets[sid]
        return {"spreadsheetId": sid, "properties": {"title": book["title"], "locale": "en_US", "timeZone": "Etc/GMT"},
                "sheets": [{"properties": {"sheetId": s["id"], "title": t, "index": i, "sheetType": "GRID",
                                           "gridProperties": {"rowCount": 1000, "columnCount": 26}}}
                           for i, (t, s) in enumerate(book["sheets"].items())]}

    def add_spreadsheet(self, title: str) -> str:
        sid = f"sheet{next(self._ids)}"
        self.spreadsheets[sid] = {"title": title, "sheets": {"Sheet1": {"id": 0, "values": [], "hidden": set()}}}
        return sid

    # -- endpoints (called with the lock held)
    def _drive_list(self, args, params, payload):
        q = params.get("q", [""])[-1]
        m = re.search(r'name = "([^"]*)"', q)
        files = [{"id": sid, "name": b["title"], "createdTime": "2026-01-01T00:00:00Z",
                  "modifiedTime": "2026-01-01T00:00:00Z"}
                 for sid, b in self.spreadsheets.items() if m is None or b["title"] == m.group(1)]
        return 200, {"kind": "drive#fileList", "files": files}

    def _drive_create(self, args, params, payload):
        sid = self.add_spreadsheet(payload["name"])
        return 200, {"kind": "drive#file", "id": sid, "name": payload["name"], "mimeType": payload.get("mimeType")}

    def _get(self, args, params, payload):
        return 200, self._meta(args[0])

    def _batchUpdate(self, args, params, payload):  # noqa: N802 - named after the endpoint
        book = self.spreadsheets[args[0]]
        replies = []
        for req in payload.get("requests", []):
            if "addSheet" in req:
                title = req["addSheet"]["properties"]["title"]
                sheet_id = 1000 + len(book["sheets"]) + sum(len(b["sheets"]) for b in self.spreadsheets.values())
                book["sheets"][title] = {"id": sheet_id, "values": [], "hidden": set()}
                replies.append({"addSheet": {"properties": {"sheetId": sheet_id, "title": title}}})
                continue
            if "deleteSheet" in req:
                sid = req["deleteSheet"]["sheetId"]
                book["sheets"] = {t: s for t, s in book["sheets"].items() if s["id"] != sid}
            elif "updateDimensionProperties" in req:
                rng = req["updateDimensionProperties"]["range"]
                sheet = next(s for s in book["sheets"].values() if s["id"] == rng["sheetId"])
                if req["updateDimensionProperties"]["properties"].get("hiddenByUser"):
                    sheet["hidden"].update(range(rng["startIndex"], rng["endIndex"]))
            else:
                self.formats.append(req)
            replies.append({})
        return 200, {"spreadsheetId": args[0], "replies": replies}

    def _values_batchClear(self, args, params, payload):  # noqa: N802
        book = self.spreadsheets[args[0]]
        for a1 in payload.get("ranges", []):
            book["sheets"][self._tab_of(a1)]["values"] = []
        return 200, {"spreadsheetId": args[0], "clearedRanges": payload.get("ranges", [])}

    def _values_update(self, args, params, payload):
        sid, a1 = args
        if params.get("valueInputOption", [""])[-1] != "RAW" or not a1.endswith("!A1"):
            return 400, {"error": {"code": 400, "message": "expected RAW values at A1", "status": "STUB"}}
        sheet = self.spreadsheets[sid]["sheets"][self._tab_of(a1)]
        sheet["values"] = [list(r) for r in payload["values"]]
        cells = sum(len(r) for r in payload["values"])
        return 200, {"spreadsheetId": sid, "updatedRange": a1, "updatedRows": len(payload["values"]),
                     "updatedCells": cells}

    def _values_batchGet(self, args, params, payload):  # noqa: N802
        book = self.spreadsheets[args[0]]
        out = []
        for a1 in params.get("ranges", []):
            values = [[formatted(v) for v in row] for row in book["sheets"][self._tab_of(a1)]["values"]]
            out.append({"range": a1, "majorDimension": "ROWS", "values": values})
        return 200, {"spreadsheetId": args[0], "valueRanges": out}

    # -- helpers for tests
    def fail_next(self, kind: str, *statuses: int) -> None:
        self.failures[kind].extend(statuses)

    def calls_of(self, kind: str) -> list[str]:
        return [p for k, p in self.calls if k == kind]

    def by_title(self, title: str) -> dict:
        return next(b for b in self.spreadsheets.values() if b["title"] == title)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SheetsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
