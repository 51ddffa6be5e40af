"""Real PyExec servers for tests: `pyexec serve` as a subprocess on a free loopback port."""

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

import httpx

ROOT = Path(__file__).resolve().parents[1]
# `python -m pyexec` from the checkout, so that a test runs the code beside it.
PYEXEC = [sys.executable, "-m", "pyexec"]
READY_TIMEOUT_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    data_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXEC_")}
        # A model configured in the developer's shell must not replace the offline planner
        # that the tests expect; tests that want a model set these in env_overrides.
        for name in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(name, None)
        env.update(
            PYEXEC_DATA_DIR=str(self.data_dir),
            PYEXEC_HOST="127.0.0.1",
            PYEXEC_PORT=str(self.port),
            PYEXEC_KERNEL_POOL_SIZE="2",
            PYEXEC_LOG_LEVEL="warning",
        )
        env.update(self.env_overrides)
        return env

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [*PYEXEC, "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {READY_TIMEOUT_SECONDS} s:\n{self.log()}")

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the server and its kernels, like a machine crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def create_key(self, email: str, plan: str = "business") -> str:
        from core.settings import load_settings
        from pyexec.admin import create_key

        settings = load_settings(data_dir=self.data_dir)
        _, plaintext = asyncio.run(create_key(settings, email, plan, "test"))
        return plaintext

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=90)


def run_job(client: httpx.Client, body: dict, wait: float = 60) -> dict:
    """Submit a job and wait for it to end; returns the final job object."""
    created = client.post("/v1/jobs", json=body)
    assert created.status_code == 201, created.text
    job = created.json()
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": min(wait, 60)})
    assert done.status_code == 200, done.text
    return done.json()
