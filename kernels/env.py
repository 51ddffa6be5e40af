"""The environment a kernel process starts with.

Kernels run untrusted, LLM-written code, so they never inherit the service's environment
(which holds `OPENAI_API_KEY`, `DATABASE_URL`, `PYEXEC_*`...). Everything a kernel sees is
built here, from nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Per-kernel temp dir inside the work dir, so removing the work dir removes the kernel's
# temporary files too and two kernels never share one.
TMP_DIRNAME = ".tmp"


def build_kernel_env(
    work_dir: Path,
    *,
    path: str = DEFAULT_PATH,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return a minimal environment for a kernel whose working directory is `work_dir`.

    `MPLBACKEND` is deliberately absent: ipykernel then selects its inline backend, which
    renders through Agg and turns figures into `image/png` outputs.
    """
    env = {
        "PATH": path,
        "HOME": str(work_dir),
        "TMPDIR": str(work_dir / TMP_DIRNAME),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        # The kernel's HOME is empty and fresh, so user site-packages could only come from a
        # job planting them for itself; never look there.
        "PYTHONNOUSERSITE": "1",
    }
    if extra:
        env.update(extra)
    return env


def prepend_path(env: Mapping[str, str], directory: str | os.PathLike[str]) -> dict[str, str]:
    """Return a copy of `env` whose PATH starts with `directory` (once)."""
    directory = os.fspath(directory)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != directory]
    return {**env, "PATH": os.pathsep.join([directory, *parts])}
