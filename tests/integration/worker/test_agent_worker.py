"""The agent loop inside the worker, with input files, real kernels and the scripted model.

`run_job` runs in this process on a real kernel pool and database, with the job's files staged
from a folder by `DirectoryInputs` (the files API stages uploads the same way), and the real
`openai` client talking to the scripted server over loopback. Per-test settings (streaming,
per-cell timeout) are what the in-process worker makes easy to vary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import pytest_asyncio
import xlwt
from nbclient import NotebookClient

from pyexec.core import repository
from pyexec.core.event_types import CancelRequested
from pyexec.core.migrate import upgrade
from pyexec.core.models import Job
from pyexec.core.runtime import Runtime
from pyexec.core.settings import load_settings
from pyexec.kernels import KernelPool, LocalLauncher
from pyexec.worker.agent.openai_provider import OpenAIModel, make_client
from pyexec.worker.inputs import DirectoryInputs
from pyexec.worker.kernel_pool import job_pool
from pyexec.worker.run import WorkerContext, run_job
from tests.support.llm_server import ScriptedLLM, final_answer, run_python

pytestmark = pytest.mark.asyncio(loop_scope="module")


def write_inputs(folder: Path) -> dict[str, pd.DataFrame]:
    """Realistic small inputs of every kind the inspection cell reads, and a few it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    sales = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=8, freq="W").strftime("%Y-%m-%d"),
            "region": ["North", "South", "North", "East", "South", "North", "East", "South"],
            "revenue": [1200.5, 830.0, 1410.25, 560.0, 990.75, 1325.0, 610.5, 1045.0],
            "units": [12, 9, 14, 6, 10, 13, 7, 11],
        }
    )
    sales.to_csv(folder / "sales.csv", index=False)
    sensors = pd.DataFrame({"sensor": ["a", "b", "c"], "temp_c": [21.5, 19.0, 23.25]})
    sensors.to_csv(folder / "sensors.tsv", sep="\t", index=False)
    targets = pd.DataFrame({"region": ["North", "South", "East"], "target": [3500, 2800, 1200]})
    targets.to_excel(folder / "targets.xlsx", index=False)
    budget = pd.DataFrame({"quarter": ["Q1", "Q2"], "budget": [5000.0, 6250.5]})
    _write_xls(budget, folder / "budget.xls")
    readings = pd.DataFrame({"hour": range(5), "kwh": [0.5, 0.75, 1.25, 1.0, 0.25]})
    readings.to_parquet(folder / "readings.parquet")
    events = pd.DataFrame({"user": ["u1", "u2", "u1"], "action": ["login", "buy", "logout"]})
    events.to_json(folder / "events.jsonl", orient="records", lines=True)
    (folder / "notes.txt").write_text("Q1 figures, unaudited.\n")
    (folder / "broken.csv").write_text('id,comment\n1,"never closed\n')
    return {
        "sales": sales,
        "sensors": sensors,
        "targets": targets,
        "readings": readings,
        "budget": budget,
    }


def _write_xls(frame: pd.DataFrame, path: Path) -> None:
    """An Excel 97-2003 workbook, as older tools export them."""
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    for col, name in enumerate(frame.columns):
        sheet.write(0, col, name)
        for row, value in enumerate(frame[name].tolist(), start=1):
            sheet.write(row, col, value)
    book.save(str(path))


# The account the jobs run for; the worker is told its plan, as admission tells it.
PLAN = "business"


@dataclasses.dataclass
class Harness:
    runtime: Runtime
    pool: KernelPool
    inputs: Path
    account_id: str
    llm: ScriptedLLM
    frames: dict[str, pd.DataFrame]

    async def run(
        self,
        prompt: str,
        *,
        files: tuple[str, ...] = (),
        parent: Job | None = None,
        timeout: int = 120,
        after_start: Any = None,
        **settings: Any,
    ) -> tuple[Job, nbformat.NotebookNode]:
        options = self.runtime.settings.model_copy(update=settings)
        runtime = dataclasses.replace(self.runtime, settings=options)
        client = make_client(options)
        ctx = WorkerContext(
            runtime=runtime,
            pool=self.pool,
            inputs=DirectoryInputs(self.inputs),
            model=OpenAIModel(client, "scripted", options),
        )
        job = Job(
            account_id=self.account_id,
            title=prompt[:40],
            prompt=prompt,
            file_ids=list(files),
            parent_job_id=parent.id if parent else None,
            timeout_seconds=timeout,
        )
        async with runtime.db.session() as session:
            await repository.add_job(session, job)
            await session.commit()
        try:
            running = asyncio.create_task(run_job(ctx, job.id, PLAN))
            if after_start is not None:
                await after_start(job)
            await running
        finally:
            await client.close()
        async with runtime.db.session() as session:
            done = await repository.get_job(session, job.id)
        assert done is not None
        data = await runtime.storage.read_bytes(runtime.storage.notebook_path(job.id))
        assert data is not None
        nb = nbformat.reads(data.decode(), as_version=4)
        nbformat.validate(nb)
        return done, nb


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM
) -> AsyncIterator[Harness]:
    root = tmp_path_factory.mktemp("agent-worker")
    settings = load_settings(
        data_dir=root / "data",
        openai_base_url=llm.url,
        openai_api_key="test",
        llm_model="scripted",
        llm_retries=1,
        llm_timeout=30,
    )
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
        account = await repository.create_account(session, "worker@example.com", PLAN)
        await session.commit()
    try:
        frames = write_inputs(root / "inputs")
        yield Harness(runtime, pool, root / "inputs", account.id, llm, frames)
    finally:
        await pool.close()
        await runtime.close()


def run_all(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    fresh = nbformat.from_dict(json.loads(json.dumps(nb)))
    client = NotebookClient(
        fresh, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return fresh


def key() -> str:
    return f"[w-{uuid.uuid4().hex[:8]}]"


def opening(llm: ScriptedLLM, k: str) -> str:
    return llm.requests_for(k)[0]["body"]["messages"][1]["content"]


def tool_results(llm: ScriptedLLM, k: str, index: int) -> list[str]:
    messages = llm.requests_for(k)[index]["body"]["messages"]
    return [m["content"] for m in messages if m["role"] == "tool"]


async def test_inspection_loads_each_kind_of_file_and_tells_the_model(harness: Harness) -> None:
    k, llm, frames = key(), harness.llm, harness.frames
    files = (
        "sales.csv",
        "sensors.tsv",
        "targets.xlsx",
        "budget.xls",
        "readings.parquet",
        "events.jsonl",
        "notes.txt",
        "broken.csv",
    )
    llm.script(
        k,
        run_python(
            "print(round(df_sales['revenue'].sum(), 2), df_readings['kwh'].max(), "
            "df_targets['target'].sum(), df_sensors['temp_c'].min(), len(df_events), "
            "df_budget['budget'].sum())"
        ),
        final_answer("done"),
    )
    job, nb = await harness.run(f"Summarise everything {k}", files=files)
    assert job.status == "completed", job.error_message

    expected = (
        f"{round(frames['sales']['revenue'].sum(), 2)} {frames['readings']['kwh'].max()} "
        f"{frames['targets']['target'].sum()} {frames['sensors']['temp_c'].min()} 3 "
        f"{frames['budget']['budget'].sum()}"
    )
    assert tool_results(llm, k, 1) == [expected]

    told = opening(llm, k)
    assert "`sales.csv`" in told and "DataFrame `df_sales`: 8 rows, 4 columns." in told
    assert "`revenue` (float64)" in told and "`units` (int64)" in told
    assert '"region": "North"' in told  # a few rows
    assert "DataFrame `df_targets`: 3 rows, 2 columns." in told
    assert "DataFrame `df_budget`: 2 rows, 2 columns." in told
    assert "DataFrame `df_readings`: 5 rows, 2 columns." in told
    assert "DataFrame `df_events`: 3 rows, 2 columns." in told
    assert "DataFrame `df_sensors`: 3 rows, 2 columns." in told
    notes_bytes = (harness.inputs / "notes.txt").stat().st_size
    assert f"`notes.txt` ({notes_bytes} bytes)" in told
    assert "`broken.csv`" in told and "could not be read as a table: ParserError" in told

    inspection = nb.cells[1]
    assert inspection.cell_type == "code"
    assert "pyexec-inspection" in inspection.metadata["tags"]
    assert inspection.metadata["jupyter"]["source_hidden"] is True
    print("DEBUG", inspection.outputs[:1])
    shown = inspection.outputs[0]["data"]["text/plain"]
    assert "sales.csv" in shown and "df_sales: 8 rows x 4 columns" in shown
    assert "revenue: float64" in shown
    # The inspection's summary is not an answer: the job's outputs show it as plain text only.
    assert job.outputs[0]["cell"] == 1 and job.outputs[0]["type"] == "text"

    # "Run All" beside the same files, in a kernel that is not PyExec's, gives the same numbers.
    rerun = await asyncio.to_thread(run_all, nb, harness.inputs)
    assert rerun.cells[2].outputs[0]["text"] == expected + "\n"


async def test_a_lone_table_is_df_and_streamed_tool_calls_work(harness: Harness) -> None:
    k, llm = key(), harness.llm
    llm.script(
        k,
        run_python(
            "means = df.groupby('region')['revenue'].mean().round(2)\nprint(means.to_dict())",
            text="Averaging revenue per region.",
            prompt_tokens=210,
            completion_tokens=33,
        ),
        final_answer("North averages most.", prompt_tokens=290, completion_tokens=12),
    )
    job, nb = await harness.run(
        f"Mean revenue by region {k}", files=("sales.csv",), llm_stream=True
    )
    assert job.status == "completed", job.error_message
    assert job.result == "North averages most."
    expected = harness.frames["sales"].groupby("region")["revenue"].mean().round(2).to_dict()
    assert tool_results(llm, k, 1) == [str(expected)]
    first = llm.requests_for(k)[0]["body"]
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert "loaded as the DataFrame `df`" in opening(llm, k)
    assert job.usage["llm_prompt_tokens"] == 500 and job.usage["llm_completion_tokens"] == 45
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown", "code", "markdown"]
    assert nb.cells[2].source == "Averaging revenue per region."


async def test_per_cell_timeout_fails_naming_the_limit(harness: Harness) -> None:
    k, llm = key(), harness.llm
    llm.script(k, run_python("import time\ntime.sleep(30)"), final_answer("never"))
    job, nb = await harness.run(f"Sleep {k}", agent_cell_timeout=1.5)
    assert job.status == "failed"
    assert job.error_message == (
        "cell 1 timed out after 1.5 s (the per-cell timeout, PYEXEC_AGENT_CELL_TIMEOUT)"
    )
    assert [c.source for c in nb.cells if c.cell_type == "code"] == ["import time\ntime.sleep(30)"]
    assert llm.remaining(k) == 1  # the model was not asked again


async def test_kernel_death_fails_the_job_clearly(harness: Harness) -> None:
    k, llm = key(), harness.llm
    llm.script(k, run_python("import os\nos._exit(3)"), final_answer("never"))
    job, _ = await harness.run(f"Crash {k}")
    assert job.status == "failed"
    assert job.error_message.startswith("kernel died")
    assert job.error_message.endswith("(running the model's code)")


async def test_cancel_while_waiting_for_the_model(harness: Harness) -> None:
    k, llm = key(), harness.llm
    slow = final_answer("too late")
    slow.delay = 20
    llm.script(k, slow)

    async def cancel_once_asked(job: Job) -> None:
        await asyncio.to_thread(llm.wait_for_requests, k)
        async with harness.runtime.db.session() as session:
            await repository.request_cancel(session, job.id)
            await session.commit()
        await harness.runtime.events.publish(job.id, CancelRequested())

    started = asyncio.get_running_loop().time()
    job, _ = await harness.run(f"Wait {k}", after_start=cancel_once_asked)
    assert job.status == "cancelled"
    assert asyncio.get_running_loop().time() - started < 15


async def test_follow_up_keeps_the_parents_state_and_inspects_only_new_files(
    harness: Harness,
) -> None:
    llm, sales = harness.llm, harness.frames["sales"]
    parent_key, child_key = key(), key()
    llm.script(
        parent_key,
        run_python("df = df[df['region'] == 'North']\nprint(len(df))"),
        final_answer("Kept the North rows."),
    )
    parent, parent_nb = await harness.run(f"Keep North {parent_key}", files=("sales.csv",))
    assert parent.status == "completed", parent.error_message

    llm.script(
        child_key,
        run_python("print(len(df), int(df_targets['target'].sum()))"),
        final_answer("ok"),
    )
    child, nb = await harness.run(
        f"Compare with targets {child_key}", files=("targets.xlsx",), parent=parent
    )
    assert child.status == "completed", child.error_message
    north = int((sales["region"] == "North").sum())
    # `df` is the parent's filtered frame, not a fresh load: its cells were replayed.
    target = int(harness.frames["targets"]["target"].sum())
    assert tool_results(llm, child_key, 1) == [f"{north} {target}"]
    told = opening(llm, child_key)
    assert "`sales.csv`" in told and "loaded as the DataFrame `df`" in told
    assert "loaded as the DataFrame `df_targets`" in told
    assert "df = df[df['region'] == 'North']" in told

    inspections = [c for c in nb.cells if "pyexec-inspection" in c.metadata.get("tags", [])]
    assert len(inspections) == 2
    assert inspections[0].id == parent_nb.cells[1].id  # the parent's, replayed, id kept
    assert "targets.xlsx" in inspections[1].source and "sales.csv" not in inspections[1].source
    assert child.usage["steps"] == 2 and child.usage["model"] == "scripted"
    # Only the follow-up's own cells count among its outputs.
    assert {o["cell"] for o in child.outputs} == {
        i for i, c in enumerate(nb.cells) if c.cell_type == "code"
    } - {i for i, c in enumerate(nb.cells) if c.id in {x.id for x in parent_nb.cells}}


async def test_tool_arguments_that_are_not_json_are_answered_not_fatal(harness: Harness) -> None:
    k, llm = key(), harness.llm
    broken = run_python("unused")
    broken.tool_calls = [("run_python", "{not json"), ("plot_it", json.dumps({"x": 1}))]
    llm.script(k, broken, final_answer("recovered"))
    job, _ = await harness.run(f"Break the tools {k}")
    assert job.status == "completed", job.error_message
    replies = tool_results(llm, k, 1)
    assert replies[0].startswith("`run_python` needs a non-empty `code` argument")
    assert replies[1].startswith("There is no tool `plot_it`")
