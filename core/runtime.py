"""The shared resources of one process, created at start-up and injected (no module globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pyexec.core.clock import Clock, SystemClock
from pyexec.core.db import Database
from pyexec.core.drain import Drain
from pyexec.core.events import InProcessEvents, JobEvents
from pyexec.core.finished_jobs import FinishedJobs
from pyexec.core.queue import InProcessQueue, JobQueue
from pyexec.core.ratelimit import DatabaseRequestCounter, RequestCounter
from pyexec.core.settings import Settings, SettingsError
from pyexec.core.storage import Storage, make_private_dir

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    queue: JobQueue
    events: JobEvents
    storage: Storage
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    # Why a check fails, by the check's name: /readyz shows it while the check fails (e.g.
    # "kernel_pool": how many kernel starts failed in a row, and the last error).
    diagnoses: dict[str, Callable[[], object]] = field(default_factory=dict)
    # Facts /readyz shows beside its checks only with PYEXEC_READYZ_DETAILS (e.g.
    # "isolation": how kernels are sandboxed, with uid ranges and limits).
    details: dict[str, Callable[[], object]] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    # Daily request counts; by default in the database (atomic upsert).
    request_counter: RequestCounter | None = None
    # The process's orderly stop on SIGTERM/SIGINT: its parts add their steps (core.drain).
    drain: Drain = field(default_factory=Drain)
    # Jobs this process's worker has just ended (`?wait=` answers from them).
    finished_jobs: FinishedJobs = field(default_factory=FinishedJobs)

    def __post_init__(self) -> None:
        if self.request_counter is None:
            self.request_counter = DatabaseRequestCounter(self.db)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Scaled out when `REDIS_URL` is set, embedded otherwise: settings alone choose."""
        return cls.scaled(settings) if settings.scaled_out else cls.embedded(settings)

    @classmethod
    def embedded(cls, settings: Settings) -> Runtime:
        make_private_dir(settings.data_dir)
        return cls(
            settings=settings,
            db=Database(settings.db_url),
            queue=InProcessQueue(),
            events=InProcessEvents(retention_seconds=settings.events_retention_seconds),
            storage=Storage(settings.data_dir),
        )

    @classmethod
    def scaled(cls, settings: Settings) -> Runtime:
        """arq on Redis for the queue, Redis streams + pub/sub for events, request counts in
        Redis (in the database while Redis is unreachable)."""
        from pyexec.core.redis_client import connect
        from pyexec.core.redis_events import RedisEvents
        from pyexec.core.redis_queue import RedisQueue
        from pyexec.core.redis_ratelimit import RedisRequestCounter

        if not settings.redis_url:
            raise SettingsError("REDIS_URL: the scaled-out deployment needs a Redis URL")
        make_private_dir(settings.data_dir)
        db = Database(settings.db_url)
        return cls(
            settings=settings,
            db=db,
            queue=RedisQueue(connect(settings.redis_url)),
            events=RedisEvents(
                connect(settings.redis_url), retention_seconds=settings.events_retention_seconds
            ),
            storage=Storage(settings.data_dir),
            request_counter=RedisRequestCounter(
                connect(settings.redis_url), fallback=DatabaseRequestCounter(db)
            ),
        )

    async def close(self) -> None:
        if self.request_counter is not None:
            await self.request_counter.close()
        await self.queue.close()
        await self.events.close()
        await self.db.dispose()
