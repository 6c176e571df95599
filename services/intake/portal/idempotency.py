"""Idempotent portal POSTs (幂等): ``shared.idempotency`` bound to the portal key that signed.

A portal client must send an ``Idempotency-Key`` on every POST; the key is scoped to the portal
key (``key_id``), and the request is identified by the SHA-256 of its signed method, target and
raw body. Counter applications use the same table, scoped ``user:<id>`` (see
``services.intake.applications.routes``). Stored answers are kept
``idempotency_retention_hours`` (24 h by default), then forgotten.
"""

from __future__ import annotations

from datetime import datetime

from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.idempotency import IdempotencyRecord
from services.intake.portal.auth import PortalPrincipal
from shared import idempotency
from shared.idempotency import (
    HEADER,
    REPLAYED_HEADER,
    SEALED,
    Effect,
    IdempotencyKey,
    open_answer,
    seal_answer,
)
from shared.keyring import Keyring

__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "SEALED",
    "IdempotencyKey",
    "forget_old_answers",
    "open_answer",
    "run_once",
    "seal_answer",
]


async def run_once(
    session: AsyncSession,
    caller: PortalPrincipal,
    key: str,
    effect: Effect,
    *,
    now: datetime,
    keyring: Keyring,
) -> JSONResponse:
    """Run ``effect`` unless ``key`` has an answer already; store its answer, sealed, with it."""
    return await idempotency.run_once(
        session,
        IdempotencyRecord,
        key_id=caller.key_id,
        key=key,
        request_hash=caller.request_hash,
        effect=effect,
        now=now,
        keyring=keyring,
    )


async def forget_old_answers(session: AsyncSession, now: datetime, retention_hours: float) -> int:
    """Forget portal and counter answers older than ``retention_hours``."""
    return await idempotency.forget_old_answers(session, IdempotencyRecord, now, retention_hours)
