"""`pyexec serve`: the embedded deployment — API, in-process worker and kernel pool, one process."""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from api.app import create_app
from core.migrate import upgrade
from core.settings import Settings
from kernels import SandboxUnavailableError
from pyexec.admin import demo_key
from pyexec.preflight import check_kernels
from worker.arq_worker import arq_worker
from worker.inprocess import embedded_worker


def serve(settings: Settings) -> int:
    try:
        isolation = check_kernels(settings)  # before anything is printed or started
    except SandboxUnavailableError as exc:
        print(f"pyexec: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    key = asyncio.run(demo_key(settings))
    # With REDIS_URL set, the worker in this process takes jobs from Redis like `pyexec worker`.
    app = create_app(settings, components=(arq_worker if settings.scaled_out else embedded_worker,))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"\nPyExec is starting at {url}  (API docs: {url}/docs)\n"
        f"Demo API key: {key}\n"
        f"Try:  curl -H 'Authorization: Bearer {key}' -d '{{\"code\": \"print(6*7)\"}}' "
        f"{url}/v1/jobs\n"
        f"Kernels: {isolation.reach() if isolation else 'isolation unknown'}\n",
        flush=True,
    )
    server.run()
    return 0
