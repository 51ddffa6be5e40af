"""Throwaway Redis, PostgreSQL and Enterprise Gateway servers for tests and benchmarks, on
free loopback ports.

Redis and PostgreSQL start from the Debian packages (`make test` installs them when missing),
Enterprise Gateway from a venv of its own that the first test needing it creates (cached under
~/.cache/pyexec-tests, or PYEXEC_TEST_CACHE). Each lives in a temporary directory and is
stopped by its own pid. As root, PostgreSQL runs as the `postgres`
user (initdb refuses root). Set PYEXEC_TEST_POSTGRES_URL to use an existing server instead
(tests then create their databases on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

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


# -- Jupyter Enterprise Gateway ------------------------------------------------------------

# Enterprise Gateway pins jupyter_client<7, jupyter_server<2 and pyzmq<25: it lives in a venv of
# its own, made once and kept between runs (like the Debian services, it is not ours to ship).
GATEWAY_VERSION = "3.3.0"
GATEWAY_INSTALL_TIMEOUT_SECONDS = 900.0


def _test_cache() -> Path:
    return Path(os.environ.get("PYEXEC_TEST_CACHE", Path.home() / ".cache" / "pyexec-tests"))


def gateway_venv() -> Path:
    """The venv with `jupyter enterprisegateway`, created on first use (pip, a few minutes)."""
    cache = _test_cache()
    cache.mkdir(parents=True, exist_ok=True)
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = cache / f"enterprise-gateway-{GATEWAY_VERSION}-{py}"
    if (venv / ".complete").exists():
        return venv
    # Two test processes (or two checkouts) may want it at once: one builds, the other waits.
    with open(cache / "enterprise-gateway.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists():
            return venv
        building = cache / f"{venv.name}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
            subprocess.run(
                [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 f"jupyter-enterprise-gateway=={GATEWAY_VERSION}"],
                check=True, timeout=GATEWAY_INSTALL_TIMEOUT_SECONDS,
            )  # fmt: skip
        except (subprocess.SubprocessError, OSError) as exc:
            shutil.rmtree(building, ignore_errors=True)
            raise ServiceUnavailable(f"could not install Enterprise Gateway: {exc}") from None
        # A venv's scripts name its path: build it where it will stay, then mark it done.
        building.rename(venv)
        _fix_venv_paths(building, venv)
        (venv / ".complete").write_text(GATEWAY_VERSION)
    return venv


def _fix_venv_paths(built: Path, final: Path) -> None:
    """Scripts and pyvenv.cfg of a renamed venv still name its first path."""
    for path in [*(final / "bin").iterdir(), final / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if str(built) in text:
            path.write_text(text.replace(str(built), str(final)))


@dataclass
class EnterpriseGateway:
    """`jupyter enterprisegateway` on a free loopback port, with a token and PyExec's local
    kernelspec (`pyexec-gateway-local`, kernels run by this Python). `args` add to its
    command line (culling: `--MappingKernelManager.cull_idle_timeout=…`), `env` to its
    environment (`EG_MAX_KERNELS_PER_USER`)."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pyexec-eg-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kernel_work_root(self) -> Path:
        """Where the kernels make their own working dirs."""
        return self.dir / "kernel-work"

    def start(self) -> EnterpriseGateway:
        from pyexec.kernels.gateway.kernelspec import install_local_kernelspec

        venv = gateway_venv()
        share = self.dir / "share" / "jupyter"
        install_local_kernelspec(
            share / "kernels", python=sys.executable, work_root=self.kernel_work_root
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "LANG": "C.UTF-8",
            "JUPYTER_PATH": str(share),
            "JUPYTER_DATA_DIR": str(self.dir / "data"),
            "JUPYTER_CONFIG_DIR": str(self.dir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.dir / "runtime"),
            "EG_AUTH_TOKEN": self.token,
            "EG_LIST_KERNELS": "True",
            **self.env,
        }
        log = open(self.dir / "gateway.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "jupyter"), "enterprisegateway", "--ip=127.0.0.1",
             f"--port={self.port}", "--port_retries=0",
             # A dead kernel is noticed within half a second, not three (the default).
             "--KernelRestarter.time_to_dead=0.5",
             *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceUnavailable(f"Enterprise Gateway exited:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api", headers=self.headers, timeout=2).is_success:
                    return
            time.sleep(0.1)
        raise ServiceUnavailable(f"Enterprise Gateway not ready:\n{self.log()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def pyexec_env(self, worker_id: str) -> dict[str, str]:
        """What a PyExec process needs to run its kernels here, as worker `worker_id`."""
        from pyexec.kernels.gateway.kernelspec import LOCAL_KERNELSPEC

        return {
            "PYEXEC_KERNEL_BACKEND": "gateway",
            "PYEXEC_GATEWAY_URL": self.url,
            "PYEXEC_GATEWAY_TOKEN": self.token,
            "PYEXEC_GATEWAY_KERNEL_NAME": LOCAL_KERNELSPEC,
            "PYEXEC_GATEWAY_WORKER_ID": worker_id,
        }

    def kernels(self) -> list[dict[str, object]]:
        """GET /api/kernels: what the gateway runs now."""
        response = httpx.get(f"{self.url}/api/kernels", headers=self.headers, timeout=30)
        response.raise_for_status()
        return list(response.json())

    def delete_kernel(self, kernel_id: str) -> int:
        response = httpx.delete(
            f"{self.url}/api/kernels/{kernel_id}", headers=self.headers, timeout=60
        )
        return response.status_code

    def kernel_pids(self) -> set[int]:
        """Kernel processes of this gateway (their connection files are in its runtime dir)."""
        marker = str(self.dir / "runtime")
        pids = set()
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if any(marker in part for part in proc.info["cmdline"] or ()):
                    pids.add(proc.info["pid"])
        return pids

    def log(self) -> str:
        path = self.dir / "gateway.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the gateway alone, like a crash (its kernels exit once they notice)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM: the gateway shuts its kernels down; any left over are killed."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM)
            self.proc = None
        self._kill_leftover_kernels()

    def restart(self) -> None:
        """Stop and start again on the same port, with the same token, and no kernels."""
        self.stop()
        self.start()

    def _kill_leftover_kernels(self) -> None:
        for pid in self.kernel_pids():
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
