"""Issuing and listing portal API keys."""

from __future__ import annotations

import secrets

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.portal.models import PortalClient
from shared.errors import Conflict


async def add_portal_client(session: AsyncSession, name: str) -> PortalClient:
    """Create a key for a portal; the secret is shown once to whoever created it."""
    existing = await session.exec(select(PortalClient).where(PortalClient.name == name))
    if existing.first() is not None:
        raise Conflict(
            f"a portal client named '{name}' already exists", code="portal_client_exists"
        )
    client = PortalClient(
        key_id=f"pk_{secrets.token_hex(8)}", name=name, secret=secrets.token_urlsafe(32)
    )
    session.add(client)
    await session.flush()
    return client


async def list_portal_clients(session: AsyncSession) -> list[PortalClient]:
    return list((await session.exec(select(PortalClient).order_by(col(PortalClient.id)))).all())
