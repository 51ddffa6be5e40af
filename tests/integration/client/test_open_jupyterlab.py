"""`pyexec open`: the job's bundle unzipped and JupyterLab started on its notebook, checked in
Debian's Chromium (Playwright from PyPI, never `playwright install`): the table and the plot
are there, and "Run All" runs the notebook again without an error."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from pyexec_client import PyExec
from tests.support.servers import Server, free_port

PYEXEC = str(Path(sys.executable).parent / "pyexec")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CODE = """\
import pandas as pd
df = pd.read_csv('sales.csv')
summary = df.groupby('region', as_index=False)['units'].sum()
summary.to_csv('summary.csv', index=False)
summary
# %%
summary.plot.bar(x='region', y='units')
plt.show()
"""
SALES = "region,units\nnorth,3\nsouth,5\nnorth,7\neast,1\n"
UI_TIMEOUT_MS = 90_000

# Debian's chromium: `make test` installs it (the browser target).
pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


@pytest.fixture
def finished_job(server: Server, key: str, tmp_path: Path) -> str:
    (tmp_path / "sales.csv").write_text(SALES)
    with PyExec(api_key=key, base_url=server.url) as client:
        job = client.jobs.create(code=CODE, files=[tmp_path / "sales.csv"], title="Lab trip")
        job.wait(timeout=120)
    assert job.status == "completed", job.error_message
    return job.id


@pytest.fixture
def user_env(server: Server, key: str, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYEXEC_", "JUPYTER"))}
    return {
        **clean,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PYEXEC_BASE_URL": server.url,
        "PYEXEC_API_KEY": key,
    }


@contextlib.contextmanager
def jupyterlab(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYEXEC, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        family = []
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)  # JupyterLab shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for child in family:  # a kernel in a session of its own, if one outlived the server
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def wait_for_lab(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(log.read_text())


def test_open_starts_jupyterlab_and_run_all_runs_the_notebook_again(
    finished_job: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    port, token = free_port(), secrets.token_urlsafe(16)
    lab_args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--allow-root",
    ]
    analyses = tmp_path / "analyses"
    log = tmp_path / "lab.log"
    with jupyterlab(
        ["open", finished_job, "--dir", str(analyses), "--", *lab_args], user_env, log
    ) as proc:
        wait_for_lab(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        [folder] = analyses.iterdir()
        notebook = folder / f"{folder.name}.ipynb"
        assert notebook.is_file() and (folder / "sales.csv").read_text() == SALES
        assert f"opening {notebook}" in log.read_text()

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}")
                tables = page.locator(".jp-Notebook .jp-OutputArea-output table")
                plots = page.locator(".jp-Notebook .jp-OutputArea-output img")
                # The job's own outputs, as the bundle's notebook holds them.
                tables.first.wait_for()
                plots.first.wait_for()
                assert "north" in tables.first.inner_text()
                page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()

                (folder / "summary.csv").unlink()  # Run All must write it again
                page.get_by_role("menuitem", name="Edit", exact=True).click()
                page.get_by_role("menuitem", name="Clear Outputs of All Cells").click()
                assert tables.count() == 0 and plots.count() == 0
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                # Until every code cell has run, or one failed (Run All stops there).
                page.wait_for_function(
                    """() => {
                        const failed = [...document.querySelectorAll(
                            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
                        )].some(e => e.textContent.includes('Error'));
                        const prompts = [...document.querySelectorAll(
                            '.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                        return failed || (prompts.length > 0
                            && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
                    }"""
                )
                errors = page.locator(
                    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
                ).all_inner_texts()
                assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
                tables.first.wait_for()
                plots.first.wait_for()
                prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
                count = prompts.count()
                assert prompts.all_inner_texts() == [f"[{i}]:" for i in range(1, count + 1)]
                assert "north" in tables.first.inner_text()
            finally:
                browser.close()
        assert (folder / "summary.csv").read_text().startswith("region,units")


def test_open_keeps_a_folder_that_is_there_already(
    finished_job: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    def open_(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYEXEC, "open", finished_job, "--dir", str(tmp_path / "a"), "--no-lab", *extra],
            env=user_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = open_()
    assert first.returncode == 0, first.stderr
    notebook = Path(first.stdout.strip().splitlines()[-1])
    assert notebook.is_file() and notebook.parent.parent == tmp_path / "a"
    notebook.write_text(notebook.read_text().replace("Lab trip", "Lab trip, edited"))
    again = open_()
    assert "there already" in again.stdout
    assert "edited" in notebook.read_text()  # the user's edits are not overwritten
    forced = open_("--force")
    assert forced.returncode == 0 and "edited" not in notebook.read_text()
