"""Rich outputs, artifacts, the notebook and its HTML page, and deleting a job, over a real
server with real kernels."""

from __future__ import annotations

import base64
import csv
import io
import time
from collections.abc import Iterator

import httpx
import nbformat
import pytest
import xlwt

from tests.support.servers import ALSO_ON_GATEWAY, Server, run_job
from tests.support.uploading import DATA, strict_json, upload_ok

pytestmark = ALSO_ON_GATEWAY

ANALYSIS = """\
import pandas as pd
import matplotlib.pyplot as plt
df = pd.read_csv('sales.csv', parse_dates=['date'])
print(f'{len(df)} rows')
# %%
df
# %%
by_region = df.groupby('region', as_index=False)['revenue'].sum()
by_region.plot.bar(x='region', y='revenue')
plt.show()
# %%
import os
os.makedirs('out', exist_ok=True)
by_region.to_csv('out/summary.csv', index=False)
by_region
"""


def _job(client: httpx.Client, body: dict) -> dict:
    """Like run_job, but parses the job strictly: NaN or Infinity would fail here."""
    job = run_job(client, body)
    resp = client.get(f"/v1/jobs/{job['id']}")
    parsed = strict_json(resp.text)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture(scope="module")
def analysis(server: Server) -> Iterator[tuple[httpx.Client, dict]]:
    with server.client(server.create_key("analysis@example.com")) as client:
        sales = upload_ok(client, (DATA / "sales_small.csv").read_bytes(), "sales.csv")
        body = {"code": ANALYSIS, "title": "Sales Data Analysis", "file_ids": [sales["id"]]}
        job = _job(client, body)
        assert job["status"] == "completed", job
        yield client, job


def test_dataframe_plot_and_exported_csv_are_all_in_the_job(analysis: tuple) -> None:
    _, job = analysis
    kinds = [(o["cell"], o["type"]) for o in job["outputs"]]
    assert kinds == [(1, "text"), (2, "table"), (3, "image"), (4, "table")]
    assert job["outputs"][0]["text"] == "5 rows\n"

    table = job["outputs"][1]
    assert table["columns"] == ["index", "region", "product", "units", "revenue", "date"]
    assert table["total_rows"] == 5 and len(table["rows"]) == 5
    assert table["rows"][0] == [0, "north", "apples", 10, 105.5, "2024-01-01T00:00:00.000"]
    assert table["rows"][1][4] is None  # NaN → null

    image = job["outputs"][2]
    assert image["media_type"] == "image/png" and "data" not in image
    assert image["url"] == f"/v1/jobs/{job['id']}/artifacts/figure-1.png"

    assert job["outputs"][3]["rows"] == [
        [0, "east", 70.0],
        [1, "north", 160.5],
        [2, "south", 0.0],
        [3, "west", 240.25],
    ]
    artifacts = {a["name"]: a for a in job["artifacts"]}
    assert set(artifacts) == {"figure-1.png", "out/summary.csv"}
    assert set(artifacts["figure-1.png"]) == {"name", "media_type", "bytes", "url"}
    assert artifacts["out/summary.csv"]["media_type"] == "text/csv"
    assert artifacts["out/summary.csv"]["url"] == f"/v1/jobs/{job['id']}/artifacts/out/summary.csv"


def test_artifacts_download_with_type_and_name(analysis: tuple) -> None:
    client, job = analysis
    artifacts = {a["name"]: a for a in job["artifacts"]}
    png = client.get(artifacts["figure-1.png"]["url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"] == 'attachment; filename="figure-1.png"'
    assert len(png.content) == artifacts["figure-1.png"]["bytes"]
    summary = client.get(artifacts["out/summary.csv"]["url"])
    assert summary.headers["content-type"].startswith("text/csv")
    assert summary.headers["content-disposition"] == 'attachment; filename="summary.csv"'
    assert summary.headers["x-content-type-options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(summary.text)))
    assert rows[0] == ["region", "revenue"] and rows[2] == ["north", "160.5"]


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fnotebook.ipynb",
        "..%2Fnotebook.ipynb",
        "%2e%2e/%2e%2e/notebook.ipynb",
        "out%2F..%2F..%2Fnotebook.ipynb",
        "..%5Cnotebook.ipynb",
        "%2Fetc%2Fpasswd",
        "nothing.png",
        "out",
    ],
)
def test_artifact_paths_cannot_leave_the_job(analysis: tuple, path: str) -> None:
    client, job = analysis
    resp = client.get(f"/v1/jobs/{job['id']}/artifacts/{path}")
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == "not_found"


def test_another_accounts_job_files_do_not_exist(server: Server, analysis: tuple) -> None:
    _, job = analysis
    with server.client(server.create_key("stranger@example.com")) as other:
        for suffix in (
            "/artifacts/figure-1.png",
            "/artifacts/out/summary.csv",
            "/notebook.html",
            "/bundle",
            "/notebook",
        ):
            resp = other.get(f"/v1/jobs/{job['id']}{suffix}")
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
        assert other.delete(f"/v1/jobs/{job['id']}").status_code == 404


def test_notebook_is_self_contained_and_named_after_the_title(analysis: tuple) -> None:
    client, job = analysis
    resp = client.get(f"/v1/jobs/{job['id']}/notebook")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="sales-data-analysis-{job["id"][:8]}.ipynb"'
    )
    nb = nbformat.reads(resp.text, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3, 4]  # the set-up ran silently
    figure = next(o for o in code[2].outputs if o.output_type == "display_data")
    assert base64.b64decode(figure.data["image/png"]).startswith(b"\x89PNG")
    table = code[1].outputs[0]
    resource = table.data["application/vnd.dataresource+json"]
    assert len(resource["data"]) == 5 and table.metadata["application/vnd.dataresource+json"] == {
        "total_rows": 5
    }
    assert "<table" in table.data["text/html"]
    meta = nb.metadata.pyexec
    assert meta["inputs"] == [{"file_id": job["file_ids"][0], "name": "sales.csv", "bytes": 185}]
    assert "import pandas as pd" in meta["kernel_setup"]


def test_notebook_html_page(analysis: tuple) -> None:
    client, job = analysis
    resp = client.get(f"/v1/jobs/{job['id']}/notebook.html")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    csp = resp.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "script-src" not in csp and "default-src 'none'" in csp
    assert 'src="data:image/png;base64,' in resp.text
    assert "Sales Data Analysis" in resp.text and "<table" in resp.text
    again = client.get(f"/v1/jobs/{job['id']}/notebook.html")
    assert again.content == resp.content


def test_big_frames_report_their_true_size(client: httpx.Client) -> None:
    code = (
        "import pandas as pd\n"
        "big = pd.DataFrame({'x': range(5000), 'y': [i * 0.5 for i in range(5000)]})\n"
        "display(big)\n"
        "# %%\n"
        "pd.Series(range(70), name='s')"
    )
    job = _job(client, {"code": code})
    assert job["status"] == "completed", job
    frame, series = [o for o in job["outputs"] if o["type"] == "table"]
    assert frame["total_rows"] == 5000 and len(frame["rows"]) == 1000
    assert frame["rows"][999] == [999, 999, 499.5]
    assert series["columns"] == ["index", "s"] and series["total_rows"] == 70
    assert len(series["rows"]) == 70


def test_excel_files_old_and_new_read_without_warnings(client: httpx.Client) -> None:
    book = xlwt.Workbook()  # Excel 97-2003, as older tools still export
    sheet = book.add_sheet("Sheet1")
    for row, (quarter, budget) in enumerate(
        [("quarter", "budget"), ("Q1", 5000.0), ("Q2", 6250.5)]
    ):
        sheet.write(row, 0, quarter)
        sheet.write(row, 1, budget)
    content = io.BytesIO()
    book.save(content)
    legacy = upload_ok(client, content.getvalue(), "budget.xls")
    code = (
        "import pandas as pd\n"
        "pd.DataFrame({'n': [1, 2, 3]}).to_excel('out.xlsx', index=False)\n"
        "print(pd.read_excel('out.xlsx')['n'].sum(), pd.read_excel('budget.xls')['budget'].sum())"
    )
    job = _job(client, {"code": code, "file_ids": [legacy["id"]]})
    assert job["status"] == "completed", job
    assert [(o["type"], o.get("text")) for o in job["outputs"]] == [("text", "6 11250.5\n")]


def test_table_values_are_json_safe(client: httpx.Client) -> None:
    code = (
        "import decimal\n"
        "import numpy as np, pandas as pd\n"
        "pd.DataFrame({\n"
        "    'f': [1.5, np.nan, np.inf],\n"
        "    'i': np.array([1, 2, 3], dtype='int64'),\n"
        "    't': pd.to_datetime(['2024-01-01 10:30', None, '2024-03-01 00:00']),\n"
        "    'tz': pd.to_datetime(['2024-01-01'] * 3).tz_localize('UTC'),\n"
        "    'd': [decimal.Decimal('1.10'), None, 'x'],\n"
        "    'b': np.array([True, False, True]),\n"
        "})"
    )
    job = _job(client, {"code": code})
    table = next(o for o in job["outputs"] if o["type"] == "table")
    assert table["columns"] == ["index", "f", "i", "t", "tz", "d", "b"]
    assert table["rows"] == [
        [0, 1.5, 1, "2024-01-01T10:30:00.000", "2024-01-01T00:00:00.000Z", "1.10", True],
        [1, None, 2, None, "2024-01-01T00:00:00.000Z", None, False],
        [2, None, 3, "2024-03-01T00:00:00.000", "2024-01-01T00:00:00.000Z", "x", True],
    ]


def test_every_kind_of_output(client: httpx.Client) -> None:
    code = (
        "import sys, pandas as pd\n"
        "from IPython.display import HTML, JSON, Markdown, display\n"
        "print('out'); print('err', file=sys.stderr)\n"
        "display(HTML('<b>bold</b>'))\n"
        "display(JSON({'a': [1, 2]}))\n"
        "display(Markdown('# Title'))\n"
        "cols = pd.MultiIndex.from_tuples([('a', 'x'), ('a', 'y')])\n"
        "display(pd.DataFrame([[1, 2]], columns=cols))\n"
        "display(pd.DataFrame([[1, 2]], columns=['k', 'k']))\n"
        "42\n"
        "# %%\n"
        "raise ValueError('bad value')"
    )
    job = _job(client, {"code": code})
    assert job["status"] == "failed" and "ValueError: bad value" in job["error_message"]
    by_type = [(o["type"], o.get("name")) for o in job["outputs"]]
    assert by_type == [
        ("text", "stdout"),
        ("text", "stderr"),
        ("html", None),
        ("json", None),
        ("markdown", None),
        ("table", None),
        ("table", None),
        ("text", "result"),
        ("error", None),
    ]
    outputs = job["outputs"]
    assert outputs[2]["html"] == "<b>bold</b>"
    assert outputs[3]["json"] == {"a": [1, 2]}
    assert outputs[4]["text"] == "# Title"
    assert outputs[5]["columns"] == ["index", "a / x", "a / y"] and outputs[5]["rows"] == [
        [0, 1, 2]
    ]
    assert outputs[6]["columns"] == ["index", "k", "k.1"] and outputs[6]["rows"] == [[0, 1, 2]]
    assert outputs[7]["text"] == "42"
    error = outputs[8]
    assert error["cell"] == 2 and error["ename"] == "ValueError" and error["evalue"] == "bad value"
    assert "\x1b[" not in error["traceback"] and "raise ValueError" in error["traceback"]


def test_a_cell_printing_50_mb_is_capped(client: httpx.Client) -> None:
    job = _job(
        client,
        {"code": "print('x' * 50_000_000)\n# %%\nfor i in range(200_000): print(i)"},
    )
    assert job["status"] == "completed", job
    stdout = [o for o in job["outputs"] if o["type"] == "text" and o["name"] == "stdout"]
    assert [o["cell"] for o in stdout] == [1, 2]
    for out in stdout:
        assert len(out["text"].encode()) < 100_200
        assert "output truncated" in out["text"]
    # Two bounds stack: the kernel keeps 1 M characters a cell and notes the rest on stderr
    # (kept in the notebook), and the job's outputs keep 100 KB of what the kernel kept.
    assert stdout[0]["text"].endswith("[output truncated: 900000 more bytes]")
    nb = client.get(f"/v1/jobs/{job['id']}/notebook")
    # 1 MB of text per output at most (JSON's line lists add some), not 50 MB.
    assert len(nb.content) < 6_000_000 and "output truncated" in nb.text
    assert "49,000,001 more characters were not kept" in nb.text
    assert client.get(f"/v1/jobs/{job['id']}/notebook.html").status_code == 200


def test_a_saved_figure_keeps_its_name_and_the_inline_one_moves(client: httpx.Client) -> None:
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.savefig('figure-1.png'); plt.show()"
    )
    job = _job(client, {"code": code})
    names = {a["name"]: a for a in job["artifacts"]}
    assert set(names) == {"figure-1.png", "figure-2.png"}
    image = next(o for o in job["outputs"] if o["type"] == "image")
    assert image["name"] == "figure-2.png" and image["url"].endswith("/artifacts/figure-2.png")
    for artifact in names.values():
        assert client.get(artifact["url"]).content.startswith(b"\x89PNG")


def test_files_in_dot_dirs_and_symlinks_are_not_artifacts(client: httpx.Client) -> None:
    code = (
        "import os\n"
        "os.makedirs('.secret', exist_ok=True); open('.secret/k', 'w').write('k')\n"
        "open('.hidden', 'w').write('h')\n"
        "os.symlink('/etc/passwd', 'passwd')\n"
        "open('kept.txt', 'w').write('kept')\n"
        "open('my report é.txt', 'w').write('é')"
    )
    job = _job(client, {"code": code})
    assert job["status"] == "completed", job
    assert [a["name"] for a in job["artifacts"]] == ["kept.txt", "my report é.txt"]
    assert job["artifacts"][0]["media_type"] == "text/plain"
    spaced = job["artifacts"][1]
    assert spaced["url"] == f"/v1/jobs/{job['id']}/artifacts/my%20report%20%C3%A9.txt"
    resp = client.get(spaced["url"])
    assert resp.content == "é".encode()
    assert resp.headers["content-disposition"].endswith("filename*=UTF-8''my%20report%20%C3%A9.txt")


def test_delete_removes_the_job_and_its_bytes(server: Server, client: httpx.Client) -> None:
    job = _job(client, {"code": "open('r.txt', 'w').write('r')\nprint(1)"})
    job_dir = server.data_dir / "jobs" / job["id"]
    assert (job_dir / "notebook.ipynb").is_file() and (job_dir / "artifacts" / "r.txt").is_file()
    assert client.get(f"/v1/jobs/{job['id']}/notebook.html").status_code == 200
    resp = client.delete(f"/v1/jobs/{job['id']}")
    assert resp.status_code == 204 and resp.content == b""
    assert not job_dir.exists()
    for suffix in ("", "/notebook", "/artifacts/r.txt"):
        assert client.get(f"/v1/jobs/{job['id']}{suffix}").status_code == 404
    assert job["id"] not in [j["id"] for j in client.get("/v1/jobs").json()["data"]]
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 404


def test_a_job_that_has_not_ended_cannot_be_deleted(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"code": "import time; time.sleep(30)"}).json()
    for _ in range(100):
        if client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running":
            break
        time.sleep(0.1)
    resp = client.delete(f"/v1/jobs/{job['id']}")
    assert resp.status_code == 409 and "cancel" in resp.json()["error"]["message"]
    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    assert client.get(f"/v1/jobs/{job['id']}", params={"wait": 10}).json()["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204


def test_script_in_outputs_does_not_reach_the_html_page(client: httpx.Client) -> None:
    # Assembled in the kernel, so that only the output (not the highlighted source) has it.
    code = (
        "from IPython.display import HTML, display\n"
        "s, e = 'scr' + 'ipt', 'one' + 'rror'\n"
        "display(HTML(f'<{s}>alert(1)</{s}><img src=x {e}=alert(2)><b>o' + 'k</b>'))"
    )
    job = _job(client, {"code": code})
    page = client.get(f"/v1/jobs/{job['id']}/notebook.html").text
    assert "<b>ok</b>" in page
    assert "<script>alert(1)" not in page and "onerror" not in page
