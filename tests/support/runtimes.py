"""This checkout and its venv, placed somewhere else: to run the real service from an
interpreter under /tmp, under a hidden directory (/root, /home), behind a symlink, on a path
with spaces, or as a user other than the one running the tests.

A runtime is a venv made from a base interpreter (`python -m venv --without-pip`) whose
site-packages is this venv's, hard-linked file by file where the file system allows (copied
otherwise), plus a copy of the project's packages on its path (a `.pth` file). Hard links
make it cheap (a few seconds) and leave the originals untouched: nothing in a runtime is
writable by the user who runs it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import ROOT, Server

PACKAGES = ("api", "core", "kernels", "kernelspecs", "notebooks", "pyexec", "worker")
# The interpreters a user other than root can run (pyenv's lives under /root, mode 0700).
SHARED_PYTHONS = ("/usr/bin/python3.11", "/usr/local/bin/python3.11")
UNPRIVILEGED_USER = "nobody"
INSTALL_HINT = "`make test` installs Debian's python3.11"


@dataclass(frozen=True)
class Runtime:
    root: Path
    python: Path  # the venv's interpreter, named through `root` (a symlink stays one)
    src: Path  # the copy of the project's packages
    user: pwd.struct_passwd | None = None  # runs as this user (None: as we do)

    def run(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """`python -m pyexec ARGS` with this runtime, as its user."""
        return subprocess.run(
            [str(self.python), "-m", "pyexec", *args],
            cwd=self.src,
            text=True,
            capture_output=True,
            timeout=120,
            **self._as_user(),
            **kwargs,  # type: ignore[arg-type]
        )

    def _as_user(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}


def make_runtime(where: Path, *, base_python: str | None = None) -> Runtime:
    """A runtime in `where` (made if missing), from `base_python` (default: ours)."""
    where.mkdir(parents=True, exist_ok=True)
    base = base_python or os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    venv = where / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    ours = Path(sysconfig.get_paths()["purelib"])
    where_packages = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    theirs = Path(
        subprocess.run(
            [str(venv / "bin/python"), "-c", where_packages],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    shutil.copytree(
        ours,
        theirs,
        symlinks=True,
        dirs_exist_ok=True,
        copy_function=_link_or_copy,
        # Our editable install points at this checkout: the runtime has its own copy.
        ignore=shutil.ignore_patterns("__editable__*", "pyexec-*.dist-info"),
    )
    src = where / "src"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            src / package,
            symlinks=True,
            copy_function=_link_or_copy,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    (theirs / "pyexec-src.pth").write_text(f"{src}\n")
    _install_missing(venv / "bin/python")
    return Runtime(where, venv / "bin/python", src)


def _install_missing(python: Path) -> None:
    """What another interpreter's markers ask for beyond ours (Debian's 3.11.2 needs
    async-timeout for redis, which 3.11.3+ does not): `pip check`, then install it."""
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=300)
    missing = re.findall(r"requires ([A-Za-z0-9_.\-]+), which is not installed", check.stdout)
    if missing:
        subprocess.run(
            [*pip, "install", "--quiet", "--no-input", *sorted(set(missing))],
            check=True,
            timeout=600,
        )


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def unprivileged_user() -> pwd.struct_passwd:
    return pwd.getpwnam(UNPRIVILEGED_USER)


def shared_python(user: pwd.struct_passwd) -> str | None:
    """A Python 3.11 that `user` can run: ours if it can, else Debian's."""
    ours = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    for candidate in (ours, *SHARED_PYTHONS):
        if not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 11)"],
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=[],
                cwd="/",
                capture_output=True,
                timeout=60,
            )
        except OSError:  # not executable by the user (pyenv's, under /root)
            continue
        if probe.returncode == 0:
            return candidate
    return None


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            os.chown(os.path.join(dirpath, name), user.pw_uid, user.pw_gid, follow_symlinks=False)
    os.chown(path, user.pw_uid, user.pw_gid)


class RuntimeServer(Server):
    """`pyexec serve` from a runtime (as its user), with its data dir wherever it is put."""

    runtime: Runtime

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the process)
        env = {**self.env, "HOME": str(self.home)}
        self.proc = subprocess.Popen(
            [str(self.runtime.python), "-m", "pyexec", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.runtime.src,
            start_new_session=True,
            **self.runtime._as_user(),  # type: ignore[arg-type]
        )
        return self.proc

    @property
    def home(self) -> Path:
        return self.data_dir.parent / "home"

    @property
    def log_path(self) -> Path:
        # Beside the data dir: a service that is not root keeps its data dir to itself.
        return self.data_dir.parent / self.log_name

    def create_key(self, email: str, plan: str = "business") -> str:
        """As an operator would: `pyexec keys create`, as the service's user."""
        env = {**self.env, "HOME": str(self.home)}
        done = self.runtime.run("keys", "create", "--email", email, "--plan", plan, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


def runtime_server(runtime: Runtime, data_dir: Path, env: dict[str, str]) -> RuntimeServer:
    server = RuntimeServer(data_dir, env)
    server.runtime = runtime
    server.home.mkdir(parents=True, exist_ok=True)
    if runtime.user is not None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(exist_ok=True)
        for path in (data_dir, server.home):
            os.chown(path, runtime.user.pw_uid, runtime.user.pw_gid)
    return server


@contextlib.contextmanager
def removed_after(path: Path) -> Iterator[Path]:
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
