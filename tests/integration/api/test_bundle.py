"""The bundle round trip: unzip, "Run All" in a fresh kernel (nbclient), same outputs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import nbclient
import nbformat

from pyexec.notebooks import SETUP_TAG
from tests.support.servers import ALSO_ON_GATEWAY, Server, run_job
from tests.support.uploading import DATA, upload_ok

pytestmark = ALSO_ON_GATEWAY

TABLE = "application/vnd.dataresource+json"
PANDAS_MAX_ROWS = 60  # what pandas' own table-schema repr holds in a plain kernel

# `plt` and `np` are used without importing them: PyExec's kernels have them ready, and the
# bundle's set-up cell must give a fresh kernel the same start.
CODE = """\
import pandas as pd
df = pd.read_csv('sales.csv', parse_dates=['date'])
print(df.dtypes.to_string())
# %%
df.describe()
# %%
summary = df.groupby('region', as_index=False).agg(
    units=('units', 'sum'), revenue=('revenue', 'sum')
)
summary
# %%
pd.DataFrame({'n': np.arange(100), 'sq': np.arange(100) ** 2})
# %%
summary.plot.bar(x='region', y='units')
plt.show()
# %%
import os
os.makedirs('out', exist_ok=True)
summary.to_csv('out/summary.csv', index=False)
print(open('out/summary.csv').read())
"""


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [
        c for c in nb.cells if c.cell_type == "code" and SETUP_TAG not in c.metadata.get("tags", [])
    ]


def _assert_same_outputs(original: list[dict[str, Any]], rerun: list[dict[str, Any]]) -> int:
    """Every text output and table of a cell equal; returns how many tables were compared."""
    assert [o["output_type"] for o in original] == [o["output_type"] for o in rerun]
    tables = 0
    for a, b in zip(original, rerun, strict=True):
        if a["output_type"] == "stream":
            assert (a["name"], a["text"]) == (b["name"], b["text"])
            continue
        assert a["data"].get("text/plain") == b["data"].get("text/plain")
        assert a["data"].get("text/html") == b["data"].get("text/html")
        assert ("image/png" in a["data"]) == ("image/png" in b["data"])
        if TABLE in a["data"]:
            tables += 1
            mine, theirs = a["data"][TABLE], b["data"][TABLE]
            assert mine["schema"] == theirs["schema"]
            total = a["metadata"][TABLE]["total_rows"]
            # A plain kernel's pandas sends only its first 60 rows; PyExec's sends up to 1,000.
            assert theirs["data"] == mine["data"][:PANDAS_MAX_ROWS]
            assert len(mine["data"]) == min(total, 1000)
    return tables


def test_unzipped_bundle_runs_all_and_reproduces_the_outputs(
    server: Server, client: httpx.Client, tmp_path: Path
) -> None:
    sales = upload_ok(client, (DATA / "sales_small.csv").read_bytes(), "sales.csv")
    job = run_job(client, {"code": CODE, "title": "Regional sales", "file_ids": [sales["id"]]})
    assert job["status"] == "completed", job

    resp = client.get(f"/v1/jobs/{job['id']}/bundle")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    name = f"regional-sales-{job['id'][:8]}"
    assert resp.headers["content-disposition"] == f'attachment; filename="{name}.zip"'
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert sorted(zf.namelist()) == [
            f"{name}/README.md",
            f"{name}/out/summary.csv",
            f"{name}/{name}.ipynb",
            f"{name}/sales.csv",
        ]
        zf.extractall(tmp_path)
    folder = tmp_path / name
    assert (folder / "sales.csv").read_bytes() == (DATA / "sales_small.csv").read_bytes()
    exported = client.get(f"/v1/jobs/{job['id']}/artifacts/out/summary.csv").content
    assert (folder / "out" / "summary.csv").read_bytes() == exported
    (folder / "out" / "summary.csv").unlink()  # "Run All" must write it again

    nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    assert nb.metadata.kernelspec["name"] == "python3"
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    assert (folder / "out" / "summary.csv").read_bytes() == exported

    original = nbformat.reads(client.get(f"/v1/jobs/{job['id']}/notebook").text, as_version=4)
    mine, rerun = _code_cells(original), _code_cells(nb)
    assert [c.source for c in mine] == [c.source for c in rerun]
    tables = sum(
        _assert_same_outputs(a.outputs, b.outputs) for a, b in zip(mine, rerun, strict=True)
    )
    assert tables == 3

    # The job's own outputs tell the same story as the re-run.
    api_tables = [o for o in job["outputs"] if o["type"] == "table"]
    summary = rerun[2].outputs[0]  # the group-by cell
    rows = summary["data"][TABLE]["data"]
    assert api_tables[1]["rows"] == [[r[c] for c in api_tables[1]["columns"]] for r in rows]
    assert api_tables[2]["total_rows"] == 100


def test_an_input_deleted_since_is_named_in_the_readme(client: httpx.Client) -> None:
    kept = upload_ok(client, b"a\n1\n", "kept.csv")
    gone = upload_ok(client, b"b\n2\n", "gone.csv")
    job = run_job(
        client,
        {
            "code": "open('kept.csv').read() + open('gone.csv').read()",
            "file_ids": [kept["id"], gone["id"]],
        },
    )
    assert job["status"] == "completed", job
    assert client.delete(f"/v1/files/{gone['id']}").status_code == 204
    resp = client.get(f"/v1/jobs/{job['id']}/bundle")
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = zf.namelist()
        readme = next(zf.read(n).decode() for n in names if n.endswith("README.md"))
    assert any(n.endswith("/kept.csv") for n in names)
    assert not any(n.endswith("/gone.csv") for n in names)
    assert "`gone.csv`" in readme and "deleted" in readme


def test_no_bundle_before_the_job_ends(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"code": "import time; time.sleep(30)"}).json()
    resp = client.get(f"/v1/jobs/{job['id']}/bundle")
    assert resp.status_code == 404 and "no notebook yet" in resp.json()["error"]["message"]
    assert client.get(f"/v1/jobs/{job['id']}/notebook.html").status_code == 404
    client.post(f"/v1/jobs/{job['id']}/cancel")
