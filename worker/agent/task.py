"""What the agent loop is given: an immutable task, and a narrow view of the run it drives.

The loop never sees a job run's whole object (its kernel lease, storage, events, artifacts):
only `AgentRun` — run a cell, add a markdown cell, read the cells so far, see cancellation.
`JobRun` implements it; a unit test implements it with a fake. What the loop spent (steps,
tokens) comes back in its outcome as `AgentUsage`, for the run to record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pyexec.kernels import Execution
from pyexec.notebooks import CellRecord
from pyexec.worker.agent.followup import ParentRun
from pyexec.worker.inputs import StagedFile


class JobCancelled(Exception):
    """The client cancelled the job while it ran."""


@dataclass(frozen=True)
class AgentLimits:
    started: float  # `time.monotonic()` when the job started: the budget counts from here
    budget_seconds: float  # the job's whole time budget (`timeout_seconds`)
    max_steps: int  # model turns (PYEXEC_AGENT_MAX_STEPS)
    cell_timeout_seconds: float  # one cell (PYEXEC_AGENT_CELL_TIMEOUT)

    @property
    def deadline(self) -> float:
        return self.started + self.budget_seconds


@dataclass(frozen=True)
class AgentTask:
    job_id: str  # for log lines only
    prompt: str | None  # None: a follow-up without a prompt only replays its parent
    files: tuple[StagedFile, ...]  # staged in the kernel's work dir, in the job's order
    parent: ParentRun | None  # a follow-up's parent, whose cells run first
    limits: AgentLimits


@dataclass(frozen=True)
class AgentUsage:
    model: str
    steps: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The keys the job's `usage` has always had (API.md)."""
        return {
            "model": self.model,
            "steps": self.steps,
            "llm_prompt_tokens": self.llm_prompt_tokens,
            "llm_completion_tokens": self.llm_completion_tokens,
        }


class AgentRun(Protocol):
    """What the loop needs from the run it drives."""

    @property
    def cells(self) -> Sequence[CellRecord]:
        """The notebook's cells so far (after the title), replayed ones included."""
        ...

    @property
    def cancel_requested(self) -> asyncio.Event:
        """Set when the client cancels the job."""
        ...

    async def run_cell(
        self,
        source: str,
        timeout: float,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
        collect: bool = True,
    ) -> Execution:
        """Run a code cell in the job's kernel and record it; raises `JobCancelled` once the
        client cancelled (after keeping what the cell printed)."""
        ...

    async def add_markdown(
        self,
        source: str,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> None: ...
