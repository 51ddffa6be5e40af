"""A real uvicorn server for an app built in this process, on a thread, for as long as a block
runs: tests that need the service's `Runtime` in hand (its clock, its database engine) but a
real socket in front of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(
    app: FastAPI,
    port: int,
    *,
    ready_path: str | None = None,
    start_timeout: float = 30.0,
    stop_timeout: float = 15.0,
) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:`port`; the block gets its URL once the server listens and,
    with `ready_path` (e.g. "/readyz", for an app whose kernels must start), answers 200 there."""
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if ready_path is None:
            return True
        try:
            return httpx.get(f"{url}{ready_path}", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

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
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout)
