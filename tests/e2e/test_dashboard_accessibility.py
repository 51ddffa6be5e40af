"""axe-core (vendored from npm, injected by the test) on every page of the dashboard, with
content in it: no serious or critical violation. Each page's screenshot is kept."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.browser import Watched
from tests.e2e.helpers import sign_in, wait_for_status
from tests.support.dashboard_client import create_key, create_person
from tests.support.servers import ROOT, Server

TABLE_AND_PLOT = """\
import pandas as pd
import matplotlib.pyplot as plt
sales = pd.read_csv("sales.csv")
display(sales.groupby("region")["revenue"].sum())
sales.groupby("region")["revenue"].sum().plot.bar(title="Revenue by region")
plt.show()
print("done")
"""


def _check(tab: Watched, name: str) -> None:
    tab.screenshot(name)
    violations = tab.axe_violations()
    assert violations == [], f"{name}: {violations}"


def test_every_page_has_no_serious_accessibility_violation(
    tab: Watched, e2e_server: Server
) -> None:
    page = tab.page
    tab.goto("/signin")
    _check(tab, "signin")
    tab.goto("/signup")  # closed on this server: the error page
    _check(tab, "signup-closed")
    email = create_person(e2e_server)
    with e2e_server.client(create_key(e2e_server, email)) as api:
        sales = api.post(
            "/v1/files", files={"file": ("sales.csv", (ROOT / "tests/data/sales.csv").read_bytes())}
        ).json()
        job = api.post(
            "/v1/jobs",
            json={"code": TABLE_AND_PLOT, "file_ids": [sales["id"]], "title": "Revenue by region"},
        ).json()
        api.post("/v1/jobs", json={"code": "1/0", "title": "A failing job"})
    sign_in(tab, email)
    tab.goto(f"/jobs/{job['id']}")
    assert wait_for_status(tab, "completed", "failed") == "completed"
    expect(page.locator(".outputs .output-image img")).to_be_visible()
    page.locator(".notebook summary").click()
    _check(tab, "job")
    tab.goto("/jobs")
    _check(tab, "jobs")
    tab.goto("/jobs/new")
    _check(tab, "new-job")
    page.get_by_role("button", name="Run job").click()  # empty: the refused form
    expect(page.get_by_role("alert")).to_contain_text("not submitted: Give 'prompt' or 'code'")
    _check(tab, "new-job-refused")
    tab.goto("/files")
    _check(tab, "files")
    tab.goto("/keys")
    page.get_by_label("Name", exact=True).fill("accessibility")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_be_visible()
    _check(tab, "keys")
    tab.goto("/usage")
    _check(tab, "usage")
    tab.goto("/no-such-page")
    _check(tab, "not-found")
    assert not tab.errors, tab.errors
