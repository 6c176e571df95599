"""The ledger service's table base: its own metadata, migrated by its own Alembic history."""

from sqlmodel import SQLModel

from shared.db import new_registry


class LedgerTable(SQLModel, registry=new_registry()):
    pass
