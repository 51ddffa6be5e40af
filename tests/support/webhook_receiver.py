"""A webhook receiver for tests: a real HTTP server socket on loopback, in a thread, that
answers each path with scripted statuses and keeps what it received."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# A test server that may POST to this receiver: loopback http allowed, quick retries.
RECEIVER_ENV = {
    "PYEXEC_WEBHOOK_ALLOW_HTTP": "true",
    "PYEXEC_WEBHOOK_ALLOW_PRIVATE": "true",
    "PYEXEC_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "PYEXEC_WEBHOOK_RETRY_MAX_SECONDS": "1",
    "PYEXEC_WEBHOOK_POLL_SECONDS": "0.2",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server: answers each path with its scripted statuses (then the last one
    again), and keeps what it received."""

    server: ThreadingHTTPServer
    scripts: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hook(self, *statuses: int) -> str:
        path = f"/hook/{uuid.uuid4().hex}"
        self.scripts[path] = list(statuses)
        return self.url + path

    def at(self, url: str) -> list[Received]:
        path = httpx.URL(url).path
        with self.lock:
            return [r for r in self.received if r.path == path]


def _handler(receiver: Callable[[], Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = receiver()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                rec.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                script = rec.scripts.get(self.path, [404])
                status = script.pop(0) if len(script) > 1 else script[0]
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"receiver says no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving() -> Iterator[Receiver]:
    holder: list[Receiver] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(lambda: holder[0]))
    holder.append(Receiver(httpd))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
