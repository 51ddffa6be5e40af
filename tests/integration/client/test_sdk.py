"""The SDK against the real server, on both databases: submit with uploads, wait, stream, list,
download, cancel, delete, keys, and each error as its own exception."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pyexec_client import (
    AsyncPyExec,
    AuthenticationError,
    BadRequestError,
    CellFinishedEvent,
    CellStartedEvent,
    ConflictError,
    ErrorOutput,
    Job,
    JobFailedError,
    NotFoundError,
    OutputEvent,
    PermissionDeniedError,
    PyExec,
    ResultEvent,
    StatusEvent,
    WaitTimeoutError,
)
from tests.integration.client.fault_proxy import FaultProxy
from tests.support.servers import Server

SALES = "region,units,revenue\nnorth,3,30.5\nsouth,5,52.0\nnorth,7,71.25\neast,1,9.99\n"
CODE = """\
import pandas as pd
df = pd.read_csv('sales.csv')
print('rows', len(df))
# %%
df.groupby('region', as_index=False)['units'].sum()
# %%
import os
os.makedirs('out', exist_ok=True)
df.to_csv('out/copy.csv', index=False)
df.plot.bar(x='region', y='units')
plt.show()
"""
PNG = b"\x89PNG\r\n\x1a\n"


def sales(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(SALES)
    return path


def test_a_job_with_a_local_file_runs_and_everything_downloads(sdk: PyExec, tmp_path: Path) -> None:
    job = sdk.jobs.create(code=CODE, files=[sales(tmp_path)], title="Regional units")
    assert isinstance(job, Job) and job.status == "pending" and len(job.file_ids) == 1
    assert job.wait(timeout=120) is job and job.status == "completed", job.error_message
    [uploaded] = [f for f in sdk.files.list() if f.id == job.file_ids[0]]
    assert (uploaded.filename, uploaded.bytes) == ("sales.csv", len(SALES))

    assert job.stdout == "rows 4\n"
    [table] = job.tables
    assert table.columns == ["index", "region", "units"] and table.total_rows == 3
    assert sorted(row[1:] for row in table.rows) == [["east", 1], ["north", 10], ["south", 5]]
    [image] = job.images
    assert sdk.jobs.read_artifact(job.id, image.name).startswith(PNG)

    notebook = job.download_notebook(tmp_path)
    assert notebook.parent == tmp_path and notebook.name.startswith("regional-units-")
    assert notebook.suffix == ".ipynb" and json.loads(notebook.read_text())["nbformat"] == 4
    bundle = job.download_bundle(tmp_path / "bundle.zip")
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert any(n.endswith("/sales.csv") for n in names)
    assert any(n.endswith("/out/copy.csv") for n in names)
    copy = job.download_artifact("out/copy.csv", tmp_path / "nested" / "dir" / "c.csv")
    assert copy.read_text().splitlines()[0] == "region,units,revenue"
    page = sdk.jobs.download_notebook_html(job.id, tmp_path)
    assert page.suffix == ".html" and "Regional units" in page.read_text()
    # Nothing half-written is left beside the downloads.
    assert not [p for p in tmp_path.rglob("*.part")]


def test_wait_long_polls_instead_of_polling_in_a_loop(
    server: Server, key: str, proxy: FaultProxy
) -> None:
    with PyExec(api_key=key, base_url=proxy.url) as client:
        job = client.jobs.create(code="import time; time.sleep(3)\n6 * 7")
        job.wait(timeout=120)
    assert job.result == "42"
    polls = proxy.requests("GET", f"/v1/jobs/{job.id}")
    assert 1 <= len(polls) <= 2, polls  # held by the server, not asked again and again
    assert all("wait=" in p.query for p in polls)


def test_wait_with_a_timeout_raises_with_the_job_as_it_was(sdk: PyExec) -> None:
    job = sdk.jobs.create(code="import time; time.sleep(60)")
    try:
        with pytest.raises(WaitTimeoutError) as timed_out:
            job.wait(timeout=1.5)
        assert timed_out.value.job.status in ("pending", "running")
        assert isinstance(timed_out.value, TimeoutError)
    finally:
        assert job.cancel().status == "cancelled"
    with pytest.raises(JobFailedError, match="cancelled"):
        job.raise_for_status()


def test_listing_pages_through_every_job(sdk: PyExec) -> None:
    made = [sdk.jobs.create(code=f"{i}", title=f"n{i}").id for i in range(5)]
    newest_first = list(reversed(made))
    assert [j.id for j in sdk.jobs.list(page_size=2)] == newest_first
    assert [j.id for j in sdk.jobs.list(limit=3, page_size=2)] == newest_first[:3]
    page = sdk.jobs.list_page(limit=2)
    assert [j.id for j in page.data] == newest_first[:2] and page.next_cursor
    rest = sdk.jobs.list_page(limit=10, cursor=page.next_cursor)
    assert [j.id for j in rest.data] == newest_first[2:] and rest.next_cursor is None
    for job_id in made:
        sdk.jobs.wait(job_id, timeout=120)
    assert {j.id for j in sdk.jobs.list(status="completed")} == set(made)
    assert list(sdk.jobs.list(status="failed")) == []


def test_stream_yields_typed_events_to_the_result(sdk: PyExec) -> None:
    job = sdk.jobs.create(code="print('a')\n# %%\n6 * 7")
    events = list(job.stream())
    kinds = [type(e) for e in events]
    assert kinds == [
        StatusEvent,
        StatusEvent,
        CellStartedEvent,
        OutputEvent,
        CellFinishedEvent,
        CellStartedEvent,
        OutputEvent,
        CellFinishedEvent,
        StatusEvent,
        ResultEvent,
    ]
    assert [e.status for e in events if isinstance(e, StatusEvent)] == [
        "pending",
        "running",
        "completed",
    ]
    assert [e.text for e in events if isinstance(e, OutputEvent)] == ["a\n", "42"]
    result = events[-1]
    assert isinstance(result, ResultEvent) and isinstance(result.job, Job)
    assert result.job.result == "42" and result.id is None
    # Resuming after an event gives what came after it, and the result again.
    after = list(sdk.jobs.stream(job.id, last_event_id=events[5].id))
    assert [e.id for e in after] == [e.id for e in events[6:]]


def test_a_failing_job_is_data_not_an_exception(sdk: PyExec) -> None:
    job = sdk.jobs.create(code="x = 1\n# %%\n1 / 0").wait(timeout=120)
    assert job.status == "failed" and "ZeroDivisionError" in (job.error_message or "")
    [error] = [o for o in job.outputs if isinstance(o, ErrorOutput)]
    assert error.ename == "ZeroDivisionError" and error.cell == 2
    with pytest.raises(JobFailedError, match="ZeroDivisionError"):
        job.raise_for_status()


def test_a_follow_up_continues_from_its_parent(sdk: PyExec) -> None:
    parent = sdk.jobs.create(code="x = 41").wait(timeout=120)
    child = sdk.jobs.create(code="x + 1", parent=parent).wait(timeout=120)
    assert child.parent_job_id == parent.id and child.result == "42"


def test_each_error_is_its_own_exception(server: Server, sdk: PyExec) -> None:
    with pytest.raises(NotFoundError) as missing:
        sdk.jobs.get("no-such-job")
    assert missing.value.status_code == 404 and missing.value.request_id
    with pytest.raises(BadRequestError) as invalid:
        sdk.jobs.create(code="1", timeout_seconds=0)
    assert [d["field"] for d in invalid.value.details] == ["timeout_seconds"]
    with pytest.raises(ValueError, match="prompt or code"):
        sdk.jobs.create()
    with pytest.raises(FileNotFoundError, match="no-such"):
        sdk.jobs.create(code="1", files=["no-such.csv"])

    running = sdk.jobs.create(code="import time; time.sleep(60)")
    with pytest.raises(ConflictError, match="cancel it"):
        sdk.jobs.delete(running.id)
    running.cancel()
    with pytest.raises(ConflictError, match="already ended"):
        running.cancel()
    running.delete()
    with pytest.raises(NotFoundError):
        running.refresh()

    with (
        PyExec(api_key="pyex_" + "x" * 43, base_url=server.url) as stranger,
        pytest.raises(AuthenticationError),
    ):
        stranger.jobs.get(running.id)
    reader = sdk.api_keys.create("reader", scopes=["jobs:read"])
    with PyExec(api_key=reader.key, base_url=server.url) as limited:
        assert limited.jobs.list_page().data == []  # it may read (its one job was deleted)
        with pytest.raises(PermissionDeniedError, match="jobs:write"):
            limited.jobs.create(code="1")


def test_api_keys_create_list_revoke(server: Server, sdk: PyExec) -> None:
    created = sdk.api_keys.create("ci", scopes=["jobs:read", "files:read"])
    assert created.key.startswith("pyex_") and created.prefix == created.key[5:13]
    listed = {k.id: k for k in sdk.api_keys.list()}
    assert listed[created.id].scopes == ["jobs:read", "files:read"]
    with PyExec(api_key=created.key, base_url=server.url) as ci:
        list(ci.files.list())
        sdk.api_keys.revoke(created.id)
        with pytest.raises(AuthenticationError, match="revoked"):
            list(ci.files.list())
    assert created.id not in {k.id for k in sdk.api_keys.list()}


def test_files_upload_read_download_delete(sdk: PyExec, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 100)
    uploaded = sdk.files.upload(path)
    assert (uploaded.filename, uploaded.bytes) == ("data.bin", 25_600)
    with path.open("rb") as fh:
        fh.seek(256)  # an open file uploads from where it stands
        partial = sdk.files.upload(fh, filename="rest.bin")
    assert partial.bytes == 25_600 - 256
    assert sdk.files.get(uploaded.id).sha256 == uploaded.sha256
    assert sdk.files.content(uploaded.id) == path.read_bytes()
    saved = sdk.files.download(uploaded.id, f"{tmp_path}/out/")  # a new directory
    assert saved == tmp_path / "out" / "data.bin" and saved.read_bytes() == path.read_bytes()
    assert [f.id for f in sdk.files.list()] == [partial.id, uploaded.id]
    sdk.files.delete(uploaded.id)
    with pytest.raises(NotFoundError):
        sdk.files.get(uploaded.id)


def test_a_finished_job_displays_itself_in_a_notebook(sdk: PyExec, tmp_path: Path) -> None:
    job = sdk.jobs.create(code=CODE, files=[sales(tmp_path)]).wait(timeout=120)
    page = job._repr_html_()
    assert "completed" in page and "<td>north</td>" in page
    assert "data:image/png;base64,iVBORw0KGgo" in page  # the plot, fetched and embedded
    assert set(job._repr_mimebundle_()) == {"text/plain", "text/html"}


async def test_the_async_client_does_the_same(async_sdk: AsyncPyExec, tmp_path: Path) -> None:
    # One file may be given alone.
    job = await async_sdk.jobs.create(code=CODE, files=sales(tmp_path), priority=7)
    assert len(job.file_ids) == 1
    kinds = [type(e).__name__ async for e in async_sdk.jobs.stream(job.id)]
    assert kinds[0] == "StatusEvent" and kinds[-1] == "ResultEvent"
    await job.wait(timeout=120)
    assert job.status == "completed" and job.priority == 7 and job.tables
    assert [j.id async for j in async_sdk.jobs.list(limit=1)] == [job.id]
    notebook = await job.download_notebook(tmp_path)
    assert json.loads(notebook.read_text())["cells"]
    assert (await async_sdk.jobs.read_artifact(job.id, job.images[0].name)).startswith(PNG)
    with pytest.raises(ConflictError):
        await job.cancel()
    uploaded = await async_sdk.files.upload(sales(tmp_path))
    assert await async_sdk.files.content(uploaded.id) == SALES.encode()
    # Its display in a notebook fetches the plot over a blocking twin.
    assert "data:image/png;base64," in job._repr_html_()
