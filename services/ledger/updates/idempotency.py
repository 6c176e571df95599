"""The first answer to each status update posted with an ``Idempotency-Key`` (幂等键).

``shared.idempotency`` keeps the answers here, per user (``user:<id>``), in the database, so a
retry reaching another replica gets the same answer and no second update.
"""

from __future__ import annotations

from sqlalchemy import UniqueConstraint

from services.ledger.db import LedgerTable
from shared.idempotency import IdempotencyColumns

RETENTION_HOURS = 24.0
"""How long an answer is kept: a retry after a day is a new update."""


class IdempotencyRecord(LedgerTable, IdempotencyColumns, table=True):
    """A user's status update and its first answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency_keys_key"),
    )
