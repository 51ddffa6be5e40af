"""Daily request quotas: a counter interface, its database implementation, and the policy.

The embedded deployment counts in the database with one atomic upsert; the scaled-out one
counts in Redis behind the same `RequestCounter` interface. Either way the count is exact under
concurrency: a request is counted only while the day's count is under the limit, in one step.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from pyexec.core import repository
from pyexec.core.clock import Clock
from pyexec.core.db import Database

# Days of counts kept before today's (the dashboard charts them); older ones are forgotten.
REQUEST_HISTORY_DAYS = 30


class RequestCounter(ABC):
    @abstractmethod
    async def try_count(
        self, account_id: str, day: date, limit: int, conn: AsyncConnection | None = None
    ) -> int | None:
        """Count one request of the account on that UTC day if fewer than `limit` were counted.

        Atomic. Returns the new count, or None (nothing counted) when the limit was reached.
        `conn` is the request's open transaction (its caller commits): a counter that counts
        in the database counts in it, saving a transaction per request; others ignore it.
        """

    @abstractmethod
    async def counts(self, account_id: str, first: date, last: date) -> dict[date, int]:
        """The account's counted requests of each UTC day from `first` to `last`, both
        included (days without any are absent); counts nothing."""

    async def close(self) -> None:
        return None


class DatabaseRequestCounter(RequestCounter):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def try_count(
        self, account_id: str, day: date, limit: int, conn: AsyncConnection | None = None
    ) -> int | None:
        if conn is None:
            async with self.db.engine.begin() as own:
                return await self._count(own, account_id, day, limit)
        return await self._count(conn, account_id, day, limit)

    async def _count(
        self, conn: AsyncConnection, account_id: str, day: date, limit: int
    ) -> int | None:
        # SQLite: Python's sqlite3 begins a transaction at the first write, not at a SELECT
        # before it, so the upsert never upgrades a read snapshot (which fails, not waits).
        count = await repository.count_request(conn, account_id, day, limit)
        if count == 1:
            # The account's first request of the day: days past the history go.
            await repository.delete_request_counts_before(
                conn, account_id, day - timedelta(days=REQUEST_HISTORY_DAYS)
            )
        return count

    async def counts(self, account_id: str, first: date, last: date) -> dict[date, int]:
        async with self.db.session() as session:
            return await repository.request_counts_between(session, account_id, first, last)


@dataclass(frozen=True)
class Quota:
    """Where an account stands after a request was counted (or refused)."""

    allowed: bool
    limit: int
    remaining: int
    resets_at: datetime  # the next 00:00 UTC
    retry_after: int  # whole seconds until resets_at, at least 1

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.resets_at.timestamp())),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)


async def take_request(
    counter: RequestCounter,
    clock: Clock,
    account_id: str,
    limit: int,
    conn: AsyncConnection | None = None,
) -> Quota:
    """Count one request against the account's daily `limit` (UTC days); `conn` as in
    `RequestCounter.try_count`."""
    now = clock.now()
    count = await counter.try_count(account_id, now.date(), limit, conn)
    resets_at = next_midnight(now)
    retry_after = max(1, math.ceil((resets_at - now).total_seconds()))
    if count is None:
        return Quota(False, limit, 0, resets_at, retry_after)
    return Quota(True, limit, max(0, limit - count), resets_at, retry_after)
