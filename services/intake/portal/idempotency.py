"""Idempotent portal POSTs (幂等): a retry with the same ``Idempotency-Key`` gets the first answer.

The key is claimed (a row in :class:`IdempotencyRecord`, unique per portal key) as the first
write of the request's transaction, and the answer is stored in that same transaction once the
effect is done. So:

- a retry of the same request (method, target and body) returns the stored status and body,
  with ``Idempotent-Replayed: true``, and does nothing;
- the same key on a different request is refused, 409 ``idempotency_key_reused``;
- two requests racing with one key meet at the unique constraint: the second waits for the
  first transaction and then answers from what it stored;
- a request that fails — refused (4xx) or an unavailable upstream (5xx) — rolls back with its
  claim, so nothing is stored and a retry tries again.

Stored answers are kept ``idempotency_retention_hours`` (24 h by default), then forgotten.
An answer can carry a secret (a new application's query code, 查询码), so it is stored sealed
with the keyring outside the database (``shared.keyring``, AES-GCM, bound to the portal key and
the idempotency key: an answer moved to another row does not open); the row is found by the
portal key and the idempotency key, and the request by its SHA-256, none of them secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.portal.auth import PortalPrincipal
from services.intake.portal.models import IdempotencyRecord
from services.intake.portal.sql import insert_once
from shared.errors import BadRequest, Conflict
from shared.keyring import Keyring

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,200}")

Effect = Callable[[], Awaitable[tuple[int, BaseModel]]]
"""The work of a request: its status code and its answer."""


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Required on portal POSTs: a retry with the same key returns the "
            "first answer (幂等键, 1–200 visible ASCII characters, e.g. a UUID)",
        ),
    ] = None,
) -> str:
    if key is None or not key.strip():
        raise BadRequest(
            f"portal POSTs need an {HEADER} header, e.g. a fresh UUID per operation",
            code="idempotency_key_required",
        )
    if not _KEY.fullmatch(key):
        raise BadRequest(
            f"the {HEADER} is 1-200 visible ASCII characters", code="idempotency_key_invalid"
        )
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]

SEALED = "sealed"
"""The one field of a stored body: the answer, sealed."""


def _purpose(key_id: str, key: str) -> str:
    return f"idempotency:{key_id}:{key}"


def seal_answer(keyring: Keyring, key_id: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an answer: ``{"sealed": "hk1.<key id>.…"}``."""
    return {SEALED: keyring.seal(_purpose(key_id, key), json.dumps(body, ensure_ascii=False))}


def open_answer(keyring: Keyring, key_id: str, key: str, stored: dict[str, Any]) -> Any:
    return json.loads(keyring.open(_purpose(key_id, key), stored[SEALED]))


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
    claimed = await insert_once(
        session,
        IdempotencyRecord,
        {
            "key_id": caller.key_id,
            "idempotency_key": key,
            "request_hash": caller.request_hash,
            "status_code": 0,
            "body": {},
            "created_at": now,
        },
    )
    record = (
        await session.exec(
            select(IdempotencyRecord).where(
                col(IdempotencyRecord.key_id) == caller.key_id,
                col(IdempotencyRecord.idempotency_key) == key,
            )
        )
    ).one()
    if not claimed:
        if record.request_hash != caller.request_hash:
            raise Conflict(
                f"this {HEADER} was used for a different request; use a new key",
                code="idempotency_key_reused",
            )
        return JSONResponse(
            open_answer(keyring, caller.key_id, key, record.body),
            status_code=record.status_code,
            headers={REPLAYED_HEADER: "true"},
        )
    status, answer = await effect()
    body = answer.model_dump(mode="json")
    record.status_code = status
    record.body = seal_answer(keyring, caller.key_id, key, body)
    session.add(record)
    await session.flush()
    return JSONResponse(body, status_code=status)


async def forget_old_answers(session: AsyncSession, now: datetime, retention_hours: float) -> int:
    cutoff = now - timedelta(hours=retention_hours)
    result = await session.exec(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff)
    )
    return result.rowcount
