"""The SDK's `verify_webhook` against signatures made as the server makes them."""

from __future__ import annotations

import json
import time

import pytest

from pyexec.core.webhooks import signature_header
from pyexec_client import WebhookVerificationError, verify_webhook

SECRET = "whsec_test"
BODY = json.dumps({"id": "job-1", "status": "completed", "title": "T", "result": "42"}).encode()


def test_a_fresh_signature_verifies_and_gives_the_job() -> None:
    header = signature_header(SECRET, int(time.time()), BODY)
    job = verify_webhook(BODY, header, SECRET)
    assert (job.id, job.status, job.result) == ("job-1", "completed", "42")
    # A str body (decoded by a framework) verifies too.
    assert verify_webhook(BODY.decode(), header, SECRET).id == "job-1"


def test_any_of_several_v1_signatures_may_match() -> None:
    now = int(time.time())
    good = signature_header(SECRET, now, BODY).split(",")[1]
    assert verify_webhook(BODY, f"t={now},v1=00ff,{good}", SECRET).id == "job-1"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "No PyExec-Signature header"),
        ("", "No PyExec-Signature header"),
        ("garbage", "malformed"),
        ("t=abc,v1=00", "malformed timestamp"),
        ("v1=00", "malformed"),
        ("t=1700000000", "malformed"),
    ],
)
def test_missing_or_malformed_headers_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(BODY, header, SECRET)


def test_a_changed_body_or_another_secret_is_refused() -> None:
    header = signature_header(SECRET, int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY.replace(b"42", b"43"), header, SECRET)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY, header, "whsec_other")


def test_an_old_signature_is_refused_unless_the_age_check_is_off() -> None:
    then = int(time.time()) - 301
    header = signature_header(SECRET, then, BODY)
    with pytest.raises(WebhookVerificationError, match="old, beyond the tolerance of 300 s"):
        verify_webhook(BODY, header, SECRET)
    assert verify_webhook(BODY, header, SECRET, tolerance=600).id == "job-1"
    assert verify_webhook(BODY, header, SECRET, tolerance=None).id == "job-1"
    future = signature_header(SECRET, int(time.time()) + 1000, BODY)
    with pytest.raises(WebhookVerificationError, match="ahead"):
        verify_webhook(BODY, future, SECRET)


def test_a_verification_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        verify_webhook(BODY, None, SECRET)
    with pytest.raises(WebhookVerificationError, match="No webhook secret"):
        verify_webhook(BODY, "t=1,v1=00", "")
