"""A real HTTP proxy (uvicorn on a loopback port) in front of a real PyExec server, that fails
on cue: answer a request itself (a 429), lose the answer after the server acted on it, or cut
an event stream after some events. It records every request it saw."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from tests.support.servers import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int | None = None  # what the upstream server answered, if it was asked
    upstream_body: bytes = b""


@dataclass(frozen=True)
class Respond:
    """Answer without asking the server."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoseResponse:
    """Let the server act on the request, then break the connection before its answer."""


@dataclass(frozen=True)
class CutStream:
    """Pass the server's event stream on, and break the connection after `events` events."""

    events: int


Action = Respond | LoseResponse | CutStream
Rule = Callable[[str, str], Action | None]


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.seen: list[Seen] = []
        self._once: list[tuple[str, str, Action]] = []
        self._lock = threading.Lock()
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def once(self, method: str, path: str, action: Action) -> None:
        """The next request with this method whose path starts with `path` meets `action`."""
        with self._lock:
            self._once.append((method, path, action))

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path)]

    def start(self) -> FaultProxy:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fault proxy did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=30)

    def _action(self, method: str, path: str) -> Action | None:
        with self._lock:
            for i, (m, p, action) in enumerate(self._once):
                if m == method and path.startswith(p):
                    del self._once[i]
                    return action
        return None

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        action = self._action(method, path)
        if isinstance(action, Respond):
            self.seen.append(Seen(method, path, query, headers))
            await _respond(send, action)
            return
        url = self.upstream + path + (f"?{query}" if query else "")
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(120, connect=10)) as client,
            client.stream(method, url, headers=forwarded, content=body) as upstream,
        ):
            out_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in upstream.headers.multi_items()
                if k.lower() not in _HOP_BY_HOP
            ]
            if isinstance(action, LoseResponse):
                answer = await upstream.aread()
                self.seen.append(Seen(method, path, query, headers, upstream.status_code, answer))
                # Headers out, then the connection breaks before the body they promised.
                await send({"type": "http.response.start", "status": upstream.status_code,
                            "headers": out_headers})  # fmt: skip
                await send({"type": "http.response.body", "body": answer[:1], "more_body": True})
                raise ConnectionAbortedError("the fault proxy lost the answer")
            self.seen.append(Seen(method, path, query, headers, upstream.status_code))
            await send(
                {"type": "http.response.start", "status": upstream.status_code,
                 "headers": out_headers}
            )  # fmt: skip
            passed = b""
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if isinstance(action, CutStream):
                    passed += chunk
                    if passed.count(b"\ndata:") >= action.events:
                        await asyncio.sleep(0.05)  # let the events reach the client first
                        raise ConnectionAbortedError("the fault proxy cut the stream")
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _respond(send: Any, action: Respond) -> None:
    import json

    payload = json.dumps(action.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    headers += [(k.lower().encode(), v.encode()) for k, v in action.headers.items()]
    await send({"type": "http.response.start", "status": action.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
