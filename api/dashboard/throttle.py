"""Sign-in throttling: failed attempts are counted per email and per IP address.

An attempt is counted before the password is checked (argon2 is slow on purpose: an attacker
must not get unbounded work out of us) and refunded when it succeeds, so only failures hold
anyone back. The counts live in the database, shared by every API process.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyexec.core import web_sessions
from pyexec.core.runtime import Runtime

MAX_KEY_CHARS = 400


class Throttled(Exception):
    """Too many failed attempts: wait until `retry_at`."""

    def __init__(self, retry_at: datetime, now: datetime) -> None:
        self.retry_after = max(1, math.ceil((retry_at - now).total_seconds()))
        minutes = math.ceil(self.retry_after / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        super().__init__(f"Too many failed sign-in attempts. Try again in {wait}.")


def email_key(email: str) -> str:
    return f"email:{email.strip().lower()}"[:MAX_KEY_CHARS]


def ip_key(host: str | None) -> str:
    """One key per IPv4 address, and per IPv6 /64 (what one customer line usually gets)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return f"ip:{(host or 'unknown')[:100]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


@dataclass(frozen=True)
class SignInThrottle:
    runtime: Runtime

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.signin_window_seconds)

    async def _take(self, key: str, limit: int) -> None:
        now = self.runtime.clock.now()
        async with self.runtime.db.session() as session:
            retry_at = await web_sessions.take_attempt(session, key, now, self.window, limit)
            await session.commit()
        if retry_at is not None:
            raise Throttled(retry_at, now)

    async def take(self, email: str | None, host: str | None) -> None:
        """Count an attempt from `host` (for `email`, when given); `Throttled` if either has
        used up its window. The address goes first: a locked email does not spare it."""
        settings = self.runtime.settings
        await self._take(ip_key(host), settings.signin_ip_attempts)
        if email is not None:
            await self._take(email_key(email), settings.signin_account_attempts)

    async def succeeded(self, email: str | None, host: str | None) -> None:
        async with self.runtime.db.session() as session:
            await web_sessions.refund_attempt(session, ip_key(host))
            if email is not None:
                await web_sessions.clear_attempts(session, email_key(email))
            await session.commit()
