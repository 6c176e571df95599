"""Revoked tokens are refused everywhere within seconds (吊销令牌即时失效).

A user's bearer token carries the user's id and *token version*. Ledger, which owns the accounts,
bumps the version when a password, a unit or the account's state changes, and publishes the
current version of every active user at ``GET /directory/token-versions`` (services only).
Intake and notify keep that list for at most ``token_versions_max_age_seconds`` (5 s by
default) and check every user token against it: an unknown user, an inactive one or an older
version is a ``401 token_revoked``. Signing out (退出登录) ends one sign-in only: the token's
``jti`` (its session id) joins the list's ``revoked_sessions`` until the token expires; signing out
everywhere (退出所有设备) moves the version on, as a password change does.

Why a published version list rather than short-lived access tokens with refresh: a refresh
token still leaves a revoked access token valid until it expires (minutes), and every service
would have to hold refresh state. The list is small (the staff of a city), is read once per few
seconds per process, and keeps tokens stateless for every other check. If ledger cannot be
reached, the last list is used for ``token_versions_stale_seconds`` (60 s); after that user
tokens are refused with ``503 revocation_list_unavailable`` (fail closed), while service tokens
keep working. Ages are measured on the app's clock (``shared.clock``), so tests move them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel

from shared.auth import Principal
from shared.clock import Clock
from shared.errors import HuodianError, Unauthorized, UpstreamUnavailable
from shared.http import ServiceClient

TOKEN_VERSIONS_PATH = "/directory/token-versions"


class TokenVersion(BaseModel):
    """One active user's current token version."""

    id: int
    version: int


class TokenVersionList(BaseModel):
    users: list[TokenVersion]
    revoked_sessions: list[str] = []  # ids (jti) of single sign-ins ended, not yet expired


class RevocationListUnavailable(HuodianError):
    status, code, title = 503, "revocation_list_unavailable", "Service unavailable"


def revoked() -> Unauthorized:
    return Unauthorized("the token is no longer valid; sign in again", code="token_revoked")


class TokenVersions:
    """Ledger's token versions as last fetched, fetched again when older than ``max_age``.

    A token the list does not know yet (issued to a new user, or with a new version, after the
    list was fetched: by its ``iat``, with ``SKEW`` seconds to spare for clocks a little apart)
    makes one fetch at once, so that a fresh sign-in works at once, while an old revoked token
    cannot make a fetch per request.
    """

    SKEW = timedelta(seconds=10)
    RETRY_AFTER = timedelta(seconds=1)

    def __init__(
        self,
        client: Callable[[], ServiceClient],
        clock: Clock,
        *,
        max_age: float = 5.0,
        stale_after: float = 60.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self._max_age = timedelta(seconds=max_age)
        self._stale_after = timedelta(seconds=stale_after)
        self._versions: Mapping[int, int] = {}
        self._revoked_sessions: frozenset[str] = frozenset()
        self._fetched_at: datetime | None = None
        self._fetches = 0  # fetches done, so that callers queued behind one do not repeat it
        self._failed_at: datetime | None = None
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Drop the list: the next check fetches it again."""
        self._versions, self._fetched_at, self._failed_at = {}, None, None
        self._revoked_sessions = frozenset()

    def _older_than(self, age: timedelta) -> bool:
        return self._fetched_at is None or self._clock.now() - self._fetched_at > age

    async def _fetch(self, seen: int) -> None:
        """Fetch the list, unless another fetch finished since the caller saw ``seen``."""
        async with self._lock:
            started = self._clock.now()
            if self._fetches != seen or (
                # ledger just failed to answer: do not make every request wait for it again
                self._failed_at is not None and started - self._failed_at < self.RETRY_AFTER
            ):
                return
            try:
                raw = await self._client().get_json("ledger", TOKEN_VERSIONS_PATH)
            except UpstreamUnavailable:
                self._failed_at = started
                return
            listing = TokenVersionList.model_validate(raw)
            self._versions = {u.id: u.version for u in listing.users}
            self._revoked_sessions = frozenset(listing.revoked_sessions)
            self._fetched_at = started
            self._fetches += 1

    async def check(self, principal: Principal) -> None:
        """Refuse a user token that ledger no longer stands behind."""
        if principal.is_service:
            return
        if principal.user_id is None:
            raise revoked()
        if self._older_than(self._max_age):
            await self._fetch(self._fetches)
        current = self._versions.get(principal.user_id)
        if current is None or current < principal.token_version:
            issued = principal.issued_at
            if issued is None or self._fetched_at is None or issued > self._fetched_at - self.SKEW:
                await self._fetch(self._fetches)
                current = self._versions.get(principal.user_id)
        if self._older_than(self._stale_after):
            raise RevocationListUnavailable(
                "the list of valid sign-ins could not be read from ledger; try again shortly"
            )
        if current is None or current != principal.token_version:
            raise revoked()
        if principal.session_id is not None and principal.session_id in self._revoked_sessions:
            raise revoked()
