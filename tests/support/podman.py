"""Running the project's images with podman in tests (Debian's runc, explicit ulimits).

podman's default runtime (crun) refuses this machine's hybrid cgroups, and its default
open-files limit is above the machine's hard limit: every call names runc and the ulimits.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
API_IMAGE = f"localhost/pyexec:{VERSION}"
KERNEL_IMAGE = f"localhost/pyexec-kernel:{VERSION}"
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
BUILD_TIMEOUT_SECONDS = 1800


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])}… failed: {proc.stderr.strip()}")
    return proc


def build_images() -> str:
    """`images/build.sh`: both images, from cached layers when nothing changed."""
    proc = subprocess.run(
        [str(ROOT / "images" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@dataclass
class Container:
    name: str

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def exec(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *argv, timeout=timeout, check=False)

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = podman(
                "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name
            )
            status, code = state.stdout.split()
            if status in ("exited", "stopped"):
                return int(code)
            time.sleep(0.5)
        raise AssertionError(f"container {self.name} still running after {timeout} s")


@contextmanager
def running(
    image: str, args: Sequence[str] = (), options: Sequence[str] = ()
) -> Iterator[Container]:
    """A detached container, removed (with its anonymous volumes) however the test ends."""
    name = f"pyexec-test-{secrets.token_hex(4)}"
    podman("run", "--detach", "--name", name, *LIMITS, *options, image, *args)
    try:
        yield Container(name)
    finally:
        podman("rm", "--force", "--volumes", name, check=False)
