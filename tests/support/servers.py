"""Real PyExec processes for tests, on free loopback ports.

`Server` runs `pyexec serve` (the embedded deployment) or, with `command="api"`, `pyexec api`;
`WorkerProcess` runs `pyexec worker`. Give them a `database_url` (PostgreSQL) and a `redis_url`
to share one database and one Redis, as the scaled-out deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest

if TYPE_CHECKING:
    from pyexec.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# `python -m pyexec` from the checkout, so that a test runs the code beside it.
PYEXEC = [sys.executable, "-m", "pyexec"]
READY_TIMEOUT_SECONDS = 90.0
BIND_ATTEMPTS = 3
# Environment variables of the service a test process may have, which a child must not inherit.
SERVICE_ENV = ("DATABASE_URL", "REDIS_URL")


# For tests of what a job does in its kernel: they run on each database's server (the
# `server` fixture's own params) and on one whose kernels an Enterprise Gateway starts.
ALSO_ON_GATEWAY = pytest.mark.parametrize(
    "server", ["sqlite", "postgresql", "gateway"], indirect=True, scope="session"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PyExecProcess:
    data_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    redis_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_name: str = "server.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXEC_")}
        # The service's own variables come from the fields below, and a model configured in the
        # developer's shell must not replace the offline planner that the tests expect; tests
        # that want a model set these in env_overrides.
        for name in (
            *SERVICE_ENV,
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ):
            env.pop(name, None)
        env.update(
            PYEXEC_DATA_DIR=str(self.data_dir),
            PYEXEC_KERNEL_POOL_SIZE="2",
            PYEXEC_LOG_LEVEL="warning",
            # `stop()` stops at once: running jobs are handed back without a grace. The tests
            # of the drain (tests/support/drain.py) set a grace of their own.
            PYEXEC_SHUTDOWN_GRACE_SECONDS="0",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.own_env())
        env.update(self.env_overrides)
        return env

    def own_env(self) -> dict[str, str]:
        return {}

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [*PYEXEC, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group, like a machine crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def settings(self) -> Settings:
        """The settings this process reads its database from (SQLite or PostgreSQL)."""
        from pyexec.core.settings import load_settings

        overrides: dict[str, object] = {"data_dir": self.data_dir}
        if self.database_url:
            overrides["database_url"] = self.database_url
        return load_settings(**overrides)

    def create_key(self, email: str, plan: str = "business") -> str:
        from pyexec.admin import create_key

        _, plaintext = asyncio.run(create_key(self.settings(), email, plan, "test"))
        return plaintext

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Run one SQL query on this process's database (either kind); the rows as dicts."""
        from sqlalchemy import text

        from pyexec.core.db import Database

        async def query() -> list[dict[str, Any]]:
            db = Database(self.settings().db_url)
            try:
                async with db.engine.connect() as conn:
                    result = await conn.execute(text(sql), params)
                    return [dict(row._mapping) for row in result]
            finally:
                await db.dispose()

        return asyncio.run(query())


@dataclass
class Server(PyExecProcess):
    port: int = field(default_factory=free_port)
    command: str = "serve"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def own_env(self) -> dict[str, str]:
        return {"PYEXEC_HOST": "127.0.0.1", "PYEXEC_PORT": str(self.port)}

    def start(self) -> Server:
        for _ in range(BIND_ATTEMPTS):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.spawn(self.command)
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                # Another process on this machine may take the free port between our look and
                # the server's bind: try another port.
                this_run = self.log_path.read_bytes()[offset:].decode(errors="replace")
                if "address already in use" not in this_run.lower():
                    raise
                self.port = free_port()
        raise RuntimeError(f"no free port after {BIND_ATTEMPTS} attempts:\n{self.log()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200 and self.listens():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {READY_TIMEOUT_SECONDS} s:\n{self.log()}")

    def listens(self) -> bool:
        """Our process holds the port: a 200 may come from another test's server that took
        it first (ours then fails to bind and exits, after we had used a database it never
        migrated)."""
        assert self.proc is not None
        try:
            ours = psutil.Process(self.proc.pid)
            tree = [ours, *ours.children(recursive=True)]  # the server may run under a wrapper
        except psutil.Error:
            return False
        for process in tree:
            try:
                sockets = process.net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in sockets):
                return True
        return False

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=90)


@dataclass
class WorkerProcess(PyExecProcess):
    """`pyexec worker`: ready once it printed its ready line (its kernels may still warm up)."""

    log_name: str = field(default_factory=lambda: f"worker-{os.urandom(3).hex()}.log")

    def start(self) -> WorkerProcess:
        self.spawn("worker")
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if " ready: " in self.log():
                return self
            time.sleep(0.05)
        raise TimeoutError(f"worker not ready after {READY_TIMEOUT_SECONDS} s:\n{self.log()}")


def run_job(client: httpx.Client, body: dict, wait: float = 60) -> dict:
    """Submit a job and wait for it to end; returns the final job object."""
    created = client.post("/v1/jobs", json=body)
    assert created.status_code == 201, created.text
    job = created.json()
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": min(wait, 60)})
    assert done.status_code == 200, done.text
    return done.json()
