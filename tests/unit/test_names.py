"""Names that say one thing each (issue 15): one suffix for seconds, one definition per helper,
one name per class, and a repository package whose namespace has every query of its modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

from pyexec.core import repository

ROOT = Path(__file__).resolve().parents[2]
# The server, the images' scripts, the client, the docs' generator and the tests.
FOLDERS = (
    "api",
    "core",
    "kernels",
    "notebooks",
    "pyexec",
    "worker",
    "images",
    "tests",
    "clients",
    "docs",
)


def _sources() -> list[Path]:
    found = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            inside = path.relative_to(ROOT / folder).parts
            # pyexec/<folder> are links to the folders above: each file is read once.
            if folder == "pyexec" and inside[0] in FOLDERS:
                continue
            found.append(path)
    return found


def _definitions() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                where[node.name].append(str(path.relative_to(ROOT)))
    return where


def test_durations_in_seconds_are_named_seconds() -> None:
    short = re.compile(r"\b[A-Z][A-Z0-9_]*_S\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {match.group()}"
        for path in _sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for match in short.finditer(line)
    ]
    assert not offenders, "spell the unit _SECONDS:\n" + "\n".join(offenders)


def test_shared_helpers_and_collectors_are_defined_once() -> None:
    where = _definitions()
    for name in ("strip_ansi", "utcnow", "CellOutputCollector", "JobOutputCollector"):
        assert len(where[name]) == 1, f"{name} is defined in {where[name]}"
    assert "OutputCollector" not in where, where["OutputCollector"]


def test_every_query_of_the_repository_modules_is_in_its_namespace() -> None:
    missing = []
    for module_info in pkgutil.iter_modules(repository.__path__):
        module = importlib.import_module(f"{repository.__name__}.{module_info.name}")
        for name, value in vars(module).items():
            own = inspect.isfunction(value) and value.__module__ == module.__name__
            if own and not name.startswith("_") and getattr(repository, name, None) is not value:
                missing.append(f"{module_info.name}.{name}")
    assert not missing, f"not re-exported by pyexec.core.repository: {missing}"
    assert sorted(repository.__all__) == sorted(
        n for n in dir(repository) if inspect.isfunction(getattr(repository, n))
    )
