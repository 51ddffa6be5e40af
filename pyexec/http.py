"""The HTTP server of `pyexec serve` and `pyexec api` (uvicorn), guarded against clients that
hold connections open instead of using them.

uvicorn has no time limit on receiving a request's headers, no minimum rate for its body and
no cap on one client's connections: two clients dripping a header line every few seconds
over 10,000 connections each took every file descriptor of the process. `GuardedProtocol`
adds the three; each refusal is logged (at most once a minute per client and kind).
Behind a reverse proxy every client is the proxy: let the proxy limit clients (see the docs'
operations page) and raise `PYEXEC_HTTP_MAX_CONNECTIONS_PER_CLIENT`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings

log = logging.getLogger("pyexec.http")

BODY_CHECK_SECONDS = 1.0
REFUSAL_LOG_SECONDS = 60.0
GRACEFUL_SHUTDOWN_SECONDS = 10


@dataclass
class ConnectionGuard:
    header_timeout: float
    min_body_rate: int  # bytes per second; 0: none
    per_client: int
    total: int
    open: Counter[str] = field(default_factory=Counter)
    _logged: dict[tuple[str, str], float] = field(default_factory=dict)

    def admit(self, client: str) -> str | None:
        """None if `client` may open one more connection (counted), else why not."""
        if self.open.total() >= self.total:
            return f"the server's cap of {self.total} open connections"
        if self.open[client] >= self.per_client:
            return f"the cap of {self.per_client} open connections per client"
        self.open[client] += 1
        return None

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]

    def refused(self, client: str, kind: str, why: str) -> None:
        now = time.monotonic()
        if now - self._logged.get((client, kind), -REFUSAL_LOG_SECONDS) >= REFUSAL_LOG_SECONDS:
            self._logged[(client, kind)] = now
            log.warning("connection from %s closed: %s (logged once a minute)", client, why)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `ConnectionGuard`'s limits (set on a subclass)."""

    guard: ConnectionGuard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_client: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_received = 0
        self._body_seconds = 0.0
        client = self.client[0] if self.client else "local"
        why = self.guard.admit(client)
        if why is not None:
            self.guard.refused(client, "connections", why)
            transport.abort()
            return
        self._guard_client = client
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._guard_client is not None:
            self.guard.release(self._guard_client)
            self._guard_client = None
        super().connection_lost(exc)

    # -- headers: complete within the timeout, counted from the connection or the last response

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.guard.header_timeout, self._headers_too_slow
            )

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            why = f"no complete request headers within {self.guard.header_timeout:g} s"
            self._refuse("headers", why)

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        if self.guard.min_body_rate and self._has_body():
            self._body_received = 0
            self._body_seconds = 0.0
            self._body_timer = self.loop.call_later(BODY_CHECK_SECONDS, self._check_body_rate)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's, if the connection is kept alive

    # -- body: at least min_body_rate bytes a second, once it has been read for a while ---------

    def _has_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"", b"0")
            if name == b"transfer-encoding":
                return True
        return False

    def on_body(self, body: bytes) -> None:
        self._body_received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def _check_body_rate(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.cycle is None or not self.cycle.more_body:
            return
        if not self.flow.read_paused:  # a paused read waits for the app, not the client
            self._body_seconds += BODY_CHECK_SECONDS
        seconds = self._body_seconds
        if seconds > self.guard.header_timeout and (
            self._body_received < self.guard.min_body_rate * seconds
        ):
            self._refuse(
                "body",
                f"request body at {self._body_received / seconds:.0f} bytes/s, under the "
                f"minimum of {self.guard.min_body_rate}",
            )
            return
        self._body_timer = self.loop.call_later(BODY_CHECK_SECONDS, self._check_body_rate)

    def _refuse(self, kind: str, why: str) -> None:
        self.guard.refused(self._guard_client or "?", kind, why)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None


_TIMEOUT_BODY = json.dumps(
    {"error": {"code": "request_timeout", "message": "The request was sent too slowly.",
               "status": 408}}
).encode()  # fmt: skip
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for PyExec: guarded, no `server` header, and no access log of
    its own (the API logs each request without its query string, which may carry a secret)."""
    guard = ConnectionGuard(
        header_timeout=settings.http_header_timeout,
        min_body_rate=settings.http_min_body_rate,
        per_client=settings.http_max_connections_per_client,
        total=settings.http_max_connections,
    )
    protocol = type("PyExecHttpProtocol", (GuardedProtocol,), {"guard": guard})
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        log_level=settings.log_level,
        # uvicorn's loggers go through the process's one handler (`core.logs.configure`).
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


class DrainingServer(uvicorn.Server):
    """uvicorn with PyExec's drain (`core.drain`) before its own shutdown.

    Left to itself, uvicorn on SIGTERM or SIGINT stops listening at once, gives open requests
    `timeout_graceful_shutdown` seconds, shuts the app down, then raises the signal again:
    the process ends by the signal (status 143), not with 0. Here the first signal starts the
    app's drain while the server goes on answering (`/readyz` 503 `draining`; reads, new jobs
    and `?wait=` still served); once the drain is over, uvicorn's own shutdown runs and the
    process exits 0. A second signal ends the grace at once; a third starts uvicorn's own
    shutdown without waiting for the drain.
    """

    def __init__(self, config: uvicorn.Config, grace_seconds: float) -> None:
        super().__init__(config)
        self.grace_seconds = grace_seconds
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    def _runtime(self) -> Runtime | None:
        state = getattr(self.config.app, "state", None)
        runtime = getattr(state, "runtime", None)
        return runtime if isinstance(runtime, Runtime) else None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Called by signal.signal in the loop's thread, between two bytecodes: the work is
        # handed to the loop. Not recorded for re-raising (uvicorn's `_captured_signals`).
        self._signals += 1
        runtime = self._runtime()
        loop = self._loop
        if self._signals >= 3 or runtime is None or loop is None or not self.started:
            # Not serving yet (or asked three times): uvicorn's own way out.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            return
        if self._signals == 1:
            log.info("%s: draining before shutdown", signal.Signals(sig).name)
            loop.call_soon_threadsafe(self._start_drain, runtime)
        else:
            log.warning("%s again: ending the grace now", signal.Signals(sig).name)
            loop.call_soon_threadsafe(runtime.drain.end_grace)

    def _start_drain(self, runtime: Runtime) -> None:
        self._drain = asyncio.get_running_loop().create_task(
            self._drain_then_exit(runtime), name="pyexec-drain"
        )

    async def _drain_then_exit(self, runtime: Runtime) -> None:
        try:
            await runtime.drain.run(self.grace_seconds)
        finally:
            self.should_exit = True
