"""Redis connections for the scaled-out deployment, with explicit timeouts and retries.

Two temperaments: `quick` clients (the API, events, leases, the reconciler) fail within about
a second when Redis is unreachable so that the caller can fall back on the database; the
`patient` client under the arq worker loop retries forever, so that a Redis restart pauses the
worker instead of killing it.
"""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pyexec.core.redis_keys import QUEUE

CONNECT_TIMEOUT_SECONDS = 1.0
COMMAND_TIMEOUT_SECONDS = 5.0
# One retry reconnects a pooled connection that a Redis restart closed.
QUICK_RETRIES = 1
PATIENT_BACKOFF_CAP_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 10

RETRIED_ERRORS: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]


def connect(url: str, *, patient: bool = False) -> ArqRedis:
    """A client (with its own connection pool) for `url`; connects on first use."""
    retry = Retry(
        ExponentialBackoff(cap=PATIENT_BACKOFF_CAP_SECONDS if patient else 0.2, base=0.05),
        -1 if patient else QUICK_RETRIES,
    )
    client: ArqRedis = ArqRedis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=retry,
        retry_on_error=list(RETRIED_ERRORS),
    )
    client.default_queue_name = QUEUE
    return client
