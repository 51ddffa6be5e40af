"""A real uvicorn server for an app built in this process, on a thread, for as long as a block
runs: tests that need the service's `Runtime` in hand (its clock, its database engine) but a
real socket in front of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(
    app: FastAPI,
    port: int,
    *,
    ready: Callable[[], bool] = lambda: True,
    start_timeout: float = 30.0,
    stop_timeout: float = 15.0,
) -> Iterator[None]:
    """Serve `app` on 127.0.0.1:`port`; the block starts once the server listens and `ready()`
    (e.g. /readyz answering 200) holds."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not (server.started and ready()):
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the in-process service did not become ready")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout)
