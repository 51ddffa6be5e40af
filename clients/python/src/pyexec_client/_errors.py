"""The exceptions of the SDK: one per error code of the API, under one base.

A job that fails is not an exception (it is a job whose `status` is `failed`); only
`Job.raise_for_status()` turns it into one, `JobFailedError`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from pyexec_client.models import JobData


class PyExecError(Exception):
    """Base of every exception the SDK raises."""


class ConfigurationError(PyExecError):
    """No API key, or a base URL that is not one."""


class APIConnectionError(PyExecError):
    """The server could not be reached, or the connection broke (after the retries)."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The server did not answer in time (after the retries)."""


class APIStatusError(PyExecError):
    """The API answered with an error status; `code` and `message` come from its error body."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.details = details or []
        self.request_id = response.headers.get("x-request-id")

    def __str__(self) -> str:
        where = f"HTTP {self.status_code} {self.code}"
        if self.request_id:
            where += f", request id {self.request_id}"
        return f"{self.message} ({where})"


class BadRequestError(APIStatusError):
    """400 `invalid_request`: `details` lists each field and its problem."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, malformed, unknown or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the scope, or the plan does not allow it."""


class NotFoundError(APIStatusError):
    """404: no such job, file, artifact or key for this account."""


class ConflictError(APIStatusError):
    """409: e.g. cancelling a job that already ended, an Idempotency-Key reused."""


class PayloadTooLargeError(APIStatusError):
    """413: an upload over the plan's size limit."""


class RateLimitError(APIStatusError):
    """429: the account's daily request limit is reached; `retry_after` says for how long."""

    @property
    def retry_after(self) -> float | None:
        """Seconds until the limit resets (the `Retry-After` header), if the server said."""
        return retry_after_seconds(self.response.headers)


class InternalServerError(APIStatusError):
    """5xx: something broke on the server; quote `request_id` when reporting it."""


class JobFailedError(PyExecError):
    """Raised by `Job.raise_for_status()` for a job that ended `failed` or `cancelled`."""

    def __init__(self, job: JobData) -> None:
        reason = job.error_message or f"the job ended {job.status}"
        super().__init__(f"job {job.id} {job.status}: {reason}")
        self.job = job


class WaitTimeoutError(PyExecError, TimeoutError):
    """`wait(timeout=...)` ran out before the job ended; `job` is how it was last seen."""

    def __init__(self, job: JobData, timeout: float) -> None:
        super().__init__(f"job {job.id} is still {job.status} after {timeout:g} s")
        self.job = job


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error response, from the API's `{"error": {...}}` body.

    A body that is not the API's (an HTML page from a proxy) still gives a clear message.
    """
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    code, message, details = f"http_{status}", "", None
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        if isinstance(error.get("details"), list):
            details = error["details"]
    if not message:
        snippet = " ".join(response.text.split())[:200] if response.content else ""
        reason = response.reason_phrase or "error"
        message = f"{reason}: {snippet}" if snippet else reason
    return cls(message, response=response, code=code, details=details)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` (seconds or an HTTP date) or `retry-after-ms`, as seconds; None if absent."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # an HTTP date is rare: its parser is imported when one comes

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
