"""The server installs one top-level name, `pyexec`: its folders api/, core/, worker/, kernels/
and notebooks/ are `pyexec.api`, ... (links pyexec/<name> -> ../<name>), and nothing imports
them under their bare names, which would load a second copy of each module or collide with any
other distribution's `core` or `api`."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("api", "core", "worker", "kernels", "notebooks")
# Code that is not the server's: the client has its own distribution, images and the chart
# run their own scripts.
OUTSIDE = ("clients", "images", "helm", ".venv", "data", "site")


def _project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / f for f in listed if not f.startswith(OUTSIDE) and (ROOT / f).is_file()]


def _bare_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            for name in names
            if name.split(".")[0] in FOLDERS
        ]
    return found


def test_nothing_imports_a_folder_by_its_bare_name() -> None:
    bare = [hit for path in _project_files() for hit in _bare_imports(path)]
    assert bare == [], "import these as pyexec.<folder>:\n" + "\n".join(bare)


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_is_linked_under_pyexec(folder: str) -> None:
    link = ROOT / "pyexec" / folder
    assert link.is_symlink() and Path(link.readlink()) == Path("..") / folder


def test_the_service_loads_no_module_under_a_bare_name() -> None:
    # From / (the checkout is not on sys.path): the installed distribution alone.
    code = (
        "import sys, pyexec.cli, pyexec.serve, pyexec.scaled, pyexec.api.app, "
        "pyexec.worker.run, pyexec.kernels.pool, pyexec.notebooks.builder\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FOLDERS!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_wheel_has_one_top_level_name(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("pyexec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"pyexec"}
    for needed in (
        "pyexec/core/migrations/env.py",
        "pyexec/core/migrations/versions/0001_initial.py",
        "pyexec/kernels/forkserver/zygote.py",
        "pyexec/api/app.py",
    ):
        assert needed in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "pyexec.kernels.forkserver.provisioner:ForkServerProvisioner" in text
