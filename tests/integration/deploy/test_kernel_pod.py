"""The kernel pod Enterprise Gateway creates, rendered by the kernelspec's own launch script.

`launch_kubernetes.py --dry-run` runs as the gateway runs it (a subprocess, with the
variables Enterprise Gateway's KubernetesProcessProxy sets and the kernelspec's env), and
the pod it would create is validated against the Kubernetes schemas offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest

from tests.support.chart import KERNELSPEC

KERNEL_ID = "3f8e2a4c-1b6d-4e9f-a0c2-7d5b8e1f9a34"


def gateway_env(**extra: str) -> dict[str, str]:
    """What the launch script's environment holds when Enterprise Gateway runs it."""
    spec = json.loads((KERNELSPEC / "kernel.json").read_text())
    env = {"PATH": os.environ["PATH"], **spec["env"]}
    env |= {
        "KERNEL_ID": KERNEL_ID,
        "KERNEL_USERNAME": "pyexec",
        "KERNEL_POD_NAME": f"pyexec-{KERNEL_ID}",
        "KERNEL_IMAGE": spec["metadata"]["process_proxy"]["config"]["image_name"],
        "KERNEL_LANGUAGE": "python",
        "KERNEL_GATEWAY": "1",
        "KERNEL_PYEXEC_WORKER": "worker-7c9d-1-ab12cd",
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        # Of the gateway's own environment: must not reach the pod.
        "EG_AUTH_TOKEN": "gateway-SEKRET",
    }
    return env | extra


def launch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, str(KERNELSPEC / "scripts" / "launch_kubernetes.py"), "--dry-run",
        "--kernel-id", KERNEL_ID, "--port-range", "40000..41999",
        "--response-address", "10.244.1.7:8877", "--public-key", "MIIBIjANBgkq",
    ]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def pod_for(**extra: str) -> dict[str, Any]:
    proc = launch(gateway_env(**extra))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_kernel_pod_is_valid_kubernetes() -> None:
    pod = pod_for()
    kubernetes_validate.validate(pod, "1.30.0", strict=True)
    kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)
    assert pod["metadata"]["namespace"] == "pyexec-kernels"
    assert pod["metadata"]["labels"]["kernel_id"] == KERNEL_ID
    assert pod["metadata"]["labels"]["component"] == "kernel"  # the gateway's selector


def test_kernel_pod_is_locked_down() -> None:
    spec = pod_for()["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 14400
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/work", "/tmp"}
    assert "hostNetwork" not in spec and "hostPID" not in spec


def test_resources_come_from_kernel_variables() -> None:
    (container,) = pod_for(KERNEL_MEMORY_LIMIT="3Gi", KERNEL_CPUS="2")["spec"]["containers"]
    assert container["resources"]["limits"]["memory"] == "3Gi"
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["resources"]["limits"]["cpu"] == "1"  # the kernelspec's


def test_only_launch_arguments_and_kernel_variables_reach_the_pod() -> None:
    (container,) = pod_for()["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KERNEL_ID"] == KERNEL_ID
    assert env["RESPONSE_ADDRESS"] == "10.244.1.7:8877"
    assert env["PORT_RANGE"] == "40000..41999"
    assert env["KERNEL_PYEXEC_WORKER"] == "worker-7c9d-1-ab12cd"
    assert "EG_AUTH_TOKEN" not in env and "PATH" not in env
    assert not [n for n in env if n.startswith("KUBERNETES")]
    assert "gateway-SEKRET" not in json.dumps(container)


def test_a_value_cannot_inject_yaml() -> None:
    hostile = 'x"\n  hostNetwork: true\nspec: {hostPID: true}'
    pod = pod_for(KERNEL_USERNAME=hostile)
    assert pod["metadata"]["annotations"]["pyexec/kernel-username"] == hostile
    assert "hostNetwork" not in pod["spec"] and "hostPID" not in pod["spec"]


# The worker's KERNEL_WORKING_DIR: its PYEXEC_GATEWAY_KERNEL_WORK_ROOT, the pool's dir, the
# kernel's dir (kernels.gateway.launcher).
WORKING_DIR = "/kernels/pool-0a1b2c3d4e5f/k-7f3e"


def test_shared_work_claim_mounts_only_the_kernels_own_directory() -> None:
    spec = pod_for(KERNEL_WORK_CLAIM="pyexec-kernels-work", KERNEL_WORKING_DIR=WORKING_DIR)[
        "spec"
    ]
    (work,) = [v for v in spec["volumes"] if v["name"] == "work"]
    assert work["persistentVolumeClaim"]["claimName"] == "pyexec-kernels-work"
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "work"]
    assert (mount["subPath"], mount["mountPath"]) == ("kernels/pool-0a1b2c3d4e5f/k-7f3e", "/work")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KERNEL_WORKING_DIR"] == "/work" and container["workingDir"] == "/work"
    kubernetes_validate.validate(
        pod_for(KERNEL_WORK_CLAIM="c", KERNEL_WORKING_DIR=WORKING_DIR),
        kubernetes_validate.latest_version(),
        strict=True,
    )


@pytest.mark.parametrize("working_dir", [None, "", "relative/dir", "/", "/kernels/../etc"])
def test_a_work_claim_without_the_kernels_own_directory_is_refused(
    working_dir: str | None,
) -> None:
    env = gateway_env(KERNEL_WORK_CLAIM="pyexec-kernels-work")
    if working_dir is not None:
        env["KERNEL_WORKING_DIR"] = working_dir
    proc = launch(env)
    assert proc.returncode != 0
    assert "KERNEL_WORKING_DIR" in proc.stderr and "PYEXEC_GATEWAY_KERNEL_WORK_ROOT" in proc.stderr


@pytest.mark.parametrize("missing", ["KERNEL_NAMESPACE", "KERNEL_IMAGE", "KERNEL_POD_NAME"])
def test_missing_launch_variable_is_named(missing: str) -> None:
    env = gateway_env()
    del env[missing]
    proc = launch(env)
    assert proc.returncode != 0
    assert missing in proc.stderr
