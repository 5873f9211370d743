"""Who may use the web app, and which writes it accepts.

Bound to loopback, any local browser may read; bound elsewhere, every request needs the token
(``?token=`` once, then a SameSite=Strict cookie; or an ``Authorization: Bearer`` header).
Every state-changing request, wherever bound, needs the page's CSRF token in ``X-CSRF-Token``
and, when the browser sends one, an ``Origin`` equal to the app's own: another site's page can
neither forge the header nor pass the origin check.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp

COOKIE = "nanobatch_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    """A random URL-safe secret (tokens, CSRF)."""
    return secrets.token_urlsafe(24)


def _same(given: str | None, wanted: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), wanted.encode())


class Guard(BaseHTTPMiddleware):
    """Checks the token (when one is set) on every request, and the CSRF token and origin on writes."""

    def __init__(self, app: ASGIApp, *, token: str | None, csrf: str) -> None:
        super().__init__(app)
        self.token = token
        self.csrf = csrf

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        bearer = request.headers.get("authorization", "")
        given = bearer[7:] if bearer.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        return _same(given, self.token)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Refuse what is not allowed; a valid ``?token=`` sets the cookie and drops it from the URL."""
        if self.token is not None and _same(request.query_params.get("token"), self.token):
            response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        if not self._authorized(request):
            return PlainTextResponse("a token is needed: open the address nanobatch serve printed", status_code=401)
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            own = f"{request.url.scheme}://{request.url.netloc}"
            if origin is not None and origin != own:
                return PlainTextResponse(f"cross-site request refused (origin {origin})", status_code=403)
            if not _same(request.headers.get("x-csrf-token"), self.csrf):
                return PlainTextResponse("missing or wrong CSRF token: reload the page", status_code=403)
        return await call_next(request)
