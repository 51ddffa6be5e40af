"""Verifying a webhook delivery: PyExec signs each POST of a job object with the account's
webhook secret (`GET /v1/webhook-secret`), like Stripe:

    PyExec-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from pyexec_client._errors import PyExecError
from pyexec_client.models import JobData

SIGNATURE_HEADER = "PyExec-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(PyExecError, ValueError):
    """A delivery whose signature is missing, malformed, wrong or too old: do not trust it."""


def verify_webhook(
    payload: bytes | str,
    header: str | None,
    secret: str,
    tolerance: float | None = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> JobData:
    """Check a delivery's `PyExec-Signature` header against its raw body and return the job
    it carries. Raises `WebhookVerificationError` when the header is missing or malformed, no
    `v1` signature matches, or its timestamp is more than `tolerance` seconds from now (a
    replay); `tolerance=None` skips the age check.

    Pass the body exactly as received (bytes), before any JSON parsing: re-encoding changes it.
    """
    if not secret:
        raise WebhookVerificationError("No webhook secret given (GET /v1/webhook-secret).")
    if not header:
        raise WebhookVerificationError(f"No {SIGNATURE_HEADER} header: the delivery is unsigned.")
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookVerificationError(
                    f"{SIGNATURE_HEADER} has a malformed timestamp: {value!r}"
                ) from None
        elif key == "v1":
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        raise WebhookVerificationError(
            f"{SIGNATURE_HEADER} is malformed: expected 't=<unix seconds>,v1=<hex signature>'"
        )
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError(
            "The signature does not match: the body was changed, or it was signed with "
            "another secret (rotated?)."
        )
    if tolerance is not None:
        age = (time.time() if now is None else now) - timestamp
        if abs(age) > tolerance:
            raise WebhookVerificationError(
                f"The signature's timestamp is {abs(age):.0f} s {'old' if age > 0 else 'ahead'}, "
                f"beyond the tolerance of {tolerance:g} s (a replay?)."
            )
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("The signed body is not JSON.") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError("The signed body is not a job object.")
    return JobData.from_dict(data)
