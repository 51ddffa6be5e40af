"""`pyexec serve` stopped by SIGTERM while a job runs: the drain.

The process says it is draining (/readyz 503) and goes on answering reads, `?wait=` and new
jobs (queued, not started); the running job gets `PYEXEC_SHUTDOWN_GRACE_SECONDS` to finish,
or goes back to the queue (pending, no attempt used) and completes after the next start.
Either way the process exits 0 and leaves no kernel, zygote or work dir behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.drain import (
    Gate,
    descendants,
    exit_code,
    kernel_work_dirs,
    left_behind,
    notebook_code_cells,
    sigterm,
    wait_draining,
)
from tests.support.servers import Server

# Unsandboxed kernels: the cell talks to the test through files outside any jail.
ENV = {"PYEXEC_KERNEL_SANDBOX": "off", "PYEXEC_KERNEL_POOL_SIZE": "1"}


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path / "gate")


def serve(tmp_path: Path, grace: float) -> Server:
    return Server(tmp_path / "data", {**ENV, "PYEXEC_SHUTDOWN_GRACE_SECONDS": str(grace)})


@pytest.fixture
def stopped_after(tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.kill()


def job_row(server: Server, job_id: str) -> dict:
    [row] = server.rows("SELECT status, attempts FROM jobs WHERE id = :id", id=job_id)
    return row


def test_a_job_that_ends_within_the_grace_completes_once_and_serve_exits_0(
    tmp_path: Path, gate: Gate, stopped_after: list[Server]
) -> None:
    server = serve(tmp_path, grace=120)
    stopped_after.append(server.start())
    key = server.create_key("drain@example.com")
    with server.client(key) as c, server.client(key) as waiter, ThreadPoolExecutor(1) as pool:
        job = c.post("/v1/jobs", json={"code": gate.code()}).json()
        [kernel] = gate.wait_runs(1)
        tree = descendants(server.pid)
        assert kernel in tree
        waited = pool.submit(waiter.get, f"/v1/jobs/{job['id']}", params={"wait": 60})
        assert server.proc is not None
        sigterm(server.proc)

        body = wait_draining(server.url, server.proc)
        assert body["status"] == "not_ready"
        # Still serving: reads, and new jobs, queued (durable in the database) but not started.
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"
        later = c.post("/v1/jobs", json={"code": "print('later')"})
        assert later.status_code == 201, later.text
        assert gate.poke_answered(kernel, server.proc)  # the running job's kernel lives on
        gate.open()
        final = waited.result(timeout=120)
    assert final.status_code == 200 and final.json()["status"] == "completed", final.text
    assert final.json()["result"] == "ran"
    assert exit_code(server.proc) == 0, server.log()
    assert left_behind(tree) == []
    assert kernel_work_dirs(server.data_dir) == []
    assert job_row(server, job["id"]) == {"status": "completed", "attempts": 1}
    assert job_row(server, later.json()["id"]) == {"status": "pending", "attempts": 0}

    server.start()  # the job submitted during the drain runs now; the first does not again
    with server.client(key) as c:
        ran_later = c.get(f"/v1/jobs/{later.json()['id']}", params={"wait": 60}).json()
    assert ran_later["status"] == "completed" and ran_later["result"] == "later", ran_later
    assert gate.runs() == [kernel]


def test_a_job_past_the_grace_is_handed_back_and_completes_after_the_restart(
    tmp_path: Path, gate: Gate, stopped_after: list[Server]
) -> None:
    server = serve(tmp_path, grace=15)
    stopped_after.append(server.start())
    key = server.create_key("drain@example.com")
    with server.client(key) as c:
        job = c.post("/v1/jobs", json={"code": gate.code()}).json()
        [kernel] = gate.wait_runs(1)
        tree = descendants(server.pid)
        assert server.proc is not None
        sigterm(server.proc)
        wait_draining(server.url, server.proc)
        assert gate.poke_answered(kernel, server.proc)  # given its grace, not cut at once
    assert exit_code(server.proc) == 0, server.log()
    # Handed back: pending again, its attempt refunded.
    assert job_row(server, job["id"]) == {"status": "pending", "attempts": 0}
    assert left_behind(tree) == []
    assert kernel_work_dirs(server.data_dir) == []

    gate.open()
    server.start()
    with server.client(key) as c:
        final = c.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
        notebook = c.get(f"/v1/jobs/{job['id']}/notebook").json()
    assert final["status"] == "completed" and final["result"] == "ran", final
    assert job_row(server, job["id"]) == {"status": "completed", "attempts": 1}
    assert len(gate.runs()) == 2  # the interrupted run, then the one that completed
    [cell] = notebook_code_cells(notebook)
    assert "".join(cell["source"]).strip() == gate.code().strip()
    assert ["".join(o.get("text", "")) for o in cell["outputs"]] == ["ran\n"]
