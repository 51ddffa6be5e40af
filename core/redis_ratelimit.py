"""The scaled-out deployment's daily request counter: one Redis key per account and UTC day.

Every API process counts through the same Lua script, which reads and increments in one atomic
step: with N requests left and M > N arriving at once on any number of API processes, exactly
N are counted. A day's key expires `REQUEST_HISTORY_DAYS` + 2 days after it is created, so
Redis holds a month of small counters per account (the dashboard charts them), no more.

Redis is the store of the counts. While it is unreachable the API keeps serving: it counts in
the database instead (the embedded counter), against what is left of the day's limit as this
process last saw it in Redis, and adds what it counted there to Redis when Redis is back.
That is exact for one API process and errs on the strict side for several; a Redis restarted
without persistence forgets the day's counts (run it with `appendonly yes` in production).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from pyexec.core.ratelimit import REQUEST_HISTORY_DAYS, RequestCounter
from pyexec.core.redis_keys import request_count_key

log = logging.getLogger("pyexec.ratelimit")

KEY_LIFE_MS = int(timedelta(days=REQUEST_HISTORY_DAYS + 2).total_seconds() * 1000)
# After Redis failed a count, counts go to the database for this long before Redis is tried again.
UNAVAILABLE_BACKOFF_SECONDS = 2.0

# KEYS: the day's key; ARGV: limit, key life in ms. The new count, or -1 when at the limit.
COUNT_SCRIPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return -1 end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return count
"""
# KEYS: the day's key; ARGV: how many to add, key life in ms.
REPAY_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return count
"""


class RedisRequestCounter(RequestCounter):
    def __init__(
        self,
        redis: Redis,
        fallback: RequestCounter,
        *,
        unavailable_backoff: float = UNAVAILABLE_BACKOFF_SECONDS,
    ) -> None:
        self.redis = redis
        self.fallback = fallback
        self.unavailable_backoff = unavailable_backoff
        self._skip_redis_until = 0.0
        self._count = redis.register_script(COUNT_SCRIPT)
        self._repay = redis.register_script(REPAY_SCRIPT)
        # What Redis last said each account had used today (for the fallback's limit), and
        # what the fallback counted that Redis does not know of yet.
        self._seen: dict[str, int] = {}
        self._seen_day: date | None = None
        self._owed: Counter[tuple[str, date]] = Counter()
        self._failing = False

    async def try_count(
        self, account_id: str, day: date, limit: int, conn: AsyncConnection | None = None
    ) -> int | None:
        if day != self._seen_day:
            self._seen, self._seen_day = {}, day
        if time.monotonic() < self._skip_redis_until:
            return await self._count_in_fallback(account_id, day, limit, None, conn)
        try:
            if self._owed:
                await self._pay_back()
            result = int(
                await self._count(
                    keys=[request_count_key(account_id, day)], args=[limit, KEY_LIFE_MS]
                )
            )
        except (RedisError, OSError) as exc:
            # Skip Redis for a moment: an unreachable host would otherwise add a connect
            # timeout to every request.
            self._skip_redis_until = time.monotonic() + self.unavailable_backoff
            return await self._count_in_fallback(account_id, day, limit, exc, conn)
        if self._failing:
            self._failing = False
            log.warning("request counts are kept in Redis again")
        if result < 0:
            self._seen[account_id] = limit
            return None
        self._seen[account_id] = result
        return result

    async def counts(self, account_id: str, first: date, last: date) -> dict[date, int]:
        days: Sequence[date] = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if not days:
            return {}
        try:
            values = await self.redis.mget([request_count_key(account_id, d) for d in days])
        except (RedisError, OSError):
            # What the database counted while Redis was away is the best there is.
            return await self.fallback.counts(account_id, first, last)
        found = {d: int(v) for d, v in zip(days, values, strict=True) if v is not None}
        # Counted in the database and not paid back to Redis yet.
        for (owed_account, day), n in self._owed.items():
            if owed_account == account_id and first <= day <= last:
                found[day] = found.get(day, 0) + n
        return found

    async def _count_in_fallback(
        self,
        account_id: str,
        day: date,
        limit: int,
        exc: BaseException | None,
        conn: AsyncConnection | None,
    ) -> int | None:
        if not self._failing:
            self._failing = True
            log.warning(
                "Redis unreachable for request counts (%s: %s); counting in the database",
                type(exc).__name__,
                exc,
            )
        seen = self._seen.get(account_id, 0)
        if seen >= limit:
            return None
        count = await self.fallback.try_count(account_id, day, limit - seen, conn)
        if count is None:
            return None
        self._owed[(account_id, day)] += 1
        return seen + count

    async def _pay_back(self) -> None:
        owed, self._owed = self._owed, Counter()
        try:
            for (account_id, day), n in list(owed.items()):
                await self._repay(keys=[request_count_key(account_id, day)], args=[n, KEY_LIFE_MS])
                del owed[(account_id, day)]
        finally:
            self._owed.update(owed)  # what could not be paid back yet

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)
        await self.fallback.close()
