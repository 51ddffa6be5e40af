"""`pip install ./clients/python` into a fresh venv: the client alone, light, and working
against the real server — no pandas, no Jupyter, nothing of the server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyexec_client import PyExec
from tests.support.servers import ROOT, Server

# What the client may bring along: httpx and its dependencies, rich and its.
ALLOWED = {
    "pyexec-client",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "typing-extensions",
    "rich",
    "markdown-it-py",
    "mdurl",
    "pygments",
    "pip",
    "setuptools",
}


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("client-venv") / "venv"
    # Built from a copy: pip builds in the source tree, and a build/ left in the checkout holds
    # stale copies of the package that tests/unit/test_names.py would read.
    source = shutil.copytree(
        ROOT / "clients/python",
        venv.parent / "source",
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    return venv


def test_it_pulls_in_httpx_rich_and_nothing_else(fresh_venv: Path) -> None:
    listed = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert names - ALLOWED == set()
    assert {"pyexec-client", "httpx", "rich"} <= names


def test_the_sdk_imports_without_the_command_lines_libraries(fresh_venv: Path) -> None:
    probe = (
        "import sys, pyexec_client; "
        "print(sorted(m for m in ('rich', 'pandas', 'numpy', 'pyexec', 'api', 'core', "
        "'jupyter_client', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=fresh_venv,  # not the checkout: nothing of the server on the path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_the_command_works_and_open_says_how_without_jupyterlab(
    fresh_venv: Path, server: Server, key: str, tmp_path: Path
) -> None:
    with PyExec(api_key=key, base_url=server.url) as client:
        job = client.jobs.create(code="6 * 7", title="alone").wait(timeout=120)
    pyexec = str(fresh_venv / "bin" / "pyexec")
    env = {
        "PATH": "/usr/bin:/bin",  # no other venv's jupyter-lab
        "HOME": str(tmp_path),
        "PYEXEC_BASE_URL": server.url,
        "PYEXEC_API_KEY": key,
    }
    top = subprocess.run([pyexec, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert top.returncode == 0 and "submit" in top.stdout
    commands = set(re.findall(r"^    (\w+) ", top.stdout, re.MULTILINE))
    assert {"submit", "jobs", "files", "keys", "open", "login"} <= commands
    assert commands.isdisjoint({"serve", "api", "worker", "migrate", "accounts"})  # no server
    shown = subprocess.run(
        [pyexec, "jobs", "show", job.id, "--json"], env=env, capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["result"] == "42"
    opened = subprocess.run(
        [pyexec, "open", job.id, "--dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr
    assert "JupyterLab is not installed here" in opened.stdout
    assert "pip install jupyterlab" in opened.stdout
    [notebook] = tmp_path.glob("alone-*/alone-*.ipynb")
    assert f"jupyter lab {notebook}" in opened.stdout
