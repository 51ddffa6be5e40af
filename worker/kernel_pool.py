"""The kernel pool a worker process runs jobs on, chosen by settings."""

from __future__ import annotations

import sys

from core.settings import Settings, SettingsError
from kernels import KernelPool, LocalLauncher


def make_pool(settings: Settings) -> KernelPool:
    if settings.kernel_backend != "local":
        raise SettingsError(
            f"PYEXEC_KERNEL_BACKEND={settings.kernel_backend} is not available in this build; "
            "use 'local'."
        )
    return KernelPool(
        size=settings.kernel_pool_size,
        launcher=LocalLauncher(python=sys.executable),
        work_root=settings.data_dir / "work",
        start_timeout=settings.kernel_start_timeout,
        interrupt_grace=settings.kernel_interrupt_grace,
    )
