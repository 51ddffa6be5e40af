"""Driving the offline planner as the agent loop does, in one real kernel: the file is staged
and described by the real inspection cell, every cell the planner writes runs in the kernel,
and its outputs go back to it until it answers or refuses."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pyexec.kernels import Kernel, KernelPool, LocalLauncher
from pyexec.worker.agent.inspection import inspection_code, parse_inspection
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    ModelError,
    StepResult,
)
from pyexec.worker.agent.planner import OfflinePlanner, PlanError
from pyexec.worker.inputs import StagedFile

MAX_TURNS = 12


@dataclass
class Outcome:
    answer: str | None = None  # the final answer
    refusal: str | None = None  # the planner refused (PlanError)
    error: str | None = None  # a cell failed, or anything else went wrong
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Analyst:
    kernel: Kernel
    loaded: dict[str, FileSummary] = field(default_factory=dict)
    current: str | None = None
    placed: dict[str, int] = field(default_factory=dict)  # staged file -> its size

    async def load(self, path: Path) -> FileSummary:
        """Stage `path` in the kernel's work dir and describe it, as a job does."""
        if self.current == path.name:
            return self.loaded[path.name]
        if path.name not in self.placed:
            self.placed[path.name] = await self.kernel.files.put(path.name, path)
        staged = StagedFile(path.name, self.placed[path.name], "text/csv")
        execution = await self.kernel.execute(inspection_code([staged]), timeout=120)
        found = parse_inspection(execution.outputs)
        if execution.status != "ok" or not found:
            raise RuntimeError(f"inspection of {path.name} failed: {execution.error}")
        self.loaded[path.name] = found[0]
        self.current = path.name
        return found[0]

    async def ask(self, prompt: str, path: Path) -> Outcome:
        summary = await self.load(path)
        planner = OfflinePlanner()
        conversation = Conversation(prompt=prompt, files=[summary])
        outcome = Outcome(steps=conversation.steps)
        started = time.perf_counter()
        try:
            for _ in range(MAX_TURNS):
                turn = await planner.next_turn(conversation)
                (call,) = turn.tool_calls
                if call.name == FINAL_ANSWER:
                    outcome.answer = call.arguments["text"]
                    break
                assert call.name == RUN_PYTHON
                code = call.arguments["code"]
                execution = await self.kernel.execute(code, timeout=120)
                error = execution.error.message if execution.error else None
                conversation.steps.append(
                    StepResult(code, execution.status, execution.outputs, "", error)
                )
            else:
                outcome.error = f"no answer after {MAX_TURNS} turns"
        except PlanError as exc:
            outcome.refusal = str(exc)
        except ModelError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # a bug of the planner is an error, not a crash of the run
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.seconds = time.perf_counter() - started
        return outcome


@asynccontextmanager
async def analyst(work_root: Path) -> AsyncIterator[Analyst]:
    pool = KernelPool(
        size=1,
        launcher=LocalLauncher(python=sys.executable),
        work_root=work_root,
        start_timeout=120,
        interrupt_grace=1.0,
    )
    await pool.start()
    try:
        async with pool.lease() as kernel:
            yield Analyst(kernel)
    finally:
        await pool.close()
