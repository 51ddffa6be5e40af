import importlib
import json
import signal
import sys
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pyexec.kernels import CellTimeoutError, Execution, ExecutionError, KernelDiedError
from pyexec.kernels.execution import describe_exit, error_line, nb_timestamp
from pyexec.kernels.forkserver.provisioner import PROVISIONER_NAME
from pyexec.kernels.managed import build_kernel_spec

REPO = Path(__file__).resolve().parents[3]
ENTRY_POINT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
    "jupyter_client.kernel_provisioners"
][PROVISIONER_NAME]

# A real IPython 9 traceback, ANSI colours included.
TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mZeroDivisionError\x1b[39m                         Traceback (most recent call last)",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[5]\x1b[39m\x1b[32m, line 3\x1b[39m\n"
    "\x1b[32m      1\x1b[39m x = \x1b[32m1\x1b[39m\n----> \x1b[32m3\x1b[39m x/y\n",
    "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
]


def test_error_message_names_the_line() -> None:
    err = ExecutionError.from_content(
        {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": TRACEBACK}, 5
    )
    assert err.message == "ZeroDivisionError: division by zero (line 3)"
    assert err.traceback == TRACEBACK


def test_deepest_frame_of_the_current_cell_wins() -> None:
    tb = [
        "Cell In[2], line 7\n",
        "Cell In[4], line 9\n",
        "Cell In[4], line 2\n",
        "Cell In[1], line 5",
    ]
    assert error_line(tb, 4) == 2
    assert error_line(tb, 3) == 5  # no frame of cell 3: fall back to the deepest cell frame
    assert error_line(["Input In [1], in <cell line: 4>()"], 1) == 4
    assert error_line(["File /usr/lib/python3.11/json/__init__.py:346"], 1) is None


def test_error_without_value_or_line() -> None:
    err = ExecutionError.from_content({"ename": "KeyboardInterrupt", "evalue": "", "traceback": []})
    assert err.message == "KeyboardInterrupt"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (1, "kernel died (exit code 1)"),
        (-signal.SIGSEGV, "kernel died (signal SIGSEGV)"),
        (-signal.SIGKILL, "kernel died: killed (SIGKILL), possibly out of memory"),
        (None, "kernel died"),
    ],
)
def test_describe_exit(status: int | None, message: str) -> None:
    assert describe_exit(status) == message


def test_timestamps_match_nbclient_format() -> None:
    date = datetime(2024, 5, 1, 14, 3, 2, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert nb_timestamp(date) == "2024-05-01T12:03:02.123456Z"


def _execution(status: str, message: str) -> Execution:
    now = datetime.now(UTC)
    return Execution(
        status=status,  # type: ignore[arg-type]
        outputs=[],
        execution_count=None,
        error=ExecutionError.synthetic("X", message),
        started_at=now,
        finished_at=now,
        duration_ms=0,
    )


def test_raise_for_status_only_for_kernel_failures() -> None:
    with pytest.raises(CellTimeoutError, match="timed out"):
        _execution("timeout", "cell timed out after 2 s").raise_for_status()
    with pytest.raises(KernelDiedError, match="exit code 1"):
        _execution("died", "kernel died (exit code 1)").raise_for_status()
    _execution("error", "ValueError: x").raise_for_status()
    assert issubclass(CellTimeoutError, TimeoutError)
    assert issubclass(KernelDiedError, RuntimeError)


def test_installable_kernelspec_matches_the_programmatic_one() -> None:
    # On disk, the kernel starts through the sandbox launcher beside kernel.json, as the
    # local backend starts it (minus bubblewrap, which wraps it when available).
    on_disk = json.loads((REPO / "kernelspecs/pyexec-python/kernel.json").read_text())
    prefix = [sys.executable, "{resource_dir}/launch.py", "{connection_file}", "--"]
    spec = build_kernel_spec(sys.executable, prefix=prefix).to_dict()
    python = sys.executable
    assert [python if a == "python" else a for a in on_disk["argv"]] == spec["argv"]
    assert (REPO / "kernelspecs/pyexec-python/launch.py").is_file()
    for key in ("display_name", "language", "interrupt_mode", "metadata", "env"):
        assert on_disk[key] == spec[key], key
    assert spec["interrupt_mode"] == "message"


def test_forkserver_kernelspec_names_the_provisioner() -> None:
    on_disk = json.loads((REPO / "kernelspecs/pyexec-forkserver/kernel.json").read_text())
    provisioner = on_disk["metadata"]["kernel_provisioner"]
    assert provisioner["provisioner_name"] == PROVISIONER_NAME
    module, _, name = ENTRY_POINT.partition(":")
    assert getattr(importlib.import_module(module), name).__name__ == "ForkServerProvisioner"
    assert on_disk["interrupt_mode"] == "message"
