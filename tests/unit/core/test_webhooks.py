"""Signing, the retry schedule, and which webhook URLs and addresses are refused."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random

import pytest

from pyexec.core.webhooks import (
    WebhookUrlError,
    backoff_seconds,
    check_url,
    refused_reason,
    signature,
    signature_header,
)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"j1","status":"completed"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, body) == expected
    assert signature_header("whsec_x", 1700000000, body) == f"t=1700000000,v1={expected}"
    # Any change of secret, time or body changes it.
    assert signature("whsec_y", 1700000000, body) != expected
    assert signature("whsec_x", 1700000001, body) != expected
    assert signature("whsec_x", 1700000000, body + b" ") != expected


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    for attempt, full in [(1, 30), (2, 60), (3, 120), (4, 240), (8, 3600), (40, 3600)]:
        waits = [backoff_seconds(attempt, base=30, cap=3600, rng=rng) for _ in range(200)]
        # Equal jitter: between half and all of the exponential step, and spread over it.
        assert all(full / 2 <= w <= full for w in waits), (attempt, min(waits), max(waits))
        assert max(waits) - min(waits) > full / 4


def test_backoff_schedule_spans_the_default_day_in_a_few_dozen_attempts() -> None:
    rng = random.Random(1)
    elapsed, attempts = 0.0, 0
    while elapsed < 86_400:
        attempts += 1
        elapsed += backoff_seconds(attempts, base=30, cap=3600, rng=rng)
    assert 25 <= attempts <= 60


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError):
        backoff_seconds(0, base=1, cap=10)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://100.64.0.1/hook",
        "https://240.0.0.1/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:7f00:1::]/hook",
    ],
)
def test_non_public_literals_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlError, match="webhooks go only to public addresses"):
        check_url(url, allow_http=False, allow_private=False)
    # ...unless the operator allows them.
    assert check_url(url, allow_http=False, allow_private=True).url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com/hook", "must use https"),
        ("ftp://example.com/hook", "must be an https:// URL"),
        ("example.com/hook", "must be an https:// URL"),
        ("https:///hook", "has no host"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://example.com/hook#x", "fragment"),
        ("https://example.com/ho ok", "whitespace"),
        ("https://example.com:99999/hook", "not a valid URL"),
        ("https://example.com/" + "a" * 2050, "longer than"),
    ],
)
def test_malformed_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(WebhookUrlError, match=problem):
        check_url(url, allow_http=False, allow_private=False)


def test_http_only_when_allowed() -> None:
    target = check_url("http://example.com/hook", allow_http=True, allow_private=False)
    assert (target.scheme, target.host, target.port) == ("http", "example.com", 80)
    target = check_url("https://Example.com./hook", allow_http=False, allow_private=False)
    assert (target.host, target.port, target.literal) == ("example.com", 443, None)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refused_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.2", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ],
)
def test_refused_addresses_name_their_range(address: str, reason: str) -> None:
    assert refused_reason(ipaddress.ip_address(address)) == reason
