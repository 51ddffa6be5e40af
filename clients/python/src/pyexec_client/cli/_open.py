"""`pyexec open JOB_ID`: the job's bundle unzipped, and JupyterLab started on its notebook."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from pyexec_client.cli._common import OK, UsageError, add_connection_options, client_from

MAX_BUNDLE_MEMBERS = 100_000


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    opener = sub.add_parser(
        "open",
        help="unzip a job's bundle and open its notebook in JupyterLab",
        description="Download the job's bundle (the notebook, its input files and the files "
        "it wrote), unzip it into DIR/<name>/ and start JupyterLab there with the notebook "
        "open. Arguments after `--` go to `jupyter lab` (e.g. -- --no-browser --port 8890).",
    )
    opener.add_argument("job_id", metavar="JOB_ID")
    opener.add_argument(
        "--dir", default=".", metavar="DIR", help="where the job's folder goes (default: here)"
    )
    opener.add_argument(
        "--force", action="store_true", help="replace the job's folder if it is there already"
    )
    opener.add_argument(
        "--no-lab", action="store_true", help="only download and unzip; print the notebook's path"
    )
    add_connection_options(opener)
    # What follows `--` on the command line (split off by `main`, argparse would take it).
    opener.set_defaults(pyexec_run=_open, jupyter_args=[])


def _open(args: argparse.Namespace) -> int:
    extra = list(args.jupyter_args)
    parent = Path(args.dir).expanduser()
    parent.mkdir(parents=True, exist_ok=True)
    client = client_from(args)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".pyexec-open-") as scratch:
        bundle = client.jobs.download_bundle(args.job_id, Path(scratch) / "bundle.zip")
        folder = _unpack(bundle, parent, Path(scratch), replace=args.force)
    notebook = _notebook_in(folder)
    if args.no_lab:
        print(notebook)
        return OK
    command = jupyter_lab_command()
    if command is None:
        print(
            f"The notebook is at {notebook}\n"
            "JupyterLab is not installed here. To open it:\n"
            "  pip install jupyterlab pandas numpy matplotlib\n"
            f"  jupyter lab {_quoted(notebook)}",
        )
        return OK
    print(f"opening {notebook} in JupyterLab (Ctrl-C to stop it)", flush=True)
    if (
        importlib.util.find_spec("pandas") is None
        and Path(command[0]).parent == Path(sys.executable).parent
    ):
        print("note: its kernel needs pandas, numpy and matplotlib to run it", flush=True)
    argv = [*command, notebook.name, *extra]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.chdir(folder)
        os.execv(argv[0], argv)  # JupyterLab takes over this process (and its Ctrl-C)
    return subprocess.call(argv, cwd=folder)


def jupyter_lab_command() -> list[str] | None:
    """How to start JupyterLab: the one beside this Python first, then the one on PATH."""
    here = Path(sys.executable).parent
    for name in ("jupyter-lab", "jupyter-lab.exe"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("jupyter-lab")
    return [found] if found else None


def _unpack(bundle: Path, parent: Path, scratch: Path, *, replace: bool) -> Path:
    """Unzip the bundle's one folder into `parent`; its path. Nothing in the zip may land
    outside it (no absolute names, no `..`, no links)."""
    staging = scratch / "unzipped"
    with zipfile.ZipFile(bundle) as zf:
        members = zf.infolist()
        if not members or len(members) > MAX_BUNDLE_MEMBERS:
            raise UsageError(f"{bundle.name}: not a job bundle")
        tops = set()
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                raise UsageError(f"the bundle holds an unsafe path: {member.filename!r}")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise UsageError(f"the bundle holds a symbolic link: {member.filename!r}")
            tops.add(name.parts[0])
        if len(tops) != 1:
            raise UsageError("the bundle does not hold exactly one folder")
        zf.extractall(staging)
    [top] = tops
    target = parent / top
    if target.exists():
        if not replace:
            print(f"{target} is there already: opening it as it is (--force replaces it)")
            return target
        shutil.rmtree(target)
    os.replace(staging / top, target)
    return target


def _notebook_in(folder: Path) -> Path:
    preferred = folder / f"{folder.name}.ipynb"
    if preferred.is_file():
        return preferred
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise UsageError(f"{folder} holds no notebook")
    return found[0]


def _quoted(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text
