"""(d) to (g) The scaled-out deployment: `pyexec api` + `pyexec worker`s on PostgreSQL and Redis.

Each row starts its own deployment (a fresh Redis, a fresh database on one shared throwaway
PostgreSQL cluster) so that no row measures another's leftovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.benchmarks.cpu import CpuMeter
from tests.benchmarks.pyexec_service import (
    FINAL_STATUSES,
    HTTP_TIMEOUT_SECONDS,
    WARMUP_JOBS,
    pool_refilled,
    run_code_job,
)
from tests.benchmarks.results import Cost, Samples
from tests.support.deployment import Deployment
from tests.support.servers import free_port
from tests.support.services import EnterpriseGateway, PostgresCluster, RedisServer

POOL_SIZE = 2
THROUGHPUT_JOBS = 20
THROUGHPUT_ROUNDS = 3
JOB_WAIT_SECONDS = 20
RUNNING_TIMEOUT_SECONDS = 60.0
# Default settings (queue poll, leases) apart from the pool size: what an operator gets.
SCALED_ENV = {"PYEXEC_KERNEL_POOL_SIZE": str(POOL_SIZE), "PYEXEC_LOG_LEVEL": "warning"}


@dataclass
class SharedServices:
    """One PostgreSQL cluster for all scaled rows and one Enterprise Gateway for the gateway
    rows, each started on first use, stopped at the end."""

    _postgres: PostgresCluster | None = None
    _redis: list[RedisServer] = field(default_factory=list)
    _gateway: EnterpriseGateway | None = None

    async def gateway(self) -> EnterpriseGateway:
        if self._gateway is None:
            self._gateway = await asyncio.to_thread(EnterpriseGateway().start)
        return self._gateway

    async def postgres(self) -> PostgresCluster:
        if self._postgres is None:
            self._postgres = await asyncio.to_thread(PostgresCluster().start)
        return self._postgres

    async def redis(self) -> RedisServer:
        server = await asyncio.to_thread(RedisServer().start)
        self._redis.append(server)
        return server

    async def close(self) -> None:
        if self._gateway is not None:
            await asyncio.to_thread(self._gateway.cleanup)
        for server in self._redis:
            await asyncio.to_thread(server.cleanup)
        if self._postgres is not None:
            await asyncio.to_thread(self._postgres.cleanup)


@contextlib.asynccontextmanager
async def scaled_deployment(
    services: SharedServices, workers: int, **worker_env: str
) -> AsyncIterator[tuple[Deployment, str]]:
    postgres = await services.postgres()
    redis = await services.redis()
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-scaled-") as tmp:
        dep = Deployment(
            Path(tmp), await asyncio.to_thread(postgres.create_database), redis, dict(SCALED_ENV)
        )
        try:
            await asyncio.to_thread(dep.migrate)
            await asyncio.to_thread(dep.start_api)
            for _ in range(workers):
                await asyncio.to_thread(lambda: dep.start_worker(**worker_env))
            key = await asyncio.to_thread(dep.api.create_key, "bench@example.com")
            yield dep, key
        finally:
            await asyncio.to_thread(dep.stop)


def _client(dep: Deployment, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=dep.api.url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_connections=THROUGHPUT_JOBS + 5),
    )


async def _final(client: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    while True:
        response = await client.get(f"/v1/jobs/{job_id}", params={"wait": JOB_WAIT_SECONDS})
        response.raise_for_status()
        job = response.json()
        if job["status"] in FINAL_STATUSES:
            if job["status"] != "completed":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error_message']}")
            return dict(job)


async def measure_scaled_latency(runs: int, services: SharedServices) -> Samples:
    """Row b's job and discipline (the worker's pool refilled before each job), scaled out."""
    metrics_port = free_port()
    async with (
        scaled_deployment(
            services, 1, PYEXEC_HOST="127.0.0.1", PYEXEC_METRICS_PORT=str(metrics_port)
        ) as (dep, key),
        _client(dep, key) as client,
    ):
        for _ in range(WARMUP_JOBS):
            await run_code_job(client, "1+1")
        meters = _meters(dep, await services.postgres())
        values = []
        for _ in range(runs):
            await pool_refilled(client, f"http://127.0.0.1:{metrics_port}")
            for meter in meters.values():
                meter.start()
            start = time.perf_counter()
            await run_code_job(client, "1+1")
            values.append(time.perf_counter() - start)
            for meter in meters.values():
                meter.stop()
    cpu = {
        "api": meters["api"].own,
        "worker": meters["worker"].own,
        "its kernel": meters["worker"].below,
        "PostgreSQL": meters["postgres"].own + meters["postgres"].below,
        "Redis": meters["redis"].own,
    }
    note = f"1 worker, pool of {POOL_SIZE} refilled before each job, PostgreSQL + Redis"
    return Samples(values, note=note, cost=Cost({k: v / runs for k, v in cpu.items()}))


def _meters(dep: Deployment, postgres: PostgresCluster) -> dict[str, CpuMeter]:
    """The CPU of each process a scaled-out job passes through (PostgreSQL's server processes
    are children of its postmaster)."""
    processes = {
        "api": dep.apis[0].proc,
        "worker": dep.workers[0].proc,
        "postgres": postgres.proc,
        "redis": dep.redis.proc,
    }
    meters = {}
    for name, proc in processes.items():
        if proc is None:
            raise RuntimeError(f"the deployment's {name} is not running")
        meters[name] = CpuMeter(proc.pid)
    return meters


async def measure_scaled_throughput(runs: int, services: SharedServices, workers: int) -> Samples:
    rounds = max(1, min(runs, THROUGHPUT_ROUNDS))
    async with scaled_deployment(services, workers) as (dep, key), _client(dep, key) as client:
        for _ in range(WARMUP_JOBS):
            await run_code_job(client, "1+1")
        values = []
        for _ in range(rounds):
            start = time.perf_counter()
            ids = []
            for _ in range(THROUGHPUT_JOBS):
                response = await client.post("/v1/jobs", json={"code": "1+1"})
                response.raise_for_status()
                ids.append(response.json()["id"])
            await asyncio.gather(*(_final(client, job_id) for job_id in ids))
            values.append(THROUGHPUT_JOBS / (time.perf_counter() - start))
    note = f"{THROUGHPUT_JOBS} jobs at once, {workers} x pool of {POOL_SIZE}"
    return Samples(values, unit="jobs/s", note=note)


async def measure_scaled_cancel(runs: int, services: SharedServices) -> Samples:
    """POST /cancel on the API until the job is `cancelled`, its cell stopped in the worker."""
    async with scaled_deployment(services, workers=1) as (dep, key), _client(dep, key) as client:
        values = []
        for _ in range(runs):
            response = await client.post("/v1/jobs", json={"code": "import time; time.sleep(60)"})
            response.raise_for_status()
            job_id = response.json()["id"]
            deadline = time.monotonic() + RUNNING_TIMEOUT_SECONDS
            while (await client.get(f"/v1/jobs/{job_id}")).json()["status"] != "running":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} did not start")
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # inside the cell
            start = time.perf_counter()
            cancelled = (await client.post(f"/v1/jobs/{job_id}/cancel")).json()
            values.append(time.perf_counter() - start)
            if cancelled["status"] != "cancelled":
                raise RuntimeError(f"cancel left job {job_id} {cancelled['status']}")
    return Samples(values, note="api and worker in separate processes")
