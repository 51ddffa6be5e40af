"""Prompt jobs answered by the offline planner, end to end through `run_job`.

No model is configured: the worker picks the offline planner, as the served app does. The job's
file is staged by `DirectoryInputs` from tests/data (the way the files store stages uploads),
the inspection cell and the planner's cells run in a real kernel from a real pool, and the
saved notebook is run again, top to bottom, by nbclient in a kernel PyExec did not start.

The two prompts are the examples of the public API docs.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import pytest_asyncio
from nbclient import NotebookClient

from pyexec.core import repository
from pyexec.core.migrate import upgrade
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime
from pyexec.core.settings import load_settings
from pyexec.kernels import LocalLauncher
from pyexec.worker.agent.planner import OfflinePlanner
from pyexec.worker.inputs import DirectoryInputs
from pyexec.worker.kernel_pool import job_pool
from pyexec.worker.run import WorkerContext, run_job

pytestmark = pytest.mark.asyncio(loop_scope="module")

DATA = Path(__file__).resolve().parents[2] / "data"
SALES = pd.read_csv(DATA / "sales.csv")


# The account the jobs run for; the worker is told its plan, as admission tells it.
PLAN = "business"


@dataclass
class Worker:
    runtime: Runtime
    ctx: WorkerContext
    account_id: str

    async def run(self, prompt: str, *files: str) -> tuple[Job, nbformat.NotebookNode]:
        job = Job(
            account_id=self.account_id,
            title=prompt[:40],
            prompt=prompt,
            file_ids=list(files),
            timeout_seconds=120,
        )
        async with self.runtime.db.session() as session:
            await repository.add_job(session, job)
            await session.commit()
        await run_job(self.ctx, job.id, PLAN)
        async with self.runtime.db.session() as session:
            done = await repository.get_job(session, job.id)
        assert done is not None
        storage = self.runtime.storage
        data = await storage.read_bytes(storage.notebook_path(job.id))
        assert data is not None
        nb = nbformat.reads(data.decode(), as_version=4)
        nbformat.validate(nb)
        return done, nb


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def worker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Worker]:
    root = tmp_path_factory.mktemp("planner-jobs")
    # Explicitly no model, whatever the environment says: the offline planner answers.
    settings = load_settings(data_dir=root / "data", openai_api_key=None, openai_base_url=None)
    assert not settings.llm_configured
    await asyncio.to_thread(upgrade, settings.db_url)
    runtime = Runtime.embedded(settings)
    pool = job_pool(
        LocalLauncher(python=sys.executable),
        root / "work",
        size=2,
        start_timeout=60,
        interrupt_grace=1.0,
    )
    await pool.start()
    async with runtime.db.session() as session:
        account = await repository.create_account(session, "planner@example.com", PLAN)
        await session.commit()
    ctx = WorkerContext(
        runtime=runtime, pool=pool, model=OfflinePlanner(), inputs=DirectoryInputs(DATA)
    )
    try:
        yield Worker(runtime, ctx, account.id)
    finally:
        await pool.close()
        await runtime.close()


def run_all(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run All, beside a copy of the input file, in a kernel that nbclient starts."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DATA / "sales.csv", folder / "sales.csv")
    fresh = nbformat.from_dict(json.loads(json.dumps(nb)))
    client = NotebookClient(
        fresh, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return fresh


def planner_json(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The numbers each planner cell displayed (what its answer was written from)."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get("application/json")
            if isinstance(payload, dict) and "planner" in payload:
                found.append(payload)
    return found


def errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o['ename']}: {o['evalue']}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def answer_table(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[2:]
    ]


async def check_reruns_cleanly(nb: nbformat.NotebookNode, folder: Path) -> None:
    rerun = await asyncio.to_thread(run_all, nb, folder)
    assert errors(rerun) == []
    assert planner_json(nb), "the planner's cells displayed no numbers"
    # The same cells on the same file give the same numbers in a kernel PyExec did not start.
    assert planner_json(rerun) == planner_json(nb)


async def test_top_10_rows_by_revenue(worker: Worker, tmp_path: Path) -> None:
    job, nb = await worker.run(
        "Analyze the CSV file and return top 10 rows by revenue", "sales.csv"
    )
    assert job.status == JobStatus.completed, job.error_message
    assert job.usage is not None and job.usage["model"] == "offline-planner"

    expected = SALES.sort_values("revenue", ascending=False, kind="stable").head(10)
    rows = answer_table(job.result or "")
    assert [float(r["revenue"]) for r in rows] == expected["revenue"].tolist()
    assert [int(r["order_id"]) for r in rows] == expected["order_id"].tolist()
    assert [r["product"] for r in rows] == expected["product"].tolist()

    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in nb.cells]
    assert kinds[1] == ("code", ["pyexec-inspection"])  # the lone file is loaded as `df`
    # The planner looks at the columns' values first, then writes the step's cell.
    assert kinds[2][0] == "markdown" and "values of the columns" in nb.cells[2].source
    assert kinds[3][0] == "code" and "_pyexec_profile" in nb.cells[3].source
    assert kinds[4][0] == "markdown" and "Top 10" in nb.cells[4].source
    assert kinds[5][0] == "code" and ".sort_values(ascending=False" in nb.cells[5].source
    assert kinds[-1] == ("markdown", ["pyexec-answer"]) and nb.cells[-1].source == job.result
    # The table the cell displayed is among the job's outputs, as a table.
    tables = [o for o in job.outputs or [] if o["type"] == "table"]
    assert [row[tables[0]["columns"].index("revenue")] for row in tables[0]["rows"]] == (
        expected["revenue"].tolist()
    )
    await check_reruns_cleanly(nb, tmp_path / "rerun")


async def test_mean_median_and_std_of_all_numeric_columns(worker: Worker, tmp_path: Path) -> None:
    job, nb = await worker.run(
        "Calculate the mean, median, and std for all numeric columns", "sales.csv"
    )
    assert job.status == JobStatus.completed, job.error_message
    numbers = SALES.select_dtypes(include="number")
    rows = {r["column"]: r for r in answer_table(job.result or "")}
    assert list(rows) == numbers.columns.tolist()
    for name in numbers.columns:
        for header, value in (
            ("mean", numbers[name].mean()),
            ("median", numbers[name].median()),
            ("std", numbers[name].std()),
        ):
            assert float(rows[name][header]) == pytest.approx(value, rel=5e-4, abs=0.0051)
    (payload,) = planner_json(nb)
    assert payload["stats"]["columns"] == ["mean", "median", "std"]
    assert job.ungrounded_numbers == []  # every number of the answer is in a cell's output
    await check_reruns_cleanly(nb, tmp_path / "rerun")


async def test_a_plot_is_an_artifact_and_its_answer_says_what_was_drawn(worker: Worker) -> None:
    job, _ = await worker.run("bar chart of total revenue by region", "sales.csv")
    assert job.status == JobStatus.completed, job.error_message
    assert [a["name"] for a in job.artifacts or []] == ["figure-1.png"]
    totals = SALES.groupby("region")["revenue"].sum().sort_values(ascending=False)
    rows = answer_table(job.result or "")
    assert [r["region"] for r in rows] == totals.index.tolist()
    assert [float(r["revenue (sum)"]) for r in rows] == pytest.approx(totals.tolist(), abs=0.0051)


async def test_a_request_it_cannot_map_fails_saying_how_to_configure_a_model(
    worker: Worker,
) -> None:
    job, nb = await worker.run("Forecast next quarter's revenue with a neural network", "sales.csv")
    assert job.status == JobStatus.failed
    message = job.error_message or ""
    assert "beyond the offline planner" in message
    for setting in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYEXEC_LLM_MODEL"):
        assert setting in message
    assert "top 10 rows by revenue" in message  # what it can do
    # Nothing was computed for the request: only the file was loaded and its values looked at.
    codes = [c for c in nb.cells if c.cell_type == "code"]
    assert codes[0].metadata.get("tags") == ["pyexec-inspection"]
    assert len(codes) == 2 and "_pyexec_profile" in codes[1].source
    assert job.ungrounded_numbers == []
