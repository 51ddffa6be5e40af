"""What an LLM is told: the system prompt, the job's files and the request."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyexec.worker.agent.model import FINAL_ANSWER, RUN_PYTHON, Conversation, FileSummary

MAX_COLUMNS_SHOWN = 60
HEAD_ROWS_SHOWN = 3
HEAD_CHARS = 1_500

_BASE = """\
You are a careful data analyst working in a Jupyter notebook. A Python kernel is running in \
a working directory that holds the user's files; pandas (as pd), numpy (as np) and \
matplotlib.pyplot (as plt) are imported, and each tabular file is already loaded into the \
DataFrame named below. Every piece of code you run becomes a notebook cell that the user \
reads, so write clear, short cells with brief comments, and use the real column names.

Work in small steps: run code, read its output, fix errors and retry. Print or display the \
values you rely on; never guess a number you have not computed. Plots are shown to the user \
automatically: draw them with matplotlib and do not save them unless asked. Text you write \
between code becomes markdown cells.
"""

TOOLS_SYSTEM_PROMPT = (
    _BASE
    + f"""
You have two tools. `{RUN_PYTHON}(code)` runs code in the kernel (state persists between \
calls) and returns its output. `{FINAL_ANSWER}(text)` ends the job: give the answer in \
markdown, stating the computed values. Always finish by calling `{FINAL_ANSWER}`.
"""
)

FENCED_SYSTEM_PROMPT = (
    _BASE
    + """
To run code, reply with a fenced code block:

```python
# your code
```

You will then receive the cell's output. Run one block per reply. When you have the answer, \
reply with the final answer in markdown and no code block; state the computed values.
"""
)

RUN_PYTHON_TOOL = {
    "type": "function",
    "function": {
        "name": RUN_PYTHON,
        "description": "Run Python code in the job's Jupyter kernel (state persists between "
        "calls); returns its printed output, results, tables as text and any error.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python code to run."}},
            "required": ["code"],
        },
    },
}
FINAL_ANSWER_TOOL = {
    "type": "function",
    "function": {
        "name": FINAL_ANSWER,
        "description": "Finish the job with the answer for the user, in markdown, stating "
        "the computed values.",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "The final answer."}},
            "required": ["text"],
        },
    },
}
TOOLS = [RUN_PYTHON_TOOL, FINAL_ANSWER_TOOL]

NUDGE = f"Continue: call `{RUN_PYTHON}` to run code, or `{FINAL_ANSWER}` with your answer."
FENCED_NUDGE = "Continue: reply with a ```python block to run code, or with your final answer."
LAST_STEP = f"This was your last step: call `{FINAL_ANSWER}` now with what you have found."
FENCED_LAST_STEP = "This was your last step: reply now with your final answer, without code."


def describe_file(f: FileSummary) -> str:
    if f.kind != "table":
        why = f"; could not be read as a table: {f.error}" if f.error else ""
        return f"- `{f.name}` ({f.bytes:,} bytes{why})"
    lines = [
        f"- `{f.name}` ({f.bytes:,} bytes) is loaded as the DataFrame `{f.variable}`: "
        f"{f.rows:,} rows, {len(f.columns)} columns."
    ]
    shown = f.columns[:MAX_COLUMNS_SHOWN]
    lines.append("  Columns: " + ", ".join(f"`{c.name}` ({c.dtype})" for c in shown))
    if len(f.columns) > len(shown):
        lines.append(f"  … and {len(f.columns) - len(shown)} more columns.")
    if f.head:
        rows = "\n".join(
            json.dumps(r, ensure_ascii=False, default=str) for r in f.head[:HEAD_ROWS_SHOWN]
        )
        if len(rows) > HEAD_CHARS:
            rows = rows[:HEAD_CHARS] + " …"
        lines.append(f"  First rows:\n{_indent(rows, '    ')}")
    return "\n".join(lines)


def describe_files(files: Sequence[FileSummary]) -> str:
    if not files:
        return "The job has no input files."
    return "Files in the working directory:\n" + "\n".join(describe_file(f) for f in files)


def context_message(conversation: Conversation) -> str:
    """The user message that opens the conversation."""
    parts = [describe_files(conversation.files)]
    if conversation.parent_transcript:
        parts.append(
            "Cells already run in this kernel (their variables exist):\n\n"
            + conversation.parent_transcript
        )
    parts.append(f"Request:\n{conversation.prompt}")
    return "\n\n".join(parts)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
