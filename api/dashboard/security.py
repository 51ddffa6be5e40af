"""What keeps the dashboard's pages safe: response headers, CSRF tokens, the origin check.

Job outputs are untrusted (user code and models write them) and are shown in these pages, so
the page's Content-Security-Policy allows no script but the dashboard's own files: even markup
that slipped past escaping and sanitising could not run. Forms carry a CSRF token; a signed-in
visitor's is derived from their session token (nothing stored), an anonymous visitor's is a
double-submitted cookie. Unsafe requests from another origin are refused before either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyexec.core.settings import Settings

# No inline script or style at all (htmx is configured not to inject any); images may be the
# page's own or data: URIs (plots inside notebooks); nothing may frame the page.
PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
# Pages show account data (and a new key, once): no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(PermissionError):
    """A form post without a valid token, or from another origin."""


def apply_page_headers(response: Response) -> Response:
    """The page headers, and no-store unless the response chose its own caching."""
    for name, value in {**PAGE_HEADERS, **NO_STORE}.items():
        response.headers.setdefault(name, value)
    return response


class PageHeaders:
    """ASGI wrapper giving every response of `app` (the static files) the page headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    if name.lower() not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure_cookies(settings: Settings) -> bool:
    return bool(settings.public_url and settings.public_url.startswith("https://"))


def cookie_name(settings: Settings, name: str) -> str:
    # The __Host- prefix pins a Secure cookie to this host and path /, so that a sibling
    # subdomain cannot plant one (it needs HTTPS, hence only then).
    return f"__Host-{name}" if secure_cookies(settings) else name


def session_csrf_token(session_token: str) -> str:
    """The CSRF token of a session: only someone holding the session's cookie can make it."""
    return hmac.new(session_token.encode(), b"pyexec-dashboard-csrf", hashlib.sha256).hexdigest()


def new_anonymous_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


def check_origin(request: Request, settings: Settings) -> None:
    """Refuse an unsafe request that a browser says came from another site."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfError("The request came from another site.")
    origin = request.headers.get("origin")
    if origin is None:
        return  # no claim to check: the token decides
    given = urlsplit(origin)
    if settings.public_url is not None:
        expected = urlsplit(settings.public_url)
        same = (given.scheme, given.netloc) == (expected.scheme, expected.netloc)
    else:
        # Behind a proxy the scheme seen here may differ; the host the browser used may not.
        same = given.netloc == request.headers.get("host", "")
    if not same:
        raise CsrfError("The request came from another origin.")
