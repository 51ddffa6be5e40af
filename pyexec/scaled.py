"""`pyexec api` and `pyexec worker`: the scaled-out deployment's two processes.

`pyexec api` serves HTTP and enqueues jobs on Redis; `pyexec worker` runs them with its own
kernel pool. Any number of each, on one machine or many, share the database (`DATABASE_URL`),
Redis (`REDIS_URL`) and the data directory. Neither migrates the database: both refuse to
start on a schema other than theirs and say to run `pyexec migrate`.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from pyexec.api.app import create_app
from pyexec.core import logs
from pyexec.core.db import Database
from pyexec.core.migrate import SchemaOutOfDate, check_schema
from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings, SettingsError
from pyexec.http import DrainingServer, server_config

log = logging.getLogger("pyexec")


def require_redis(settings: Settings, command: str) -> None:
    if not settings.redis_url:
        raise SettingsError(
            f"REDIS_URL: `pyexec {command}` is part of the scaled-out deployment and needs "
            "Redis (e.g. REDIS_URL=redis://127.0.0.1:6379/0); for everything in one process "
            "run `pyexec serve`"
        )


async def _schema_problem(settings: Settings) -> str | None:
    db = Database(settings.db_url)
    try:
        await check_schema(db.engine)
    except SchemaOutOfDate as exc:
        return str(exc)
    finally:
        await db.dispose()
    return None


def api(settings: Settings) -> int:
    require_redis(settings, "api")
    if problem := asyncio.run(_schema_problem(settings)):
        logs.announce(f"pyexec api: {problem}", error=True)
        return 2
    config = server_config(create_app(settings), settings)
    url = f"http://{settings.host}:{settings.port}"
    logs.announce(f"PyExec API at {url} (jobs run on `pyexec worker` processes via Redis)")
    DrainingServer(config, settings.shutdown_grace_seconds).run()
    return 0


def worker(settings: Settings) -> int:
    require_redis(settings, "worker")
    return asyncio.run(_worker(settings))


async def _worker(settings: Settings) -> int:
    from pyexec.worker.arq_worker import arq_worker
    from pyexec.worker.metrics_port import metrics_port

    runtime = Runtime.scaled(settings)
    try:
        try:
            await check_schema(runtime.db.engine)
        except SchemaOutOfDate as exc:
            logs.announce(f"pyexec worker: {exc}", error=True)
            return 2
        drain = runtime.drain
        draining: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if not draining:
                log.info("%s: draining before shutdown", sig.name)
                draining.append(loop.create_task(drain.run(settings.shutdown_grace_seconds)))
            else:
                log.warning("%s again: ending the grace now", sig.name)
                drain.end_grace()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        async with metrics_port(runtime), arq_worker(runtime) as info:
            logs.announce(f"pyexec worker {info.worker_id} ready: {info.slots} job slot(s)")
            await drain.wait_finished()
            log.info("worker %s stopping", info.worker_id)
        return 0
    finally:
        await runtime.close()
