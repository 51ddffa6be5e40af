"""Sending a request with retries, the way the best SDKs do (openai-python's rules as the anchor).

Retried: a connection that could not be made, `429`, `408`, and `5xx`; with exponential backoff
(0.5 s, 1 s, 2 s, ... up to 8 s) and up to 25 % jitter, or after the server's `Retry-After` when
it gives one. Two differences, both so that a retry can never do harm or waste an hour:
- A request that is not idempotent (an upload, a new API key) is sent again only when the
  server surely did nothing with it: the connection was never made, or it answered 429/503.
  `POST /v1/jobs` always carries an `Idempotency-Key`, so a submission is retried like a GET.
- A `Retry-After` longer than `max_retry_delay` (PyExec's daily limit says "until midnight")
  is not slept through: the `RateLimitError` is raised at once, carrying `retry_after`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from pyexec_client._errors import (
    APIConnectionError,
    APITimeoutError,
    error_from_response,
    retry_after_seconds,
)
from pyexec_client._protocol import Operation, Request, Send, Sleep

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A longer Retry-After is not waited for: the caller decides.
MAX_RETRY_AFTER = 60.0

# Statuses after which the server did nothing with the request (so any request may go again).
_NOTHING_DONE = frozenset({429, 503})
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = INITIAL_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY
    max_retry_after: float = MAX_RETRY_AFTER

    def backoff(self, retries_done: int) -> float:
        """The pause before retry number `retries_done + 1`: exponential, with jitter."""
        delay = min(self.initial_delay * 2.0**retries_done, self.max_delay)
        return delay * (1 - 0.25 * random.random())

    def delay_after(self, response: httpx.Response, retries_done: int) -> float | None:
        """How long to wait before sending again after `response`; None: do not retry."""
        retry_after = retry_after_seconds(response.headers)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.backoff(retries_done)


def should_retry_status(request: Request, status: int) -> bool:
    if status not in _RETRYABLE:
        return False
    return request.idempotent or status in _NOTHING_DONE


def should_retry_transport(request: Request, exc: httpx.TransportError) -> bool:
    # A connection never made (refused, DNS, connect timeout) carried nothing to the server.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    return request.idempotent


def connection_error(request: Request, exc: httpx.TransportError) -> APIConnectionError:
    what = f"{request.method} {request.path}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{what} timed out ({type(exc).__name__})", request=_request_of(exc))
    reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"{what} failed: {reason}", request=_request_of(exc))


def call(
    request: Request, policy: RetryPolicy, *, stream: bool = False
) -> Operation[httpx.Response]:
    """Send `request` until it succeeds or may not be retried; the successful response.

    Raises the `APIStatusError` subclass of the last error response, or `APIConnectionError`.
    With `stream`, the successful response's body is left unread (the caller reads it).
    """
    retries = 0
    while True:
        try:
            response: httpx.Response = yield Send(request, stream=stream)
        except httpx.TransportError as exc:
            if retries >= policy.max_retries or not should_retry_transport(request, exc):
                raise connection_error(request, exc) from exc
            yield Sleep(policy.backoff(retries))
            retries += 1
            continue
        if response.is_success:
            return response
        delay = None
        if retries < policy.max_retries and should_retry_status(request, response.status_code):
            delay = policy.delay_after(response, retries)
        if delay is None:
            raise error_from_response(response)
        yield Sleep(delay)
        retries += 1


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # httpx raises when the error was made without a request
        return None
