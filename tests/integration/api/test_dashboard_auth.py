"""Dashboard sign-in over a real server socket, on both databases: passwords, one-time links,
throttling, sessions and their cookies, CSRF, the security headers, sign-up, and the CLI that
sets passwords. What needs a browser is in tests/e2e."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dashboard_client import (
    PASSWORD,
    Visitor,
    create_person,
    csrf_token,
    execute,
    new_email,
    new_ip,
)
from tests.support.servers import PYEXEC, ROOT, Server
from tests.support.uploading import read_response, send_until_answered


@pytest.fixture
def visitor(server: Server) -> Iterator[Visitor]:
    v = Visitor.of(server)
    try:
        yield v
    finally:
        v.close()


def _link(server: Server, email: str) -> str:
    from pyexec.admin import sign_in_link

    return asyncio.run(sign_in_link(server.settings(), email, server.url))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _assert_page_headers(response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (response.url, csp)
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") == "same-origin"
    assert response.headers.get("x-frame-options") == "DENY"


def test_every_page_sends_the_security_headers(server: Server, visitor: Visitor) -> None:
    email = create_person(server)
    anonymous = [visitor.get(p) for p in ("/signin", "/jobs", "/signup", "/no-such-page")]
    assert [r.status_code for r in anonymous] == [200, 303, 404, 404]
    visitor.signed_in(email)
    key = server.create_key(email)
    with server.client(key) as api:
        job = api.post("/v1/jobs", json={"code": "print(1)"}).json()
    signed_in = [
        visitor.get(p)
        for p in ("/jobs", "/jobs/new", "/files", "/keys", "/usage", f"/jobs/{job['id']}")
    ]
    assert [r.status_code for r in signed_in] == [200] * 6
    static = visitor.get("/static/dashboard.css")
    assert static.status_code == 200
    for response in [*anonymous, *signed_in, static]:
        _assert_page_headers(response)
    for response in [*anonymous, *signed_in]:
        assert response.headers["cache-control"] == "no-store"
    # The API keeps its own JSON errors and headers.
    assert visitor.get("/v1/nothing").headers["content-type"] == "application/json"


def test_a_password_signs_in_with_a_safe_cookie_that_rotates(
    server: Server, visitor: Visitor
) -> None:
    email = create_person(server)
    for who, password in ((email, "not the password"), (new_email(), PASSWORD)):
        refused = visitor.sign_in(who, password)
        assert refused.status_code == 400
        assert "Wrong email or password." in refused.text
        assert visitor.session_cookie is None
    first = visitor.sign_in(email.upper())  # emails are case-insensitive
    assert first.status_code == 303 and first.headers["location"] == "/jobs"
    cookie = next(
        c for c in first.headers.get_list("set-cookie") if c.startswith("pyexec_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http here; PYEXEC_PUBLIC_URL=https://… adds it
    first_token = visitor.session_cookie or ""
    assert visitor.get("/jobs").status_code == 200
    # Only the token's SHA-256 is stored.
    rows = server.rows(
        "SELECT token_hash FROM web_sessions WHERE token_hash = :h", h=_digest(first_token)
    )
    assert len(rows) == 1
    assert not server.rows("SELECT id FROM web_sessions WHERE token_hash = :t", t=first_token)
    # Every sign-in makes a new token; one held before (planted, or stale) is dropped.
    visitor.set_session_cookie("planted-by-someone-else")
    assert visitor.sign_in(email).status_code == 303
    second_token = visitor.session_cookie
    assert second_token not in (None, first_token, "planted-by-someone-else")
    assert visitor.get("/jobs").status_code == 200
    stale = Visitor.of(server)
    stale.set_session_cookie(first_token)
    assert stale.get("/jobs").status_code == 200  # another browser's session lives on ...
    assert visitor.post_form("/signout").status_code == 303
    stale.set_session_cookie(second_token or "")
    assert (
        stale.get("/jobs").headers["location"] == "/signin?next=/jobs"
    )  # ... a signed-out one not
    stale.close()


def test_sign_in_returns_to_the_page_asked_for_and_never_off_site(
    server: Server, visitor: Visitor
) -> None:
    email = create_person(server)
    asked = visitor.get("/jobs/new?file=x")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/signin?next=/jobs/new%3Ffile%3Dx"
    assert visitor.sign_in(email, next_path="/jobs/new?file=x").headers["location"] == (
        "/jobs/new?file=x"
    )
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        other = Visitor.of(server)
        assert other.sign_in(email, next_path=target).headers["location"] == "/jobs"
        other.close()


def test_failed_sign_ins_are_throttled_per_account_then_per_address(
    dashboard_server: Server,
) -> None:
    server = dashboard_server  # PYEXEC_SIGNIN_ACCOUNT_ATTEMPTS=3, PYEXEC_SIGNIN_IP_ATTEMPTS=5
    victim, bystander = create_person(server), create_person(server)
    attacker = Visitor.of(server)
    for _ in range(3):
        assert attacker.sign_in(victim, "guess").status_code == 400
    # Locked for the window, from any address and even with the right password ...
    owner = Visitor.of(server)
    locked = owner.sign_in(victim)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in locked.text
    assert 840 < int(locked.headers["retry-after"]) <= 900
    assert owner.session_cookie is None
    # ... while other accounts are not.
    assert owner.sign_in(bystander).status_code == 303
    # One address trying many emails is held back after its failures.
    sprayer = Visitor.of(server)
    for _ in range(5):
        assert sprayer.sign_in(new_email(), "guess").status_code == 400
    assert sprayer.sign_in(bystander).status_code == 429
    assert Visitor.of(server).sign_in(bystander).status_code == 303
    # Successes do not count against an address.
    address = new_ip()
    for _ in range(7):
        v = Visitor.of(server, address)
        assert v.sign_in(bystander).status_code == 303
        v.close()
    for v in (attacker, owner, sprayer):
        v.close()


def test_signing_out_ends_the_session(server: Server, visitor: Visitor) -> None:
    email = create_person(server)
    visitor.signed_in(email)
    # Without its token, sign-out is refused (a page elsewhere cannot sign people out).
    assert visitor.client.post("/signout", data={}).status_code == 403
    assert visitor.get("/jobs").status_code == 200
    old = visitor.session_cookie
    out = visitor.post_form("/signout")
    assert out.status_code == 303 and out.headers["location"] == "/signin?notice=signed-out"
    assert visitor.session_cookie is None
    assert "You are signed out." in visitor.get(out.headers["location"]).text
    again = Visitor.of(server)
    again.set_session_cookie(old or "")
    assert again.get("/keys").status_code == 303
    again.close()


def test_forms_without_their_token_or_from_elsewhere_are_refused(
    server: Server, visitor: Visitor
) -> None:
    email = create_person(server)
    visitor.signed_in(email)
    token = visitor.token("/keys")
    attempts = [
        visitor.client.post("/keys", data={"name": "no token", "scopes": "jobs:read"}),
        visitor.client.post("/keys", data={"csrf_token": "0" * 64, "name": "forged"}),
        visitor.client.post(
            "/keys",
            data={"csrf_token": token, "name": "cross-origin"},
            headers={"Origin": "https://evil.example"},
        ),
        visitor.client.post(
            "/keys",
            data={"csrf_token": token, "name": "cross-site"},
            headers={"Sec-Fetch-Site": "cross-site"},
        ),
    ]
    # Another person's token is no good either.
    other = Visitor.of(server).signed_in(create_person(server))
    attempts.append(
        visitor.client.post("/keys", data={"csrf_token": other.token("/keys"), "name": "theirs"})
    )
    other.close()
    for refused in attempts:
        assert refused.status_code == 403, refused.text[:300]
        assert "security token" in refused.text or "another" in refused.text
    assert "No active keys" in visitor.get("/keys").text
    # The same origin, with the token: accepted.
    made = visitor.client.post(
        "/keys",
        data={"csrf_token": token, "name": "mine", "scopes": "jobs:read"},
        headers={"Origin": server.url},
    )
    assert made.status_code == 201
    # Signing in needs the anonymous token too (no login CSRF).
    stranger = Visitor.of(server)
    plain = stranger.client.post("/signin", data={"email": email, "password": PASSWORD})
    assert plain.status_code == 403 and stranger.session_cookie is None
    stranger.close()


def _raw_form_head(server: Server, path: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: text/html\r\n"
        f"X-Forwarded-For: {new_ip()}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()


def test_forms_over_4_mb_or_not_url_encoded_are_refused_unread(server: Server) -> None:
    form = "application/x-www-form-urlencoded"
    # Declared too large: refused before the body is read (anyone may post to /signin).
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_raw_form_head(server, "/signin", form, 5 * 1024 * 1024) + b"email=" * 100)
        status, body = read_response(sock)
    assert status == 413 and b"Too large" in body and b"over 4 MB" in body
    # Chunked, with no length: cut off once it passes 4 MB, not read to its end.
    piece, pieces = b"a" * 65536, 1024  # 64 MB offered
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_raw_form_head(server, "/signin", form, None))
        sent = send_until_answered(sock, pieces, piece, chunked=True)
        status, body = read_response(sock)
    assert status == 413 and b"over 4 MB" in body
    assert sent < pieces * len(piece) // 4, f"the server read {sent} bytes before refusing"
    # A page's forms are url-encoded; a multipart body is not spooled anywhere.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        multipart = "multipart/form-data; boundary=XYZ"
        sock.sendall(_raw_form_head(server, "/signin", multipart, 64) + b"-" * 64)
        status, body = read_response(sock)
    assert status == 400 and b"not sent as a web form" in body


def test_a_session_never_authenticates_the_api(server: Server, visitor: Visitor) -> None:
    email = create_person(server)
    visitor.signed_in(email)
    token = visitor.token("/jobs")
    for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/api-keys"), ("GET", "/v1/files")):
        response = visitor.client.request(
            method, path, headers={"X-CSRF-Token": token, "Accept": "application/json"}
        )
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def test_a_one_time_link_signs_in_once(server: Server, visitor: Visitor) -> None:
    email = create_person(server)
    link = _link(server, email)
    assert link.startswith(f"{server.url}/signin/link?token=")
    path = link.removeprefix(server.url)
    used = visitor.get(path)
    assert used.status_code == 303 and used.headers["location"] == "/jobs"
    assert email in visitor.get("/jobs").text
    again = Visitor.of(server)
    refused = again.get(path)
    assert refused.status_code == 400
    assert "expired or was already used" in refused.text and again.session_cookie is None
    expired = _link(server, email)
    execute(server, "UPDATE sign_in_links SET expires_at = created_at")  # ended at once
    assert again.get(expired.removeprefix(server.url)).status_code == 400
    assert again.get("/signin/link?token=made-up").status_code == 400
    again.close()


def test_sign_up_is_closed_unless_the_operator_opens_it(server: Server, visitor: Visitor) -> None:
    page = visitor.get("/signup")
    assert page.status_code == 404 and "Sign-up is closed" in page.text
    token = visitor.token("/signin")
    posted = visitor.client.post(
        "/signup", data={"csrf_token": token, "email": new_email(), "password": PASSWORD}
    )
    assert posted.status_code == 404
    assert "Create an account" not in visitor.get("/signin").text


def test_open_sign_up_makes_a_free_account_and_signs_it_in(dashboard_server: Server) -> None:
    open_server = dashboard_server  # PYEXEC_SIGNUP=open
    v = Visitor.of(open_server)
    assert "Create an account" in v.get("/signin").text
    email = new_email("new")

    def sign_up(**fields: str) -> httpx.Response:
        body = {"email": email, "password": PASSWORD, "password_again": PASSWORD, **fields}
        return v.client.post(
            "/signup", data={"csrf_token": csrf_token(v.get("/signup").text), **body}
        )

    for fields, status, message in (
        ({"email": "not-an-email"}, 400, "valid email"),
        ({"password": "short", "password_again": "short"}, 400, "at least 10 characters"),
        ({"password_again": "something else"}, 400, "differ"),
    ):
        refused = sign_up(**fields)
        assert refused.status_code == status and message in refused.text
        assert email in refused.text or fields.get("email")  # what was typed is kept
    made = sign_up()
    assert made.status_code == 303 and made.headers["location"] == "/jobs"
    assert "Free plan" in v.get("/jobs").text
    rows = open_server.rows("SELECT plan, password_hash FROM accounts WHERE email = :e", e=email)
    assert rows[0]["plan"] == "free" and rows[0]["password_hash"].startswith("$argon2id$")
    v.close()
    twice = Visitor.of(open_server)
    body = {"email": email, "password": PASSWORD, "password_again": PASSWORD}
    again = twice.client.post(
        "/signup", data={"csrf_token": csrf_token(twice.get("/signup").text), **body}
    )
    assert again.status_code == 409 and "exists already" in again.text
    twice.close()


def _cli(server: Server, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYEXEC, *args],
        env=server.env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_sets_passwords_read_from_stdin_never_from_argv(server: Server) -> None:
    email = new_email("cli")
    created = _cli(
        server,
        "accounts",
        "create",
        "--email",
        email,
        "--password-prompt",
        stdin="first passphrase\n",
    )
    assert created.returncode == 0, created.stderr
    assert "dashboard password set" in created.stdout and "first passphrase" not in created.stdout
    v = Visitor.of(server).signed_in(email, "first passphrase")
    changed = _cli(
        server, "accounts", "set-password", "--email", email, stdin="second passphrase\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert f"password set for {email}; 1 dashboard session(s) signed out" in changed.stdout
    assert v.get("/jobs").status_code == 303  # signed out everywhere
    assert Visitor.of(server).sign_in(email, "first passphrase").status_code == 400
    assert Visitor.of(server).sign_in(email, "second passphrase").status_code == 303
    weak = _cli(server, "accounts", "set-password", "--email", email, stdin="short\n")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    # There is no way to pass it as an argument.
    argv = _cli(
        server, "accounts", "set-password", "--email", email, "--password", "p" * 12, stdin=""
    )
    assert argv.returncode == 2
    v.close()


async def test_behind_https_cookies_are_secure_and_only_that_origin_may_post(
    tmp_path: Path,
) -> None:
    """PYEXEC_PUBLIC_URL=https://…: Secure, __Host- cookies; forms only from that origin."""
    from pyexec.admin import create_account
    from pyexec.api.app import create_app
    from pyexec.core.migrate import upgrade
    from pyexec.core.settings import load_settings

    public = "https://pyexec.example.com"
    settings = load_settings(data_dir=tmp_path, public_url=public + "/")
    assert settings.public_url == public
    await asyncio.to_thread(upgrade, settings.db_url)
    email = new_email()
    await create_account(settings, email, "pro", PASSWORD)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=public) as client,
    ):
        page = await client.get("/signin")
        anonymous = page.headers["set-cookie"]
        assert anonymous.startswith("__Host-pyexec_csrf=") and "Secure" in anonymous
        body = {"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD}
        for origin in ("http://pyexec.example.com", "https://evil.example"):
            refused = await client.post("/signin", data=body, headers={"Origin": origin})
            assert refused.status_code == 403, origin
        signed_in = await client.post("/signin", data=body, headers={"Origin": public})
        assert signed_in.status_code == 303
        cookie = next(c for c in signed_in.headers.get_list("set-cookie") if "pyexec_session" in c)
        assert cookie.startswith("__Host-pyexec_session=")
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= {
            part.strip().lower() for part in cookie.split(";")
        }
        assert (await client.get("/jobs")).status_code == 200
