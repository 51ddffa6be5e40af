"""arq's polling loop, woken early: a queued job starts at once instead of at the next poll.

arq's own loop (`Worker.main`) sleeps `poll_delay` between looks at the queue, which adds half
a poll to every job's latency on an idle worker. This loop runs the same iteration
(`Worker._poll_iteration`: take due jobs while slots are free, reap finished ones), but waits
on an event that the queue's wake-up channel (published by `RedisQueue.add`) and every
finished job set; `poll_delay` (`PYEXEC_WORKER_POLL_DELAY`) stays as the fallback for jobs
that become due without a message (arq re-delivering the job of a dead worker). Pinned to arq
0.28's worker internals, like the rest of `worker.arq_worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from arq import Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyexec.core.redis_keys import QUEUE_WAKE_CHANNEL

log = logging.getLogger("pyexec.worker")

RESTART_SECONDS = 1.0
QUIET_SECONDS = 60.0


async def poll_forever(worker: Worker, wake: asyncio.Event, delay: float) -> None:
    """Run arq's iteration whenever woken, or every `delay` seconds; restart after failures."""
    loop = asyncio.get_running_loop()
    quiet_until = 0.0
    hooked: set[asyncio.Task[None]] = set()
    worker.ctx["redis"] = worker.pool
    while True:
        try:
            wake.clear()
            await worker._poll_iteration()
            # A job that ends frees a slot: look at the queue again right away.
            for task in set(worker.tasks.values()) - hooked:
                task.add_done_callback(lambda _: wake.set())
                hooked.add(task)
            hooked &= set(worker.tasks.values())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Redis away: running jobs go on; say so once per outage, not once per retry.
            level = logging.WARNING if loop.time() >= quiet_until else logging.DEBUG
            log.log(level, "arq loop failed (%s: %s); retrying", type(exc).__name__, exc)
            quiet_until = loop.time() + QUIET_SECONDS
            await asyncio.sleep(RESTART_SECONDS)


async def listen_for_wake(redis: Redis, wake: asyncio.Event) -> None:
    """Set `wake` on every message of the queue's wake-up channel; reconnect when it drops."""
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(QUEUE_WAKE_CHANNEL)
            wake.set()  # anything queued while not listening: look now
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    wake.set()
        except (RedisError, OSError):
            pass  # the poll delay covers the gap
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        await asyncio.sleep(RESTART_SECONDS)
