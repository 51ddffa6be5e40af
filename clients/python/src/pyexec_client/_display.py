"""How a job shows itself in a Jupyter notebook: its result, tables and plots.

Everything a job produced is untrusted (its code was): every string is escaped, the job's own
HTML outputs are not inlined, and images are embedded only as data URIs of image types, which
a browser never runs script from.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Callable
from typing import Any

from pyexec_client.models import ImageOutput, JobData, TableOutput

log = logging.getLogger("pyexec_client")

MAX_TABLE_ROWS = 20
MAX_CELL_CHARS = 200
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml"})
_STATUS_COLOURS = {
    "completed": "#1a7f37",
    "failed": "#cf222e",
    "cancelled": "#6e7781",
    "running": "#0969da",
    "pending": "#9a6700",
}


def job_text(job: JobData) -> str:
    lines = [f"{job.title or 'Job'} [{job.status}] {job.id}"]
    if job.error_message:
        lines.append(f"error: {job.error_message}")
    if job.result:
        lines.append(job.result)
    for table in job.tables:
        lines.append(f"table (cell {table.cell}): {table.total_rows} rows x {len(table.columns)}")
    for image in job.images:
        lines.append(f"image (cell {image.cell}): {image.name}")
    return "\n".join(lines)


def job_html(job: JobData, fetch_image: Callable[[ImageOutput], bytes | None]) -> str:
    e = html.escape
    colour = _STATUS_COLOURS.get(job.status, "#6e7781")
    parts = [
        '<div class="pyexec-job" style="font-family: system-ui, sans-serif; line-height: 1.4">',
        f"<div><strong>{e(job.title or 'Job')}</strong> "
        f'<span style="color: #fff; background: {colour}; border-radius: 4px; '
        f'padding: 0 6px; font-size: 85%">{e(job.status)}</span> '
        f'<code style="color: #6e7781">{e(job.id)}</code></div>',
    ]
    if not job.is_final:
        parts.append("<p><em>Not finished yet: <code>job.wait()</code>, then display it.</em></p>")
    if job.error_message:
        parts.append(
            f'<pre style="color: #cf222e; white-space: pre-wrap">{e(job.error_message)}</pre>'
        )
    if job.result:
        parts.append(f'<div style="white-space: pre-wrap; margin: 0.5em 0">{e(job.result)}</div>')
    for output in job.outputs:
        if isinstance(output, TableOutput):
            parts.append(_table(output))
        elif isinstance(output, ImageOutput):
            parts.append(_image(output, fetch_image))
    if job.artifacts:
        names = ", ".join(f"<code>{e(a.name)}</code>" for a in job.artifacts)
        parts.append(f'<div style="color: #6e7781; font-size: 85%">artifacts: {names}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def _table(table: TableOutput) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in table.rows[:MAX_TABLE_ROWS]
    )
    shown = min(len(table.rows), MAX_TABLE_ROWS)
    note = (
        f'<div style="color: #6e7781; font-size: 85%">{shown} of {table.total_rows} rows</div>'
        if table.total_rows > shown
        else ""
    )
    return (
        f'<div style="margin: 0.5em 0; overflow-x: auto"><div style="color: #6e7781; '
        f'font-size: 85%">cell {table.cell}</div><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{note}</div>"
    )


def _image(image: ImageOutput, fetch: Callable[[ImageOutput], bytes | None]) -> str:
    e = html.escape
    data: bytes | None = None
    if image.media_type in _IMAGE_TYPES and image.url is not None:
        try:
            data = fetch(image)
        except Exception as exc:  # a display must never raise
            log.debug("could not fetch %s: %s", image.name, exc)
    if data is None:
        return f"<div><em>image {e(image.name)} (not shown)</em></div>"
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<div style="margin: 0.5em 0"><img alt="{e(image.name)}" style="max-width: 100%" '
        f'src="data:{e(image.media_type)};base64,{encoded}"></div>'
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
