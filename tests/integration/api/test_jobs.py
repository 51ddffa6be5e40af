"""The jobs API over a real server socket, with real kernels."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.support.servers import ALSO_ON_GATEWAY, ROOT, Server, run_job


@ALSO_ON_GATEWAY
def test_quickstart_code_job_completes_with_table(client: httpx.Client) -> None:
    created = client.post(
        "/v1/jobs",
        content=json.dumps(
            {"code": 'import pandas as pd; pd.DataFrame({"a":[1,2]}).describe()', "title": "t"}
        ),
        # What `curl -d` sends: the body must still be read as JSON.
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "pending"
    assert created.headers["location"] == f"/v1/jobs/{job['id']}"
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
    assert done["status"] == "completed", done
    assert "count" in done["result"] and "1.5" in done["result"]
    table = next(o for o in done["outputs"] if o["type"] == "table")
    assert "a" in table["columns"]
    assert table["total_rows"] == 8 and len(table["rows"]) == 8
    assert done["usage"]["cells"] == 1 and done["usage"]["execution_ms"] >= 0
    assert done["notebook_url"] == f"/v1/jobs/{job['id']}/notebook"
    assert done["started_at"] and done["completed_at"] and done["created_at"].endswith("Z")


@ALSO_ON_GATEWAY
def test_notebook_is_valid_with_outputs_counts_and_timing(client: httpx.Client) -> None:
    code = "x = 6 * 7\nprint('hello')\n# %%\nx"
    job = run_job(client, {"code": code, "title": "Two cells"})
    assert job["status"] == "completed", job
    assert job["result"] == "42"
    resp = client.get(f"/v1/jobs/{job['id']}/notebook")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ipynb+json")
    assert "attachment" in resp.headers["content-disposition"]
    assert f"two-cells-{job['id'][:8]}.ipynb" in resp.headers["content-disposition"]
    nb = nbformat.reads(resp.text, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and "Two cells" in nb.cells[0].source
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code_cells] == [1, 2]
    assert code_cells[0].outputs[0]["text"] == "hello\n"
    assert code_cells[1].outputs[0]["data"]["text/plain"] == "42"
    for cell in code_cells:
        assert {"iopub.execute_input", "shell.execute_reply"} <= set(cell.metadata.execution)
    assert nb.metadata.kernelspec["language"] == "python"
    assert nb.metadata.kernelspec["name"] == "python3"  # opens in any JupyterLab
    assert nb.metadata.language_info["name"] == "python"
    meta = nb.metadata.pyexec
    assert meta["job_id"] == job["id"] and meta["status"] == "completed"
    assert meta["started_at"] and meta["completed_at"]


@ALSO_ON_GATEWAY
def test_failing_cell_reports_exception_and_line(client: httpx.Client) -> None:
    job = run_job(client, {"code": "a = 1\nb = 0\nprint(a / b)"})
    assert job["status"] == "failed"
    assert "ZeroDivisionError" in job["error_message"]
    assert "line 3" in job["error_message"]
    error = next(o for o in job["outputs"] if o["type"] == "error")
    assert error["ename"] == "ZeroDivisionError"
    assert "\x1b[" not in error["traceback"]
    nb = nbformat.reads(client.get(f"/v1/jobs/{job['id']}/notebook").text, as_version=4)
    nbformat.validate(nb)
    outputs = next(c for c in nb.cells if c.cell_type == "code").outputs
    assert outputs[-1]["output_type"] == "error"


@ALSO_ON_GATEWAY
def test_cell_timeout_fails_job_and_kernel_is_replaced(client: httpx.Client) -> None:
    started = time.monotonic()
    job = run_job(client, {"code": "while True: pass", "timeout_seconds": 2})
    assert job["status"] == "failed"
    assert job["error_message"] == "timed out after 2 s"
    assert time.monotonic() - started < 20
    after = run_job(client, {"code": "print('still here')"})
    assert after["status"] == "completed" and after["result"] == "still here"


@ALSO_ON_GATEWAY
def test_kernel_that_dies_fails_job_clearly(client: httpx.Client) -> None:
    job = run_job(client, {"code": "import os; os._exit(1)"})
    assert job["status"] == "failed"
    assert job["error_message"].startswith("kernel died"), job["error_message"]
    after = run_job(client, {"code": "1 + 1"})
    assert after["status"] == "completed" and after["result"] == "2"


@ALSO_ON_GATEWAY
def test_each_job_gets_a_fresh_kernel(client: httpx.Client) -> None:
    first = run_job(client, {"code": "secret = 'x'\nopen('left-behind.txt', 'w').write('x')"})
    assert first["status"] == "completed"
    second = run_job(
        client,
        {"code": "import os\nprint('secret' in globals(), os.path.exists('left-behind.txt'))"},
    )
    assert second["result"] == "False False"


@ALSO_ON_GATEWAY
def test_kernel_environment_has_no_service_secrets(client: httpx.Client) -> None:
    job = run_job(
        client,
        {
            # KERNEL_* values are what a worker tells a gateway kernel (KERNEL_PYEXEC_WORKER:
            # its worker's name), no secret; EG_* would be the gateway's own (EG_AUTH_TOKEN).
            "code": "import os\nprint(sorted(k for k in os.environ if ('PYEXEC' in k and "
            "not k.startswith('KERNEL_')) or k.startswith('EG_') or "
            "k in ('DATABASE_URL', 'OPENAI_API_KEY', 'REDIS_URL')))"
        },
    )
    assert job["result"] == "[]"


@ALSO_ON_GATEWAY
def test_prompt_only_job_is_answered_by_the_offline_planner(client: httpx.Client) -> None:
    # No LLM is configured on this server: the offline planner is the default model.
    job = run_job(client, {"prompt": "Summarise the data"})
    assert job["status"] in ("completed", "failed"), job
    assert job["usage"]["model"] == "offline-planner"
    assert not (job["error_message"] or "").startswith("internal error"), job


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "1", "priority": 0}, "priority"),
        ({"code": "1", "priority": 11}, "priority"),
        ({"code": "1", "priority": "high"}, "priority"),
        ({"code": "1", "priority": True}, "priority"),
        ({"code": "1", "priority": "10"}, "priority"),
        ({"code": "1", "timeout_seconds": "60"}, "timeout_seconds"),
        ({"code": 1}, "code"),
        ({"code": "1", "title": "x" * 201}, "title"),
        ({"code": "1", "unknown": True}, "unknown"),
        ({"code": "1", "timeout_seconds": 0}, "timeout_seconds"),
        ({}, "prompt"),
        ({"code": "   "}, "code"),
    ],
)
def test_bad_bodies_are_400_with_field_details(
    client: httpx.Client, body: dict, field: str
) -> None:
    resp = client.post("/v1/jobs", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and error["status"] == 400
    assert any(d["field"] == field for d in error["details"]), error


def test_a_method_the_path_does_not_take_is_405_naming_those_it_does(
    client: httpx.Client,
) -> None:
    resp = client.put("/v1/jobs", json={"code": "1"})
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert resp.headers["allow"] == "GET, POST"
    resp = client.patch("/v1/jobs/some-id")
    assert resp.status_code == 405 and resp.headers["allow"] == "DELETE, GET"


def test_malformed_json_is_400(client: httpx.Client) -> None:
    resp = client.post(
        "/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic abc", "Bearer pyex_short", "Bearer pyex_" + "A" * 43]
)
def test_missing_or_bad_key_is_401(server: Server, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    resp = httpx.get(f"{server.url}/v1/jobs", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"] == {
        "code": "unauthorized",
        "status": 401,
        "message": resp.json()["error"]["message"],
    }


def test_unknown_and_other_accounts_jobs_are_404(server: Server, client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"code": "1"}).json()
    with server.client(server.create_key("other@example.com")) as other:
        for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/notebook"):
            resp = other.get(path)
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
        assert other.post(f"/v1/jobs/{job['id']}/cancel").status_code == 404
        assert job["id"] not in [j["id"] for j in other.get("/v1/jobs").json()["data"]]
    assert client.get("/v1/jobs/does-not-exist").status_code == 404


def test_request_id_is_echoed_or_made(client: httpx.Client) -> None:
    assert (
        client.get("/v1/jobs", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/v1/jobs").headers["x-request-id"])
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_list_is_newest_first_and_paginates(server: Server) -> None:
    with server.client(server.create_key("lister@example.com")) as c:
        ids = [c.post("/v1/jobs", json={"code": f"{i}"}).json()["id"] for i in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/v1/jobs", params=params).json()
            seen += [j["id"] for j in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == ids[::-1]
        assert c.get("/v1/jobs", params={"cursor": "garbage"}).status_code == 400
        assert c.get("/v1/jobs", params={"limit": 101}).status_code == 400
        for job_id in ids:
            c.get(f"/v1/jobs/{job_id}", params={"wait": 30})
        done = c.get("/v1/jobs", params={"status": "completed"}).json()["data"]
        assert len(done) == 5


@ALSO_ON_GATEWAY
def test_cancel_running_then_final_is_409(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"code": "import time\ntime.sleep(600)"}).json()
    for _ in range(100):
        if client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running":
            break
        time.sleep(0.1)
    started = time.monotonic()
    resp = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert resp.status_code == 200
    final = client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
    assert final["status"] == "cancelled"
    # Interrupted, not waited out: the cell sleeps 600 s. (A gateway kernel on a loaded
    # machine took 10 s; how fast is the benchmark's to say.)
    assert time.monotonic() - started < 60
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    nb = client.get(f"/v1/jobs/{job['id']}/notebook")
    assert nb.status_code == 200


def test_a_cancelled_cell_keeps_what_it_printed(client: httpx.Client) -> None:
    code = "print('first cell')\n# %%\nprint('working', flush=True)\nimport time\ntime.sleep(600)"
    job = client.post("/v1/jobs", json={"code": code}).json()
    wait_for_output(client, job["id"], "working")
    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    final = client.get(f"/v1/jobs/{job['id']}", params={"wait": 10}).json()
    assert final["status"] == "cancelled"
    texts = [o.get("text", "") for o in final["outputs"] if o["type"] == "text"]
    assert texts[:2] == ["first cell\n", "working\n"], final["outputs"]
    nb = nbformat.reads(client.get(f"/v1/jobs/{job['id']}/notebook").text, as_version=4)
    stopped = [c for c in nb.cells if c.cell_type == "code"][1]
    assert stopped.outputs[0]["text"] == "working\n"


def wait_for_output(client: httpx.Client, job_id: str, text: str) -> None:
    """Follow the job's events until an output carries `text`."""
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as events:
        for line in events.iter_lines():
            if line.startswith("data:") and '"output"' in line and text in line:
                return
    raise AssertionError(f"the job ended without printing {text!r}")


def test_readme_python_client_works_as_written(server: Server, api_key: str) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert 'API_KEY = "pyex_..."' in snippet
    snippet = snippet.replace('"pyex_..."', repr(api_key)).replace(
        "http://127.0.0.1:8000", server.url
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    assert out.getvalue().strip() == "42"


def test_service_endpoints(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"] == {"database": True, "queue": True, "kernel_pool": True}
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "/v1/jobs" in schema["paths"]


def test_data_dir_has_the_demo_key(server: Server) -> None:
    key = (Path(server.data_dir) / "demo-api-key").read_text().strip()
    with server.client(key) as c:
        assert c.get("/v1/jobs").status_code == 200
