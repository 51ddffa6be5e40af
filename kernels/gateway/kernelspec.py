"""Installing the `pyexec-gateway-local` kernelspec where an Enterprise Gateway finds it.

    python -m pyexec.kernels.gateway.kernelspec DIR [--python PATH] [--work-root DIR]

writes `DIR/pyexec-gateway-local/` (DIR is a `kernels` folder on the gateway's JUPYTER_PATH,
e.g. `<prefix>/share/jupyter/kernels`). The gateway starts its kernels with no PATH, so the
spec names PyExec's Python by its absolute path; its kernels then import what PyExec's own
kernels import. For kernels on Kubernetes, the helm chart installs `pyexec-python-k8s`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pyexec.kernels.sandbox import KERNELSPECS_DIR

LOCAL_KERNELSPEC = "pyexec-gateway-local"


def install_local_kernelspec(
    kernels_dir: Path,
    *,
    python: str | os.PathLike[str] = sys.executable,
    work_root: Path | None = None,
    name: str = LOCAL_KERNELSPEC,
) -> Path:
    """Write the kernelspec into `kernels_dir/name/`; its directory."""
    source = KERNELSPECS_DIR / LOCAL_KERNELSPEC
    spec = json.loads((source / "kernel.json").read_text())
    python = os.path.abspath(os.fspath(python))  # not resolved: a venv's python is a link
    argv = [python if part == "python" else part for part in spec["argv"]]
    if work_root is not None:
        argv[2:2] = ["--work-root", str(work_root)]
    spec["argv"] = argv
    target = Path(kernels_dir) / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "launch.py", target / "launch.py")
    (target / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyexec.kernels.gateway.kernelspec",
        description="Install PyExec's local Enterprise Gateway kernelspec.",
    )
    parser.add_argument("kernels_dir", type=Path, help="a kernels folder on the gateway's path")
    parser.add_argument("--python", default=sys.executable, help="the kernels' interpreter")
    parser.add_argument("--work-root", type=Path, help="where kernels make their working dirs")
    args = parser.parse_args(argv)
    target = install_local_kernelspec(
        args.kernels_dir, python=args.python, work_root=args.work_root
    )
    print(f"installed {LOCAL_KERNELSPEC} in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
