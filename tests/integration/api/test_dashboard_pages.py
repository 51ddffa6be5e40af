"""The dashboard's pages over a real server socket, on both databases, without a browser: the
jobs list, a job and its downloads and live stream, the new-job form, files, API keys, usage;
and another account's things, which are 404 here as in the API."""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import nbformat
import pytest

from pyexec.core.files import human_bytes
from tests.support.dashboard_client import Visitor, create_person, csrf_token, live_events
from tests.support.html_checks import assert_inert, elements
from tests.support.llm_server import ScriptedLLM, final_answer, run_python
from tests.support.servers import ROOT, Server, run_job


@dataclass
class Person:
    visitor: Visitor
    email: str
    api: httpx.Client

    def account_id(self, server: Server) -> str:
        return server.rows("SELECT id FROM accounts WHERE email = :e", e=self.email)[0]["id"]


@pytest.fixture
def person(server: Server) -> Iterator[Person]:
    yield from _person(server)


def _person(server: Server, plan: str = "pro") -> Iterator[Person]:
    email = create_person(server, plan=plan)
    visitor = Visitor.of(server).signed_in(email)
    with server.client(server.create_key(email, plan)) as api:
        yield Person(visitor, email, api)
    visitor.close()


def _htmx(visitor: Visitor, page: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": visitor.token(page)}


# ---- another account's things -----------------------------------------------------------


def test_another_accounts_jobs_files_and_keys_are_not_found(server: Server) -> None:
    owner_gen, intruder_gen = _person(server), _person(server)
    owner, intruder = next(owner_gen), next(intruder_gen)
    job = run_job(
        owner.api, {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"}
    )
    assert job["status"] == "completed" and job["artifacts"], job
    file = owner.api.post("/v1/files", files={"file": ("a.csv", b"x\n1\n")}).json()
    key = owner.api.post("/v1/api-keys", json={"name": "theirs"}).json()
    v = intruder.visitor
    for path in (
        f"/jobs/{job['id']}",
        f"/jobs/{job['id']}/notebook",
        f"/jobs/{job['id']}/notebook.html",
        f"/jobs/{job['id']}/bundle",
        f"/jobs/{job['id']}/artifacts/{job['artifacts'][0]['name']}",
        f"/files/{file['id']}/content",
        "/jobs/not-a-job-at-all",
    ):
        response = v.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text and job["title"] not in response.text
    assert v.get(f"/jobs/{job['id']}/live").status_code == 204
    rows = v.get("/jobs/rows", params={"ids": job["id"]})
    assert rows.status_code == 200 and job["id"] not in rows.text
    for path in (
        f"/jobs/{job['id']}/cancel",
        f"/jobs/{job['id']}/delete",
        f"/files/{file['id']}/delete",
        f"/keys/{key['id']}/revoke",
    ):
        assert v.post_form(path).status_code == 404, path
    follow_up = v.post_form("/jobs/new", {"prompt": "more", "parent_job_id": job["id"]})
    assert follow_up.status_code == 404 and f"No such job: {job['id']}" in follow_up.text
    stolen_file = v.post_form("/jobs/new", {"code": "1", "file_ids": file["id"]})
    assert stolen_file.status_code == 404 and f"No such file: {file['id']}" in stolen_file.text
    # Nothing of the owner's was touched.
    assert owner.api.get(f"/v1/jobs/{job['id']}").status_code == 200
    assert owner.api.get(f"/v1/files/{file['id']}").status_code == 200
    assert owner.api.get("/v1/api-keys").json()["data"][0]["id"] == key["id"]
    for gen in (owner_gen, intruder_gen):
        gen.close()


# ---- the jobs list ------------------------------------------------------------------------


def _insert_jobs(server: Server, account_id: str, titles: list[tuple[str, str]]) -> None:
    """Job rows straight into the database (no worker sees them): a long list, fast."""
    from pyexec.core import repository
    from pyexec.core.db import Database
    from pyexec.core.models import Job

    start = datetime(2026, 11, 1, tzinfo=UTC)

    async def insert() -> None:
        db = Database(server.settings().db_url)
        try:
            async with db.session() as session:
                for i, (title, status) in enumerate(titles):
                    created = start + timedelta(minutes=i)
                    job = Job(account_id=account_id, status=status, title=title, code="1")
                    job.created_at = created
                    await repository.add_job(session, job)
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(insert())


def test_the_jobs_list_filters_searches_and_pages(server: Server, person: Person) -> None:
    titles = [(f"Revenue check {i}", "completed") for i in range(26)]
    titles += [("Churn 100% model_v2", "failed"), ("churn by region", "cancelled")]
    _insert_jobs(server, person.account_id(server), titles)
    v = person.visitor
    first = v.get("/jobs")
    assert first.status_code == 200
    assert first.text.count('<tr id="job-') == 25
    assert "churn by region" in first.text  # newest first
    older = re.search(r'href="(/jobs\?[^"]*cursor=[^"]+)"', first.text)
    assert older, "no link to older jobs"
    second = v.get(older.group(1).replace("&amp;", "&"))
    assert second.text.count('<tr id="job-') == 3 and "Revenue check 0" in second.text
    assert "Newest" in second.text and "cursor=" not in second.text.split("Newest")[1][:200]
    # Search is by title, case-insensitive, and takes % and _ literally.
    found = v.get("/jobs", params={"q": "CHURN"})
    assert found.text.count('<tr id="job-') == 2
    assert v.get("/jobs", params={"q": "100% model_v"}).text.count('<tr id="job-') == 1
    assert v.get("/jobs", params={"q": "100%_model"}).text.count('<tr id="job-') == 0
    failed = v.get("/jobs", params={"status": "failed", "q": "churn"})
    assert failed.text.count('<tr id="job-') == 1 and "model_v2" in failed.text
    assert "No jobs match" in v.get("/jobs", params={"status": "running"}).text
    # htmx asks for the list alone (search as you type); no-JS gets the page.
    partial = v.get(
        "/jobs", params={"q": "churn"}, headers={"HX-Request": "true", "HX-Target": "job-list"}
    )
    assert partial.text.lstrip().startswith('<div id="job-list">') and "<html" not in partial.text
    for bad in ({"status": "sleeping"}, {"cursor": "not-a-cursor"}):
        refused = v.get("/jobs", params=bad)
        assert refused.status_code == 400 and "<html" in refused.text


def test_unfinished_jobs_are_polled_together_until_final(server: Server, person: Person) -> None:
    job = person.api.post("/v1/jobs", json={"code": "import time; time.sleep(1.5)"}).json()
    done = run_job(person.api, {"code": "1"})
    listing = person.visitor.get("/jobs").text
    # One poller for the unfinished jobs (not one per row), naming only those.
    assert listing.count('hx-trigger="every 2s"') == 1
    assert f'hx-get="/jobs/rows?ids={job["id"]}"' in listing
    person.api.get(f"/v1/jobs/{job['id']}", params={"wait": 30})
    update = person.visitor.get("/jobs/rows", params={"ids": [job["id"], done["id"]]})
    assert update.status_code == 200
    assert f'<tr id="job-{job["id"]}" hx-swap-oob="true">' in update.text
    assert "status-completed" in update.text
    assert "job-poller" not in update.text  # all ended: the polling stops


# ---- a job --------------------------------------------------------------------------------

HOSTILE_CODE = (ROOT / "tests" / "data" / "hostile_outputs.py").read_text()


def test_a_jobs_page_escapes_its_outputs_and_offers_its_downloads(
    server: Server, person: Person
) -> None:
    job = run_job(person.api, {"code": HOSTILE_CODE, "title": "Hostile <outputs>"})
    assert job["status"] == "completed", job
    page = person.visitor.get(f"/jobs/{job['id']}")
    assert page.status_code == 200
    html = page.text
    assert "Hostile &lt;outputs&gt;" in html
    # The page's own scripts are its only ones: nothing of the job's is an element.
    own = [dict(a).get("src", "") for t, a in elements(html) if t == "script"]
    assert own and all(str(src).startswith("/static/") for src in own)
    assert_inert(html, allowed=frozenset({"script", "form", "meta"}))
    forms = [dict(a).get("action", "") for t, a in elements(html) if t == "form"]
    assert all(str(action).startswith("/") for action in forms)
    assert "beacon.invalid/css" not in html
    assert "&lt;script&gt;console.log(&#39;PWNED-stdout&#39;)" in html
    assert "<b>bold</b>" in html  # sanitised HTML keeps what is harmless
    assert "data:image/svg+xml;base64," in html  # an SVG is an image, never inline markup
    for name, media_type in (
        ("notebook", "application/x-ipynb+json"),
        ("bundle", "application/zip"),
    ):
        download = person.visitor.get(f"/jobs/{job['id']}/{name}")
        assert download.status_code == 200 and download.headers["content-type"].startswith(
            media_type
        )
        assert "attachment" in download.headers["content-disposition"]
    nb = nbformat.reads(person.visitor.get(f"/jobs/{job['id']}/notebook").text, as_version=4)
    nbformat.validate(nb)
    with zipfile.ZipFile(io.BytesIO(person.visitor.get(f"/jobs/{job['id']}/bundle").content)) as z:
        assert any(n.endswith(".ipynb") for n in z.namelist())
    standalone = person.visitor.get(f"/jobs/{job['id']}/notebook.html")
    assert standalone.headers["content-security-policy"].startswith("sandbox")


def test_the_live_stream_renders_a_running_job_and_resumes(server: Server, person: Person) -> None:
    code = "import time\nprint('<b>one</b>', flush=True)\ntime.sleep(1)\n# %%\nprint('two')"
    job = person.api.post("/v1/jobs", json={"code": code}).json()
    events = live_events(person.visitor, job["id"])
    kinds = [e.event for e in events]
    assert kinds[-1] == "done" and "update" in kinds
    updates = "\n".join(e.data for e in events)
    assert "beforeend:#live-cells" in updates and 'id="cell-1"' in updates
    assert "&lt;b&gt;one&lt;/b&gt;" in updates and "<b>one</b>" not in updates
    assert 'id="job-body"' in events[-1].data and "status-completed" in events[-1].data
    # Resuming after an event skips what came before it.
    ids = [e.id for e in events if e.id]
    resumed = live_events(person.visitor, job["id"], last_event_id=ids[1])
    resumed_ids = [e.id for e in resumed if e.id]
    assert resumed_ids == [] or int(resumed_ids[0]) > int(ids[1])
    # A visitor who is not signed in gets no stream (204: EventSource stops retrying).
    assert httpx.get(f"{server.url}/jobs/{job['id']}/live").status_code == 204


def test_an_answers_ungrounded_numbers_are_flagged_on_its_page(
    dashboard_server: Server, dashboard_llm: ScriptedLLM
) -> None:
    gen = _person(dashboard_server)
    person = next(gen)
    k = f"[d-{uuid.uuid4().hex[:8]}]"
    invented = "The mean is 16.92 and the median is 14.1."
    # The model invents a median; asked once to check it, it repeats it.
    dashboard_llm.script(
        k,
        run_python("print(sum([12.5, 31.25, 7.0]) / 3)"),
        final_answer(invented),
        final_answer(invented),
    )
    job = run_job(person.api, {"prompt": f"Mean and median of 12.5, 31.25 and 7 {k}"})
    assert job["status"] == "completed" and job["ungrounded_numbers"] == ["14.1"], job
    page = person.visitor.get(f"/jobs/{job['id']}").text
    note = re.search(r'<div class="ungrounded" role="note">(.*?)</div>', page, re.S)
    assert note, page
    assert "Check this number:" in note.group(1) and "<code>14.1</code>" in note.group(1)
    assert "16.92" not in note.group(1)  # that one was printed by a cell
    gen.close()


def test_a_pages_live_stream_counts_among_the_accounts_open_streams(
    dashboard_server: Server,
) -> None:
    gen = _person(dashboard_server)  # PYEXEC_MAX_OPEN_STREAMS_PER_ACCOUNT=2 on this server
    person = next(gen)
    v = person.visitor
    job = person.api.post("/v1/jobs", json={"code": "import time; time.sleep(600)"}).json()
    live, events = f"/jobs/{job['id']}/live", f"/v1/jobs/{job['id']}/events"
    try:
        with v.client.stream("GET", live) as page, person.api.stream("GET", events) as api:
            assert page.status_code == 200 and api.status_code == 200
            lines = page.iter_lines()  # kept: a dropped iterator closes the response
            assert next(lines) == "retry: 1000"
            # The page's stream is one of the two: the API's next is refused...
            with person.api.stream("GET", events) as third:
                assert third.status_code == 429 and third.headers["retry-after"] == "5"
            # ...and a page's is a short stream that says so and retries later.
            paused = v.get(live, timeout=10)
            assert paused.status_code == 200
            assert paused.text.startswith("retry: 5000\n")
            assert "Live updates are paused" in paused.text and "event: update" in paused.text
        # Both closed: the page follows the job again (once the server has seen them go).
        deadline = time.monotonic() + 30
        while (first := _first_line(v, live)) != "retry: 1000" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first == "retry: 1000"
    finally:
        person.api.post(f"/v1/jobs/{job['id']}/cancel")
        gen.close()


def _first_line(visitor: Visitor, path: str) -> str:
    with visitor.client.stream("GET", path) as response:
        return next(response.iter_lines())


# ---- a new job ----------------------------------------------------------------------------


def test_the_new_job_form_keeps_what_was_typed_when_refused(server: Server, person: Person) -> None:
    v = person.visitor
    running = person.api.post("/v1/jobs", json={"code": "import time; time.sleep(3)"}).json()
    cases = [
        ({"title": "kept title"}, 400, "Give &#39;prompt&#39; or &#39;code&#39;"),
        ({"prompt": "x", "timeout_seconds": "700"}, 403, "over the pro plan&#39;s cap of 600 s"),
        ({"prompt": "x", "timeout_seconds": "soon"}, 400, "valid integer"),
        ({"prompt": "x", "priority": "11"}, 400, "less than or equal to 10"),
        ({"prompt": "x", "file_ids": "file_nope"}, 404, "No such file: file_nope"),
        ({"prompt": "x", "parent_job_id": running["id"]}, 409, "still"),
    ]
    for fields, status, message in cases:
        refused = v.post_form("/jobs/new", fields)
        assert refused.status_code == status, (fields, refused.text[:300])
        assert message in refused.text, (fields, message)
        for value in fields.values():
            assert value in refused.text  # nothing typed is lost
    made = v.post_form(
        "/jobs/new",
        {
            "prompt": "",
            "code": "print(6 * 7)",
            "title": "Answer",
            "priority": "9",
            "timeout_seconds": "30",
        },
    )
    assert made.status_code == 303
    job_id = made.headers["location"].removeprefix("/jobs/")
    job = person.api.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
    assert (job["title"], job["priority"], job["timeout_seconds"], job["status"]) == (
        "Answer",
        9,
        30,
        "completed",
    )
    assert job["result"] == "42"
    page = v.get(f"/jobs/{job_id}")
    assert "Ask a follow-up" in page.text
    follow_up = v.post_form(
        "/jobs/new", {"code": "print(7)", "parent_job_id": job_id}, token_from=f"/jobs/{job_id}"
    )
    assert follow_up.status_code == 303
    child = person.api.get(follow_up.headers["location"].replace("/jobs/", "/v1/jobs/")).json()
    assert child["parent_job_id"] == job_id


def test_cancel_and_delete_from_the_page(server: Server, person: Person) -> None:
    v = person.visitor
    job = person.api.post("/v1/jobs", json={"code": "import time; time.sleep(60)"}).json()
    person.api.get(f"/v1/jobs/{job['id']}", params={"wait": 0})
    running = v.get(f"/jobs/{job['id']}")
    assert "Cancel job" in running.text and "Delete this job" not in running.text
    refused = v.post_form(f"/jobs/{job['id']}/delete")
    assert refused.status_code == 409 and "cancel it" in refused.text
    cancelled = v.post_form(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 303
    final = person.api.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
    assert final["status"] == "cancelled"
    deleted = v.post_form(f"/jobs/{job['id']}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/jobs?notice=deleted"
    assert person.api.get(f"/v1/jobs/{job['id']}").status_code == 404


# ---- files --------------------------------------------------------------------------------


def test_files_upload_download_and_delete(dashboard_server: Server) -> None:
    gen = _person(dashboard_server, plan="free")  # PYEXEC_PLANS: free uploads up to 2,000 bytes
    person = next(gen)
    v = person.visitor
    data = b"city,sales\nOslo,3\nLima,4\n"
    upload = v.client.post(
        "/files?target=job",
        files={"file": ("sales & 'co'.csv", data, "text/csv")},
        headers=_htmx(v, "/jobs/new"),
    )
    assert upload.status_code == 201, upload.text
    assert "Uploaded sales &amp; &#39;co&#39;.csv" in upload.text and "checked" in upload.text
    file_id = re.search(r'value="(file_[0-9a-f]+)"', upload.text).group(1)  # type: ignore[union-attr]
    listing = v.get("/files")
    assert "sales &amp; &#39;co&#39;.csv" in listing.text and "25 bytes" in listing.text
    assert "up to 2 KB a file on the free plan" in listing.text
    content = v.get(f"/files/{file_id}/content")
    assert content.content == data and content.headers["x-content-type-options"] == "nosniff"
    too_big = v.client.post(
        "/files", files={"file": ("big.csv", b"x" * 3000)}, headers=_htmx(v, "/files")
    )
    assert too_big.status_code == 413 and "upload limit" in too_big.text
    no_token = v.client.post("/files", files={"file": ("a.csv", b"a")})
    assert no_token.status_code == 403
    # Without JavaScript the form posts its token in the query and comes back to the page.
    plain = v.client.post(
        "/files", params={"csrf_token": v.token("/files")}, files={"file": ("b.csv", b"b,1\n")}
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/files?notice=uploaded"
    names = [f["filename"] for f in person.api.get("/v1/files").json()["data"]]
    assert names == ["b.csv", "sales & 'co'.csv"]  # the refused uploads kept nothing
    deleted = v.post_form(f"/files/{file_id}/delete", token_from="/files")
    assert deleted.status_code == 303
    assert person.api.get(f"/v1/files/{file_id}").status_code == 404
    gen.close()


def test_storage_is_shown_against_the_plans_quota_and_uploads_stop_at_it(
    dashboard_server: Server,
) -> None:
    gen = _person(dashboard_server, plan="free")  # stores at most 5,000 bytes on this server
    person = next(gen)
    v = person.visitor
    quota = human_bytes(5000)
    assert f"0 bytes <small>of {quota}</small>" in v.get("/usage").text
    ids = []
    for name in ("a.csv", "b.csv"):
        made = v.client.post(
            "/files", files={"file": (name, b"x" * 1900)}, headers=_htmx(v, "/files")
        )
        assert made.status_code == 200 and made.headers["hx-redirect"] == "/files?notice=uploaded"
        ids.append(person.api.get("/v1/files").json()["data"][0]["id"])
    usage = v.get("/usage").text
    assert f"{human_bytes(3800)} <small>of {quota}</small>" in usage
    assert f"{human_bytes(1200)} left." in usage and "Uploads and new artifacts" not in usage
    assert f'<tr><th scope="row">Storage</th><td>{quota}</td></tr>' in usage
    assert f"{human_bytes(3800)} of {quota} of storage used" in v.get("/files").text
    # Under the upload limit, over what is left of the quota: refused, and nothing kept.
    over = v.client.post(
        "/files", files={"file": ("c.csv", b"x" * 1900)}, headers=_htmx(v, "/files")
    )
    assert over.status_code == 413 and "storage quota of 4.9 KB" in over.text
    assert len(person.api.get("/v1/files").json()["data"]) == 2
    assert person.api.get("/v1/account").json()["usage"]["storage_bytes"] == 3800
    # Deleting a file frees its space.
    assert v.post_form(f"/files/{ids[0]}/delete", token_from="/files").status_code == 303
    assert f"{human_bytes(1900)} of {quota} of storage used" in v.get("/files").text
    gen.close()


# ---- API keys -----------------------------------------------------------------------------


def test_a_key_is_shown_once_works_on_the_api_and_is_revoked(
    server: Server, person: Person
) -> None:
    v = person.visitor
    made = v.client.post(
        "/keys",
        data={"name": "reporting <script>", "scopes": ["jobs:read", "files:read"]},
        headers=_htmx(v, "/keys"),
    )
    assert made.status_code == 201
    plaintext = re.search(r'value="(pyex_[A-Za-z0-9_-]+)"', made.text).group(1)  # type: ignore[union-attr]
    assert "reporting &lt;script&gt;" in made.text and 'hx-swap-oob="true"' in made.text
    assert made.headers["cache-control"] == "no-store"
    keys_page = v.get("/keys").text
    assert plaintext not in keys_page and plaintext[5:13] in keys_page  # the prefix only
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {plaintext}"}) as api:
        assert api.get("/v1/jobs").status_code == 200
        assert api.post("/v1/jobs", json={"code": "1"}).status_code == 403  # jobs:read only
        key_id = re.search(r'id="key-([0-9a-f-]{36})"[^<]*<td>reporting', keys_page)
        assert key_id, keys_page
        revoked = v.post_form(f"/keys/{key_id.group(1)}/revoke", token_from="/keys")
        assert revoked.status_code == 303
        assert api.get("/v1/jobs").status_code == 401
    assert "The key was revoked" in v.get("/keys?notice=revoked").text
    for fields, message in (
        ({"name": " ", "scopes": "jobs:read"}, "Give the key a name"),
        ({"name": "x"}, "Choose at least one scope"),
        ({"name": "x", "scopes": "admin:all"}, "Unknown scope(s): admin:all"),
    ):
        refused = v.client.post("/keys", data=fields, headers=_htmx(v, "/keys"))
        assert refused.status_code == 400 and message in refused.text


# ---- usage --------------------------------------------------------------------------------


def test_usage_counts_todays_api_requests_and_charts_jobs(server: Server) -> None:
    gen = _person(server, plan="free")
    person = next(gen)
    run_job(person.api, {"code": "1"})
    run_job(person.api, {"code": "1/0"})
    for _ in range(3):
        person.api.get("/v1/jobs")
    used = 2 * 2 + 3  # a submit and a wait per job, then three lists
    page = person.visitor.get("/usage")
    assert page.status_code == 200
    text = page.text
    assert f"{used} <small>of 100</small>" in text
    assert f"{100 - used} left" in text and "resets at" in text
    today = datetime.now(UTC).date().isoformat()
    # Today's rows of the charts' tables: requests; then jobs completed, failed, cancelled,
    # running, pending.
    jobs_rows = re.findall(rf"<th scope=\"row\">{today}</th>((?:<td>[^<]*</td>)+)", text)
    assert [re.findall(r"<td>([^<]*)</td>", r) for r in jobs_rows] == [
        [str(used)],
        ["1", "1", "0", "0", "0"],
    ]
    assert text.count("<svg") == 2 and 'class="bar bar-completed"' in text
    # The dashboard's own pages are not API requests.
    assert f"{used} <small>of 100</small>" in person.visitor.get("/usage").text
    gen.close()


def test_the_new_job_page_shows_the_plans_limits(server: Server, person: Person) -> None:
    page = person.visitor.get("/jobs/new").text
    assert "at most 600 s on the pro plan" in page
    assert 'data-max-bytes="200000000"' in page and "a file on the pro plan" in page


def test_the_sign_in_page_token_is_not_a_session(server: Server) -> None:
    v = Visitor.of(server)
    token = csrf_token(v.get("/signin").text)
    assert v.session_cookie is None and len(token) >= 40
    assert v.get("/jobs").status_code == 303
    v.close()
