"""PyExec with PYEXEC_KERNEL_BACKEND=gateway against a real Enterprise Gateway: the same jobs
give the same results, notebooks and bundles as on the fork server; /readyz says what runs the
kernels; a misconfigured gateway stops the service naming the variable; a worker killed with
kernels leased deletes them when it starts again."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyexec.kernels.gateway.launcher import is_tagged, worker_tag
from tests.support.servers import PYEXEC, ROOT, Server, run_job
from tests.support.services import EnterpriseGateway
from tests.support.uploading import DATA, upload_ok

SALES_CSV = DATA / "sales.csv"
QUICKSTART = {
    "code": 'import pandas as pd; pd.DataFrame({"a":[1,2]}).describe()',
    "title": "t",
}
EXPORT = (
    "import pandas as pd\n"
    "pd.read_csv('sales.csv').groupby('region')['revenue'].sum().to_csv('by_region.csv')"
)
WRONG_TOKEN = f"not-the-token-{uuid.uuid4().hex}"
# Varies between two runs of the same jobs, whatever runs the kernels.
VOLATILE_KEYS = {
    "created_at", "started_at", "completed_at", "execution", "execution_ms", "duration_ms", "id"
}  # fmt: skip


@pytest.fixture(scope="module")
def gateway_server(
    gateway: EnterpriseGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    worker_id = f"readme-{uuid.uuid4().hex[:8]}"
    # /readyz shows how kernels are isolated only where the operator says.
    env = {**gateway.pyexec_env(worker_id), "PYEXEC_READYZ_DETAILS": "1"}
    srv = Server(tmp_path_factory.mktemp("gw"), env_overrides=env)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
    assert [k for k in gateway.kernels() if is_tagged(str(k["id"]), worker_tag(worker_id))] == []


@pytest.fixture(scope="module")
def forkserver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fs")).start()
    try:
        yield srv
    finally:
        srv.stop()


def client(server: Server) -> httpx.Client:
    return server.client(server.create_key(f"u-{uuid.uuid4().hex[:8]}@example.com"))


def readme_jobs(api: httpx.Client) -> list[dict[str, Any]]:
    """The README's quickstart job; a prompt job over an uploaded CSV whose code exports a file
    and whose prompt asks for a plot; a follow-up of it."""
    quickstart = run_job(api, QUICKSTART)
    sales = upload_ok(api, SALES_CSV.read_bytes(), "sales.csv")
    plotted = run_job(
        api,
        {
            "code": EXPORT,
            "prompt": "bar chart of total revenue by region",
            "file_ids": [sales["id"]],
        },
    )
    follow_up = run_job(
        api, {"prompt": "total revenue by region", "parent_job_id": plotted["id"]}, wait=90
    )
    jobs = [quickstart, plotted, follow_up]
    assert [job["status"] for job in jobs] == ["completed"] * 3, jobs
    return jobs


def normalised(value: Any, ids: dict[str, str]) -> Any:
    """`value` without what differs between runs: times, durations, ids (renamed in order)."""
    if isinstance(value, dict):
        return {k: normalised(v, ids) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [normalised(v, ids) for v in value]
    if isinstance(value, str):
        for found in re.findall(r"file_[A-Za-z0-9_-]+|[0-9a-f]{8}-[0-9a-f-]{27}", value):
            if found not in ids:
                ids[found] = f"<id{len(ids)}>"
                ids.setdefault(found[:8], f"{ids[found]}[:8]")  # as names abbreviate it
        for original, placeholder in ids.items():
            value = value.replace(original, placeholder)
    return value


def transcript(api: httpx.Client, job: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The job object, its notebook and its bundle, normalised."""
    job_seen = normalised(job, ids)  # first: it names the ids the rest abbreviates
    notebook = api.get(job["notebook_url"])
    assert notebook.status_code == 200, notebook.text
    bundle = api.get(f"/v1/jobs/{job['id']}/bundle")
    assert bundle.status_code == 200, bundle.text
    files: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        for name in sorted(zf.namelist()):
            data = zf.read(name)
            key = normalised(name, ids)
            if name.endswith(".ipynb"):
                files[key] = normalised(json.loads(data), ids)
            elif name.endswith((".md", ".txt", ".csv", ".py")):
                files[key] = normalised(data.decode(), ids)
            else:
                files[key] = data
    artifacts = {a["name"]: api.get(a["url"]).content for a in job["artifacts"]}
    return {
        "job": job_seen,
        "notebook": normalised(notebook.json(), ids),
        "bundle": files,
        "artifacts": artifacts,
    }


def test_the_readme_jobs_give_what_they_give_on_the_fork_server(
    gateway_server: Server, forkserver_server: Server
) -> None:
    results = []
    for server in (forkserver_server, gateway_server):
        with client(server) as api:
            ids: dict[str, str] = {}
            results.append([transcript(api, job, ids) for job in readme_jobs(api)])
    forkserver, gateway = results
    for on_forkserver, on_gateway in zip(forkserver, gateway, strict=True):
        assert on_gateway["job"] == on_forkserver["job"]
        assert on_gateway["notebook"] == on_forkserver["notebook"]
        assert on_gateway["bundle"] == on_forkserver["bundle"]
        assert on_gateway["artifacts"] == on_forkserver["artifacts"]
    plotted = gateway[1]["job"]
    assert {a["name"] for a in plotted["artifacts"]} == {"by_region.csv", "figure-1.png"}
    assert any(o["type"] == "image" for o in plotted["outputs"])


def test_readyz_and_the_banner_name_the_gateway_and_its_isolation_never_its_token(
    gateway_server: Server, gateway: EnterpriseGateway
) -> None:
    banner = (
        "Kernels: delegated: isolation is the gateway's (kernel pods, NetworkPolicy); "
        f"gateway url {gateway.url}, gateway version 3.3.0, kernelspec pyexec-gateway-local, "
        "files over the kernel's channel"
    )
    # The whole log: the tail that log() keeps may have scrolled past the banner by now.
    whole_log = gateway_server.log_path.read_text(errors="replace")
    assert banner in whole_log
    ready = httpx.get(f"{gateway_server.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    isolation = ready.json()["isolation"]
    assert isolation["backend"] == "gateway" and isolation["level"] == "delegated"
    assert isolation["gateway_url"] == gateway.url
    assert isolation["gateway_version"] == "3.3.0"
    assert isolation["enforced"]["isolation"] == "the gateway's (kernel pods, NetworkPolicy)"
    assert gateway.token not in ready.text
    assert gateway.token not in whole_log


def test_a_worker_killed_with_leased_kernels_deletes_them_when_it_starts_again(
    gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    worker_id = f"crashy-{uuid.uuid4().hex[:8]}"
    tag = worker_tag(worker_id)

    def ours() -> set[str]:
        return {str(k["id"]) for k in gateway.kernels() if is_tagged(str(k["id"]), tag)}

    server = Server(tmp_path, env_overrides=gateway.pyexec_env(worker_id)).start()
    api = client(server)
    job = api.post("/v1/jobs", json={"code": "import time\ntime.sleep(600)"}).json()
    deadline = time.monotonic() + 60
    while api.get(f"/v1/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    before = ours()
    assert before  # the leased kernel and the pool's idle ones
    server.kill()  # SIGKILL: no DELETE sent
    # A start the pool had asked for (a refill) may still finish on the gateway after the kill:
    # what is left is what the gateway holds once nothing more arrives, and none has gone.
    left = _settled(ours)
    assert before <= left

    server.start()  # the same worker id, starting again
    try:
        assert not ours() & left
        # The interrupted job runs again (attempts left), on a fresh kernel.
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] in ("pending", "running")
        api.post(f"/v1/jobs/{job['id']}/cancel")
    finally:
        api.close()
        server.stop()
    assert ours() == set()


def _settled(read: Callable[[], set[str]], quiet: float = 2.0, timeout: float = 60.0) -> set[str]:
    """`read()` once it gave the same answer twice, `quiet` seconds apart."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"the gateway's kernels kept changing for {timeout:.0f} s: {last}")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"PYEXEC_GATEWAY_TOKEN": WRONG_TOKEN}, "PYEXEC_GATEWAY_TOKEN"),
        ({"PYEXEC_GATEWAY_KERNEL_NAME": "nope"}, "PYEXEC_GATEWAY_KERNEL_NAME"),
        ({"PYEXEC_GATEWAY_URL": ""}, "PYEXEC_GATEWAY_URL"),
        ({"PYEXEC_GATEWAY_URL": "ftp://eg"}, "PYEXEC_GATEWAY_URL"),
        ({"PYEXEC_GATEWAY_KERNEL_ENV": '{"FOO": "1"}'}, "PYEXEC_GATEWAY_KERNEL_ENV"),
    ],
)
def test_a_misconfigured_gateway_stops_the_service_naming_the_variable(
    gateway: EnterpriseGateway, tmp_path: Path, override: dict[str, str], named: str
) -> None:
    env = {**gateway.pyexec_env("misconfigured"), **override}
    server = Server(tmp_path, env_overrides=env)
    done = subprocess.run(
        [*PYEXEC, "serve"], env=server.env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert named in output, output
    # Refused before anything is served or a key is printed.
    assert "PyExec is starting" not in output and "Demo API key" not in output
    assert WRONG_TOKEN not in output and gateway.token not in output
