"""With tracing off, starting the service imports no OpenTelemetry SDK (a real interpreter)."""

from __future__ import annotations

import subprocess
import sys


def test_the_sdk_is_not_imported_while_tracing_is_off() -> None:
    """Starting the service (its modules, settings, logging) loads no OpenTelemetry SDK or
    exporter: they are imported by `tracing.configure` only when an endpoint is set."""
    code = (
        "import sys\n"
        "import pyexec.cli, pyexec.serve, pyexec.scaled, pyexec.worker.agent.openai_provider\n"
        "from pyexec.cli import _trace\n"
        "from pyexec.core.settings import load_settings\n"
        "_trace(load_settings(), 'serve')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.exporter'))))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYEXEC_DATA_DIR": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
