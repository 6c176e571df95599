"""Portal API keys: issuing and listing them, and where each portal's callbacks go."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.portal.models import PortalClient, PortalClientPublic, PortalScope
from shared.errors import Conflict, NotFound, Unprocessable
from shared.keyring import Keyring
from shared.outbound import OutboundPolicy


def _purpose(key_id: str) -> str:
    # Bound to the key id: a sealed secret copied onto another row does not open there.
    return f"portal-secret:{key_id}"


def seal_secret(keyring: Keyring, key_id: str, secret: str) -> str:
    return keyring.seal(_purpose(key_id), secret)


def open_secret(keyring: Keyring, key_id: str, sealed: str) -> str:
    return keyring.open(_purpose(key_id), sealed)


def portal_secret(keyring: Keyring, client: PortalClient) -> str:
    """The HMAC secret of a portal key (接入密钥), opened from its sealed form."""
    return open_secret(keyring, client.key_id, client.sealed_secret)


def _issue_secret(keyring: Keyring, client: PortalClient) -> str:
    secret = secrets.token_urlsafe(32)
    client.sealed_secret = seal_secret(keyring, client.key_id, secret)
    return secret


async def add_portal_client(
    session: AsyncSession,
    name: str,
    scopes: Collection[PortalScope] = (PortalScope.applications,),
    *,
    now: datetime,
    keyring: Keyring,
) -> tuple[PortalClient, str]:
    """Create a key for a portal with the routes it may call (``scopes``, 接入权限); returns it
    with its secret, to be shown once to whoever created it (only its sealed form is kept)."""
    if not scopes:
        raise Unprocessable("a portal key needs at least one scope", code="scopes_required")
    existing = await session.exec(select(PortalClient).where(PortalClient.name == name))
    if existing.first() is not None:
        raise Conflict(
            f"a portal client named '{name}' already exists", code="portal_client_exists"
        )
    client = PortalClient(
        key_id=f"pk_{secrets.token_hex(8)}",
        name=name,
        sealed_secret="",
        scopes=[s.value for s in PortalScope if s in set(scopes)],
        created_at=now,
    )
    secret = _issue_secret(keyring, client)
    session.add(client)
    await session.flush()
    return client, secret


async def list_portal_clients(session: AsyncSession) -> list[PortalClient]:
    return list((await session.exec(select(PortalClient).order_by(col(PortalClient.id)))).all())


async def get_portal_client(session: AsyncSession, key_id: str) -> PortalClient:
    client = (
        await session.exec(select(PortalClient).where(col(PortalClient.key_id) == key_id))
    ).first()
    if client is None:
        raise NotFound(f"there is no portal key {key_id}", code="portal_client_not_found")
    return client


def to_public(client: PortalClient) -> PortalClientPublic:
    return PortalClientPublic.model_validate(client, from_attributes=True)


async def set_webhook(
    session: AsyncSession, key_id: str, url: str | None, *, outbound: OutboundPolicy
) -> PortalClientPublic:
    """Where the portal's status callbacks go (None: nowhere; its events are skipped); refused
    (422 ``url_not_allowed``) if it leads inside."""
    client = await get_portal_client(session, key_id)
    if url is not None:
        await outbound.check_url(url)
    client.webhook_url = url
    session.add(client)
    await session.flush()
    return to_public(client)


async def revoke_portal_client(session: AsyncSession, key_id: str) -> PortalClientPublic:
    """Stop a key at once (吊销): its next signed request is a 401 ``unknown_key``. The row and
    its history (deliveries, answers) stay."""
    client = await get_portal_client(session, key_id)
    client.is_active = False
    session.add(client)
    await session.flush()
    return to_public(client)


async def rotate_portal_client(
    session: AsyncSession, key_id: str, *, keyring: Keyring
) -> tuple[PortalClient, str]:
    """Issue a new secret for an active key (轮换); the old one stops working at once. The
    caller shows the new secret once."""
    client = await get_portal_client(session, key_id)
    if not client.is_active:
        raise Conflict(
            f"portal key {key_id} is revoked; issue a new key", code="portal_client_revoked"
        )
    secret = _issue_secret(keyring, client)
    session.add(client)
    await session.flush()
    return client, secret
