"""The SDK's retry rules, by driving its `call` operation step by step with real httpx values."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pyexec_client import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
)
from pyexec_client._protocol import Request, Send, Sleep
from pyexec_client._retry import RetryPolicy, call

GET = Request("GET", "/v1/jobs/x", idempotent=True)
UPLOAD = Request("POST", "/v1/files")  # not idempotent


def answer(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": "x", "message": f"status {status}", "status": status}}
    return httpx.Response(status, headers=headers, json=body, request=httpx.Request("GET", "/"))


def run(request: Request, policy: RetryPolicy, outcomes: list[Any]) -> tuple[list[Any], Any]:
    """Feed `outcomes` (responses, or transport errors to throw) to the operation's sends;
    return its steps and its result (or the exception it raised)."""
    op = call(request, policy)
    steps: list[Any] = []
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            step = op.throw(error) if error is not None else op.send(value)
            steps.append(step)
            value, error = None, None
            if isinstance(step, Send):
                outcome = outcomes.pop(0)
                if isinstance(outcome, BaseException):
                    error = outcome
                else:
                    value = outcome
    except StopIteration as stop:
        return steps, stop.value
    except Exception as exc:
        return steps, exc


def sleeps(steps: list[Any]) -> list[float]:
    return [s.seconds for s in steps if isinstance(s, Sleep)]


def test_429_waits_for_retry_after_then_succeeds() -> None:
    ok = httpx.Response(200, json={}, request=httpx.Request("GET", "/"))
    steps, result = run(GET, RetryPolicy(), [answer(429, {"Retry-After": "3"}), ok])
    assert result is ok
    assert sleeps(steps) == [3.0]


def test_retry_after_longer_than_a_minute_is_not_slept_through() -> None:
    # PyExec's daily limit says "until midnight": raise at once, with the wait in the error.
    steps, result = run(GET, RetryPolicy(), [answer(429, {"Retry-After": "7200"})])
    assert isinstance(result, RateLimitError)
    assert result.retry_after == 7200 and sleeps(steps) == []


def test_gives_up_after_max_retries_with_backoff_and_jitter() -> None:
    policy = RetryPolicy(max_retries=3)
    steps, result = run(GET, policy, [answer(502)] * 4)
    assert isinstance(result, InternalServerError) and result.status_code == 502
    waits = sleeps(steps)
    assert len(waits) == 3
    for retries, wait in enumerate(waits):
        nominal = min(0.5 * 2**retries, 8.0)
        assert 0.75 * nominal <= wait <= nominal


def test_backoff_is_capped() -> None:
    policy = RetryPolicy()
    assert all(policy.backoff(20) <= 8.0 for _ in range(100))


def test_400s_are_not_retried() -> None:
    steps, result = run(GET, RetryPolicy(), [answer(404)])
    assert result.status_code == 404 and sleeps(steps) == []


def test_a_request_that_is_not_idempotent_is_retried_only_when_nothing_was_done() -> None:
    # A 500 after an upload may have kept the file: not sent again.
    steps, result = run(UPLOAD, RetryPolicy(), [answer(500)])
    assert isinstance(result, InternalServerError) and sleeps(steps) == []
    # 503 and 429 mean the server did nothing: safe.
    ok = httpx.Response(201, json={}, request=httpx.Request("POST", "/"))
    steps, result = run(UPLOAD, RetryPolicy(), [answer(503), ok])
    assert result is ok and len(sleeps(steps)) == 1


def test_connection_errors() -> None:
    request = httpx.Request("POST", "http://x/v1/files")
    refused = httpx.ConnectError("refused", request=request)
    lost = httpx.ReadError("reset", request=request)
    ok = httpx.Response(201, json={}, request=request)
    # Never connected: nothing reached the server, any request may go again.
    steps, result = run(UPLOAD, RetryPolicy(), [refused, ok])
    assert result is ok
    # Lost after sending: only an idempotent request is sent again.
    steps, result = run(UPLOAD, RetryPolicy(), [lost])
    assert isinstance(result, APIConnectionError) and sleeps(steps) == []
    steps, result = run(GET, RetryPolicy(), [lost, ok])
    assert result is ok
    timeout = httpx.ReadTimeout("slow", request=request)
    steps, result = run(GET, RetryPolicy(max_retries=1), [timeout, timeout])
    assert isinstance(result, APITimeoutError)


@pytest.mark.parametrize("max_retries", [0, 1, 2])
def test_max_retries_counts_retries_not_attempts(max_retries: int) -> None:
    steps, _ = run(GET, RetryPolicy(max_retries=max_retries), [answer(503)] * 5)
    assert sum(isinstance(s, Send) for s in steps) == max_retries + 1
