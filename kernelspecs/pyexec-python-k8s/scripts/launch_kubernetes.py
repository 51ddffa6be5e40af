"""Start one PyExec kernel as a Kubernetes pod: Enterprise Gateway runs this per kernel.

The kernelspec `pyexec-python-k8s` names this script as its command, so Enterprise Gateway's
KubernetesProcessProxy runs it (in the gateway's pod, with the gateway's Python) to launch a
kernel, then waits for the pod's launcher to send the kernel's connection back. It renders
`kernel-pod.yaml.j2` beside it from the `KERNEL_*` variables of its environment (lower-cased:
`KERNEL_MEMORY` -> `kernel_memory`) and the launch arguments, and creates the pod.

Unlike the launcher Enterprise Gateway ships, it passes the pod only the launch arguments and
the `KERNEL_*` variables, never the rest of the gateway's environment, and creates nothing
but the one pod. `--dry-run` prints the pod instead of creating it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any

TEMPLATE = Path(__file__).with_name("kernel-pod.yaml.j2")
# Read by the template or by the gateway itself; everything else KERNEL_* reaches the kernel.
TEMPLATE_ONLY = frozenset({
    "KERNEL_NAMESPACE", "KERNEL_POD_NAME", "KERNEL_IMAGE", "KERNEL_EXECUTOR_IMAGE",
    "KERNEL_SERVICE_ACCOUNT_NAME", "KERNEL_UID", "KERNEL_GID", "KERNEL_CPUS", "KERNEL_MEMORY",
    "KERNEL_CPUS_LIMIT", "KERNEL_MEMORY_LIMIT", "KERNEL_WORK_DIR_SIZE", "KERNEL_TMP_SIZE",
    "KERNEL_WORK_CLAIM", "KERNEL_IMAGE_PULL_POLICY", "KERNEL_ID", "KERNEL_WORKING_DIR",
    "KERNEL_LAUNCH_TIMEOUT", "KERNEL_MAX_LIFETIME",
})  # fmt: skip


def work_subpath(env: dict[str, str]) -> str | None:
    """The kernel's own directory on the shared claim (`KERNEL_WORK_CLAIM`), which its pod
    mounts as /work: the worker names it in `KERNEL_WORKING_DIR`, as a path on the claim
    (its `PYEXEC_GATEWAY_KERNEL_WORK_ROOT` plus the pool's dir and the kernel's)."""
    if not env.get("KERNEL_WORK_CLAIM"):
        return None
    working = env.get("KERNEL_WORKING_DIR", "")
    parts = PurePosixPath(working).parts
    if not working.startswith("/") or len(parts) < 2 or any(p in (".", "..") for p in parts):
        raise SystemExit(
            "launch_kubernetes: KERNEL_WORK_CLAIM is set, so KERNEL_WORKING_DIR must name the "
            f"kernel's directory as an absolute path on the claim (got {working!r}; the "
            "worker sends it when PYEXEC_GATEWAY_KERNEL_WORK_ROOT is set)"
        )
    return "/".join(parts[1:])


def template_values(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.startswith("KERNEL_")}
    subpath = work_subpath(env)
    if subpath is not None:
        values["kernel_work_subpath"] = subpath
    values |= {
        "kernel_id": args.kernel_id,
        "response_address": args.response_address,
        "public_key": args.public_key,
        "port_range": args.port_range or "0..0",
        "passed_env": {
            k: v for k, v in env.items() if k.startswith("KERNEL_") and k not in TEMPLATE_ONLY
        },
    }
    return values


def render_pod(values: dict[str, Any]) -> dict[str, Any]:
    """The pod manifest, as a dict; a template error or a missing value raises."""
    import jinja2.sandbox
    import yaml

    environment = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        autoescape=False,
        keep_trailing_newline=True,
    )
    for required in ("kernel_pod_name", "kernel_namespace", "kernel_image"):
        if not values.get(required):
            raise SystemExit(f"launch_kubernetes: {required.upper()} is not set")
    pod = yaml.safe_load(environment.get_template(TEMPLATE.name).render(**values))
    if not isinstance(pod, dict) or pod.get("kind") != "Pod":
        raise SystemExit("launch_kubernetes: the template did not render one Pod")
    return pod


def create_pod(pod: dict[str, Any]) -> None:
    from kubernetes import client, config

    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config()
    client.CoreV1Api().create_namespaced_pod(namespace=pod["metadata"]["namespace"], body=pod)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--port-range", default="0..0")
    parser.add_argument("--response-address", required=True)
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the pod, create nothing")
    args, _ignored = parser.parse_known_args(argv)
    pod = render_pod(template_values(args, dict(os.environ)))
    if args.dry_run:
        json.dump(pod, sys.stdout, indent=2)
        return 0
    create_pod(pod)
    print(f"created pod {pod['metadata']['namespace']}/{pod['metadata']['name']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
