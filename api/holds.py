"""Long requests an account holds open (`?wait=` and event streams), capped per account.

Each one costs the process a connection and a subscription for up to a minute (a wait) or
for as long as the job runs (a stream); one account holding thousands must not starve the
others. The count is per API process: each process protects itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from pyexec.api.errors import RateLimited
from pyexec.core import metrics
from pyexec.core.drain import Drain

HoldKind = Literal["wait", "stream"]
RETRY_AFTER_SECONDS = 5
_NAMES = {"wait": "waiting requests (?wait=)", "stream": "event streams"}


class OpenHolds:
    def __init__(self) -> None:
        self._open: Counter[tuple[HoldKind, str]] = Counter()
        self._none_open = asyncio.Event()
        self._none_open.set()

    async def drain(self, drain: Drain) -> None:
        """The API's drain step: until no request is held open, or the grace is over (then
        the drain's end answers the waits with the job as it is)."""
        waiter = asyncio.ensure_future(self._none_open.wait())
        try:
            await drain.within_grace([waiter], "request(s) held open (?wait=, event streams)")
        finally:
            waiter.cancel()

    def count(self, kind: HoldKind, account_id: str) -> int:
        return self._open[(kind, account_id)]

    def acquire(self, kind: HoldKind, account_id: str, limit: int) -> None:
        """Count one more, or RateLimited (429 with Retry-After) at `limit`."""
        key = (kind, account_id)
        if self._open[key] >= limit:
            metrics.rate_limited("open_waits" if kind == "wait" else "open_streams")
            raise RateLimited(
                f"This account already holds {limit} open {_NAMES[kind]}, the most one API "
                f"process allows at once; close one, or retry after {RETRY_AFTER_SECONDS} s.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._open[key] += 1
        self._none_open.clear()

    def release(self, kind: HoldKind, account_id: str) -> None:
        key = (kind, account_id)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]
        if not self._open:
            self._none_open.set()

    @contextlib.contextmanager
    def hold(self, kind: HoldKind, account_id: str, limit: int) -> Iterator[None]:
        self.acquire(kind, account_id, limit)
        try:
            yield
        finally:
            self.release(kind, account_id)


class HeldStreamingResponse(StreamingResponse):
    """A streaming response that gives its hold back however the stream ends."""

    def __init__(self, *args: Any, holds: OpenHolds, account_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds = holds
        self._account_id = account_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._holds.release("stream", self._account_id)
