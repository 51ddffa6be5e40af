"""Each kernel in its jail when the service is not root (a laptop), on both backends.

A process of its own runs as an unprivileged user (`nobody`), from a runtime it can read
(tests/support/runtimes.py), leases a kernel, looks around from inside it and
kills it (unprivileged_kernel.py). Without root there is no uid or cgroup of the kernel's own:
its own user and PID namespaces must keep it from the service's files and processes, the
network, and other kernels, count its processes, and let `kill()` account for every one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.runtimes import (
    INSTALL_HINT,
    Runtime,
    make_runtime,
    shared_python,
    unprivileged_user,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs a process as another user")

SCRIPT = Path(__file__).with_name("unprivileged_kernel.py")


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    user = unprivileged_user()
    python = shared_python(user)
    if python is None:
        pytest.skip(f"no Python 3.11 that {user.pw_name} can run ({INSTALL_HINT})")
    root = Path(tempfile.mkdtemp(prefix="pyexec-unprivileged-"))
    os.chmod(root, 0o755)
    try:
        made = make_runtime(root / "runtime", base_python=python)
        shutil.copy(SCRIPT, root / SCRIPT.name)
        yield Runtime(made.root, made.python, made.src, user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["forkserver", "local"])
def report(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[dict]:
    assert runtime.user is not None
    data = Path(tempfile.mkdtemp(prefix="pyexec-unprivileged-data-"))
    os.chown(data, runtime.user.pw_uid, runtime.user.pw_gid)
    (data / "pyexec.db").write_text("SQLite format 3 -- the service's secrets")
    os.chown(data / "pyexec.db", runtime.user.pw_uid, runtime.user.pw_gid)
    try:
        done = subprocess.run(
            [str(runtime.python), str(runtime.root.parent / SCRIPT.name), request.param, str(data)],
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "HOME": str(data), "LANG": "C.UTF-8"},
            user=runtime.user.pw_uid,
            group=runtime.user.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_a_kernel_of_a_service_that_is_not_root(report: dict) -> None:
    isolation = report["isolation"]
    if "filesystem" in isolation["missing"]:
        pytest.skip(f"the host offers no sandbox without root: {isolation['missing']}")
    assert isolation["level"] == "partial"
    assert set(isolation["missing"]) == {"uid", "memory_cgroup", "pids_cgroup"}
    assert report["status"] == "ok", report
    seen = report["seen"]
    # The first process of its own PID namespace: it sees nothing else, not even its parent.
    assert seen["pid"] == 1 and seen["processes"] == [1]
    assert seen["uid"] == unprivileged_user().pw_uid  # the service's own, mapped to itself
    # The service's files: home dirs and the data dir (but the way to its own work dir).
    assert seen["home"] == "FileNotFoundError" and seen["root"] == "FileNotFoundError"
    assert seen["data"] == ["work"]
    assert seen["work"] == [report["kernel_dir"]]  # no other kernel's work dir
    assert seen["network"] == 101  # ENETUNREACH: its own empty network namespace
    assert seen["caps"] == "0000000000000000/0000000000000000" and seen["no_new_privs"] == "1"
    assert seen["stdlib"] == "Read-only file system"
    # RLIMIT_NPROC counted in its own user namespace: the kernel's processes only.
    assert seen["nproc"] == [48, 48]
    assert seen["fork_error"] == "Resource temporarily unavailable" and seen["forked"] < 48
    assert report["sleepers_before"] > 0
    # Its PID namespace died with it: every process, the daemon too, before kill() returned.
    assert report["kill_verified"] is True
    assert report["sleepers_after"] == 0
