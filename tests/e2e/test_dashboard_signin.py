"""Signing in and out in Chromium: a password, a wrong one, throttling, signing out."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.browser import Watched
from tests.e2e.helpers import sign_in
from tests.support.dashboard_client import PASSWORD, create_person
from tests.support.servers import Server


def _try(tab: Watched, email: str, password: str) -> None:
    tab.page.get_by_label("Email", exact=True).fill(email)
    tab.page.get_by_label("Password", exact=True).fill(password)
    tab.page.get_by_role("button", name="Sign in").click()


def test_password_wrong_password_throttling_and_sign_out(tab: Watched, e2e_server: Server) -> None:
    email = create_person(e2e_server)
    page = tab.page
    # A page that needs a session sends the visitor to sign in, and back afterwards.
    tab.goto("/keys")
    page.wait_for_url("**/signin?next=/keys")
    tab.screenshot("sign-in")
    _try(tab, email, "not my password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email", exact=True)).to_have_value(email)  # kept
    tab.screenshot("wrong-password")
    _try(tab, email, PASSWORD)
    page.wait_for_url("**/keys")
    expect(page.locator(".account-menu summary")).to_have_text(email)
    cookie = next(c for c in page.context.cookies() if c["name"] == "pyexec_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # no script can read the session

    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin?notice=signed-out")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    tab.goto("/jobs")
    page.wait_for_url("**/signin?next=/jobs")

    # PYEXEC_SIGNIN_ACCOUNT_ATTEMPTS=3 on this server: the fourth try waits, right or wrong.
    for _ in range(3):
        _try(tab, email, "guess")
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    _try(tab, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-in attempts")
    assert "/signin" in page.url
    tab.screenshot("throttled")
    # Another account from the same browser is not held back.
    sign_in(tab, create_person(e2e_server))
    assert not tab.errors, tab.errors
