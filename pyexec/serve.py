"""`pyexec serve`: the embedded deployment — API, in-process worker and kernel pool, one process."""

from __future__ import annotations

import asyncio

import uvicorn

from api.app import create_app
from core.migrate import upgrade
from core.settings import Settings
from pyexec.admin import DEMO_EMAIL, demo_key, sign_in_link
from worker.arq_worker import arq_worker
from worker.inprocess import embedded_worker


def serve(settings: Settings) -> int:
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
    link = asyncio.run(sign_in_link(settings, DEMO_EMAIL, url))
    print(
        f"\nPyExec is starting at {url}  (API docs: {url}/docs)\n"
        f"Dashboard: {link}  (signs you in once; valid 10 minutes)\n"
        f"Demo API key: {key}\n"
        f"Try:  curl -H 'Authorization: Bearer {key}' -d '{{\"code\": \"print(6*7)\"}}' "
        f"{url}/v1/jobs\n",
        flush=True,
    )
    server.run()
    return 0
