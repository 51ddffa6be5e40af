"""A job, its tables, files and keys, drawn in the terminal with rich.

Every string from the server is drawn as plain text (never as rich markup) after
`safe_text`: a job's output cannot style, move or retitle the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from pyexec_client.cli._common import safe_text
from pyexec_client.models import (
    Account,
    ApiKey,
    ErrorOutput,
    FileObject,
    ImageOutput,
    JobData,
    TableOutput,
    TextOutput,
)

MAX_TABLE_ROWS = 20
MAX_CELL_CHARS = 60
STATUS_STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "bold yellow",
    "running": "bold blue",
    "pending": "bold magenta",
}
STATUS_MARKS = {"completed": "✔", "failed": "✘", "cancelled": "■", "running": "▶", "pending": "…"}


def status_text(status: str) -> Text:
    mark = STATUS_MARKS.get(status, "?")
    return Text(f"{mark} {status}", style=STATUS_STYLES.get(status, "bold"))


def job_heading(job: JobData) -> Text:
    heading = status_text(job.status)
    heading.append("  ")
    heading.append(safe_text(job.title or "job"), style="bold")
    details = [f"job {job.id}"]
    if job.usage.cells:
        details.append(f"{job.usage.cells} cell{'s' if job.usage.cells != 1 else ''}")
    if job.started_at and job.completed_at:
        details.append(f"{(job.completed_at - job.started_at).total_seconds():.1f} s")
    heading.append(f"  ({', '.join(details)})", style="dim")
    return heading


def render_job(console: Console, job: JobData) -> None:
    """The job as it ended: result, error, tables, images, files."""
    console.print(job_heading(job))
    if job.error_message:
        console.print(Padding(Text(safe_text(job.error_message), style="red"), (0, 0, 0, 2)))
        for error in job.errors[-1:]:
            console.print(Padding(Text(safe_text(error.traceback), style="dim"), (0, 0, 0, 2)))
    if job.result:
        console.print(Padding(Markdown(safe_text(job.result)), (1, 0, 0, 2)))
    for output in job.outputs:
        if isinstance(output, TableOutput):
            console.print(Padding(table_of(output), (1, 0, 0, 2)))
        elif isinstance(output, ImageOutput):
            where = f" ({output.url})" if output.url else " (not kept)"
            console.print(
                Padding(Text(f"image {safe_text(output.name)}{where}", style="cyan"), (1, 0, 0, 2))
            )
    files = [a for a in job.artifacts if not a.name.startswith("figure-")]
    if files:
        lines = Text("files the job wrote:", style="bold")
        for artifact in files:
            lines.append(f"\n  {safe_text(artifact.name)}  ", style="")
            lines.append(human_bytes(artifact.bytes), style="dim")
        console.print(Padding(lines, (1, 0, 0, 2)))
    if job.ungrounded_numbers:
        numbers = ", ".join(safe_text(str(n)) for n in job.ungrounded_numbers)
        console.print(
            Padding(
                Text(f"numbers in the answer found in no output: {numbers}", style="yellow"),
                (1, 0, 0, 2),
            )
        )


def table_of(output: TableOutput) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False)
    for column in output.columns:
        table.add_column(Text(safe_text(str(column))), overflow="fold", max_width=MAX_CELL_CHARS)
    for row in output.rows[:MAX_TABLE_ROWS]:
        table.add_row(*(Text(_cell(v), justify=_justify(v)) for v in row))
    shown = min(len(output.rows), MAX_TABLE_ROWS)
    size = f"{output.total_rows} row{'s' if output.total_rows != 1 else ''}"
    caption = Text(f"table from cell {output.cell}: {size}", style="dim")
    if output.total_rows > shown:
        caption.append(f", first {shown} shown", style="dim")
    return Group(caption, table)


def text_outputs(job: JobData) -> list[TextOutput]:
    return [o for o in job.outputs if isinstance(o, TextOutput)]


def last_error(job: JobData) -> ErrorOutput | None:
    errors = job.errors
    return errors[-1] if errors else None


def jobs_table(jobs: Sequence[JobData]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", **_id_column(j.id for j in jobs))
    for name in ("STATUS", "TITLE", "CREATED", "TOOK"):
        table.add_column(name, overflow="fold" if name == "TITLE" else "ellipsis")
    for job in jobs:
        took = ""
        if job.started_at and job.completed_at:
            took = f"{(job.completed_at - job.started_at).total_seconds():.1f} s"
        table.add_row(
            Text(job.id),
            status_text(job.status),
            Text(safe_text(job.title)),
            Text(when(job.created_at)),
            Text(took),
        )
    return table


def files_table(files: list[FileObject]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", **_id_column(f.id for f in files))
    table.add_column("FILENAME", overflow="fold")
    for name in ("SIZE", "TYPE", "CREATED"):
        table.add_column(name)
    for f in files:
        table.add_row(
            Text(f.id),
            Text(safe_text(f.filename)),
            Text(human_bytes(f.bytes)),
            Text(safe_text(f.media_type)),
            Text(when(f.created_at)),
        )
    return table


def keys_table(keys: list[ApiKey]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", **_id_column(k.id for k in keys))
    for name in ("NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED"):
        table.add_column(name, overflow="fold")
    for k in keys:
        table.add_row(
            Text(k.id),
            Text(safe_text(k.name)),
            Text(k.prefix),
            Text(",".join(k.scopes)),
            Text(when(k.created_at)),
            Text(when(k.last_used_at) if k.last_used_at else "never"),
        )
    return table


# Used past this share of a limit, the figure is drawn in yellow; at the limit, in red.
NEAR_LIMIT = 0.8


def account_table(account: Account, now: datetime | None = None) -> Table:
    """The account as label and value rows: who, which plan, today's requests and the storage
    against the plan's limits, and the plan's other limits."""
    limits, usage = account.limits, account.usage
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 3, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("ACCOUNT", Text(account.id))
    table.add_row("EMAIL", Text(safe_text(account.email)))
    table.add_row("PLAN", Text(safe_text(account.plan)))
    if limits.requests_per_day is None or usage.requests_today is None:
        requests = Text("unlimited (not counted)")
    else:
        used, limit = usage.requests_today, limits.requests_per_day
        requests = _against(f"{used:,} of {limit:,}", used, limit)
        requests.append(f", {max(0, limit - used):,} left")
        if usage.requests_reset_at is not None:
            requests.append(f", resets {when(usage.requests_reset_at)}", style="dim")
            requests.append(f" ({_until(usage.requests_reset_at, now)})", style="dim")
    table.add_row("REQUESTS TODAY", requests)
    stored, quota = usage.storage_bytes, limits.max_storage_bytes
    storage = _against(f"{human_bytes(stored)} of {human_bytes(quota)}", stored, quota)
    storage.append(f", {human_bytes(account.storage_remaining)} left")
    table.add_row("STORAGE", storage)
    table.add_row("RUNNING JOBS", Text(f"up to {limits.max_running_jobs:,} at once"))
    table.add_row("JOB TIMEOUT", Text(f"up to {human_seconds(limits.max_job_timeout_seconds)}"))
    table.add_row("UPLOADS", Text(f"up to {human_bytes(limits.max_upload_bytes)} a file"))
    return table


def _against(text: str, used: int, limit: int) -> Text:
    style = ""
    if used >= limit:
        style = "bold red"
    elif used >= NEAR_LIMIT * limit:
        style = "yellow"
    return Text(text, style=style)


def _until(moment: datetime, now: datetime | None) -> str:
    seconds = int((moment - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "now"
    hours, minutes = divmod((seconds + 59) // 60, 60)
    return f"in {hours} h {minutes} min" if hours else f"in {minutes} min"


def human_seconds(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds:,} s"


def _id_column(ids: Iterable[str]) -> dict[str, Any]:
    # Ids are copied into the next command: never cut, never wrapped.
    return {"no_wrap": True, "min_width": max((len(i) for i in ids), default=2)}


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _cell(value: Any) -> str:
    text = "" if value is None else safe_text(str(value))
    return text if len(text) <= MAX_CELL_CHARS * 3 else text[: MAX_CELL_CHARS * 3 - 1] + "…"


def _justify(value: Any) -> Any:
    return "right" if isinstance(value, int | float) and not isinstance(value, bool) else "left"
