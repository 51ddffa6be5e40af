"""Prompt jobs over HTTP, as a client runs them: upload a CSV, submit a prompt naming it, read
the answer, the outputs, the artifacts and the notebook back.

No model is configured on the test server, so the offline planner answers. The two prompts are
the examples of the public API docs; their numbers are checked against pandas computed here,
and their notebooks are run again, top to bottom, by nbclient in a kernel PyExec did not start,
in a folder holding the CSV.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.support.servers import ALSO_ON_GATEWAY, Server, run_job
from tests.support.uploading import DATA, upload_ok

pytestmark = ALSO_ON_GATEWAY

SALES_CSV = DATA / "sales.csv"
SALES = pd.read_csv(SALES_CSV)
TOP_10 = "Analyze the CSV file and return top 10 rows by revenue"
STATISTICS = "Calculate the mean, median, and std for all numeric columns"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.create_key(f"prompts-{uuid.uuid4().hex[:8]}@example.com")) as c:
        yield c


@pytest.fixture(scope="module")
def sales(api: httpx.Client) -> dict[str, Any]:
    return upload_ok(api, SALES_CSV.read_bytes(), "sales.csv")


@pytest.fixture(scope="module")
def top_10(api: httpx.Client, sales: dict[str, Any]) -> dict[str, Any]:
    job = run_job(api, {"prompt": TOP_10, "file_ids": [sales["id"]]})
    assert job["status"] == "completed", job
    return job


def notebook(api: httpx.Client, job: dict[str, Any]) -> nbformat.NotebookNode:
    resp = api.get(job["notebook_url"])
    assert resp.status_code == 200, resp.text
    nb = nbformat.reads(resp.text, as_version=4)
    nbformat.validate(nb)
    return nb


def answer_table(text: str) -> list[dict[str, str]]:
    """The markdown table of the planner's answer, as one dict per row."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[2:]
    ]


def planner_json(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The numbers each planner cell displayed (what its answer was written from)."""
    return [
        output["data"]["application/json"]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if "planner" in (output.get("data", {}).get("application/json") or {})
    ]


def rerun_cleanly(nb: nbformat.NotebookNode, folder: Path) -> None:
    """Run All beside a copy of the CSV in a kernel nbclient starts: no error, same numbers."""
    folder.mkdir(parents=True)
    (folder / "sales.csv").write_bytes(SALES_CSV.read_bytes())
    fresh = nbformat.from_dict(json.loads(json.dumps(nb)))
    NotebookClient(
        fresh, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(folder)}}
    ).execute()
    errors = [
        f"{o['ename']}: {o['evalue']}"
        for cell in fresh.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []
    assert planner_json(nb), "the planner's cells displayed no numbers"
    assert planner_json(fresh) == planner_json(nb)


def test_top_10_rows_by_revenue(api: httpx.Client, top_10: dict[str, Any], tmp_path: Path) -> None:
    expected = SALES.sort_values("revenue", ascending=False, kind="stable").head(10)
    rows = answer_table(top_10["result"])
    assert [float(r["revenue"]) for r in rows] == expected["revenue"].tolist()
    assert [int(r["order_id"]) for r in rows] == expected["order_id"].tolist()
    assert top_10["usage"]["model"] == "offline-planner"
    # The rows the cell displayed are a table among the job's outputs, with the true length.
    table = next(o for o in top_10["outputs"] if o["type"] == "table")
    assert table["total_rows"] == 10
    revenue = table["columns"].index("revenue")
    assert [row[revenue] for row in table["rows"]] == expected["revenue"].tolist()
    nb = notebook(api, top_10)
    assert nb.metadata["pyexec"]["inputs"] == [
        {"file_id": top_10["file_ids"][0], "name": "sales.csv", "bytes": SALES_CSV.stat().st_size}
    ]
    rerun_cleanly(nb, tmp_path / "rerun")


def test_mean_median_and_std_of_all_numeric_columns(
    api: httpx.Client, sales: dict[str, Any], tmp_path: Path
) -> None:
    job = run_job(api, {"prompt": STATISTICS, "file_ids": [sales["id"]]})
    assert job["status"] == "completed", job
    numbers = SALES.select_dtypes(include="number")
    rows = {r["column"]: r for r in answer_table(job["result"])}
    assert list(rows) == numbers.columns.tolist()
    for name in numbers.columns:
        for stat, value in (
            ("mean", numbers[name].mean()),
            ("median", numbers[name].median()),
            ("std", numbers[name].std()),
        ):
            # The answer rounds for reading; the kernel's own numbers are checked exactly below.
            assert float(rows[name][stat]) == pytest.approx(value, rel=5e-4, abs=0.0051)
    nb = notebook(api, job)
    (payload,) = planner_json(nb)
    assert payload["stats"]["columns"] == ["mean", "median", "std"]
    rerun_cleanly(nb, tmp_path / "rerun")


def test_a_plot_prompt_gives_an_image_output_and_a_figure_artifact(
    api: httpx.Client, sales: dict[str, Any]
) -> None:
    job = run_job(
        api, {"prompt": "bar chart of total revenue by region", "file_ids": [sales["id"]]}
    )
    assert job["status"] == "completed", job
    totals = SALES.groupby("region")["revenue"].sum().sort_values(ascending=False)
    rows = answer_table(job["result"])
    assert [r["region"] for r in rows] == totals.index.tolist()
    assert [float(r["revenue (sum)"]) for r in rows] == pytest.approx(totals.tolist(), abs=0.0051)

    (image,) = [o for o in job["outputs"] if o["type"] == "image"]
    (artifact,) = job["artifacts"]
    assert artifact["name"] == image["name"] == "figure-1.png"
    assert artifact["media_type"] == image["media_type"] == "image/png"
    assert image["url"] == artifact["url"] == f"/v1/jobs/{job['id']}/artifacts/figure-1.png"
    png = api.get(artifact["url"])
    assert png.status_code == 200
    assert png.content.startswith(PNG_SIGNATURE) and len(png.content) == artifact["bytes"]


def test_follow_up_gets_its_parents_uploaded_file_and_bundles_it(
    api: httpx.Client, sales: dict[str, Any], top_10: dict[str, Any]
) -> None:
    # No file_ids: the parent's sales.csv is staged from the file store for the replay.
    body = {"prompt": "total revenue by region", "parent_job_id": top_10["id"]}
    key = {"Idempotency-Key": f"follow-up-{uuid.uuid4().hex}"}
    created = api.post("/v1/jobs", json=body, headers=key)
    assert created.status_code == 201, created.text
    job = api.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 60}).json()
    assert job["status"] == "completed", job
    totals = SALES.groupby("region")["revenue"].sum()
    answered = {r["region"]: float(r["sum"]) for r in answer_table(job["result"])}
    assert answered == pytest.approx(totals.to_dict(), abs=0.0051)

    nb = notebook(api, job)
    assert any(c.source.startswith("## Earlier:") for c in nb.cells if c.cell_type == "markdown")
    assert [i["file_id"] for i in nb.metadata["pyexec"]["inputs"]] == [sales["id"]]
    bundle = api.get(f"/v1/jobs/{job['id']}/bundle")
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        (csv_name,) = [n for n in zf.namelist() if n.endswith("/sales.csv")]
        assert zf.read(csv_name) == SALES_CSV.read_bytes()

    # Issue 3's idempotency covers parent_job_id: the same body is the same job, another
    # parent under the same key is a conflict.
    again = api.post("/v1/jobs", json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    other = api.post("/v1/jobs", json={**body, "parent_job_id": job["id"]}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "conflict"


def test_follow_up_cannot_add_a_file_named_like_its_parents(
    api: httpx.Client, top_10: dict[str, Any]
) -> None:
    again = upload_ok(api, b"region,revenue\nWest,1\n", "SALES.csv")
    resp = api.post(
        "/v1/jobs",
        json={"prompt": "more", "parent_job_id": top_10["id"], "file_ids": [again["id"]]},
    )
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and top_10["file_ids"][0] in error["message"]
    assert error["details"] == [
        {"field": "file_ids", "problem": "'SALES.csv' is an input of the parent job"}
    ]
