"""The fork-server backend: kernels forked from a warmed zygote (see `launcher`, `zygote`)."""

import os
import sys

from pyexec.kernels.forkserver.launcher import ForkServerLauncher
from pyexec.kernels.forkserver.server import ForkServer, ForkServerError

__all__ = ["ForkServer", "ForkServerError", "ForkServerLauncher", "forkserver_support"]


def forkserver_support() -> tuple[bool, str]:
    """Whether this host can fork kernels from a zygote, and if not, why."""
    if not sys.platform.startswith("linux"):
        # macOS's system libraries are not fork-safe once initialised.
        return False, f"forking warmed kernels needs Linux (this is {sys.platform})"
    if not hasattr(os, "fork"):
        return False, "os.fork is unavailable"
    return True, ""
