"""Daily request quotas at the HTTP edge: charging a request, the 429, the X-RateLimit-* headers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Message, Send

from pyexec.api.errors import RateLimited
from pyexec.core import metrics
from pyexec.core.plans import PlanLimits
from pyexec.core.ratelimit import Quota, take_request
from pyexec.core.runtime import Runtime

_QUOTA_HEADERS = {b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"}


async def charge(
    runtime: Runtime,
    account_id: str,
    limits: PlanLimits,
    conn: AsyncConnection | None = None,
) -> Quota | None:
    """Count one request (in `conn`'s transaction when the count is kept in the database);
    None for an unlimited plan (nothing counted, no headers)."""
    if limits.requests_per_day is None:
        return None
    counter = runtime.request_counter
    assert counter is not None  # the runtime always has one
    return await take_request(counter, runtime.clock, account_id, limits.requests_per_day, conn)


def over_limit(quota: Quota) -> RateLimited:
    metrics.rate_limited("requests_per_day")
    resets = quota.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return RateLimited(
        f"Daily request limit of {quota.limit} reached; resets at {resets}",
        headers=quota.headers(),
    )


def send_with_quota(send: Send, quota: Quota) -> Send:
    """Wrap `send` so that the response, whatever raised it, carries the quota headers."""
    extra = [(k.lower().encode(), v.encode()) for k, v in quota.headers().items()]
    names = {k for k, _ in extra}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.lower() not in names and k.lower() not in _QUOTA_HEADERS
            ]
            message = {**message, "headers": [*headers, *extra]}
        await send(message)

    return wrapped
