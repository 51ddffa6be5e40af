"""The kernel pool a worker process runs jobs on, chosen by settings."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyexec.core import metrics
from pyexec.core.settings import Settings, SettingsError
from pyexec.kernels import (
    ForkServerLauncher,
    Isolation,
    KernelLauncher,
    KernelLimits,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
)
from pyexec.kernels.forkserver import forkserver_support
from pyexec.kernels.gateway import GatewayAuthError, GatewayLauncher, KernelSpecNotFoundError
from pyexec.kernels.telemetry import listen
from pyexec.worker.kernel_source import prepare_code

log = logging.getLogger("pyexec.worker")


def sandbox_policy(settings: Settings) -> SandboxPolicy:
    uids = settings.kernel_uids
    return SandboxPolicy(
        mode=settings.kernel_sandbox,
        uid_first=uids.start,
        uid_count=len(uids),
        limits=KernelLimits(
            memory_mb=settings.kernel_memory_mb,
            processes=settings.kernel_max_processes,
            cpu_seconds=settings.kernel_cpu_seconds,
            file_size_mb=settings.kernel_max_file_mb,
            open_files=settings.kernel_max_open_files,
            tmp_mb=settings.kernel_tmp_mb,
        ),
        # The database, other jobs' files and the demo key live here.
        hidden=(settings.data_dir,),
    )


def make_launcher(settings: Settings) -> KernelLauncher:
    backend = settings.kernel_backend
    if backend == "gateway":
        return gateway_launcher(settings)
    policy = sandbox_policy(settings)
    if backend == "forkserver":
        supported, why = forkserver_support()
        if supported:
            return ForkServerLauncher(sandbox=policy, start_timeout=settings.kernel_start_timeout)
        if "kernel_backend" in settings.model_fields_set:
            raise SettingsError(f"PYEXEC_KERNEL_BACKEND=forkserver: {why}")
        log.warning("the fork server is not available here (%s); using the local backend", why)
    return LocalLauncher(python=sys.executable, sandbox=policy)


class ConfiguredGatewayLauncher(GatewayLauncher):
    """Says which setting to fix when the gateway refuses us at start-up."""

    async def check(self, work_root: Path) -> Isolation:
        with _naming_the_setting():
            return await super().check(work_root)

    async def start(self) -> None:
        with _naming_the_setting():
            await super().start()


@contextlib.contextmanager
def _naming_the_setting() -> Iterator[None]:
    try:
        yield
    except GatewayAuthError as exc:
        raise SettingsError(f"PYEXEC_GATEWAY_TOKEN / PYEXEC_GATEWAY_USERNAME: {exc}") from None
    except KernelSpecNotFoundError as exc:
        raise SettingsError(f"PYEXEC_GATEWAY_KERNEL_NAME: {exc}") from None


def gateway_launcher(settings: Settings) -> GatewayLauncher:
    if not settings.gateway_url:
        raise SettingsError(
            "PYEXEC_GATEWAY_URL: PYEXEC_KERNEL_BACKEND=gateway needs the gateway's URL "
            "(e.g. http://enterprise-gateway:8888)"
        )
    kernel_env: dict[str, str] = {}
    if settings.kernel_memory_mb and "kernel_memory_mb" in settings.model_fields_set:
        # The pod template reads it (EG's kernel-pod.yaml.j2 convention). Only when set: a
        # request's KERNEL_* values override the kernelspec's, whose limit is the deployment's.
        kernel_env["KERNEL_MEMORY_LIMIT"] = f"{settings.kernel_memory_mb}Mi"
    kernel_env.update(settings.gateway_kernel_env)
    return ConfiguredGatewayLauncher(
        settings.gateway_url,
        token=settings.gateway_token,
        kernel_name=settings.gateway_kernel_name,
        username=settings.gateway_username,
        worker_id=settings.gateway_worker_id or socket.gethostname(),
        kernel_env=kernel_env,
        kernel_work_root=settings.gateway_kernel_work_root,
        worker_work_root=settings.work_root,
        request_timeout=settings.gateway_request_timeout,
        launch_timeout=settings.kernel_start_timeout,
    )


def make_pool(settings: Settings) -> KernelPool:
    listen(metrics.KernelMetrics())  # kernel starts, zygote restarts, gateway errors
    pool = job_pool(
        make_launcher(settings),
        settings.work_root,
        size=settings.kernel_pool_size,
        start_timeout=settings.kernel_start_timeout,
        interrupt_grace=settings.kernel_interrupt_grace,
    )
    metrics.watch_pool(pool)
    return pool


def job_pool(launcher: KernelLauncher, work_root: Path, **options: Any) -> KernelPool:
    """A pool whose kernels are ready for `run_job`: the tables' formatter is registered and
    pandas' Excel readers chosen while a kernel waits in the pool, not at the start of each job."""
    return KernelPool(
        launcher=launcher,
        work_root=work_root,
        prepare_code=prepare_code(),
        **options,
    )
