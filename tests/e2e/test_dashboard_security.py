"""Untrusted job outputs in Chromium: nothing a job writes runs in the dashboard's origin (no
dialog, no console marker, no request out), whether its cells stream in live or the finished
page renders them; forms refuse posts from elsewhere; another account's job is not found."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import Watched
from tests.e2e.helpers import FINAL, JOB_URL, sign_in, wait_for_status
from tests.support.dashboard_client import create_key, create_person
from tests.support.servers import ROOT, Server, free_port

HOSTILE = (ROOT / "tests" / "data" / "hostile_outputs.py").read_text()


def _assert_nothing_ran(tab: Watched, *, dashboard: bool = True) -> None:
    _assert_nothing_happened(tab)
    if not dashboard:
        return
    # The page's CSP would stop inline script anyway: what a job wrote must not even be there.
    planted = tab.page.evaluate(
        """() => {
            const found = [];
            for (const el of document.querySelectorAll("*")) {
                for (const attr of el.attributes) {
                    const url = ["href", "src", "action", "formaction"].includes(attr.name);
                    const scripted = url && /^\\s*javascript:/i.test(attr.value);
                    if (attr.name.startsWith("on") || scripted) {
                        found.push(`${el.tagName} ${attr.name}`);
                    }
                }
            }
            for (const script of document.scripts) {
                if (!script.src.includes("/static/")) found.push(script.outerHTML.slice(0, 80));
            }
            for (const tag of ["iframe", "object", "embed", "style", "base"]) {
                document.querySelectorAll(tag).forEach(() => found.push(tag));
            }
            return found;
        }"""
    )
    assert planted == [], planted


def _assert_nothing_happened(tab: Watched) -> None:
    assert tab.dialogs == [], tab.dialogs
    # The console may quote the CSP refusing something; no PWNED line may come from a script.
    markers = [
        line for line in tab.console if "PWNED" in line and "Content Security Policy" not in line
    ]
    assert markers == [], markers
    assert tab.outside_requests == [], tab.outside_requests
    assert tab.errors == [], tab.errors


def test_a_jobs_hostile_outputs_run_nothing_live_or_finished(
    tab: Watched, e2e_server: Server
) -> None:
    sign_in(tab, create_person(e2e_server))
    page = tab.page
    tab.goto("/jobs/new")
    page.locator("details.code-input summary").click()
    # The last cell runs until the test cancels the job, so that the hostile outputs are on
    # the live page for as long as the test looks, however loaded the machine.
    page.get_by_label("Python, run as is before the prompt").fill(
        HOSTILE + "\n# %%\nimport time\ntime.sleep(600)\n"
    )
    page.get_by_label("Title", exact=True).fill("Hostile <script>alert('title')</script>")
    page.get_by_role("button", name="Run job").click()
    page.wait_for_url(JOB_URL)
    job_path = page.url.removeprefix(tab.base_url)
    expect(page.locator("#live-cells")).to_contain_text("time.sleep(600)", timeout=120_000)
    expect(page.locator("#live-cells")).to_contain_text("display(Javascript")
    expect(page.locator("#live-cells .output-rich").first).to_be_visible()
    page.wait_for_timeout(500)
    tab.screenshot("live")
    _assert_nothing_ran(tab)

    page.get_by_role("button", name="Cancel job").click()
    assert wait_for_status(tab, *FINAL) == "cancelled"
    expect(page.locator("h1")).to_have_text("Hostile <script>alert('title')</script>")
    page.wait_for_timeout(500)
    _assert_nothing_ran(tab)

    tab.goto(job_path)  # the finished page, rendered from the stored outputs and notebook
    page.locator(".notebook summary").click()
    expect(page.locator(".outputs")).to_contain_text("bold")
    links = page.get_by_text("a javascript: link")
    for i in range(links.count()):
        links.nth(i).click()
    page.get_by_text("a markdown javascript: link").first.click()
    page.wait_for_timeout(500)
    tab.screenshot("finished")
    assert page.url == tab.base_url + job_path  # no link went anywhere
    _assert_nothing_ran(tab)

    # The notebook as a web page (nbconvert's) is sandboxed too.
    tab.goto(f"{job_path}/notebook.html")
    page.wait_for_timeout(500)
    _assert_nothing_ran(tab, dashboard=False)


@pytest.fixture
def other_site() -> Iterator[str]:
    """A page on another origin whose form posts to the dashboard as soon as it loads."""
    port = free_port()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                f'<form id="f" method="post" action="{self.path.removeprefix("/?to=")}">'
                '<input name="name" value="planted"><input name="scopes" value="keys:manage">'
                "</form><script>document.getElementById('f').submit()</script>"
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_forms_refuse_posts_from_elsewhere_and_other_accounts_are_not_found(
    tab: Watched, e2e_server: Server, other_site: str
) -> None:
    email = create_person(e2e_server)
    sign_in(tab, email)
    page = tab.page
    # A page of another origin posts a form to the dashboard: the browser sends the session
    # cookie (same site: SameSite=Lax lets it), but the origin and the missing token refuse.
    page.goto(f"{other_site}/?to={e2e_server.url}/keys")
    page.wait_for_url(f"{e2e_server.url}/keys")
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("another origin")
    tab.screenshot("cross-origin-refused")
    # A same-origin post without the token is refused as well.
    status = page.evaluate(
        """async () => (await fetch("/keys", {method: "POST",
            headers: {"content-type": "application/x-www-form-urlencoded"},
            body: "name=scripted&scopes=jobs%3Aread"})).status"""
    )
    assert status == 403
    tab.goto("/keys")
    expect(page.locator("#key-list")).to_contain_text("No active keys")

    stranger = create_person(e2e_server)
    with e2e_server.client(create_key(e2e_server, stranger)) as api:
        theirs = api.post("/v1/jobs", json={"code": "print('private')", "title": "Theirs"}).json()
    response = tab.goto(f"/jobs/{theirs['id']}")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text("Theirs")
    tab.screenshot("other-account-404")
