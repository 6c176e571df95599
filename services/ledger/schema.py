"""Every table of the ledger service, imported so that its metadata is complete."""

from services.ledger.accounts.models import User, UserUnit
from services.ledger.db import LedgerTable
from services.ledger.escalations.models import StaleEscalation
from services.ledger.ledgers.importing import ImportGrant
from services.ledger.ledgers.models import Item, ItemUnit, Ledger, Unit
from services.ledger.updates.idempotency import IdempotencyRecord
from services.ledger.updates.models import Evidence, StatusUpdate
from shared.ratelimit import rate_limit_table

metadata = LedgerTable.metadata
# Sign-in attempts counted across processes (shared.ratelimit).
rate_limits = rate_limit_table(metadata)
__all__ = [
    "Evidence",
    "IdempotencyRecord",
    "ImportGrant",
    "Item",
    "ItemUnit",
    "Ledger",
    "StaleEscalation",
    "StatusUpdate",
    "Unit",
    "User",
    "UserUnit",
    "metadata",
    "rate_limits",
]
