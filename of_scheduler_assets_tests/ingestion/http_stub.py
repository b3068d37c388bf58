"""A scripted HTTP server on 127.0.0.1 (free port) for the download tests: each path serves a sequence of canned
responses (the last one repeats) and every request is recorded."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Resp:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class Hit:
    path: str
    query: str
    headers: dict[str, str]


class StubHTTPServer:
    def __init__(self) -> None:
        self._routes: dict[str, list[Resp | Callable[[Hit], Resp]]] = {}
        self.hits: dict[str, list[Hit]] = defaultdict(list)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                hit = Hit(parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()})
                with stub._lock:
                    stub.hits[parts.path].append(hit)
                    seq = stub._routes.get(parts.path)
                    if not seq:
                        item: Resp | Callable[[Hit], Resp] = Resp(404, b"<html><body>Not found</body></html>",
                                                                  {"Content-Type": "text/html"})
                    else:
                        item = seq.pop(0) if len(seq) > 1 else seq[0]
                resp = item(hit) if callable(item) else item
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                if resp.content_length:
                    self.send_header("Content-Length", str(len(resp.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *responses: Resp | Callable[[Hit], Resp]) -> str:
        with self._lock:
            self._routes[path] = list(responses)
        return self.url(path)

    def count(self, path: str) -> int:
        return len(self.hits.get(path, []))

    def __enter__(self) -> StubHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
