"""The first answer to each status update posted with an ``Idempotency-Key`` (幂等键).

``shared.idempotency`` keeps the answers here, per user (``user:<id>``), in the database, so a
retry reaching another replica gets the same answer and no second update.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field

from services.ledger.db import LedgerTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime

RETENTION_HOURS = 24.0
"""How long an answer is kept: a retry after a day is a new update."""


class IdempotencyRecord(LedgerTable, table=True):
    """Claimed at the start of the request and filled in the same transaction as the update, so
    it exists if and only if the update does; a unique constraint settles concurrent retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency_keys_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int = 0
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
