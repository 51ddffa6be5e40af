"""A newcomer's first run, as issue 12 tried it: a fresh `git clone` into a directory under
/tmp, `make run` alone, then the README's Python example against it.

The clone is of this repository's committed state (what a newcomer gets). `make run` makes its
own venv and installs into it; pip's cache is warm on a machine that has run `make test`, so
this costs about a minute (`make run` installs the service only, not the tests' tools). Only
the port is set (others may use 8000 here), as a newcomer with a busy port would.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ROOT, free_port

FIRST_RUN_TIMEOUT_SECONDS = 900.0  # a cold pip cache downloads everything


def _committed_checkout() -> bool:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


pytestmark = [
    pytest.mark.skipif(
        shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make"
    ),
    pytest.mark.skipif(not _committed_checkout(), reason="not a git checkout"),
]


@pytest.mark.timeout(FIRST_RUN_TIMEOUT_SECONDS + 120)
def test_fresh_clone_make_run_and_the_readme_example(
    record_property: pytest.RecordProperty,
) -> None:
    base = Path(tempfile.mkdtemp(prefix="pyexec-newcomer-"))
    clone = base / "pyexec"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYEXEC_", "OPENAI_", "PYTEST", "VIRTUAL_ENV"))
        and k not in ("DATABASE_URL", "REDIS_URL", "PYTHONPATH")
    }
    env["PYEXEC_PORT"] = str(port)
    log_path = base / "make-run.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = started + FIRST_RUN_TIMEOUT_SECONDS
        while True:
            assert make.poll() is None, f"make run exited:\n{log_path.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"not ready:\n{log_path.read_text()[-4000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(1)
        record_property("make_run_to_ready_seconds", round(time.monotonic() - started, 1))
        printed = log_path.read_text()
        assert "Kernels: " in printed  # the banner says what job code can reach
        key_file = clone / "data" / "demo-api-key"
        found = re.search(r"Demo API key: (pyex_\S+)", printed)
        key = key_file.read_text().strip() if key_file.exists() else found and found.group(1)
        assert key, printed[-4000:]

        readme = (clone / "README.md").read_text()
        snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
        snippet = snippet.replace('"pyex_..."', repr(key)).replace("http://127.0.0.1:8000", url)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(snippet, "README.md", "exec"), {})
        assert out.getvalue().strip() == "42"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
