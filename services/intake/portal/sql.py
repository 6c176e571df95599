"""``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_once(session: AsyncSession, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """Insert a row unless a unique constraint already holds one like it; True if inserted.

    On PostgreSQL a concurrent transaction inserting the same key makes this wait for its end,
    so the answer is always about committed data.
    """
    connection = await session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = model.metadata.tables[str(model.__tablename__)]
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # A returned key is the proof of the insert (psycopg does not report a row count here).
    result = await session.exec(statement.returning(*table.primary_key.columns))
    return result.first() is not None
