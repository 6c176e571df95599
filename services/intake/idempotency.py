"""The first answer to each ``Idempotency-Key`` (幂等键), for the portal's calls and the counter's
alike (:mod:`shared.idempotency` runs the effect once)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime


class IdempotencyRecord(IntakeTable, table=True):
    """The first answer to a POST with a given ``Idempotency-Key``, per portal key (``key_id``) or
    counter clerk (``user:<id>``).

    Claimed at the start of the request and filled in the same transaction as the effect, so
    it exists if and only if the effect does; a unique constraint settles concurrent retries.
    """

    __tablename__ = "portal_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("key_id", "idempotency_key", name="uq_portal_idempotency_keys_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int = 0
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
