"""The SDK's exceptions from the API's error bodies, and its Server-Sent Events decoder."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from pyexec_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
)
from pyexec_client._errors import error_from_response
from pyexec_client._sse import SseDecoder


def error(status: int, body: object = None, **headers: str) -> httpx.Response:
    kwargs = {"json": body} if body is not None else {"content": b"<html>Bad gateway</html>"}
    return httpx.Response(
        status, headers=headers, request=httpx.Request("GET", "http://x/"), **kwargs
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_each_status_has_its_exception(status: int, cls: type[APIStatusError]) -> None:
    body = {"error": {"code": "some_code", "message": "what happened", "status": status}}
    exc = error_from_response(error(status, body, **{"X-Request-ID": "req-1"}))
    assert type(exc) is cls
    assert (exc.status_code, exc.code, exc.message, exc.request_id) == (
        status,
        "some_code",
        "what happened",
        "req-1",
    )
    assert str(exc) == f"what happened (HTTP {status} some_code, request id req-1)"


def test_validation_details_are_kept() -> None:
    details = [{"field": "priority", "problem": "Input should be less than or equal to 10"}]
    body = {"error": {"code": "invalid_request", "message": "Invalid", "status": 400}}
    body["error"]["details"] = details
    exc = error_from_response(error(400, body))
    assert exc.details == details


def test_a_body_that_is_not_the_apis_still_says_something() -> None:
    exc = error_from_response(error(502))
    assert isinstance(exc, InternalServerError)
    assert exc.code == "http_502" and "Bad gateway" in exc.message


def test_retry_after_as_seconds_or_date() -> None:
    limited = {"error": {"code": "rate_limited", "message": "limit", "status": 429}}
    exc = error_from_response(error(429, limited, **{"Retry-After": "3600"}))
    assert isinstance(exc, RateLimitError) and exc.retry_after == 3600
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    exc = error_from_response(error(429, limited, **{"Retry-After": later}))
    assert isinstance(exc, RateLimitError) and 100 < (exc.retry_after or 0) <= 120
    assert error_from_response(error(429, limited)).retry_after is None  # type: ignore[attr-defined]


def feed(lines: list[str]) -> tuple[list[tuple[str, str, str | None]], SseDecoder]:
    decoder = SseDecoder()
    events = []
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            events.append((event.event, event.data, event.id))
    return events, decoder


def test_sse_events_as_pyexec_sends_them() -> None:
    events, decoder = feed(
        [
            "retry: 1000",
            "",
            "id: 1796062733179-0",
            "event: status",
            'data: {"type":"status","status":"running"}',
            "",
            ": keep-alive",
            "",
            "event: result",
            'data: {"id":"j"}',
            "",
        ]
    )
    assert decoder.retry_ms == 1000
    assert events == [
        ("status", '{"type":"status","status":"running"}', "1796062733179-0"),
        ("result", '{"id":"j"}', None),  # the result has no id of its own
    ]


def test_sse_data_lines_join_and_a_block_without_data_is_nothing() -> None:
    events, _ = feed(["data: a", "data:b", "data:  c", "", "id: 5", "", "event: x", ""])
    assert events == [("message", "a\nb\n c", None)]


def test_sse_event_without_final_blank_line_is_not_dispatched() -> None:
    events, _ = feed(["data: cut off mid-event"])
    assert events == []
