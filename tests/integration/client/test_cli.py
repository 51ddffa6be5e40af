"""The `pyexec` command against the real server: live progress in a pseudo-terminal, --json for
scripts, exit codes, files, keys, login, and the operator commands it carries for the server."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.servers import ROOT, Server, free_port

PYEXEC = str(Path(sys.executable).parent / "pyexec")
PYEXEC_SERVER = str(Path(sys.executable).parent / "pyexec-server")
SALES = "region,units,revenue\nnorth,3,30.5\nsouth,5,52.0\nnorth,7,71.25\neast,1,9.99\n"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-_]")

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


@pytest.fixture
def env(server: Server, key: str, tmp_path: Path) -> dict[str, str]:
    """A user's environment: the server and key in PYEXEC_*, a home of its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYEXEC_")}
    return {
        **clean,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "PYEXEC_BASE_URL": server.url,
        "PYEXEC_API_KEY": key,
    }


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYEXEC, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


class Terminal:
    """`pyexec` in a pseudo-terminal, as a person runs it; what it drew, without colours."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        self.proc = subprocess.Popen(
            [PYEXEC, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode(errors="replace")).replace("\r", "")

    def read_until(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.text)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pattern!r} not seen in:\n{self.text[-3000:]}")
            if not self._read(0.2) and self.proc.poll() is not None:
                raise AssertionError(
                    f"exited {self.proc.returncode} before {pattern!r}:\n{self.text}"
                )
        return match

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or self._read(0.05):
            if time.monotonic() > deadline:
                self.proc.kill()
                raise TimeoutError(self.text[-3000:])
            self._read(0.2)
        os.close(self.master)
        return self.proc.returncode

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the terminal's other end is gone
            return False
        self.raw += chunk
        return bool(chunk)


def test_submit_wait_in_a_terminal_shows_progress_as_it_happens(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The second line prints only once this test has seen the first on the terminal: the
    # progress must be live, not a replay at the end.
    code = (
        "import os, time\n"
        "print('first line', os.getcwd(), flush=True)\n"
        "while not os.path.exists('go'): time.sleep(0.02)\n"
        "print('second line')\n"
        "# %%\n"
        "import pandas as pd\n"
        "pd.DataFrame({'city': ['Oslo', 'Lima'], 'people': [709_000, 10_000_000]})"
    )
    term = Terminal(["submit", "--code", code, "--title", "Live", "--wait"], env, tmp_path)
    work_dir = term.read_until(r"first line (\S+)\n").group(1)
    shown = term.text
    printed = re.compile(r"(?<!print\(')second line")  # the output, not the cell's source
    assert "▶ running" in shown and "── cell 1" in shown and not printed.search(shown)
    (Path(work_dir) / "go").touch()
    assert term.finish() == 0, term.text
    shown = term.text
    assert printed.search(shown).start() > shown.index("first line")  # type: ignore[union-attr]
    assert "✔ completed" in shown and "Live" in shown
    assert re.search(r"Oslo\s+709000", shown) and re.search(r"Lima\s+10000000", shown)
    [notebook] = tmp_path.glob("live-*.ipynb")
    assert f"notebook: {notebook}" in shown.replace("\n", "")
    assert json.loads(notebook.read_text())["nbformat"] == 4


def test_the_issues_example_prompt(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text(SALES)
    prompt = "Calculate the mean, median, and std for all numeric columns"
    done = run(env, "submit", prompt, "--file", "sales.csv", "--wait", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "uploading sales.csv" in done.stderr and "✔ completed" in done.stderr
    assert "✔ completed" in done.stdout
    assert re.search(r"revenue\s+40\.935\s+41\.25\s+26\.5073", done.stdout), done.stdout
    [notebook] = tmp_path.glob("calculate-the-mean-*.ipynb")
    assert notebook.name in done.stdout.replace("\n", "")


def test_json_for_scripts_and_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    failed = run(env, "submit", "--code", "x = 1\n# %%\n1 / 0", "--wait", "--json", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    job = json.loads(failed.stdout)  # stdout is the job object alone
    assert job["status"] == "failed" and "ZeroDivisionError" in job["error_message"]
    assert list(tmp_path.iterdir()) == []  # --json saves a notebook only when asked

    done = run(env, "submit", "--code", "6 * 7", "-w", "--json", "-o", "nb/", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == "42"
    assert len(list((tmp_path / "nb").glob("*.ipynb"))) == 1

    queued = run(env, "submit", "--code", "6 * 7", "--json")
    assert queued.returncode == 0 and json.loads(queued.stdout)["status"] in ("pending", "running")
    shown = run(env, "jobs", "show", json.loads(queued.stdout)["id"], "--wait", "60", "--json")
    assert json.loads(shown.stdout)["result"] == "42"

    failed_plain = run(env, "submit", "--code", "1 / 0", "--wait", "--no-notebook", cwd=tmp_path)
    assert failed_plain.returncode == 1 and "✘ failed" in failed_plain.stdout
    assert "ZeroDivisionError" in failed_plain.stdout

    missing = run(env, "jobs", "show", "no-such-job")
    assert missing.returncode == 3 and "No such job" in missing.stderr
    assert "Traceback" not in missing.stderr
    invalid = run(env, "submit", "--code", "1", "--timeout", "0")
    assert invalid.returncode == 3 and "timeout_seconds" in invalid.stderr
    unreachable = run({**env, "PYEXEC_BASE_URL": f"http://127.0.0.1:{free_port()}"}, "jobs", "list")
    assert unreachable.returncode == 4 and "cannot reach" in unreachable.stderr
    nothing = run(env, "submit")
    assert nothing.returncode == 2 and "prompt" in nothing.stderr
    no_file = run(env, "submit", "x", "--file", "nope.csv", cwd=tmp_path)
    assert no_file.returncode == 2 and "nope.csv" in no_file.stderr


def test_jobs_watch_follows_a_job_submitted_earlier(env: dict[str, str], tmp_path: Path) -> None:
    queued = json.loads(run(env, "submit", "--code", "print('hi')\n# %%\n1/0", "--json").stdout)
    watched = run(env, "jobs", "watch", queued["id"], "--json", cwd=tmp_path)
    assert watched.returncode == 1
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert events[0] == {"type": "status", "id": events[0]["id"], "status": "pending"}
    assert events[-1]["type"] == "result" and events[-1]["job"]["status"] == "failed"
    watched = run(env, "jobs", "watch", queued["id"], "--no-notebook", cwd=tmp_path)
    assert watched.returncode == 1 and "hi" in watched.stderr and "✘ failed" in watched.stdout


def test_files_jobs_and_keys_commands(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text(SALES)
    uploaded = run(env, "files", "upload", "sales.csv", "--json", cwd=tmp_path)
    [file] = json.loads(uploaded.stdout)
    assert file["filename"] == "sales.csv" and file["id"].startswith("file_")
    listed = run(env, "files", "list")
    assert file["id"] in listed.stdout and "sales.csv" in listed.stdout
    code = "import pandas as pd\npd.read_csv('sales.csv').describe()"
    job = json.loads(run(env, "submit", "--code", code, "-f", file["id"], "-w", "--json").stdout)
    assert job["status"] == "completed" and job["file_ids"] == [file["id"]]
    assert job["id"] in run(env, "jobs", "list").stdout
    assert json.loads(run(env, "jobs", "list", "--json").stdout)[0]["id"] == job["id"]
    bundle = run(env, "jobs", "download", job["id"], "--bundle", "-o", str(tmp_path))
    assert bundle.returncode == 0 and Path(bundle.stdout.strip()).suffix == ".zip"
    assert Path(bundle.stdout.strip()).parent == tmp_path

    made = run(env, "keys", "create", "--name", "ci", "--scopes", "jobs:read")
    assert made.returncode == 0, made.stderr
    new_key = made.stdout.strip().splitlines()[-1]  # the key, last line, shown once
    assert new_key.startswith("pyex_") and "jobs:read" in made.stderr
    keys = json.loads(run(env, "keys", "list", "--json").stdout)
    [ci] = [k for k in keys if k["name"] == "ci"]
    reader = {**env, "PYEXEC_API_KEY": new_key}
    assert run(reader, "jobs", "list").returncode == 0
    refused = run(reader, "submit", "--code", "1")
    assert refused.returncode == 3 and "jobs:write" in refused.stderr
    assert run(env, "keys", "revoke", ci["id"]).returncode == 0
    assert run(reader, "jobs", "list").returncode == 3
    operator_form = run(env, "keys", "create", "--email", "a@example.com", "--name", "x")
    assert operator_form.returncode == 2
    assert "pyexec accounts keys create" in operator_form.stderr
    bad_scope = run(env, "keys", "create", "--name", "x", "--scopes", "root")
    assert bad_scope.returncode == 2 and "root" in bad_scope.stderr


def test_login_keeps_the_key_private_and_the_environment_wins(
    server: Server, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    user = {k: v for k, v in env.items() if not k.startswith("PYEXEC_")}
    assert run(user, "jobs", "list").returncode == 2  # no key anywhere: says how to give one
    refused = run(user, "login", "--base-url", server.url, stdin="pyex_" + "x" * 43 + "\n")
    assert refused.returncode == 3 and "Invalid" in refused.stderr
    config = Path(user["XDG_CONFIG_HOME"]) / "pyexec" / "config.json"
    assert not config.exists()  # a key the server refused is not stored

    logged = run(user, "login", "--base-url", f"{server.url}/v1/", stdin=key + "\n")
    assert logged.returncode == 0, logged.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert json.loads(config.read_text()) == {"base_url": server.url, "api_key": key}
    assert run(user, "jobs", "list").returncode == 0  # the stored login is used
    dead = {**user, "PYEXEC_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    assert run(dead, "jobs", "list").returncode == 4  # the environment wins over the login
    assert "wins" in run(dead, "login", "--api-key", key, "--no-verify").stderr
    assert run(user, "logout").returncode == 0 and not config.exists()


def test_one_command_for_users_and_operators(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    top = run(env, "--help").stdout
    for command in ("submit", "jobs", "files", "keys", "open", "login", "serve", "migrate"):
        assert re.search(rf"^\s+{command}\s", top, re.MULTILINE), command
    assert "--email" in run(env, "accounts", "keys", "create", "--help").stdout

    # The operator's commands work on the server's database, as `pyexec-server` does.
    operator = {**server.env, "HOME": env["HOME"]}
    email = f"op-{uuid.uuid4().hex[:8]}@example.com"
    made = run(operator, "accounts", "keys", "create", "--email", email, "--plan", "pro")
    assert made.returncode == 0, made.stderr
    assert f"for {email} on the pro plan" in made.stdout
    operator_key = made.stdout.strip().splitlines()[-1]
    listed = run(operator, "accounts", "keys", "list", "--email", email)
    assert f"{email} (pro plan): 1 active key(s)" in listed.stdout
    old_form = subprocess.run(
        [PYEXEC_SERVER, "keys", "list", "--email", email],
        env=operator,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert old_form.returncode == 0 and old_form.stdout == listed.stdout
    as_user = {**env, "PYEXEC_API_KEY": operator_key}
    assert run(as_user, "jobs", "list").returncode == 0
