"""Signing in (password or one-time link), signing up when it is open, signing out."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from pyexec.api.dashboard.forms import read_form
from pyexec.api.dashboard.security import CSRF_FIELD, apply_page_headers
from pyexec.api.dashboard.sessions import (
    anonymous_cookie,
    check_csrf,
    end_session,
    find_visitor,
    safe_next,
    session_cookie,
    session_form,
    start_session,
)
from pyexec.api.dashboard.templating import DashboardRoute, error_page, page
from pyexec.api.dashboard.throttle import SignInThrottle, Throttled
from pyexec.api.deps import RuntimeDep
from pyexec.core import repository, web_sessions
from pyexec.core.models import Plan
from pyexec.core.passwords import (
    MAX_PASSWORD_CHARS,
    WeakPasswordError,
    check_new_password,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from pyexec.core.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_CHARS = 320
NOTICES = {
    "signed-out": "You are signed out.",
    "expired": "Your session has ended; sign in again.",
}


def _client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


def _redirect(location: str) -> Response:
    return apply_page_headers(RedirectResponse(location, status_code=303))


async def _anonymous_form(request: Request, runtime: Runtime) -> dict[str, str]:
    form = await read_form(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    await check_csrf(
        request, runtime, request.cookies.get(anonymous_cookie(runtime), ""), values.get(CSRF_FIELD)
    )
    return values


@router.get("/signin")
async def signin_page(
    request: Request,
    runtime: RuntimeDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    if await find_visitor(request, runtime) is not None:
        return _redirect(safe_next(next))
    return page(
        request,
        "signin.html",
        {"next": safe_next(next), "email": "", "error": None, "notice": NOTICES.get(notice or "")},
    )


@router.post("/signin")
async def signin(request: Request, runtime: RuntimeDep) -> Response:
    form = await _anonymous_form(request, runtime)
    email = form.get("email", "").strip()[:MAX_EMAIL_CHARS]
    password = form.get("password", "")[: MAX_PASSWORD_CHARS + 1]
    next_path = safe_next(form.get("next"))
    context = {"next": next_path, "email": email, "notice": None}
    if not email or not password:
        return page(
            request,
            "signin.html",
            {**context, "error": "Enter your email and your password."},
            status_code=400,
        )
    throttle = SignInThrottle(runtime)
    host = _client_host(request)
    try:
        await throttle.take(email, host)
    except Throttled as exc:
        return page(
            request,
            "signin.html",
            {**context, "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    async with runtime.db.session() as session:
        account = await repository.get_account_by_email(session, email)
    stored = account.password_hash if account is not None else None
    # The same work whether or not the account exists: timing tells nothing.
    if account is None or not await verify_password_async(stored, password):
        return page(
            request,
            "signin.html",
            {**context, "error": "Wrong email or password."},
            status_code=400,
        )
    await throttle.succeeded(email, host)
    if stored is not None and needs_rehash(stored):
        async with runtime.db.session() as session:
            new_hash = await hash_password_async(password)
            await web_sessions.set_password_hash(session, account.id, new_hash)
            await session.commit()
    response = _redirect(next_path)
    await start_session(runtime, response, account.id, request.cookies.get(session_cookie(runtime)))
    return response


@router.get("/signin/link")
async def signin_link(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Query(min_length=1, max_length=200)],
) -> Response:
    """A one-time link (`pyexec serve` prints one for the demo account): one click signs in."""
    throttle = SignInThrottle(runtime)
    host = _client_host(request)
    try:
        await throttle.take(None, host)
    except Throttled as exc:
        return error_page(request, 429, str(exc), title="Too many attempts")
    async with runtime.db.session() as session:
        account_id = await web_sessions.consume_sign_in_link(session, token, runtime.clock.now())
        await session.commit()
    if account_id is None:
        return page(
            request,
            "signin.html",
            {
                "next": "/jobs",
                "email": "",
                "notice": None,
                "error": "This sign-in link has expired or was already used. Restart "
                "`make run` (or `pyexec serve`) for a new one, or sign in with a password.",
            },
            status_code=400,
        )
    await throttle.succeeded(None, host)
    response = _redirect("/jobs")
    await start_session(runtime, response, account_id, request.cookies.get(session_cookie(runtime)))
    return response


@router.post("/signout")
async def signout(request: Request, runtime: RuntimeDep) -> Response:
    visitor = await find_visitor(request, runtime)
    response = _redirect("/signin?notice=signed-out")
    if visitor is not None:
        await session_form(request, visitor, runtime)
        await end_session(runtime, response, visitor.session_token)
    return response


def _signup_closed(request: Request) -> Response:
    return error_page(
        request,
        404,
        "Sign-up is closed on this server: ask its operator for an account "
        "(pyexec accounts create --email you@example.com --password-prompt).",
        title="Sign-up is closed",
    )


@router.get("/signup")
async def signup_page(request: Request, runtime: RuntimeDep) -> Response:
    if runtime.settings.signup != "open":
        return _signup_closed(request)
    if await find_visitor(request, runtime) is not None:
        return _redirect("/jobs")
    return page(request, "signup.html", {"email": "", "error": None})


@router.post("/signup")
async def signup(request: Request, runtime: RuntimeDep) -> Response:
    if runtime.settings.signup != "open":
        return _signup_closed(request)
    form = await _anonymous_form(request, runtime)
    email = form.get("email", "").strip().lower()[: MAX_EMAIL_CHARS + 1]
    password = form.get("password", "")[: MAX_PASSWORD_CHARS + 1]

    def failed(message: str, status: int = 400) -> Response:
        return page(request, "signup.html", {"email": email, "error": message}, status_code=status)

    if not _EMAIL.match(email) or len(email) > MAX_EMAIL_CHARS:
        return failed("Enter a valid email address, like you@example.com.")
    try:
        check_new_password(password, email)
    except WeakPasswordError as exc:
        return failed(str(exc))
    if password != form.get("password_again", ""):
        return failed("The two passwords differ; type the same password twice.")
    throttle = SignInThrottle(runtime)
    host = _client_host(request)
    try:
        # Counted per address like sign-ins: sign-up must not be a way to try emails fast.
        await throttle.take(None, host)
    except Throttled as exc:
        return failed(str(exc).replace("sign-in", "sign-up"), 429)
    password_hash = await hash_password_async(password)
    async with runtime.db.session() as session:
        if await repository.get_account_by_email(session, email) is not None:
            return failed("An account with this email exists already: sign in instead.", 409)
        account = await repository.create_account(session, email, Plan.free.value)
        await web_sessions.set_password_hash(session, account.id, password_hash)
        await session.commit()
    await throttle.succeeded(None, host)
    response = _redirect("/jobs")
    await start_session(runtime, response, account.id, request.cookies.get(session_cookie(runtime)))
    return response
