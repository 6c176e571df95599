"""The first answer to each ``Idempotency-Key`` (幂等键), for the portal's calls and the counter's
alike (:mod:`shared.idempotency` runs the effect once)."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint

from services.intake.db import IntakeTable
from shared.idempotency import IdempotencyColumns


class IdempotencyRecord(IntakeTable, IdempotencyColumns, table=True):
    """The first answer to a POST with a given ``Idempotency-Key``, per portal key (``key_id``) or
    counter clerk (``user:<id>``)."""

    __tablename__ = "portal_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("key_id", "idempotency_key", name="uq_portal_idempotency_keys_key"),
    )
