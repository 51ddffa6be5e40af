"""The webhook sender's one attempt against a real receiver socket: the address is checked
again at delivery time (a name that resolves inside is refused, whatever it said at
submission), redirects are not followed, slow receivers time out, long answers are cut."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pyexec.core.models import WebhookDelivery
from pyexec.core.runtime import Runtime
from pyexec.core.settings import load_settings
from pyexec.worker.webhooks import MAX_ANSWER_BYTES, WebhookSender

BODY = b'{"id": "job-1"}'


class Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/long":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"x" * 1_000_000)
        else:
            self.send_response(204)
            self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


async def _sender(tmp_path: Path, **settings: object) -> WebhookSender:
    runtime = Runtime.embedded(
        load_settings(data_dir=tmp_path, webhook_allow_http=True, webhook_timeout=1.5, **settings)
    )
    return WebhookSender(runtime)


@pytest.fixture
async def open_sender(tmp_path: Path) -> AsyncIterator[WebhookSender]:
    sender = await _sender(tmp_path, webhook_allow_private=True)
    try:
        yield sender
    finally:
        await sender.aclose()
        await sender.runtime.close()


def _delivery(url: str) -> WebhookDelivery:
    return WebhookDelivery(job_id="job-1", account_id="a", url=url, claim="c")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]"])
async def test_inside_addresses_are_refused_at_delivery_time(
    tmp_path: Path, port: int, host: str
) -> None:
    Handler.hits.clear()
    sender = await _sender(tmp_path)
    try:
        outcome = await sender.send(_delivery(f"http://{host}:{port}/ok"), BODY, "s")
    finally:
        await sender.aclose()
        await sender.runtime.close()
    assert not outcome.delivered
    assert outcome.error is not None and "loopback address" in outcome.error
    assert outcome.error.startswith("refused: the URL points at")
    assert Handler.hits == []  # nothing was sent


async def test_a_public_url_answering_2xx_is_delivered(
    open_sender: WebhookSender, port: int
) -> None:
    Handler.hits.clear()
    outcome = await open_sender.send(_delivery(f"http://localhost:{port}/ok"), BODY, "s")
    assert outcome.delivered and outcome.error is None
    assert Handler.hits == ["/ok"]


async def test_redirects_are_not_followed(open_sender: WebhookSender, port: int) -> None:
    Handler.hits.clear()
    outcome = await open_sender.send(_delivery(f"http://127.0.0.1:{port}/redirect"), BODY, "s")
    assert not outcome.delivered
    assert outcome.error == "HTTP 302 (redirects are not followed)"
    assert Handler.hits == ["/redirect"]


async def test_a_slow_receiver_times_out(open_sender: WebhookSender, port: int) -> None:
    outcome = await open_sender.send(_delivery(f"http://127.0.0.1:{port}/slow"), BODY, "s")
    assert not outcome.delivered
    assert outcome.error is not None and "timed out" in outcome.error


async def test_a_long_answer_is_read_only_in_part(open_sender: WebhookSender, port: int) -> None:
    outcome = await open_sender.send(_delivery(f"http://127.0.0.1:{port}/long"), BODY, "s")
    assert not outcome.delivered
    assert outcome.error is not None and outcome.error.startswith("HTTP 500: xxx")
    assert len(outcome.error) < MAX_ANSWER_BYTES


async def test_nothing_listening_is_a_connection_error(open_sender: WebhookSender) -> None:
    outcome = await open_sender.send(_delivery("http://127.0.0.1:9/ok"), BODY, "s")
    assert not outcome.delivered
    assert outcome.error is not None and outcome.error.startswith("could not connect")
