"""The service's start-up: it refuses a database whose schema is not this code's, sweeps the
half-written uploads and the kernel work dirs a crash left behind, stops on a bad setting (or
a host whose kernels it cannot isolate) before it prints or starts anything, and says clearly
when kernels cannot start, while the jobs submitted meanwhile wait and then run."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyexec.api.app import create_app
from pyexec.core.migrate import SchemaOutOfDate, upgrade
from pyexec.core.settings import load_settings
from pyexec.core.storage import Storage
from tests.support.runtimes import (
    INSTALL_HINT,
    Runtime,
    RuntimeServer,
    make_runtime,
    runtime_server,
    shared_python,
    unprivileged_user,
)
from tests.support.servers import PYEXEC, ROOT, Server, run_job

# Tries of a broken kernel start: 0.5 s, then doubling (kernels.pool); the third fails ~2 s in.
BROKEN_FOR_SECONDS = 120.0


async def test_app_start_up_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path))
    with pytest.raises(SchemaOutOfDate, match="run `pyexec migrate`"):
        async with app.router.lifespan_context(app):
            pass


async def test_start_up_deletes_uploads_a_crash_cut_off(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    await asyncio.to_thread(upgrade, settings.db_url)
    incoming = Storage(tmp_path).incoming_dir()
    incoming.mkdir(parents=True)
    crashed, receiving = incoming / "crashed.part", incoming / "receiving.part"
    crashed.write_bytes(b"x" * 1000)
    receiving.write_bytes(b"y" * 1000)
    yesterday = time.time() - 86_400
    os.utime(crashed, (yesterday, yesterday))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert not crashed.exists()
        assert receiving.exists()  # recent: perhaps another API process's upload in flight


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYEXEC_", "OPENAI_"))}
    environ.update(PYEXEC_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [*PYEXEC, "serve"],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, "PYEXEC_LLM_MODEL"),
        ({"PYEXEC_KERNEL_BACKEND": "gateway"}, "PYEXEC_KERNEL_BACKEND"),
        ({"PYEXEC_KERNEL_MEMORY_MB": "lots"}, "PYEXEC_KERNEL_MEMORY_MB"),
    ],
)
def test_a_bad_setting_stops_serve_before_anything_is_printed_or_started(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    done = _serve(tmp_path, **env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == ""  # no banner, no demo key
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyexec: ") and variable in lines[0], lines
    assert not (tmp_path / "data").exists()  # nothing made, nothing started


# -- kernels that cannot start ---------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pyexec-startup-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _readyz(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/readyz", timeout=10)


def _eventually(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.2)


def _up(server: Server) -> bool:
    assert server.proc is not None and server.proc.poll() is None, server.log()
    try:
        return httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_kernels_that_cannot_start_say_why_and_jobs_wait_for_them(runtime_dir: Path) -> None:
    """The first run of issue 12: every kernel start fails (a file the kernel reads is missing
    from its view). /readyz says how many starts failed and the last error, the log says it
    once at ERROR level, and a job submitted meanwhile waits, then runs once kernels start."""
    runtime = make_runtime(runtime_dir / "broken")
    where = "import IPython, os; print(os.path.dirname(IPython.__file__))"
    packages = Path(
        subprocess.run(
            [str(runtime.python), "-c", where], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    theme = packages / "utils/themes/neutral-posix.json"
    aside = theme.with_suffix(".aside")
    theme.rename(aside)  # a link of the runtime's own: the original stays
    server = runtime_server(runtime, runtime_dir / "broken-data" / "data", {})
    server.spawn("serve")
    try:
        _eventually(lambda: _up(server), 90, "the service answers")
        key = server.create_key("waiting@example.com")

        def failed_a_few() -> bool:
            pool = _readyz(server).json().get("kernel_pool") or {}
            return pool.get("failed_starts_in_a_row", 0) >= 3

        _eventually(failed_a_few, BROKEN_FOR_SECONDS, "three kernel starts fail")
        ready = _readyz(server)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready" and body["checks"]["kernel_pool"] is False
        assert body["kernel_pool"]["state"] == "failing"
        assert "neutral-posix.json" in body["kernel_pool"]["last_start_error"]
        assert "isolation" not in body  # details only with PYEXEC_READYZ_DETAILS
        errors = [line for line in server.log().splitlines() if " ERROR " in line]
        assert len(errors) == 1, errors
        assert "no kernel could start: 3 starts failed in a row" in errors[0]
        assert "neutral-posix.json" in errors[0] and "Check: " in errors[0]
        assert "PYEXEC_KERNEL_SANDBOX=off" in errors[0]

        with server.client(key) as client:
            job = client.post("/v1/jobs", json={"code": "print(6 * 7)"}).json()
            time.sleep(2)
            # Not taken while no kernel can start: pending, its time budget untouched.
            assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "pending"
            aside.rename(theme)
            done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
            assert done["status"] == "completed" and done["result"] == "42", done
        assert _readyz(server).status_code == 200
        assert "kernels start again" in server.log()
    finally:
        if aside.exists():
            aside.rename(theme)
        server.stop()


# -- what a crash leaves ---------------------------------------------------------------------


def test_a_restart_clears_the_work_dirs_a_crash_left_and_reruns_the_job(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    work_root = server.data_dir / "work"
    try:
        with server.client(server.create_key("crash@example.com")) as client:
            job = client.post("/v1/jobs", json={"code": "import time\ntime.sleep(3)\nprint(7)"})
            job_id = job.json()["id"]
            _eventually(
                lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "running",
                60,
                "the job runs",
            )
            left = sorted(p.name for p in work_root.glob("*/*"))
            assert left  # the running job's kernel and the warm ones
            server.kill()  # kill -9, like a crash
            server.start()
            # Another pool's dir now, and none of what the crashed one left.
            assert not {p.name for p in work_root.glob("*/*")} & set(left)
            assert len([p for p in work_root.iterdir() if p.is_dir()]) == 1
            assert "kernel work folder(s) a crash left" in server.log()
            done = client.get(f"/v1/jobs/{job_id}", params={"wait": 60}).json()
            assert done["status"] == "completed" and done["result"] == "7", done
    finally:
        server.stop()


# -- /readyz ---------------------------------------------------------------------------------


def test_readyz_answers_status_and_checks_only(server: Server) -> None:
    body = httpx.get(f"{server.url}/readyz").json()
    # How kernels are isolated (uid range, limits) is for operators: PYEXEC_READYZ_DETAILS.
    assert body == {
        "status": "ready",
        "checks": {"database": True, "queue": True, "kernel_pool": True},
    }


# -- a host that cannot isolate kernels -------------------------------------------------------


@pytest.fixture(scope="module")
def unprivileged(runtime_dir: Path) -> Runtime:
    if os.geteuid() != 0:
        pytest.skip("running the service as another user needs root")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap makes the host without user namespaces here")
    user = unprivileged_user()
    python = shared_python(user)
    if python is None:
        pytest.skip(f"no Python 3.11 that {user.pw_name} can run ({INSTALL_HINT})")
    made = make_runtime(runtime_dir / "unprivileged", base_python=python)
    return Runtime(made.root, made.python, made.src, user)


def _no_user_namespaces(server: RuntimeServer) -> None:
    """Run the server as its user in a sandbox that forbids new user namespaces: a laptop
    whose kernel does not let normal users make them."""
    original = server.runtime.python
    wrapped = server.home / "python"
    wrapped.write_text(
        "#!/bin/sh\nexec bwrap --unshare-user --disable-userns --dev-bind / / "
        f'-- "{original}" "$@"\n'
    )
    wrapped.chmod(0o755)
    server.runtime = Runtime(server.runtime.root, wrapped, server.runtime.src, server.runtime.user)


def test_a_host_that_cannot_isolate_kernels_is_refused_unless_sandbox_is_off(
    unprivileged: Runtime, runtime_dir: Path
) -> None:
    base = runtime_dir / "no-userns"
    base.mkdir()
    server = runtime_server(unprivileged, base / "data", {})
    _no_user_namespaces(server)
    proc = server.spawn("serve")
    assert proc.wait(timeout=120) == 2
    output = server.log().strip().splitlines()
    assert len(output) == 1, output  # one line: no banner, no demo key, no traceback
    assert output[0].startswith("pyexec: kernels cannot be isolated on this host")
    assert "PYEXEC_KERNEL_SANDBOX=off" in output[0] and "docs/isolation.md" in output[0]
    assert not (base / "data" / "pyexec.db").exists()

    # Said explicitly, it runs; and it says what job code can reach.
    server.env_overrides["PYEXEC_KERNEL_SANDBOX"] = "off"
    server.start()
    try:
        assert "Kernels: NOT sandboxed (PYEXEC_KERNEL_SANDBOX=off)" in server.log()
        with server.client(server.create_key("off@example.com")) as client:
            job = run_job(client, {"code": "import os\nprint(os.getuid())"})
        assert job["status"] == "completed" and job["result"] == str(unprivileged.user.pw_uid)
    finally:
        server.stop()
