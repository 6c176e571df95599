"""HMAC signatures for the government portal (政务服务平台) and for intake's webhooks.

A portal request carries four headers::

    X-Huodian-Key:        the portal's key id
    X-Huodian-Timestamp:  unix seconds when it was signed
    X-Huodian-Nonce:      16–64 characters of [A-Za-z0-9_-], never used twice per key
    X-Huodian-Signature:  base64(HMAC-SHA256(secret, canonical))

where ``canonical`` joins with newlines the upper-case method, the request target (path with its
query string, exactly as sent), the timestamp, the nonce and the hex SHA-256 of the body::

    POST
    /portal/v1/applications?dry_run=1
    1735700000
    2b7f3c0e9a5d4e1f8c6b
    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

:func:`verify_request` refuses, as :class:`shared.errors.Unauthorized` (401): missing or malformed
headers (``missing_signature``, ``malformed_signature``), a timestamp outside the window
(``stale_timestamp``, default ±300 s), an unknown or inactive key (``unknown_key``), a wrong
signature (``bad_signature``) and a nonce seen before (``nonce_reused``). The nonce is remembered
by the caller's ``remember_nonce(key_id, nonce, expires_at)`` only once the signature is good, so
nobody can burn another portal's nonces; after ``expires_at`` the timestamp check alone refuses a
replay, so the nonce may be forgotten then.

Webhooks (status callbacks intake sends to a portal) are signed over the timestamp and the body
digest with the portal's secret: :func:`webhook_headers` / :func:`verify_webhook`.

All comparisons of signatures are constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.clock import SYSTEM_CLOCK, Clock, epoch_seconds
from shared.errors import Unauthorized

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "HEADER_KEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "LookupSecret",
    "PortalAuth",
    "RememberNonce",
    "VerifiedRequest",
    "body_digest",
    "canonical_request",
    "new_nonce",
    "request_target",
    "sign_request",
    "sign_webhook",
    "verify_request",
    "verify_webhook",
    "webhook_headers",
]

HEADER_KEY = "X-Huodian-Key"
HEADER_TIMESTAMP = "X-Huodian-Timestamp"
HEADER_NONCE = "X-Huodian-Nonce"
HEADER_SIGNATURE = "X-Huodian-Signature"
DEFAULT_WINDOW_SECONDS = 300

_NONCE = re.compile(r"[A-Za-z0-9_\-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_KEY_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")

LookupSecret = Callable[[str], Awaitable[str | None]]
"""``await lookup_secret(key_id)``: the key's secret, or None if unknown or inactive."""
RememberNonce = Callable[[str, str, datetime], Awaitable[bool]]
"""``await remember_nonce(key_id, nonce, expires_at)``: True if stored, False if seen before."""


def body_digest(body: bytes) -> str:
    """Hex SHA-256 of the body (of ``b""`` for a request without one)."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, target: str, timestamp: int, nonce: str, body: bytes) -> str:
    """The text that is signed; ``target`` is the path with its query string, as sent."""
    return "\n".join([method.upper(), target, str(timestamp), nonce, body_digest(body)])


def _hmac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def new_nonce() -> str:
    """A fresh random nonce (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def sign_request(
    *,
    key_id: str,
    secret: str,
    method: str,
    target: str,
    body: bytes = b"",
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers that authenticate one portal request at ``timestamp`` (unix seconds)."""
    nonce = nonce or new_nonce()
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: _hmac(secret, canonical_request(method, target, timestamp, nonce, body)),
    }


class PortalAuth(httpx.Auth):
    """httpx authentication that signs every request with a portal key.

    >>> httpx.AsyncClient(base_url=intake_url, auth=PortalAuth(key_id, secret))
    """

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.key_id = key_id
        self.secret = secret
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_request(
                key_id=self.key_id,
                secret=self.secret,
                method=request.method,
                target=request.url.raw_path.decode("ascii"),
                body=request.content,
                timestamp=epoch_seconds(self.clock),
            )
        )
        yield request


def request_target(scope: Mapping[str, Any]) -> str:
    """The request target of an ASGI request as the client sent it: raw path and query string
    (use ``request.scope`` in a route)."""
    raw_path: bytes = scope.get("raw_path") or str(scope["path"]).encode()
    query: bytes = scope.get("query_string", b"")
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")


@dataclass(frozen=True)
class VerifiedRequest:
    """Who signed a request that passed every check."""

    key_id: str
    timestamp: int
    nonce: str


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(name.lower())
    if not value:
        raise Unauthorized(f"the {name} header is missing", code="missing_signature")
    return value


def _check_timestamp(raw: str, now: datetime, window_seconds: int) -> int:
    if not _TIMESTAMP.fullmatch(raw):
        raise Unauthorized(f"{HEADER_TIMESTAMP} must be unix seconds", code="malformed_signature")
    timestamp = int(raw)
    current = now.timestamp()
    if abs(current - timestamp) > window_seconds:
        raise Unauthorized(
            f"the timestamp is {int(current - timestamp)} s off the server clock; "
            f"at most {window_seconds} s are allowed",
            code="stale_timestamp",
        )
    return timestamp


async def verify_request(
    *,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
    lookup_secret: LookupSecret,
    remember_nonce: RememberNonce,
    now: datetime,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> VerifiedRequest:
    """Authenticate a portal request or raise :class:`Unauthorized` with a distinct code.

    ``target`` is the raw path with query (:func:`request_target`); header names are matched
    case-insensitively; ``now`` defaults to the current time.
    """
    key_id = _header(headers, HEADER_KEY)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    nonce = _header(headers, HEADER_NONCE)
    given = _header(headers, HEADER_SIGNATURE)
    if not _KEY_ID.fullmatch(key_id):
        raise Unauthorized(f"{HEADER_KEY} is malformed", code="malformed_signature")
    if not _NONCE.fullmatch(nonce):
        raise Unauthorized(
            f"{HEADER_NONCE} must be 16-64 characters of A-Z, a-z, 0-9, _ and -",
            code="malformed_signature",
        )
    timestamp = _check_timestamp(raw_timestamp, now, window_seconds)
    secret = await lookup_secret(key_id)
    if secret is None:
        raise Unauthorized("unknown or inactive portal key", code="unknown_key")
    expected = _hmac(secret, canonical_request(method, target, timestamp, nonce, body))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Unauthorized("the signature does not match the request", code="bad_signature")
    expires_at = datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=window_seconds)
    if not await remember_nonce(key_id, nonce, expires_at):
        raise Unauthorized("this nonce was already used", code="nonce_reused")
    return VerifiedRequest(key_id=key_id, timestamp=timestamp, nonce=nonce)


# -- webhooks: intake → portal --


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """base64(HMAC-SHA256(secret, "<timestamp>\\n<hex sha256 of body>"))."""
    return _hmac(secret, f"{timestamp}\n{body_digest(body)}")


def webhook_headers(
    secret: str, body: bytes, timestamp: int, *, key_id: str | None = None
) -> dict[str, str]:
    """Headers for a webhook call: timestamp and signature, and the key id when given."""
    headers = {
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign_webhook(secret, body, timestamp),
    }
    if key_id is not None:
        headers[HEADER_KEY] = key_id
    return headers


def verify_webhook(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: datetime,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> int:
    """Check a webhook's signature and freshness (for portals and the tests); returns its
    timestamp. Raises :class:`Unauthorized` ``missing_signature``, ``malformed_signature``,
    ``stale_timestamp`` or ``bad_signature``."""
    timestamp = _check_timestamp(_header(headers, HEADER_TIMESTAMP), now, window_seconds)
    given = _header(headers, HEADER_SIGNATURE)
    if not hmac.compare_digest(sign_webhook(secret, body, timestamp).encode(), given.encode()):
        raise Unauthorized("the webhook signature does not match", code="bad_signature")
    return timestamp
