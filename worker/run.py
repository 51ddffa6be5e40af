"""`run_job`: one job from pending to a final status, in a fresh kernel, idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pyexec.core import logs, metrics, repository
from pyexec.core.clock import utcnow
from pyexec.core.event_types import (
    CancelRequested,
    CellFinished,
    CellOutput,
    CellStarted,
    JobEvent,
    MarkdownAdded,
    StatusChanged,
    parse_event,
)
from pyexec.core.events import Event
from pyexec.core.files import detect_media_type, human_bytes
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime
from pyexec.core.tracing import span
from pyexec.kernels import Collected, Execution, Kernel, KernelFiles, KernelPool
from pyexec.kernels.warmup import WARMUP_CODE
from pyexec.notebooks import CellRecord, Transcript, build_notebook, notebook_to_bytes
from pyexec.worker.agent import (
    AgentLimits,
    AgentOutcome,
    AgentTask,
    Analyst,
    JobCancelled,
    Model,
    ParentRun,
    inputs_of,
    load_parent,
)
from pyexec.worker.artifacts import ArtifactBudget
from pyexec.worker.cells import split_cells
from pyexec.worker.files import InputUnavailable
from pyexec.worker.inputs import InputStager, NoInputs, StagedFile
from pyexec.worker.job_outputs import JobOutputCollector, cap_cell_outputs, result_text
from pyexec.worker.quota import JobStorage

log = logging.getLogger("pyexec.worker")


@dataclass
class WorkerContext:
    """What a worker process holds, filled at start-up."""

    runtime: Runtime
    pool: KernelPool
    # Writes the cells of prompt jobs (an LLM or the offline planner), opened at start-up.
    model: Model
    inputs: InputStager = field(default_factory=NoInputs)


@dataclass
class Outcome:
    status: JobStatus
    result: str | None = None
    error_message: str | None = None
    ungrounded_numbers: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)  # what the agent spent: model, steps


@dataclass
class JobRun:
    ctx: WorkerContext
    job: Job
    # The owner's plan as whoever admitted the job read it (for the finished-jobs metric).
    plan: str
    cells: list[CellRecord] = field(default_factory=list)
    collector: JobOutputCollector = field(init=False)
    stored: JobStorage = field(init=False)
    execution_ms: int = 0
    kernel: Kernel | None = None
    staged: list[StagedFile] = field(default_factory=list)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    parent: ParentRun | None = None  # a follow-up job's parent, whose cells run first
    artifacts: list[dict[str, Any]] | None = None  # set once saved
    skipped_artifacts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.collector = JobOutputCollector(self.job.id)
        self.stored = JobStorage(self.runtime, self.job)

    @property
    def runtime(self) -> Runtime:
        return self.ctx.runtime

    @property
    def inputs(self) -> Job:
        """The job as its input stager sees it (with a follow-up's ancestors' files)."""
        return inputs_of(self.job, self.parent)

    async def publish(self, event: JobEvent) -> None:
        await self.runtime.events.publish(self.job.id, event)

    async def execute_all(self, started: float) -> Outcome:
        budget = float(self.job.timeout_seconds)
        sources = split_cells(self.job.code) if self.job.code else []
        last: Execution | None = None
        self.parent = await load_parent(self.runtime, self.job)
        async with self.kernel_session():
            analyst = self.analyst(started) if self.job.prompt or self.parent else None
            if analyst is not None:
                # The parent's cells, then the files described: before the code and the model.
                prepared = await analyst.prepare()
                if prepared is not None:
                    return self.outcome_of_agent(prepared)
            for source in sources:
                remaining = budget - (time.monotonic() - started)
                if remaining <= 0:
                    return Outcome(JobStatus.failed, error_message=_timed_out(budget))
                last = await self.run_cell(source, remaining)
                if last.status != "ok":
                    return self.outcome_of_failure(last, budget, len(sources))
            if analyst is not None and self.job.prompt:
                return self.outcome_of_agent(await analyst.answer())
        outputs = last.outputs if last is not None else []
        return Outcome(JobStatus.completed, result=result_text(outputs))

    def analyst(self, started: float) -> Analyst:
        settings = self.runtime.settings
        task = AgentTask(
            job_id=self.job.id,
            prompt=self.job.prompt,
            files=tuple(self.staged),
            parent=self.parent,
            limits=AgentLimits(
                started=started,
                budget_seconds=float(self.job.timeout_seconds),
                max_steps=settings.agent_max_steps,
                cell_timeout_seconds=settings.agent_cell_timeout,
            ),
        )
        return Analyst(self, task, self.ctx.model)

    @contextlib.asynccontextmanager
    async def kernel_session(self) -> AsyncIterator[Kernel]:
        """A fresh kernel with the job's files staged; when the block ends (completed, failed
        or cancelled, not when the worker shuts down), the files the job wrote are kept as
        artifacts before the kernel and its work dir are thrown away."""
        async with self.ctx.pool.lease() as kernel:
            self.kernel = kernel
            # Of an earlier attempt: its files, and what they counted in the account's storage.
            await self.runtime.storage.clear_artifacts(self.job.id)
            if self.job.stored_bytes:
                await self.stored.forget_earlier_attempt()
            # A follow-up's work dir also holds its ancestors' files: their cells are replayed.
            self.staged = await self.ctx.inputs.stage(self.inputs, kernel.files)
            shutting_down = False
            try:
                yield kernel
            except asyncio.CancelledError:
                shutting_down = True
                raise
            finally:
                if not shutting_down:
                    try:
                        await self.save_artifacts(kernel.files)
                    except Exception:
                        log.exception("job %s: could not keep the files it wrote", self.job.id)

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
        """Run one code cell. `collect=False`: its outputs stay out of the job's `outputs`
        (a follow-up's replay of its parent's cells)."""
        kernel = self.kernel
        if kernel is None:
            raise RuntimeError("run_cell outside the job's kernel session")
        index = len(self.cells) + 1  # the notebook's cell 0 is the title
        extra: dict[str, Any] = {
            "tags": list(tags or []),
            "metadata": dict(metadata or {}),
            "cell_id": cell_id,
        }
        await self.publish(CellStarted(cell=index, source=source))

        async def on_output(output: dict[str, Any]) -> None:
            await self.publish(CellOutput(cell=index, output=output))

        with span("job.cell", {"pyexec.job_id": self.job.id, "pyexec.cell": index}):
            execution = await kernel.execute(
                source, timeout=timeout, on_output=on_output, stop=self.cancel_requested
            )
        self.execution_ms += execution.duration_ms
        self.cells.append(
            CellRecord(
                cell_type="code",
                source=source,
                outputs=cap_cell_outputs(execution.outputs),
                execution_count=execution.execution_count,
                timing=execution.timing,
                **extra,
            )
        )
        for output in execution.outputs if collect else ():
            self.collector.add(index, output)
        await self.publish(CellFinished(cell=index, status=execution.status))
        if execution.status == "cancelled" and self.cancel_requested.is_set():
            # What the cell printed before it was stopped stays, in the job and the notebook.
            raise JobCancelled
        return execution

    async def add_markdown(
        self,
        source: str,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> None:
        self.cells.append(
            CellRecord(
                cell_type="markdown",
                source=source,
                tags=list(tags or []),
                metadata=dict(metadata or {}),
                cell_id=cell_id,
            )
        )
        await self.publish(MarkdownAdded(cell=len(self.cells), source=source))

    def outcome_of_agent(self, outcome: AgentOutcome) -> Outcome:
        usage = outcome.usage.as_dict() if outcome.usage is not None else {}
        if outcome.cancelled:
            return Outcome(JobStatus.cancelled, error_message=CANCELLED_MESSAGE, usage=usage)
        if outcome.error_message is not None:
            return Outcome(JobStatus.failed, error_message=outcome.error_message, usage=usage)
        return Outcome(
            JobStatus.completed,
            result=outcome.result,
            ungrounded_numbers=list(outcome.ungrounded_numbers),
            usage=usage,
        )

    def outcome_of_failure(self, execution: Execution, budget: float, n_cells: int) -> Outcome:
        if execution.status == "timeout":
            message = _timed_out(budget)
        elif execution.status == "died":
            message = execution.error.message if execution.error else "kernel died"
        else:
            message = execution.error.message if execution.error else "the cell failed"
        if n_cells > 1:
            message = f"cell {len(self.cells)}: {message}"
        return Outcome(JobStatus.failed, error_message=message)

    async def watch_cancel(self, inbox: asyncio.Queue[Event]) -> None:
        """`inbox` was subscribed before the claim: a request made before it is in the claimed
        row, one made after it arrives here."""
        if self.job.cancel_requested:
            self.cancel_requested.set()
            return
        while True:
            event = parse_event(await inbox.get())
            if isinstance(event, CancelRequested):
                self.cancel_requested.set()
                return

    async def save_notebook(self, outcome: Outcome, completed_at: datetime) -> int:
        """Write the job's notebook; its size in bytes."""
        kernel = self.kernel
        transcript = Transcript(
            job_id=self.job.id,
            title=self.job.title,
            status=outcome.status.value,
            cells=self.cells,
            created_at=self.job.created_at,
            started_at=self.job.started_at,
            completed_at=completed_at,
            # The standard `python3` kernelspec, not PyExec's own: the downloaded notebook must
            # open and "Run All" in any JupyterLab, which has no `pyexec-python` kernel.
            kernelspec=None,
            language_info=kernel.language_info if kernel is not None else None,
            error_message=outcome.error_message,
            prompt=self.job.prompt,
            extra=self.notebook_extra(),
        )
        data = await asyncio.to_thread(lambda: notebook_to_bytes(build_notebook(transcript)))
        storage = self.runtime.storage
        await storage.write_bytes(storage.notebook_path(self.job.id), data)
        # Counted in the account's storage by the transaction that finishes the job.
        return len(data)

    def notebook_extra(self) -> dict[str, Any]:
        """What the bundle needs to re-run the notebook elsewhere, and what was left out."""
        extra: dict[str, Any] = {
            # Run before the job's cells by every PyExec kernel: a re-run starts from it.
            "kernel_setup": WARMUP_CODE,
            "inputs": [
                {"file_id": file_id, "name": staged.name, "bytes": staged.bytes}
                for file_id, staged in zip(self.inputs.file_ids or [], self.staged, strict=False)
            ],
        }
        if self.skipped_artifacts:
            extra["skipped_artifacts"] = list(self.skipped_artifacts)
        return extra

    async def save_artifacts(self, files: KernelFiles | None = None) -> list[dict[str, Any]]:
        """Figures, then the files the job wrote in its kernel's work dir (which stops the
        kernel for good), within the job's caps."""
        if self.artifacts is not None:
            return self.artifacts
        if files is None:
            return await self._keep_artifacts(Collected())
        async with files.collect(exclude={staged.name for staged in self.staged}) as collected:
            return await self._keep_artifacts(collected)

    async def _keep_artifacts(self, collected: Collected) -> list[dict[str, Any]]:
        settings = self.runtime.settings
        storage = self.runtime.storage
        budget = ArtifactBudget(settings.artifact_max_files, settings.artifact_max_bytes)
        self.collector.avoid_names({f.name for f in collected.files})
        artifacts: list[dict[str, Any]] = []
        skipped: list[str] = []
        if collected.refused:
            skipped.append(f"the files the job wrote were not read: {collected.refused}")
        images, files = [], []
        for image in self.collector.images:
            reason = budget.refuse(len(image.data))
            if reason is not None:
                self.collector.left_out(image.name, f"not kept: {reason}")
                skipped.append(f"{image.name} ({human_bytes(len(image.data))}): {reason}")
                continue
            images.append(image)
        for written in collected.files:
            reason = budget.refuse(written.bytes)
            if reason is not None:
                skipped.append(f"{written.name} ({human_bytes(written.bytes)}): {reason}")
                continue
            files.append(written)
        # The account's storage quota: what fits is counted in before it is written.
        fits, why = await self.stored.reserve(
            [len(i.data) for i in images] + [f.bytes for f in files]
        )
        for image, fit in zip(images, fits, strict=False):
            if not fit:
                self.collector.left_out(image.name, f"not kept: {why}")
                skipped.append(f"{image.name} ({human_bytes(len(image.data))}): {why}")
                continue
            await storage.write_bytes(storage.artifact_path(self.job.id, image.name), image.data)
            artifacts.append(self._artifact(image.name, image.media_type, len(image.data)))
            artifacts[-1]["kind"] = "figure"
        for written, fit in zip(files, fits[len(images) :], strict=True):
            if not fit:
                skipped.append(f"{written.name} ({human_bytes(written.bytes)}): {why}")
                continue
            target = storage.artifact_path(self.job.id, written.name)
            try:
                async with collected.open(written) as source:
                    await storage.copy_stream(source, target, written.bytes)
                head = await asyncio.to_thread(_head, target)
            except (OSError, ValueError) as exc:
                await self.stored.give_back(written.bytes)
                error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                skipped.append(f"{written.name}: could not be copied ({error})")
                continue
            media_type = detect_media_type(written.name, head)
            artifacts.append(self._artifact(written.name, media_type, written.bytes))
            artifacts[-1]["kind"] = "file"
        skipped += collected.skipped
        if collected.skipped_more:
            skipped.append(f"{collected.skipped_more} more files could not be kept either")
        if collected.truncated:
            skipped.append(
                "more files (or deeper folders) were written than PyExec examines; "
                "the rest were ignored"
            )
        if skipped:
            log.info("job %s: artifacts left out: %s", self.job.id, "; ".join(skipped))
            self.collector.note(
                len(self.cells),
                "Some files were not kept as artifacts:\n"
                + "\n".join(f"- {line}" for line in skipped),
            )
        self.artifacts = artifacts
        self.skipped_artifacts = skipped
        return artifacts

    def _artifact(self, name: str, media_type: str, size: int) -> dict[str, Any]:
        return {
            "name": name,
            "media_type": media_type,
            "bytes": size,
            "url": f"/v1/jobs/{self.job.id}/artifacts/{quote(name)}",
        }


def _head(path: Path, size: int = 8192) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


CANCELLED_MESSAGE = "cancelled while running"


def _timed_out(budget: float) -> str:
    return f"timed out after {budget:g} s"


async def run_job(ctx: WorkerContext, job_id: str, plan: str) -> None:
    """Run one job; a second delivery of the same job, or one already final, does nothing.
    `plan`: the owner's plan, which the caller read to admit the job."""
    with span("job.run", {"pyexec.job_id": job_id}):
        # Listening before the claim: a cancel request made before it is in the claimed row,
        # one made after it arrives as an event (no second read of the row).
        async with ctx.runtime.events.subscribe(job_id) as inbox:
            await _run_job(ctx, job_id, plan, inbox)


async def _run_job(ctx: WorkerContext, job_id: str, plan: str, inbox: asyncio.Queue[Event]) -> None:
    runtime = ctx.runtime
    async with runtime.db.session() as session:
        job = await repository.claim_job(session, job_id)
        await session.commit()
    if job is None:
        log.debug("job %s not claimable (gone, taken or final); skipping", job_id)
        return
    logs.annotate(job_id=job.id, account_id=job.account_id)
    log.info("job %s running (attempt %d)", job_id, job.attempts)
    await runtime.events.publish(job_id, StatusChanged(status=JobStatus.running.value))
    metrics.job_started(job.priority, job.created_at, job.started_at)
    run = JobRun(ctx, job, plan=plan)
    started = time.monotonic()
    watcher = asyncio.create_task(run.watch_cancel(inbox))
    outcome = Outcome(JobStatus.failed, error_message="internal error: the job did not finish")
    try:
        outcome = await run.execute_all(started)
    except JobCancelled:
        outcome = Outcome(JobStatus.cancelled, error_message=CANCELLED_MESSAGE)
    except InputUnavailable as exc:
        outcome = Outcome(JobStatus.failed, error_message=str(exc))
    except asyncio.CancelledError:
        # The worker is shutting down: hand the job back so that the next start runs it.
        async with runtime.db.session() as session:
            await repository.requeue_job(session, job_id, refund_attempt=True)
            await session.commit()
        raise
    except Exception as exc:
        log.exception("job %s failed in the worker", job_id)
        outcome = Outcome(JobStatus.failed, error_message=f"internal error: {type(exc).__name__}")
    finally:
        watcher.cancel()
    # The cells have run: a drain's cancel that lands while the end is written waits for it
    # (moments), instead of leaving the job `running` to be run again.
    ending = asyncio.ensure_future(finish(run, outcome))
    try:
        await asyncio.shield(ending)
    except asyncio.CancelledError:
        await ending
        raise
    log.info("job %s %s in %.2f s", job_id, outcome.status.value, time.monotonic() - started)


async def finish(run: JobRun, outcome: Outcome) -> None:
    runtime = run.runtime
    completed_at = utcnow()
    artifacts: list[dict[str, Any]] = []
    notebook_bytes = 0
    try:
        artifacts = await run.save_artifacts()
        notebook_bytes = await run.save_notebook(outcome, completed_at)
    except Exception:
        log.exception("job %s: could not store its notebook or artifacts", run.job.id)
    usage = {
        **(run.job.usage or {}),
        **outcome.usage,
        "cells": len(run.cells),
        "execution_ms": run.execution_ms,
    }
    # One transaction: the final status, and the notebook counted in the account's storage
    # (whatever the quota: the notebook is part of the result).
    async with runtime.db.session() as session:
        finished = await repository.finish_job(
            session,
            run.job.id,
            outcome.status,
            completed_at=completed_at,
            stored_bytes_added=notebook_bytes,
            result=outcome.result,
            error_message=outcome.error_message,
            outputs=run.collector.stored(),
            artifacts=artifacts,
            usage=usage,
            ungrounded_numbers=outcome.ungrounded_numbers,
        )
        if notebook_bytes:
            # Ended by someone else meanwhile (a recoverer): the job still holds the file.
            job_id = None if finished is not None else run.job.id
            await repository.reserve_storage(
                session, run.job.account_id, notebook_bytes, None, job_id=job_id
            )
        await session.commit()
    if finished is not None:
        # This process's own `?wait=` answers from it without reading the row back.
        runtime.finished_jobs.put(finished)
        metrics.job_finished(run.plan, outcome.status.value, run.job.started_at, completed_at)
    await runtime.events.publish(run.job.id, StatusChanged(status=outcome.status.value))
