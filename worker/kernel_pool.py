"""The kernel pool a worker process runs jobs on, chosen by settings."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from pyexec.core.settings import Settings, SettingsError
from pyexec.kernels import (
    ForkServerLauncher,
    KernelLauncher,
    KernelLimits,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
)
from pyexec.kernels.forkserver import forkserver_support
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
        raise SettingsError(
            "PYEXEC_KERNEL_BACKEND=gateway is not available in this build; "
            "use 'forkserver' or 'local'."
        )
    policy = sandbox_policy(settings)
    if backend == "forkserver":
        supported, why = forkserver_support()
        if supported:
            return ForkServerLauncher(sandbox=policy, start_timeout=settings.kernel_start_timeout)
        if "kernel_backend" in settings.model_fields_set:
            raise SettingsError(f"PYEXEC_KERNEL_BACKEND=forkserver: {why}")
        log.warning("the fork server is not available here (%s); using the local backend", why)
    return LocalLauncher(python=sys.executable, sandbox=policy)


def make_pool(settings: Settings) -> KernelPool:
    return job_pool(
        make_launcher(settings),
        settings.work_root,
        size=settings.kernel_pool_size,
        start_timeout=settings.kernel_start_timeout,
        interrupt_grace=settings.kernel_interrupt_grace,
    )


def job_pool(launcher: KernelLauncher, work_root: Path, **options: Any) -> KernelPool:
    """A pool whose kernels are ready for `run_job`: the tables' formatter is registered and
    pandas' Excel readers chosen while a kernel waits in the pool, not at the start of each job."""
    return KernelPool(
        launcher=launcher,
        work_root=work_root,
        prepare_code=prepare_code(),
        **options,
    )
