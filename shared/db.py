"""Database plumbing: one engine per service, its own SQLite file or PostgreSQL schema.

Each service owns its tables. On SQLite every service has a file under ``var/``; on PostgreSQL
(``HUODIAN_DATABASE_URL``) every service has a schema of its own, selected with ``search_path``,
so the same models and migrations serve both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Row,
    Select,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import registry
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.settings import ServiceName, Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_registry() -> registry:
    """A mapper registry with its own metadata, so each service's tables stay apart."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


Conflict = Sequence[str | ColumnElement[Any]] | None
"""The unique index a conflict is about: its columns (names or columns), or None for any
unique constraint (``DO NOTHING`` only)."""

SetClause = Mapping[str, Any] | Callable[[ReadOnlyColumnCollection[str, Any]], Mapping[str, Any]]
"""What an upsert writes over the existing row: column → value, or a function of ``excluded``
(the row that was refused) giving them."""


def _dialect_insert(table: Any, dialect: Dialect) -> PostgresInsert | SqliteInsert:
    return postgres_insert(table) if dialect.name == "postgresql" else sqlite_insert(table)


def insert_ignore(
    table: Any,
    dialect: Dialect,
    *,
    conflict: Conflict = None,
    where: ColumnElement[bool] | None = None,
) -> PostgresInsert | SqliteInsert:
    """``INSERT … ON CONFLICT [(conflict) [WHERE where]] DO NOTHING`` on PostgreSQL and SQLite
    alike: a row like one already there is skipped. Chain ``.values(…)`` or
    ``.from_select(…)``; ``.returning(key)`` tells which rows went in (the async drivers do not
    all report a row count). ``where`` names a partial unique index's predicate. SQLite parses
    ``.from_select(query)`` only if ``query`` has a WHERE (``WHERE true`` will do)."""
    statement = _dialect_insert(table, dialect)
    if conflict is None:
        return statement.on_conflict_do_nothing()
    return statement.on_conflict_do_nothing(index_elements=list(conflict), index_where=where)


def upsert(
    table: Any,
    dialect: Dialect,
    *,
    conflict: Sequence[str | ColumnElement[Any]],
    set_: SetClause,
    where: ColumnElement[bool] | None = None,
) -> PostgresInsert | SqliteInsert:
    """``INSERT … ON CONFLICT (conflict) [WHERE where] DO UPDATE SET set_`` on PostgreSQL and
    SQLite alike: one statement inserts the row or updates the one already there, so concurrent
    writers cannot both insert. ``set_`` may be a function of ``excluded`` (the values the
    insert brought), e.g. ``lambda new: {"hits": table.c.hits + new.hits}``. Chain
    ``.values(…)``, and ``.returning(…)`` to read the row as it now is."""
    statement = _dialect_insert(table, dialect)
    values = set_(statement.excluded) if callable(set_) else set_
    return statement.on_conflict_do_update(
        index_elements=list(conflict), index_where=where, set_=dict(values)
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class DatabaseTarget:
    """Where one service's tables live."""

    service: ServiceName
    sync_url: str
    async_url: str
    schema: str | None
    pool_size: int = 10
    """Connections kept per process (PostgreSQL): see :class:`shared.settings.Settings`."""
    max_overflow: int = 20

    @property
    def is_sqlite(self) -> bool:
        return self.sync_url.startswith("sqlite")


def database_target(settings: Settings, service: ServiceName) -> DatabaseTarget:
    if not settings.database_url:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path = (settings.var_dir / f"{service}.db").resolve()
        return DatabaseTarget(
            service,
            f"sqlite:///{path}",
            f"sqlite+aiosqlite:///{path}",
            None,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_max_overflow,
        )
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("HUODIAN_DATABASE_URL must be a PostgreSQL URL (or unset for SQLite)")
    url = url.set(drivername="postgresql+psycopg")
    rendered = url.render_as_string(hide_password=False)
    return DatabaseTarget(
        service,
        rendered,
        rendered,
        f"{settings.db_schema_prefix}{service}",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
    )


def _engine_options(target: DatabaseTarget) -> dict[str, Any]:
    if target.schema:
        return {
            "connect_args": {"options": f"-c search_path={target.schema}"},
            "pool_pre_ping": True,
        }
    return {"connect_args": {"timeout": 30}}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sync_engine(target: DatabaseTarget, *, pre_ping: bool = True) -> Engine:
    """``pre_ping=False``: no ``SELECT 1`` before each checkout (the caller retries once on a
    dropped connection instead), for a path that must be as short as possible."""
    options = _engine_options(target)
    if not pre_ping:
        options.pop("pool_pre_ping", None)
    engine = create_engine(target.sync_url, **options)
    if target.is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_service_engine(target: DatabaseTarget) -> AsyncEngine:
    """The engine a service's requests share: the pool sized by the settings (SQLite files
    too). On PostgreSQL a checkout still pings (``SELECT 1``, a local round trip): after a
    database restart no request may fail with a 500 on a dead pooled connection, which is worth
    more than the round trip; connections are recycled after 30 minutes."""
    options = _engine_options(target)
    options |= {"pool_size": target.pool_size, "max_overflow": target.max_overflow}
    if target.schema:
        options["pool_recycle"] = 1800
    engine = create_async_engine(target.async_url, **options)
    if target.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def ensure_schema(target: DatabaseTarget) -> None:
    """Create the service's PostgreSQL schema if it is missing (no-op on SQLite)."""
    if not target.schema:
        return
    engine = create_engine(target.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"'))
    finally:
        engine.dispose()


@asynccontextmanager
async def session_scope(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One transaction per unit of work: commit on success, roll back on any error."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def enum_column(
    enum_type: type[StrEnum], *, nullable: bool = False, index: bool = False
) -> Column[Any]:
    """A column holding a ``StrEnum`` as its value in a VARCHAR, read back as the enum."""
    return Column(
        SAEnum(
            enum_type,
            native_enum=False,
            length=32,
            validate_strings=True,
            values_callable=lambda members: [m.value for m in members],
        ),
        nullable=nullable,
        index=index,
    )


# A select or row of any number of columns (SQLAlchemy 2.1 types them variadically).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]


async def fetch_all(session: AsyncSession, statement: AnySelect) -> Sequence[AnyRow]:
    """Rows of a SQLAlchemy ``select`` of many columns (sqlmodel's ``exec`` is typed for four)."""
    result = await session.exec(statement)  # type: ignore[call-overload]
    rows: Sequence[AnyRow] = result.all()
    return rows
