"""What running one cell produced: `Execution` and `ExecutionError` are plain data."""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pyexec.kernels.errors import CellTimeoutError, KernelDiedError

ExecutionStatus = Literal["ok", "error", "timeout", "died", "cancelled"]
# The synthetic error of a cell the kernel never answered (IOPub went idle, no execute_reply).
NO_REPLY_ERROR = "KernelProtocolError"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# IPython >= 8.6 prints "Cell In[3], line 4"; 8.0-8.5 printed "Input In [3], in <cell line: 4>".
_CELL_FRAME = re.compile(
    r"(?:Cell In|Input In) ?\[(?P<count>\d+)\], (?:line (?P<line>\d+)|in <cell line: (?P<old>\d+)>)"
)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def error_line(traceback: list[str], execution_count: int | None = None) -> int | None:
    """The line of the cell where the error happened, read from an IPython traceback.

    The deepest frame in the current cell wins: for `def f(): 1/0` then `f()`, the user wants
    the line of `1/0`. Frames of earlier cells only count when the current one has none.
    """
    current: int | None = None
    any_cell: int | None = None
    for match in _CELL_FRAME.finditer(strip_ansi("\n".join(traceback))):
        line = int(match["line"] or match["old"])
        any_cell = line
        if execution_count is None or int(match["count"]) == execution_count:
            current = line
    return current if current is not None else any_cell


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """An exception raised by user code (or a synthetic one for a timeout or a dead kernel)."""

    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)  # raw, may contain ANSI colours
    message: str = ""  # one human line, e.g. "ZeroDivisionError: division by zero (line 3)"

    @classmethod
    def from_content(
        cls, content: Mapping[str, Any], execution_count: int | None = None
    ) -> ExecutionError:
        """Build from an `error` output or an `execute_reply` with status "error"."""
        ename = str(content.get("ename", "Error"))
        evalue = str(content.get("evalue", ""))
        traceback = [str(t) for t in content.get("traceback") or []]
        message = f"{ename}: {evalue}" if evalue else ename
        line = error_line(traceback, execution_count)
        if line is not None:
            message += f" (line {line})"
        return cls(ename=ename, evalue=evalue, traceback=traceback, message=message)

    @classmethod
    def synthetic(
        cls, ename: str, message: str, traceback: list[str] | None = None
    ) -> ExecutionError:
        return cls(ename=ename, evalue=message, traceback=traceback or [], message=message)


@dataclass(slots=True)
class Execution:
    """The result of running one cell. A failure in user code is here, never raised."""

    status: ExecutionStatus
    outputs: list[dict[str, Any]]  # nbformat v4 output dicts, in order
    execution_count: int | None
    error: ExecutionError | None
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    # Same keys and format as nbclient's `cell.metadata.execution`.
    timing: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def unanswered(self) -> bool:
        """The kernel never replied to the cell: the kernel failed, not the code."""
        return self.error is not None and self.error.ename == NO_REPLY_ERROR

    def raise_for_status(self) -> None:
        """Raise for failures of the kernel (timeout, death); user-code errors stay data."""
        message = self.error.message if self.error else self.status
        if self.status == "timeout":
            raise CellTimeoutError(message)
        if self.status == "died":
            raise KernelDiedError(message)


def nb_timestamp(value: Any) -> str:
    """Format a message header date exactly like nbclient does for `metadata.execution`."""
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo is not None else value
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def describe_exit(exit_status: int | None) -> str:
    """Human text for how a kernel process ended (Popen returncode convention)."""
    if exit_status is None:
        return "kernel died"
    if exit_status >= 0:
        return f"kernel died (exit code {exit_status})"
    try:
        name = signal.Signals(-exit_status).name
    except ValueError:
        name = f"signal {-exit_status}"
    if -exit_status == signal.SIGKILL:
        # Nobody else sends SIGKILL to a kernel mid-cell: the kernel OOM killer (or a cgroup
        # memory limit) is by far the likeliest sender.
        return f"kernel died: killed ({name}), possibly out of memory"
    return f"kernel died (signal {name})"


def format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"
