"""A scaled-out deployment of real processes: `pyexec api` and `pyexec worker`s sharing one
PostgreSQL database, one Redis and one data directory, as an operator would run them."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.servers import PYEXEC, ROOT, Server, WorkerProcess
from tests.support.services import RedisServer

# Short lives and intervals, so that recovery happens within a test's patience. Kernels run
# unsandboxed here: the tests count executions in a file outside any kernel's jail, and find
# the worker of a run among the kernel's ancestors (the sandbox has tests of its own).
FAST_RECOVERY = {
    "PYEXEC_WORKER_LEASE_SECONDS": "4",
    "PYEXEC_RECONCILE_INTERVAL": "1",
    "PYEXEC_WORKER_POLL_DELAY": "0.05",
    "PYEXEC_KERNEL_SANDBOX": "off",
}


@dataclass
class Deployment:
    root: Path
    database_url: str
    redis: RedisServer
    env: dict[str, str] = field(default_factory=dict)
    apis: list[Server] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def runs_log(self) -> Path:
        """Where marked jobs' kernels append a line each time they run."""
        return self.root / "runs.log"

    @property
    def api(self) -> Server:
        return self.apis[0]

    def migrate(self) -> str:
        done = subprocess.run(
            [*PYEXEC, "migrate"],
            env=Server(self.data_dir, database_url=self.database_url).env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start_api(self, **env: str) -> Server:
        api = Server(
            self.data_dir,
            {**self.env, **env},
            database_url=self.database_url,
            redis_url=self.redis.url,
            command="api",
            log_name=f"api-{len(self.apis)}.log",
        ).start()
        self.apis.append(api)
        return api

    def start_worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            self.data_dir,
            {**self.env, **env},
            database_url=self.database_url,
            redis_url=self.redis.url,
        ).start()
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc is not None and w.proc.poll() is None]

    def worker_with_pid(self, pid: int) -> WorkerProcess:
        return next(w for w in self.workers if w.proc is not None and w.proc.pid == pid)

    def stop(self) -> None:
        for process in [*self.workers, *self.apis]:
            process.stop()

    def client(self, key: str, api: int = 0) -> httpx.Client:
        return self.apis[api].client(key)

    # -- marked jobs: count real kernel executions, not rows ------------------------------

    def marked_code(self, tag: str, then: str = "") -> str:
        """Code that appends `<tag> <its process ancestors>` to the runs log, then `then`."""
        return (
            "import os\n"
            "_pid, _chain = os.getpid(), []\n"
            "while _pid > 1:\n"
            "    _pid = int(open(f'/proc/{_pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
            "    _chain.append(str(_pid))\n"
            f"with open({str(self.runs_log)!r}, 'a') as f: f.write({tag!r} + ' ' + "
            "','.join(_chain) + '\\n')\n" + then
        )

    def runs(self) -> list[tuple[str, int]]:
        """(tag, pid of the worker whose kernel ran it), one per run, in order."""
        if not self.runs_log.exists():
            return []
        workers = {w.pid for w in self.workers}
        runs = []
        for line in self.runs_log.read_text().splitlines():
            tag, chain = line.split()
            ancestors = [int(pid) for pid in chain.split(",")]
            runs.append((tag, next((p for p in ancestors if p in workers), 0)))
        return runs

    def run_counts(self) -> Counter[str]:
        return Counter(tag for tag, _ in self.runs())

    def wait_for_runs(self, tag: str, n: int, timeout: float = 60) -> list[int]:
        """The pids of the workers whose kernels ran `tag`, once it ran `n` times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [pid for t, pid in self.runs() if t == tag]
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise TimeoutError(f"{tag} ran {self.run_counts()[tag]} times, not {n}")


@contextmanager
def deployed(
    root: Path,
    database_url: str,
    redis: RedisServer,
    env: dict[str, str],
    *,
    apis: int = 1,
    workers: int = 0,
) -> Iterator[Deployment]:
    """A migrated deployment running `apis` API processes and `workers` workers; stopped after."""
    dep = Deployment(root, database_url, redis, env=env)
    dep.migrate()
    try:
        for _ in range(apis):
            dep.start_api()
        for _ in range(workers):
            dep.start_worker()
        yield dep
    finally:
        dep.stop()


def wait_status(client: httpx.Client, job_id: str, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} is {job['status']}, not {status}")


def wait_final(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return job
