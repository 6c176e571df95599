"""Idempotent POSTs (幂等): a retry with the same ``Idempotency-Key`` gets the first answer.

Used by intake's portal submissions and counter applications (受理) and by ledger's status
updates (进展更新). Each service keeps its answers in a table of its own (columns ``key_id``,
``idempotency_key``, ``request_hash``, ``status_code``, ``body``, ``created_at``, unique on the
first two), so the answer is shared by every replica. The key is claimed as the first write of
the request's transaction, and the answer is stored in that same transaction once the effect is
done. So:

- a retry of the same request (same caller, key and body) returns the stored status and body,
  with ``Idempotent-Replayed: true``, and does nothing;
- the same key on a different request is refused, 409 ``idempotency_key_reused``;
- two requests racing with one key meet at the unique constraint: the second waits for the
  first transaction and then answers from what it stored;
- a request that fails — refused (4xx) or an unavailable upstream (5xx) — rolls back with its
  claim, so nothing is stored and a retry tries again.

An answer can carry a secret (a new application's query code, 查询码), so it is stored sealed
with the keyring outside the database (``shared.keyring``, AES-GCM, bound to the caller and the
idempotency key: an answer moved to another row does not open).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, String, Table, delete, update
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import UTCDateTime, insert_ignore
from shared.errors import BadRequest, Conflict
from shared.keyring import Keyring
from shared.timeutil import BeijingTime

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,200}")

Effect = Callable[[], Awaitable[tuple[int, BaseModel]]]
"""The work of a request: its status code and its answer."""

SEALED = "sealed"
"""The one field of a stored body: the answer, sealed."""


class IdempotencyColumns(SQLModel):
    """The columns of a service's table of answers (each service declares the table itself,
    on its own metadata: ``class IdempotencyRecord(IntakeTable, IdempotencyColumns, table=True)``
    with its ``__tablename__`` and the unique constraint on ``key_id, idempotency_key``).

    Claimed at the start of the request and filled in the same transaction as the effect, so
    a record exists if and only if the effect does; the unique constraint settles concurrent
    retries."""

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_type=String(64), nullable=False)
    idempotency_key: str = Field(sa_type=String(200), nullable=False)
    request_hash: str = Field(sa_type=String(64), nullable=False)
    status_code: int = 0
    body: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    created_at: BeijingTime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise BadRequest(
            f"the {HEADER} is 1-200 visible ASCII characters", code="idempotency_key_invalid"
        )
    return key


async def required_idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Required: a retry with the same key returns the first answer "
            "(幂等键, 1–200 visible ASCII characters, e.g. a UUID)",
        ),
    ] = None,
) -> str:
    if key is None or not key.strip():
        raise BadRequest(
            f"this POST needs an {HEADER} header, e.g. a fresh UUID per operation",
            code="idempotency_key_required",
        )
    return _checked(key)


async def optional_idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Optional: a retry with the same key returns the first answer "
            "instead of doing the work twice (幂等键, 1–200 visible ASCII characters, e.g. a UUID)",
        ),
    ] = None,
) -> str | None:
    return None if key is None else _checked(key)


IdempotencyKey = Annotated[str, Depends(required_idempotency_key)]
OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]


def request_hash(method: str, target: str, body: bytes) -> str:
    """SHA-256 of method, request target and body: what an Idempotency-Key is bound to."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), target.encode("latin-1"), body):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def fingerprint(method: str, target: str, content: Any) -> str:
    """:func:`request_hash` of a parsed body (JSON-able), so the same request in another
    encoding (key order, spacing, a multipart boundary) is still the same request."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return request_hash(method, target, canonical.encode())


async def insert_once(session: AsyncSession, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """Insert a row unless a unique constraint already holds one like it; True if inserted.

    ``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike. On PostgreSQL a
    concurrent transaction inserting the same key makes this wait for its end, so the answer is
    always about committed data.
    """
    connection = await session.connection()
    table = _table(model)
    statement = insert_ignore(table, connection.dialect).values(**values)
    # A returned key is the proof of the insert (psycopg does not report a row count here).
    result = await session.exec(statement.returning(*table.primary_key.columns))
    return result.first() is not None


def _table(model: type[SQLModel]) -> Table:
    return model.metadata.tables[str(model.__tablename__)]


def _purpose(key_id: str, key: str) -> str:
    return f"idempotency:{key_id}:{key}"


def seal_answer(keyring: Keyring, key_id: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an answer: ``{"sealed": "hk1.<key id>.…"}``."""
    return {SEALED: keyring.seal(_purpose(key_id, key), json.dumps(body, ensure_ascii=False))}


def open_answer(keyring: Keyring, key_id: str, key: str, stored: dict[str, Any]) -> Any:
    return json.loads(keyring.open(_purpose(key_id, key), stored[SEALED]))


async def run_once(
    session: AsyncSession,
    model: type[SQLModel],
    *,
    key_id: str,
    key: str,
    request_hash: str,
    effect: Effect,
    now: datetime,
    keyring: Keyring,
) -> JSONResponse:
    """Run ``effect`` unless ``key`` has an answer already for ``key_id`` (who is calling: a
    portal key, ``user:<id>``); store its answer, sealed, in ``model``'s table."""
    table = _table(model)
    claimed = await insert_once(
        session,
        model,
        {
            "key_id": key_id,
            "idempotency_key": key,
            "request_hash": request_hash,
            "status_code": 0,
            "body": {},
            "created_at": now,
        },
    )
    mine = (table.c.key_id == key_id) & (table.c.idempotency_key == key)
    if not claimed:
        stored_hash, status_code, stored = (
            await session.exec(
                select(table.c.request_hash, table.c.status_code, table.c.body).where(mine)
            )
        ).one()
        if stored_hash != request_hash:
            raise IdempotencyKeyReused(
                f"this {HEADER} was used for a different request; use a new key"
            )
        return JSONResponse(
            open_answer(keyring, key_id, key, stored),
            status_code=status_code,
            headers={REPLAYED_HEADER: "true"},
        )
    status, answer = await effect()
    body = answer.model_dump(mode="json")
    await session.exec(
        update(table)
        .where(mine)
        .values(status_code=status, body=seal_answer(keyring, key_id, key, body))
    )
    return JSONResponse(body, status_code=status)


async def forget_old_answers(
    session: AsyncSession, model: type[SQLModel], now: datetime, retention_hours: float
) -> int:
    """Drop answers older than ``retention_hours``; a retry after that is a new request."""
    table = _table(model)
    cutoff = now - timedelta(hours=retention_hours)
    result = await session.exec(delete(table).where(table.c.created_at < cutoff))
    return int(result.rowcount)
