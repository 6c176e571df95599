"""One sign-in for the pages of the three services (统一登录): the bearer token ledger issues,
kept in an HttpOnly cookie, and a CSRF token bound to it.

The cookie's path is ``/`` so that a browser sends it to every service: behind nginx they share
one host name (``/intake/ui/``, ``/ledger/ui/``, ``/notify/ui/``), and run locally they share
``127.0.0.1`` (cookies do not tell ports apart). It is checked as a bearer token is
(``shared.auth.check_token``), revocation included; API routes never read it, they take the
``Authorization`` header alone, so the cookie cannot make a cross-site API call.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from shared.auth import Principal, check_token
from shared.errors import Forbidden, Unauthorized
from shared.settings import Settings

COOKIE = "huodian_session"
COOKIE_PATH = "/"


def csrf_token(settings: Settings, session_token: str) -> str:
    """A form token derived from the session: a page of another site cannot know it."""
    key = settings.signing_key().encode()
    return hmac.new(key, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(settings: Settings, session_token: str, submitted: str) -> bool:
    # Bytes: compare_digest raises TypeError on a str with non-ASCII characters (csrf=页).
    expected = csrf_token(settings, session_token).encode()
    return hmac.compare_digest(expected, submitted.encode("utf-8", "surrogatepass"))


class BadCsrf(Forbidden):
    """A form sent without the token of the page it came from (页面已过期): every service's
    forms are refused with this one code and its one Chinese message."""

    code = "bad_csrf"


def check_csrf(settings: Settings, session_token: str, submitted: str) -> None:
    """The one CSRF check of every form of the three services; raises :class:`BadCsrf`."""
    if not csrf_ok(settings, session_token, submitted):
        raise BadCsrf("the form's CSRF token does not match the session")


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def keep_session(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path=COOKIE_PATH,
        max_age=settings.token_ttl_hours * 3600,
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    # Sessions begun before the sign-in was shared lived at /ui only.
    response.delete_cookie(COOKIE, path="/ui")


async def signed_in(request: Request) -> tuple[Principal, str] | None:
    """The signed-in person and their token, or None (no cookie, expired, revoked)."""
    token = session_token(request)
    if not token:
        return None
    try:
        principal = await check_token(request, token)
    except Unauthorized:
        return None
    if principal.is_service:  # a service token in a cookie is nobody's sign-in
        return None
    return principal, token
