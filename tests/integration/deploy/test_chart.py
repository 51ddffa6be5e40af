"""The helm chart, rendered by real Helm with default and production values, checked offline.

Every manifest is validated against the Kubernetes schemas (kubernetes-validate, strict), the
chart passes `helm lint --strict`, and what matters for running untrusted code is asserted:
no root, limits and probes everywhere, kernels boxed in by NetworkPolicy, secrets only in
Secrets, migrations before new pods, image tags from appVersion, typos in values refused.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.chart import (
    CHART,
    CUSTOM_KINDS,
    NAMESPACE,
    PRODUCTION_VALUES,
    ROOT,
    HelmError,
    Rendered,
    helm,
    render,
)

KUBERNETES_VERSION = "1.30.0"  # the oldest release the chart is validated against
VALUES = {"default": (), "production": (PRODUCTION_VALUES,)}
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(VALUES[request.param])


@pytest.fixture(scope="module")
def production() -> Rendered:
    return render([PRODUCTION_VALUES])


@pytest.fixture(scope="module")
def default() -> Rendered:
    return render()


def test_every_manifest_is_valid_kubernetes(rendered: Rendered) -> None:
    kinds = set()
    for manifest in rendered.manifests:
        kinds.add(manifest["kind"])
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in (KUBERNETES_VERSION, kubernetes_validate.latest_version()):
            kubernetes_validate.validate(manifest, version, strict=True)
    assert {"Deployment", "Service", "NetworkPolicy", "Job", "ConfigMap", "Role"} <= kinds


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_strict(values: str) -> None:
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for path in VALUES[values]:
        args += ["--values", str(path)]
    assert "0 chart(s) failed" in helm(*args)


def test_no_container_runs_as_root(rendered: Rendered) -> None:
    for workload, spec in rendered.pod_specs():
        pod = spec.get("securityContext", {})
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = container.get("securityContext", {})
            where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            assert ctx.get("runAsUser", pod.get("runAsUser")) not in (0, None), where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", workload["metadata"]["name"]


def test_every_container_has_limits_and_every_server_probes(rendered: Rendered) -> None:
    for workload, container, is_init in rendered.containers():
        where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
        limits = container.get("resources", {}).get("limits", {})
        assert {"cpu", "memory"} <= set(limits), where
        if is_init or workload["kind"] == "Job":
            continue  # Kubernetes allows no readiness probe on these: they run to completion
        assert "livenessProbe" in container, where
        assert "readinessProbe" in container, where


def test_api_probes_health_and_readiness(rendered: Rendered) -> None:
    api = rendered.named("Deployment", "pyexec-api")["spec"]["template"]["spec"]
    (container,) = api["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_kernels_namespace_denies_egress(rendered: Rendered) -> None:
    kernels = "pyexec-kernels"
    policies = [
        p for p in rendered.of_kind("NetworkPolicy") if p["metadata"].get("namespace") == kernels
    ]
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny, "no namespace-wide policy in the kernels namespace"
    assert {"Ingress", "Egress"} <= set(deny[0]["spec"]["policyTypes"])
    assert not deny[0]["spec"].get("egress") and not deny[0]["spec"].get("ingress")
    gateway = {"app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "pyexec"}
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            # Only the gateway's response port: no ipBlock, no DNS, no namespace-wide peer.
            assert [p["protocol"] for p in rule["ports"]] == ["TCP"]
            assert [p["port"] for p in rule["ports"]] == [8877]
            for peer in rule["to"]:
                assert "ipBlock" not in peer
                assert gateway.items() <= peer["podSelector"]["matchLabels"].items()
                assert peer["namespaceSelector"]["matchLabels"] == {
                    "kubernetes.io/metadata.name": NAMESPACE
                }
        for rule in policy["spec"].get("ingress", []):
            assert rule["from"], "a kernel accepting traffic from anywhere"
            for peer in rule["from"]:
                assert gateway.items() <= peer["podSelector"]["matchLabels"].items()


def test_only_the_api_is_reachable_from_outside(rendered: Rendered) -> None:
    for service in rendered.of_kind("Service"):
        if service["metadata"]["name"] != "pyexec-api":
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]
    for ingress in rendered.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "pyexec-api"
    selected = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        component = (
            policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        )
        selected.add(component)
        for rule in policy["spec"].get("ingress", []):
            if not rule.get("from"):
                assert component == "api", f"{policy['metadata']['name']} admits anyone"
    # Every component of the release is covered by an ingress policy.
    components = {
        w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for w, _ in rendered.pod_specs()
    }
    assert components <= selected


def _secret_values(rendered: Rendered) -> set[str]:
    values = set()
    for secret in rendered.of_kind("Secret"):
        values |= {v for v in secret.get("stringData", {}).values() if len(v) >= 8}
    return values


SECRETS = {
    "secrets.databaseUrl": "postgresql://pyexec:db-SEKRET-pw@db.internal:5432/pyexec",
    "secrets.redisUrl": "rediss://:redis-SEKRET-pw@redis.internal:6380/0",
    "secrets.gatewayToken": "gateway-SEKRET-token",
    "llm.apiKey": "sk-SEKRET-openai",
    "postgresql.enabled": "false",
    "redis.enabled": "false",
}


@pytest.mark.parametrize("source", ["given", "generated"])
def test_secrets_land_only_in_secrets(source: str) -> None:
    if source == "given":
        rendered = render(sets=[f"{k}={v}" for k, v in SECRETS.items()])
        secrets = {v for k, v in SECRETS.items() if "enabled" not in k}
    else:
        rendered = render()  # the chart's PostgreSQL password and gateway token, generated
        secrets = _secret_values(rendered)
    assert len(secrets) >= 4
    assert secrets <= _secret_values(rendered)
    for manifest in rendered.manifests:
        if manifest["kind"] == "Secret":
            continue
        text = json.dumps(manifest)
        for secret in secrets:
            assert secret not in text, f"a secret in {manifest['kind']}/{manifest['metadata']}"
    for workload, container, _ in rendered.containers():
        for env in container.get("env", []):
            if any(word in env["name"] for word in ("TOKEN", "PASSWORD", "KEY", "_URL")):
                if env["name"] in ("PYEXEC_GATEWAY_URL", "OPENAI_BASE_URL"):
                    continue
                assert "secretKeyRef" in env.get("valueFrom", {}), (workload["kind"], env)


def test_existing_secret_makes_no_secret(production: Rendered) -> None:
    hooks = [
        s for s in production.of_kind("Secret")
        if "helm.sh/hook" not in s["metadata"].get("annotations", {})
    ]  # fmt: skip
    assert hooks == []
    refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for _, container, _ in production.containers()
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert refs == {"pyexec"}


def _hook(manifest: dict[str, Any]) -> tuple[set[str], int]:
    notes = manifest["metadata"].get("annotations", {})
    phases = set(notes["helm.sh/hook"].split(",")) if "helm.sh/hook" in notes else set()
    return phases, int(notes.get("helm.sh/hook-weight", 0))


def test_migration_hook_runs_before_the_new_pods(production: Rendered) -> None:
    job = production.named("Job", "pyexec-migrate")
    assert _hook(job)[0] == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for workload, _ in production.pod_specs():
        if workload is not job:  # Deployments are release resources: created after pre-hooks
            assert _hook(workload)[0] == set(), workload["metadata"]["name"]
    # What the hook reads exists before it: the operator's Secret, nothing of the release.
    for env in container["env"]:
        if "secretKeyRef" in env.get("valueFrom", {}):
            assert env["valueFrom"]["secretKeyRef"]["name"] == "pyexec"


def test_chart_database_migrates_in_init_containers_then_by_hook(default: Rendered) -> None:
    job = default.named("Job", "pyexec-migrate")
    assert _hook(job)[0] == {"pre-upgrade"}  # no database exists before the first install
    (secret,) = [s for s in default.of_kind("Secret") if s["metadata"]["name"] == "pyexec-migrate"]
    assert _hook(secret)[0] == {"pre-upgrade"} and _hook(secret)[1] < _hook(job)[1]
    for name in ("pyexec-api", "pyexec-worker"):
        spec = default.named("Deployment", name)["spec"]["template"]["spec"]
        assert [c["args"] for c in spec["initContainers"]] == [["migrate"]]


def test_image_tags_come_from_app_version(rendered: Rendered) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert project == APP_VERSION, "images are built with the project's version"
    ours = [c["image"] for _, c, _ in rendered.containers() if "pyexec" in c["image"].split(":")[0]]
    assert ours and all(image.endswith(f":{APP_VERSION}") for image in ours)
    spec = json.loads(
        rendered.named("ConfigMap", "pyexec-gateway-kernelspec")["data"]["kernel.json"]
    )
    assert spec["metadata"]["process_proxy"]["config"]["image_name"].endswith(f":{APP_VERSION}")


def test_image_tag_override() -> None:
    rendered = render(sets=["image.tag=1.2.3", "kernels.image.tag=1.2.4"])
    api = rendered.named("Deployment", "pyexec-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == "pyexec:1.2.3"
    spec = json.loads(
        rendered.named("ConfigMap", "pyexec-gateway-kernelspec")["data"]["kernel.json"]
    )
    assert spec["metadata"]["process_proxy"]["config"]["image_name"] == "pyexec-kernel:1.2.4"


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"api": {"replcas": 3}}, "replcas"),
        ({"worker": {"kernelPoolSize": "four"}}, "kernelPoolSize"),
        ({"gateway": {"kernelPortRange": "40000-41000"}}, "kernelPortRange"),
        ({"gateway": {"kernelPortRange": "40000..40999"}}, "at least 1,000 ports"),
        ({"secrets": {"redisUrl": "localhost:6379"}}, "redisUrl"),
        ({"imagePullSecret": [{"name": "x"}]}, "imagePullSecret"),
    ],
)
def test_values_that_break_the_schema_are_rejected(
    tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text(yaml.safe_dump(values))
    with pytest.raises(HelmError, match=complaint):
        render([bad])


def test_worker_grace_covers_its_drain(rendered: Rendered) -> None:
    spec = rendered.named("Deployment", "pyexec-worker")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert spec["terminationGracePeriodSeconds"] > int(env["PYEXEC_SHUTDOWN_GRACE_SECONDS"])
    assert env["PYEXEC_KERNEL_BACKEND"] == "gateway"


def test_api_drain_lets_open_waits_end_inside_the_pods_grace(rendered: Rendered) -> None:
    spec = rendered.named("Deployment", "pyexec-api")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    grace = int(env["PYEXEC_SHUTDOWN_GRACE_SECONDS"])
    assert 60 <= grace < spec["terminationGracePeriodSeconds"]  # ?wait= holds up to 60 s


def test_gateway_and_workers_share_the_token(rendered: Rendered) -> None:
    def token_ref(deployment: str, variable: str) -> dict[str, str]:
        spec = rendered.named("Deployment", deployment)["spec"]["template"]["spec"]
        (env,) = [e for e in spec["containers"][0]["env"] if e["name"] == variable]
        return env["valueFrom"]["secretKeyRef"]

    assert token_ref("pyexec-gateway", "EG_AUTH_TOKEN") == token_ref(
        "pyexec-worker", "PYEXEC_GATEWAY_TOKEN"
    )


def test_gateway_may_touch_only_pods_in_the_kernels_namespace(rendered: Rendered) -> None:
    assert rendered.of_kind("ClusterRole") == [] and rendered.of_kind("ClusterRoleBinding") == []
    (role,) = rendered.of_kind("Role")
    assert role["metadata"]["namespace"] == "pyexec-kernels"
    assert [r["resources"] for r in role["rules"]] == [["pods"]]
    kernel_sa = [
        s for s in rendered.of_kind("ServiceAccount") if s["metadata"]["name"] == "pyexec-kernel"
    ]
    assert kernel_sa[0]["automountServiceAccountToken"] is False


def test_kernelspec_config_map_is_the_repository_kernelspec(rendered: Rendered) -> None:
    data = rendered.named("ConfigMap", "pyexec-gateway-kernelspec")["data"]
    here = ROOT / "kernelspecs" / "pyexec-python-k8s"
    for name in ("launch_kubernetes.py", "kernel-pod.yaml.j2"):
        assert data[name] == (here / "scripts" / name).read_text()
    spec, original = json.loads(data["kernel.json"]), json.loads((here / "kernel.json").read_text())
    assert spec["argv"] == original["argv"]
    assert spec["metadata"]["process_proxy"]["class_name"].endswith("KubernetesProcessProxy")
    assert spec["env"]["KERNEL_NAMESPACE"] == "pyexec-kernels"


@pytest.mark.parametrize("keda", [True, False])
def test_worker_autoscaling_on_queue_depth(keda: bool) -> None:
    rendered = render(
        sets=["worker.autoscaling.enabled=true"],
        api_versions=["keda.sh/v1alpha1"] if keda else [],
    )
    if keda:
        (scaled,) = rendered.of_kind("ScaledObject")
        assert scaled["spec"]["scaleTargetRef"]["name"] == "pyexec-worker"
        assert "pyexec_queue_depth" in scaled["spec"]["triggers"][0]["metadata"]["query"]
        assert [h["metadata"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")] == []
    else:
        (hpa,) = rendered.of_kind("HorizontalPodAutoscaler")
        assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "pyexec_queue_depth"
        assert rendered.of_kind("ScaledObject") == []
    assert "replicas" not in rendered.named("Deployment", "pyexec-worker")["spec"]


def test_notes_say_how_to_reach_the_api_and_get_a_key() -> None:
    notes = helm("install", "pyexec", str(CHART), "--dry-run=client", "--namespace", NAMESPACE)
    assert "port-forward service/pyexec-api" in notes
    assert "pyexec-server keys create" in notes
    assert "WARNING: this release runs the chart's own single-replica PostgreSQL and Redis" in notes


def _leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += _leaves(value, path + ".")
        else:
            paths.append(path)
    return paths


def test_chart_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    missing = []
    for path in _leaves(yaml.safe_load((CHART / "values.yaml").read_text())):
        parts = path.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        listed = any(f"`{p}`" in readme or f"`{p}.*`" in readme for p in prefixes)
        grouped = any(  # `api.nodeSelector`, `.tolerations`: a row naming several siblings
            f"`.{parts[k - 1]}`" in readme and f"`{'.'.join(parts[: k - 1])}." in readme
            for k in range(2, len(parts) + 1)
        )
        if not (listed or grouped):
            missing.append(path)
    assert missing == []
