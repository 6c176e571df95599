"""Who is calling a portal route: a portal client proven by its HMAC signature (接入方验签).

The rules of the signature are in :mod:`services.intake.rules.signing`; this module gives them
the secrets (active :class:`PortalClient` rows) and the memory of used nonces
(:class:`PortalNonce`), and turns a verified request into a :class:`PortalPrincipal`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.portal.models import PortalClient, PortalNonce, PortalScope
from services.intake.portal.service import portal_secret
from services.intake.rules.signing import request_target, verify_request
from services.intake.settings import IntakeSettings
from shared.clock import clock_of
from shared.db import session_scope
from shared.errors import FieldError, Forbidden
from shared.idempotency import insert_once, request_hash


@dataclass(frozen=True)
class PortalPrincipal:
    """A portal client whose request passed every check, and a digest of that request."""

    key_id: str
    name: str
    scopes: frozenset[PortalScope]
    request_hash: str
    """SHA-256 of method, request target and body: what an Idempotency-Key is bound to."""

    @property
    def actor(self) -> str:
        """How the portal appears as the author of a stage-log event."""
        return f"portal:{self.key_id}"


async def remember_nonce(
    session: AsyncSession, key_id: str, nonce: str, expires_at: datetime
) -> bool:
    """Store a used nonce; False if the key had used it before."""
    return await insert_once(
        session, PortalNonce, {"key_id": key_id, "nonce": nonce, "expires_at": expires_at}
    )


async def forget_expired_nonces(session: AsyncSession, now: datetime) -> int:
    """Drop nonces whose timestamp the window refuses anyway (a replay is stale by then)."""
    result = await session.exec(delete(PortalNonce).where(col(PortalNonce.expires_at) < now))
    return result.rowcount


async def portal_caller(request: Request) -> PortalPrincipal:
    """Verify the request's signature over its raw body; 401 problem+json if it fails.

    The nonce is stored in a transaction of its own, committed before the route runs: a request
    the route then refuses has still used its nonce, so it cannot be replayed either.
    """
    settings: IntakeSettings = request.app.state.intake_settings
    body = await request.body()
    target = request_target(request.scope)
    found: dict[str, PortalClient] = {}
    async with session_scope(request.app.state.engine) as session:

        async def lookup(key_id: str) -> str | None:
            client = (
                await session.exec(select(PortalClient).where(col(PortalClient.key_id) == key_id))
            ).first()
            if client is None or not client.is_active:
                return None
            found[key_id] = client
            return portal_secret(request.app.state.settings.keyring(), client)

        async def remember(key_id: str, nonce: str, expires_at: datetime) -> bool:
            return await remember_nonce(session, key_id, nonce, expires_at)

        verified = await verify_request(
            method=request.method,
            target=target,
            body=body,
            headers=request.headers,
            lookup_secret=lookup,
            remember_nonce=remember,
            now=clock_of(request).now(),
            window_seconds=settings.portal_signature_window_seconds,
        )
    client = found[verified.key_id]
    return PortalPrincipal(
        key_id=verified.key_id,
        name=client.name,
        scopes=frozenset(PortalScope(s) for s in client.scopes if s in _SCOPE_VALUES),
        request_hash=request_hash(request.method, target, body),
    )


PortalCaller = Annotated[PortalPrincipal, Depends(portal_caller)]

_SCOPE_VALUES = frozenset(s.value for s in PortalScope)


def scoped_caller(scope: PortalScope) -> Callable[[PortalPrincipal], Awaitable[PortalPrincipal]]:
    """A dependency: a verified portal caller whose key holds ``scope`` (接入权限), else 403."""

    async def caller(principal: PortalCaller) -> PortalPrincipal:
        if scope not in principal.scopes:
            raise Forbidden(
                f"portal key {principal.key_id} lacks the scope '{scope.value}' this route "
                f"requires (此接入密钥无“{scope.value}”接入权限)",
                code="scope_required",
                errors=[FieldError(field="scope", code="scope_required", message=scope.value)],
            )
        return principal

    return caller


ApplicationsCaller = Annotated[PortalPrincipal, Depends(scoped_caller(PortalScope.applications))]
"""A portal key allowed to submit applications (政务服务平台报装)."""
ProjectsCaller = Annotated[PortalPrincipal, Depends(scoped_caller(PortalScope.projects))]
"""A portal key allowed to push projects (工程建设项目审批平台)."""
ApprovalsCaller = Annotated[PortalPrincipal, Depends(scoped_caller(PortalScope.approvals))]
"""A portal key allowed to post external-line approval results (审批部门)."""
