"""Transcript → validated nbformat v4.5 notebook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_notebook

from pyexec.notebooks.cell_ids import derive_cell_id, is_valid_cell_id
from pyexec.notebooks.metadata import as_utc, jsonable, notebook_metadata
from pyexec.notebooks.output_assembly import OutputAssembler
from pyexec.notebooks.transcript import CellRecord, Transcript

__all__ = ["TITLE_TAG", "build_notebook"]

TITLE_TAG = "pyexec-title"
# nbclient's own format for metadata.execution timestamps.
_TIMING_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def heading(t: Transcript) -> str:
    """The title on one line: a newline would end the heading and spill into the body."""
    return " ".join((t.title or "").split()) or f"Job {t.job_id}"


def _title_source(t: Transcript) -> str:
    title = heading(t)
    if not t.prompt:
        return f"# {title}"
    quoted = "\n".join(f"> {line}".rstrip() for line in t.prompt.strip().splitlines())
    return f"# {title}\n\n{quoted}"


def _tags(record: CellRecord) -> list[str]:
    existing = record.metadata.get("tags") or []
    # Tags must be unique; order kept so the same record always writes the same bytes.
    return list(dict.fromkeys(str(tag) for tag in [*existing, *record.tags] if tag))


def _timing(record: CellRecord) -> dict[str, str]:
    timing: dict[str, str] = {}
    for key, value in {**(record.metadata.get("execution") or {}), **record.timing}.items():
        if isinstance(value, datetime):
            timing[key] = as_utc(value).strftime(_TIMING_FORMAT)
        elif value is not None:
            timing[key] = str(value)
    return timing


def _cell_metadata(record: CellRecord) -> dict[str, Any]:
    meta: dict[str, Any] = jsonable(
        {k: v for k, v in record.metadata.items() if k not in ("tags", "execution")}
    )
    tags = _tags(record)
    if tags:
        meta["tags"] = tags
    if record.cell_type == "code":
        timing = _timing(record)
        if timing:
            meta["execution"] = timing
    return meta


def _cell_id(t: Transcript, record: CellRecord, index: int, used: set[str]) -> str:
    cell_id = record.cell_id
    if cell_id is not None and not is_valid_cell_id(cell_id):
        raise ValueError(f"cell {index}: invalid nbformat cell id {cell_id!r}")
    if cell_id is None or cell_id in used:
        cell_id = derive_cell_id(t.job_id, index)
    used.add(cell_id)
    return cell_id


# The cells nbformat.v4's new_code_cell and new_markdown_cell make, without their check of each
# cell against the schema: that check takes a sub-schema, which nbformat hands to jsonschema
# (0.5-1 ms a cell). The whole notebook is checked once, by its fast validator.
def _code_cell(source: str, **fields: Any) -> NotebookNode:
    cell = NotebookNode(
        cell_type="code", metadata=NotebookNode(), execution_count=None, source=source, outputs=[]
    )
    cell.update(fields)  # NotebookNode's update makes nested dicts NotebookNodes too
    return cell


def _markdown_cell(source: str, **fields: Any) -> NotebookNode:
    cell = NotebookNode(cell_type="markdown", source=source, metadata=NotebookNode())
    cell.update(fields)
    return cell


def build_notebook(t: Transcript) -> NotebookNode:
    """The job's notebook: a title cell, then every cell as it ran, validated before return.

    Deterministic: the same transcript always gives a notebook that writes the same bytes.
    """
    used_ids: set[str] = set()
    title_id = derive_cell_id(t.job_id, 0)
    used_ids.add(title_id)
    cells: list[NotebookNode] = [
        _markdown_cell(_title_source(t), id=title_id, metadata={"tags": [TITLE_TAG]})
    ]
    assembler = OutputAssembler()
    for index, record in enumerate(t.cells, start=1):
        cell_id = _cell_id(t, record, index, used_ids)
        if record.cell_type == "markdown":
            cell = _markdown_cell(record.source, id=cell_id, metadata=_cell_metadata(record))
        elif record.cell_type == "code":
            cell = _code_cell(
                record.source,
                id=cell_id,
                execution_count=record.execution_count,
                outputs=assembler.cell_outputs(record.outputs, record.execution_count),
                metadata=_cell_metadata(record),
            )
        else:
            raise ValueError(f"cell {index}: unknown cell_type {record.cell_type!r}")
        cells.append(cell)

    nb: NotebookNode = new_notebook(cells=cells, metadata=notebook_metadata(t))
    nbformat.validate(nb)
    return nb
