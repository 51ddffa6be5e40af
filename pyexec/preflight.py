"""What `pyexec serve` checks before it prints or starts anything.

A setting that cannot work on this host (a kernel backend it cannot run) raises
`SettingsError`, which the command line prints as one line; a host whose kernels the sandbox
refuses (`kernels.sandbox`: no way to keep job code out of the service's files, unless
PYEXEC_KERNEL_SANDBOX=off) raises `SandboxUnavailableError`. Otherwise it returns what kernels
will get, for the banner: the pool probes the host again when it starts, the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from pyexec.core.settings import Settings, SettingsError
from pyexec.kernels import Isolation
from pyexec.worker.kernel_pool import make_launcher


def check_kernels(settings: Settings) -> Isolation | None:
    return asyncio.run(_check_kernels(settings))


async def _check_kernels(settings: Settings) -> Isolation | None:
    launcher = make_launcher(settings)
    try:
        # The probe runs the interpreter in the sandbox's view, which binds the work root.
        try:
            settings.work_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            name = "PYEXEC_KERNEL_WORK_ROOT" if settings.kernel_work_root else "PYEXEC_DATA_DIR"
            raise SettingsError(
                f"invalid configuration: {name}: cannot create {settings.work_root} "
                f"({exc.strerror})"
            ) from None
        with _quiet("pyexec.kernels.sandbox"):  # the pool logs the same report once it starts
            return await launcher.check(settings.work_root)
    finally:
        await launcher.close()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
