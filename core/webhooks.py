"""Webhooks: signing a job object, the retry schedule, and which URLs PyExec may POST to.

The API checks a `webhook_url` at submission (`check_url`, `resolve_public`); the worker's
sender (`worker.webhooks`) checks the addresses again at delivery time and connects only to
an address it checked, so a name that changes its answer (DNS rebinding) cannot reach the
inside. The signature follows Stripe's scheme:

    PyExec-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "PyExec-Signature"
DELIVERY_HEADER = "PyExec-Delivery"
SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048
# A name that does not resolve within this is refused (at submission; an attempt fails).
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookUrlError(ValueError):
    """A webhook URL PyExec refuses to call; the message says why, for a person."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def backoff_seconds(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, ...): exponential from
    `base`, at most `cap`, with "equal jitter" (between half and all of it) so that many
    deliveries failing at once do not come back at once."""
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    full = min(cap, base * 2.0 ** min(attempts - 1, 62))
    jitter: float = (rng or random.Random()).uniform(0, full / 2)
    return full / 2 + jitter


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL, split into what the sender needs."""

    url: str
    scheme: str
    host: str
    port: int
    literal: IPAddress | None


def check_url(url: str, *, allow_http: bool, allow_private: bool) -> WebhookTarget:
    """The URL's shape and, when its host is an IP address, the address; names are checked by
    `resolve_public`. Raises `WebhookUrlError`."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookUrlError("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise WebhookUrlError("must be an https:// URL")
    if scheme == "http" and not allow_http:
        raise WebhookUrlError("must use https:// (plain http is refused)")
    if not parts.hostname:
        raise WebhookUrlError("has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("must not carry credentials (user:password@)")
    if parts.fragment:
        raise WebhookUrlError("must not have a #fragment")
    host = parts.hostname.rstrip(".")
    literal = _ip_literal(host)
    if literal is not None and not allow_private:
        refuse_address(literal, host)
    return WebhookTarget(
        url=url,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        literal=literal,
    )


def refused_reason(address: IPAddress) -> str | None:
    """Why PyExec refuses to call this address (loopback, private, ...); None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or _nat64_or_6to4(address)
        if mapped is not None:
            return refused_reason(mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def refuse_address(address: IPAddress, host: str) -> None:
    reason = refused_reason(address)
    if reason is not None:
        shown = host if _ip_literal(host) == address else f"{host} ({address})"
        raise WebhookUrlError(
            f"points at {shown}, a {reason} address: webhooks go only to public addresses"
        )


async def resolve_public(
    target: WebhookTarget, *, allow_private: bool, timeout: float = RESOLVE_TIMEOUT_SECONDS
) -> list[IPAddress]:
    """The addresses to connect to for `target`, every one of them checked: a name with any
    refused address among its answers is refused whole. Raises `WebhookUrlError`."""
    if target.literal is not None:
        if not allow_private:
            refuse_address(target.literal, target.host)
        return [target.literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
    except TimeoutError:
        raise WebhookUrlError(
            f"has a host that did not resolve within {timeout:g} s: {target.host}"
        ) from None
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlError(f"has a host that does not resolve: {target.host} ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope id ("fe80::1%eth0"): the address itself is what is checked.
        found = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if found not in addresses:
            addresses.append(found)
    if not addresses:
        raise WebhookUrlError(f"has a host that does not resolve: {target.host}")
    if not allow_private:
        for address in addresses:
            refuse_address(address, target.host)
    return addresses


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _nat64_or_6to4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address."""
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour
