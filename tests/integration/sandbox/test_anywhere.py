"""The real service, run from an interpreter that lives where the sandbox covers or hides
things, runs a job with the sandbox on, on both kernel backends (issue 12: a fresh clone
under /tmp could not start one kernel: the kernel's private /tmp hid its venv).

* under /tmp, on a path with a space, named through a symlink, with the data dir inside the
  copy of the project (a directory the kernels see read-only, around the hidden data dir);
* under the home directory of the user running the tests (/root, or /home/<user>), which the
  sandbox hides.

The kernel must see its interpreter and packages, read-only, and still nothing else there.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.support.runtimes import Runtime, make_runtime, runtime_server
from tests.support.servers import Server, run_job

LOOK = """
import json, os, sys
seen = {{"prefix": sys.prefix, "db": os.path.exists({db!r})}}
seen["home"] = sorted(os.listdir({home!r})) if os.path.isdir({home!r}) else []
try:
    open(os.path.join(sys.prefix, "planted"), "w")
    seen["write"] = "written"
except OSError as e:
    seen["write"] = e.strerror
print(json.dumps(seen))
"""


def _tmp_with_space_and_symlink(base: Path) -> tuple[Runtime, Path]:
    real = base / "a checkout with spaces"
    runtime = make_runtime(real)
    link = base / "link"
    link.symlink_to(real.name)
    named = replace(runtime, python=link / runtime.python.relative_to(real))
    return named, runtime.src / "data dir"


def _under_home(base: Path) -> tuple[Runtime, Path]:
    home = Path.home()
    if not home.parts[1:2] or home.parts[1] not in ("root", "home"):
        pytest.skip(f"the home dir {home} is not one the sandbox hides")
    where = Path(tempfile.mkdtemp(prefix=".pyexec-anywhere-", dir=home))
    return make_runtime(where), base / "data"


PLACES = {"tmp-space-symlink": _tmp_with_space_and_symlink, "home": _under_home}


@pytest.fixture(scope="module", params=list(PLACES))
def place(request: pytest.FixtureRequest) -> Iterator[tuple[str, Runtime, Path]]:
    base = Path(tempfile.mkdtemp(prefix="pyexec-anywhere-"))
    os.chmod(base, 0o755)
    runtime, data_dir = PLACES[request.param](base)
    try:
        yield request.param, runtime, data_dir
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if runtime.root != base and not runtime.root.is_relative_to(base):
            shutil.rmtree(runtime.root, ignore_errors=True)


@pytest.fixture(params=["forkserver", "local"])
def server(request: pytest.FixtureRequest, place: tuple[str, Runtime, Path]) -> Iterator[Server]:
    _, runtime, data_dir = place
    data = data_dir / request.param
    srv = runtime_server(runtime, data, {"PYEXEC_KERNEL_BACKEND": request.param}).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_a_job_runs_with_the_interpreter_where_it_is(
    server: Server, place: tuple[str, Runtime, Path]
) -> None:
    name, runtime, _ = place
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready", ready
    with server.client(server.create_key(f"anywhere-{name}@example.com")) as client:
        code = LOOK.format(db=str(server.data_dir / "pyexec.db"), home=str(Path.home()))
        job = run_job(client, {"code": code})
    assert job["status"] == "completed", job
    seen = json.loads(job["result"])
    # The interpreter as it was named (through the symlink, with its spaces).
    assert seen["prefix"] == str(runtime.python.parent.parent)
    assert seen["db"] is False  # the data dir beside (or around) it stays hidden
    # Of the home dir, at most the way to the interpreters (this runtime's, pyenv's).
    home = Path.home()
    ways = {
        Path(path).relative_to(home).parts[0]
        for path in (runtime.root, os.path.realpath(sys.base_prefix))
        if Path(path).is_relative_to(home)
    }
    assert set(seen["home"]) <= ways, seen
    assert seen["write"] in ("Read-only file system", "Permission denied")
