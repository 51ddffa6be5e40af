"""The two kernel-manager launchers share one module and reach each other through nothing else;
the fork server's provisioner is found through the package's entry point."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from jupyter_client.provisioning.factory import KernelProvisionerFactory

from pyexec.kernels import local, managed
from pyexec.kernels.forkserver import launcher as forkserver_launcher
from pyexec.kernels.forkserver.launcher import ForkServerLauncher
from pyexec.kernels.forkserver.provisioner import PROVISIONER_NAME
from pyexec.kernels.local import LocalLauncher
from pyexec.kernels.managed import ManagedLauncher, build_kernel_spec


def _imports(module: object) -> list[tuple[str, str]]:
    tree = ast.parse(Path(inspect.getfile(module)).read_text())  # type: ignore[arg-type]
    return [
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


def test_the_launchers_are_siblings_over_the_shared_module() -> None:
    assert LocalLauncher.__bases__ == (ManagedLauncher,)
    assert ForkServerLauncher.__bases__ == (ManagedLauncher,)
    for module in (local, forkserver_launcher):
        imported = _imports(module)
        assert not [m for m, _ in imported if m == "pyexec.kernels.local"], module
        assert not [n for m, n in imported if m.startswith("pyexec.") and n.startswith("_")]
        assert not [m for m, _ in imported if m.startswith("jupyter_client.provisioning.")]
    assert managed.__name__ == "pyexec.kernels.managed"


def test_jupyter_client_finds_the_fork_server_provisioner_by_its_entry_point() -> None:
    spec = build_kernel_spec(
        "python3", metadata={"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME}}
    )
    # A fresh factory: nothing of ours registered it beforehand.
    factory = KernelProvisionerFactory()
    assert factory.is_provisioner_available(spec)
    assert PROVISIONER_NAME in factory.get_provisioner_entries()
