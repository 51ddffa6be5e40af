"""Throwaway Redis and PostgreSQL servers for tests and benchmarks, on free loopback ports.

Each is started from the Debian packages (`make test` installs them when missing), lives in a
temporary directory, and is stopped by its own pid. As root, PostgreSQL runs as the `postgres`
user (initdb refuses root). Set PYEXEC_TEST_POSTGRES_URL to use an existing server instead
(tests then create their databases on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
INSTALL_HINT = "install it with `make test` (it runs apt-get for missing services)"


class ServiceUnavailable(RuntimeError):
    """A service binary is missing or would not start."""


def _stop_process(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class RedisServer:
    """`redis-server` with no persistence: a restart comes back empty, as after a crash."""

    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pyexec-redis-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(f"redis-server not found: {INSTALL_HINT}")
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceUnavailable(f"redis-server exited:\n{self.log()}")
            with contextlib.suppress(redis.RedisError, OSError):
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            time.sleep(0.05)
        raise ServiceUnavailable(f"redis-server not ready:\n{self.log()}")

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port, empty (nothing is saved)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise ServiceUnavailable(f"PostgreSQL's {name} not found: {INSTALL_HINT}")
    return on_path


def _version_key(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass
class PostgresCluster:
    """A throwaway cluster (trust auth, no fsync) in a temporary directory."""

    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pyexec-pg-")))
    proc: subprocess.Popen[bytes] | None = None
    external_url: str | None = None

    @property
    def admin_url(self) -> str:
        if self.external_url:
            return self.external_url
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> dict[str, object]:
        # initdb and postgres refuse to run as root: run them as the `postgres` user.
        if os.geteuid() != 0:
            return {}
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceUnavailable(f"no `postgres` user: {INSTALL_HINT}") from None
        return {"user": "postgres", "group": "postgres"}

    def start(self) -> PostgresCluster:
        if self.external_url:
            return self
        owner = self._as_owner()
        data = self.dir / "data"
        if owner:
            shutil.chown(self.dir, "postgres", "postgres")
        log = self.dir / "postgres.log"
        subprocess.run(
            [_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, cwd=self.dir, **owner,  # type: ignore[arg-type]
        )  # fmt: skip
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [_postgres_bin("postgres"), "-D", str(data), "-p", str(self.port),
                 "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True,
                **owner,  # type: ignore[arg-type]
            )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceUnavailable(f"postgres exited:\n{self.log()}")
            try:
                asyncio.run(self._execute("SELECT 1"))
                return
            except Exception as exc:
                last = exc
                time.sleep(0.1)
        raise ServiceUnavailable(f"postgres not ready ({last}):\n{self.log()}")

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create_database(self, prefix: str = "pyexec") -> str:
        """A new, empty database; its URL (plain `postgresql://`, as an operator would set)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"'))
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def log(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, stop at once.
            _stop_process(self.proc, signal.SIGINT)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
