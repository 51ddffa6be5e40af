"""Runs in a gateway kernel's process, before the kernel: its working dir and environment.

`launch.py [--work-root DIR] -- KERNEL_COMMAND...` (the `pyexec-gateway-local` kernelspec).

Enterprise Gateway hands a local kernel only the `KERNEL_*` variables of the request and a few
of its own (no PATH, no HOME) and starts it in the gateway's own directory. This gives the
kernel what PyExec's local kernels get (`kernels.env.build_kernel_env`: HOME and TMPDIR in the
working dir, a plain PATH, UTF-8, no user site-packages) plus the `KERNEL_*` values and
`JPY_PARENT_PID` (the kernel exits when the gateway does), and a working directory:

* `KERNEL_WORKING_DIR`, when the worker set it: a directory it made on a volume both see;
* else a fresh directory of the kernel's own under `--work-root` (default: the system's
  temporary dir), which files reach over the kernel's channel.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pyexec.kernels.env import TMP_DIRNAME, build_kernel_env, prepend_path

KEPT_FROM_GATEWAY = ("JPY_PARENT_PID",)
DEFAULT_WORK_ROOT = Path(tempfile.gettempdir()) / "pyexec-gateway-kernels"


def kernel_environment(work_dir: Path, inherited: dict[str, str], python: str) -> dict[str, str]:
    env = build_kernel_env(work_dir)
    env.update(
        {k: v for k, v in inherited.items() if k.startswith("KERNEL_") or k in KEPT_FROM_GATEWAY}
    )
    return prepend_path(env, Path(python).parent)


def working_dir(inherited: dict[str, str], work_root: Path) -> Path:
    shared = inherited.get("KERNEL_WORKING_DIR")
    if shared:
        work_dir = Path(shared)
        if not work_dir.is_dir():
            raise SystemExit(f"pyexec launcher: KERNEL_WORKING_DIR {shared} is not a directory")
    else:
        work_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        prefix = inherited.get("KERNEL_ID", "kernel") + "-"
        work_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=work_root))
    (work_dir / TMP_DIRNAME).mkdir(mode=0o700, exist_ok=True)
    return work_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        print("usage: launch.py [--work-root DIR] -- KERNEL_COMMAND...", file=sys.stderr)
        return 2
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="launch.py")
    parser.add_argument("--work-root", type=Path, default=DEFAULT_WORK_ROOT)
    options = parser.parse_args(args[:split])
    command = args[split + 1 :]
    if not command:
        print("launch.py: no kernel command after --", file=sys.stderr)
        return 2
    inherited = dict(os.environ)
    work_dir = working_dir(inherited, options.work_root)
    if command[0] == "python":
        command[0] = sys.executable
    env = kernel_environment(work_dir, inherited, sys.executable)
    os.chdir(work_dir)
    os.execve(command[0], command, env)
    return 1  # not reached
