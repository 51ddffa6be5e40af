"""The worker the chart deploys, as PyExec's own settings read it.

Every kernel and gateway variable the chart gives the worker is a setting the gateway backend
reads (a misspelt one would be ignored in silence); the launcher those settings make reaches
the chart's gateway with the gateway's token and kernelspec; and with `kernels.workClaim`, the
kernel pod the kernelspec's launch script renders for that launcher's request mounts exactly
the work dir the worker made for it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import PurePosixPath
from typing import Any

import pytest

from pyexec.core.settings import Settings, load_settings
from pyexec.kernels.gateway import GatewayLauncher
from pyexec.worker.kernel_pool import make_launcher
from tests.integration.deploy.test_kernel_pod import KERNEL_ID, launch
from tests.support.chart import NAMESPACE, HelmError, Rendered, render

WORK_CLAIM = "pyexec-kernels-work"
WORKER_POD = "pyexec-worker-5d8f7b9c4-x2x7q"
DATA_DIR = PurePosixPath("/var/lib/pyexec")


@pytest.fixture(scope="module", params=["channel", "shared volume"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(sets=[f"kernels.workClaim={WORK_CLAIM}"] if request.param != "channel" else [])


@pytest.fixture(scope="module")
def shared() -> Rendered:
    return render(sets=[f"kernels.workClaim={WORK_CLAIM}"])


def container(rendered: Rendered, deployment: str) -> dict[str, Any]:
    spec = rendered.named("Deployment", deployment)["spec"]["template"]["spec"]
    return dict(spec["containers"][0])


def resolved_env(rendered: Rendered, deployment: str) -> dict[str, str]:
    """The container's environment as the kubelet would give it (secrets, pod name)."""
    secret = rendered.named("Secret", "pyexec")
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data |= secret.get("stringData") or {}
    env: dict[str, str] = {}
    for item in container(rendered, deployment)["env"]:
        source = item.get("valueFrom", {})
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "secretKeyRef" in source:
            assert source["secretKeyRef"]["name"] == secret["metadata"]["name"]
            env[item["name"]] = data[source["secretKeyRef"]["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = WORKER_POD if deployment.endswith("worker") else deployment
        else:
            raise AssertionError(f"unexpected env source: {item}")
    return env


def setting_names() -> set[str]:
    names = set()
    for field, info in Settings.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None)
        names |= set(map(str, choices)) if choices else {f"PYEXEC_{field.upper()}"}
    return names


def test_every_kernel_and_gateway_variable_of_the_worker_is_a_setting(
    rendered: Rendered,
) -> None:
    env = resolved_env(rendered, "pyexec-worker")
    ours = {name for name in env if name.startswith(("PYEXEC_GATEWAY_", "PYEXEC_KERNEL_"))}
    assert {"PYEXEC_GATEWAY_URL", "PYEXEC_GATEWAY_TOKEN", "PYEXEC_KERNEL_BACKEND"} <= ours
    assert ours - setting_names() == set()


@pytest.fixture
def worker_settings(shared: Rendered, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a worker pod of the chart loads (with kernels.workClaim)."""
    for name in list(os.environ):
        if name in setting_names():
            monkeypatch.delenv(name)
    for name, value in resolved_env(shared, "pyexec-worker").items():
        monkeypatch.setenv(name, value)
    return load_settings()


async def test_the_worker_reaches_the_charts_gateway_with_its_token_and_kernelspec(
    shared: Rendered, worker_settings: Settings
) -> None:
    launcher = make_launcher(worker_settings)
    try:
        assert isinstance(launcher, GatewayLauncher)
        gateway = container(shared, "pyexec-gateway")
        port = next(p["containerPort"] for p in gateway["ports"] if p["name"] == "http")
        assert launcher.url == f"http://pyexec-gateway.{NAMESPACE}.svc:{port}"
        service = shared.named("Service", "pyexec-gateway")
        assert service["spec"]["ports"][0]["port"] == port
        token = resolved_env(shared, "pyexec-gateway")["EG_AUTH_TOKEN"]
        assert token and launcher.api.auth_headers == {"Authorization": f"token {token}"}
        assert f'--KernelSpecManager.whitelist=["{launcher.kernel_name}"]' in gateway["args"]
        # One KERNEL_USERNAME per worker: the gateway's per-user limit is per worker.
        assert launcher.username == launcher.worker_id == WORKER_POD
    finally:
        await launcher.close()


async def test_a_kernel_pod_mounts_the_work_dir_its_worker_made(
    shared: Rendered, worker_settings: Settings
) -> None:
    launcher = make_launcher(worker_settings)
    assert isinstance(launcher, GatewayLauncher)
    await launcher.close()
    # Where the worker's pool makes a kernel's work dir: its own dir in the work root.
    work_dir = worker_settings.work_root / "pool-0a1b2c3d4e5f" / "k-7f3e"
    request_env = launcher._kernel_env(KERNEL_ID, work_dir)

    # What Enterprise Gateway runs the launch script with: the kernelspec's env (the chart's
    # ConfigMap), then the request's KERNEL_* values over it, and its own launch values.
    kernelspec = json.loads(
        shared.named("ConfigMap", "pyexec-gateway-kernelspec")["data"]["kernel.json"]
    )
    env = {"PATH": os.environ["PATH"], **kernelspec["env"], **request_env}
    env |= {
        "KERNEL_POD_NAME": f"pyexec-{KERNEL_ID}",
        "KERNEL_IMAGE": kernelspec["metadata"]["process_proxy"]["config"]["image_name"],
    }
    proc = launch(env)
    assert proc.returncode == 0, proc.stderr
    pod = json.loads(proc.stdout)["spec"]

    (volume,) = [v for v in pod["volumes"] if v["name"] == "work"]
    assert volume["persistentVolumeClaim"]["claimName"] == WORK_CLAIM
    (kernel,) = pod["containers"]
    (mount,) = [m for m in kernel["volumeMounts"] if m["name"] == "work"]
    # The worker sees the same storage as its data volume (the kernels' claim is on it).
    worker = container(shared, "pyexec-worker")
    (data,) = [m for m in worker["volumeMounts"] if m["name"] == "data"]
    assert PurePosixPath(data["mountPath"]) == DATA_DIR
    on_volume = PurePosixPath(work_dir).relative_to(DATA_DIR)
    assert (mount["mountPath"], mount["subPath"]) == ("/work", str(on_volume))
    # The pod's limits are the chart's, not a default of the worker's.
    assert "KERNEL_MEMORY_LIMIT" not in request_env
    assert kernel["resources"]["limits"]["memory"] == kernelspec["env"]["KERNEL_MEMORY_LIMIT"]
    assert pod["securityContext"]["runAsUser"] == worker_pod_uid(shared)


def worker_pod_uid(rendered: Rendered) -> int:
    spec = rendered.named("Deployment", "pyexec-worker")["spec"]["template"]["spec"]
    return int(spec["securityContext"]["runAsUser"])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["gateway.maxKernelsPerUser=7", "worker.kernelPoolSize=4"], "use at least 8, or 0"),
        ([f"kernels.workClaim={WORK_CLAIM}", "kernels.uid=20000"], "kernels.uid must equal"),
    ],
)
def test_values_the_worker_cannot_run_with_are_refused(sets: list[str], message: str) -> None:
    with pytest.raises(HelmError, match=message):
        render(sets=sets)
