"""`pyexec serve`: the embedded deployment — API, in-process worker and kernel pool, one process."""

from __future__ import annotations

import asyncio
import sys

from pyexec.admin import DEMO_EMAIL, DEMO_KEY_FILE, demo_key, sign_in_link
from pyexec.api.app import create_app
from pyexec.core import logs
from pyexec.core.migrate import upgrade
from pyexec.core.settings import Settings
from pyexec.core.storage import make_private_dir
from pyexec.http import DrainingServer, server_config
from pyexec.kernels import SandboxUnavailableError
from pyexec.preflight import check_kernels
from pyexec.worker.arq_worker import arq_worker
from pyexec.worker.inprocess import embedded_worker


def serve(settings: Settings) -> int:
    try:
        isolation = check_kernels(settings)  # before anything is printed or started
    except SandboxUnavailableError as exc:
        logs.announce(f"pyexec: {exc}", error=True)
        return 2
    make_private_dir(settings.data_dir)
    upgrade(settings.db_url)
    key, created = asyncio.run(demo_key(settings))
    # With REDIS_URL set, the worker in this process takes jobs from Redis like `pyexec worker`.
    app = create_app(settings, components=(arq_worker if settings.scaled_out else embedded_worker,))
    server = DrainingServer(server_config(app, settings), settings.shutdown_grace_seconds)
    url = f"http://{settings.host}:{settings.port}"
    logs.announce(f"\nPyExec is starting at {url}  (API docs: {url}/docs)")
    logs.announce(f"Kernels: {isolation.reach() if isolation else 'isolation unknown'}")
    # The key and the dashboard's one-time link go to a person, not into a log file: shown
    # when the key is made, and on later starts only to a terminal; the key is always in the
    # data dir for whoever may read that.
    path = settings.data_dir / DEMO_KEY_FILE
    to_person = created or sys.stdout.isatty()
    if to_person:
        link = asyncio.run(sign_in_link(settings, DEMO_EMAIL, url))
        logs.announce(f"Dashboard: {link}  (signs you in once; valid 10 minutes)")
    else:
        logs.announce(
            f"Dashboard: {url}/  (a one-time sign-in link is printed on a terminal; or give "
            f"the demo account a password: pyexec accounts set-password --email {DEMO_EMAIL})",
        )
    if to_person:
        logs.announce(
            f"Demo API key: {key}\n"
            f"Try:  curl -H 'Authorization: Bearer {key}' -d '{{\"code\": \"print(6*7)\"}}' "
            f"{url}/v1/jobs\n",
        )
    else:
        logs.announce(f"Demo API key: in {path}\n")
    server.run()
    return 0
