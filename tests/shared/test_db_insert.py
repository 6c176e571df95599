"""``insert_ignore`` and ``upsert``: the one INSERT … ON CONFLICT of every service, on SQLite
and (with HUODIAN_TEST_DATABASE_URL) PostgreSQL, against a table of the test's own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import make_url

from shared.db import insert_ignore, upsert

PG_URL = os.environ.get("HUODIAN_TEST_DATABASE_URL")
SCHEMA = f"t{os.getpid()}_db_insert"

metadata = MetaData()
counters = Table(
    "counters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False, unique=True),
    Column("hits", Integer, nullable=False),
    Column("note", String(40), nullable=False, server_default=""),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    elif PG_URL:
        url = make_url(PG_URL).set(drivername="postgresql+psycopg")
        engine = create_engine(url, connect_args={"options": f"-c search_path={SCHEMA}"})
        with engine.begin() as setup:
            setup.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            setup.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    else:
        pytest.skip("HUODIAN_TEST_DATABASE_URL is not set")
    metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if request.param == "postgresql":
            with engine.begin() as teardown:
                teardown.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        engine.dispose()


def _rows(conn: Connection) -> list[tuple[str, int, str]]:
    query = select(counters.c.key, counters.c.hits, counters.c.note).order_by(counters.c.key)
    return [(r.key, r.hits, r.note) for r in conn.execute(query)]


class TestInsertIgnore:
    def test_a_new_row_goes_in_and_is_returned(self, conn: Connection) -> None:
        statement = insert_ignore(counters, conn.dialect, conflict=["key"])
        result = conn.execute(statement.values(key="a", hits=1).returning(counters.c.key))
        assert result.scalars().all() == ["a"]
        assert _rows(conn) == [("a", 1, "")]

    def test_a_duplicate_is_skipped_and_returns_nothing(self, conn: Connection) -> None:
        statement = insert_ignore(counters, conn.dialect, conflict=[counters.c.key])
        conn.execute(statement.values(key="a", hits=1))
        again = conn.execute(statement.values(key="a", hits=9).returning(counters.c.id))
        assert again.first() is None
        assert _rows(conn) == [("a", 1, "")]

    def test_many_rows_only_the_new_ones_go_in(self, conn: Connection) -> None:
        statement = insert_ignore(counters, conn.dialect, conflict=["key"])
        conn.execute(statement.values(key="b", hits=1))
        rows = [{"key": k, "hits": 5} for k in ("a", "b", "c")]
        inserted = conn.execute(statement.values(rows).returning(counters.c.key)).scalars()
        assert sorted(inserted) == ["a", "c"]
        assert _rows(conn) == [("a", 5, ""), ("b", 1, ""), ("c", 5, "")]

    def test_without_a_target_any_unique_constraint_counts(self, conn: Connection) -> None:
        statement = insert_ignore(counters, conn.dialect)
        conn.execute(statement.values(id=1, key="a", hits=1))
        conn.execute(statement.values(id=1, key="other", hits=2))  # same primary key
        conn.execute(statement.values(id=2, key="a", hits=3))  # same key
        assert _rows(conn) == [("a", 1, "")]

    def test_from_select(self, conn: Connection) -> None:
        statement = insert_ignore(counters, conn.dialect, conflict=["key"])
        conn.execute(statement.values([{"key": "a", "hits": 1}, {"key": "a2", "hits": 0}]))
        # SQLite reads ``SELECT … ON CONFLICT`` only with a WHERE in the select.
        source = select(counters.c.key + "2", counters.c.hits + 1).where(counters.c.hits > -1)
        conn.execute(statement.from_select(["key", "hits"], source))
        assert _rows(conn) == [("a", 1, ""), ("a2", 0, ""), ("a22", 1, "")]


class TestUpsert:
    def test_inserts_then_updates_from_excluded(self, conn: Connection) -> None:
        statement = upsert(
            counters,
            conn.dialect,
            conflict=["key"],
            set_=lambda new: {"hits": counters.c.hits + new.hits},
        ).returning(counters.c.hits)
        assert conn.execute(statement.values(key="a", hits=2)).scalar_one() == 2
        assert conn.execute(statement.values(key="a", hits=3)).scalar_one() == 5
        assert _rows(conn) == [("a", 5, "")]

    def test_a_fixed_set_clause(self, conn: Connection) -> None:
        statement = upsert(counters, conn.dialect, conflict=[counters.c.key], set_={"note": "x"})
        conn.execute(statement.values(key="a", hits=1))
        conn.execute(statement.values(key="a", hits=7))
        assert _rows(conn) == [("a", 1, "x")]

    def test_many_rows_in_one_statement(self, conn: Connection) -> None:
        statement = upsert(
            counters, conn.dialect, conflict=["key"], set_=lambda new: {"hits": new.hits}
        )
        conn.execute(statement.values(key="a", hits=1))
        conn.execute(statement, [{"key": "a", "hits": 4}, {"key": "b", "hits": 6}])
        assert _rows(conn) == [("a", 4, ""), ("b", 6, "")]
