"""Browser sessions: the bearer token in an HttpOnly cookie, and a CSRF token bound to it."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from shared.settings import Settings

COOKIE = "huodian_session"


def csrf_token(settings: Settings, session_token: str) -> str:
    """A form token derived from the session: a page of another site cannot know it."""
    key = settings.signing_key().encode()
    return hmac.new(key, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(settings: Settings, session_token: str, submitted: str) -> bool:
    return hmac.compare_digest(csrf_token(settings, session_token), submitted)


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)
