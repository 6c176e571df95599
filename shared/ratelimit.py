"""Rate limits that hold across workers and processes (限流), counted in the service's database.

A limit is a number of hits per fixed window (``Limit("login-account", 5, 15 min)``), counted
per subject (a username, a client address, an application number) in the ``rate_limits`` table
that each service using limits has in its own schema (:func:`rate_limit_table`). One upsert
per hit, in a transaction of its own, so that a hit counts even when the request that made it
fails and rolls back — a wrong password is exactly such a request.

In-process memory would not do: with two workers behind nginx an attacker gets twice the
tries, and a restart forgets them. ``limits``/``slowapi`` keep counters in memory, Redis or
Memcached only; Huodian runs on PostgreSQL or SQLite alone, so the counters live there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import Column, Integer, MetaData, String, Table, and_, case, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UTCDateTime, upsert
from shared.errors import HuodianError

RATE_LIMITS_TABLE = "rate_limits"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def rate_limit_table(metadata: MetaData) -> Table:
    """The counters' table in a service's metadata (its migration creates it)."""
    return Table(
        RATE_LIMITS_TABLE,
        metadata,
        Column("key", String(300), primary_key=True),
        Column("window_start", UTCDateTime, nullable=False),
        Column("hits", Integer, nullable=False),
    )


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits per ``window`` and subject."""

    name: str
    limit: int
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        seconds = self.window.total_seconds()
        return _EPOCH + timedelta(seconds=((now - _EPOCH).total_seconds() // seconds) * seconds)

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the current window ends."""
        end = self.window_start(now) + self.window
        return max(1, math.ceil((end - now).total_seconds()))

    def key(self, subject: str) -> str:
        return f"{self.name}:{subject}"[:300]


class RateLimited(HuodianError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


Check = tuple[Limit, str]
"""A limit and the subject it is counted for: ``(PER_ADDRESS, "10.0.0.7")``."""


async def hit(engine: AsyncEngine, table: Table, now: datetime, *checks: Check) -> list[int]:
    """Count one hit for each subject, in one transaction committed at once; returns the hits
    each now has in its current window."""
    counted: list[int] = []
    async with engine.begin() as conn:
        for limit, subject in checks:
            start = limit.window_start(now)
            statement = (
                upsert(
                    table,
                    conn.dialect,
                    conflict=[table.c.key],
                    set_={
                        "window_start": start,
                        # A hit in a new window starts counting again.
                        "hits": case((table.c.window_start != start, 1), else_=table.c.hits + 1),
                    },
                )
                .values(key=limit.key(subject), window_start=start, hits=1)
                .returning(table.c.hits)
            )
            counted.append((await conn.execute(statement)).scalar_one())
    return counted


async def claim(engine: AsyncEngine, table: Table, now: datetime, *checks: Check) -> Limit | None:
    """Take one try for each subject, atomically: the hit is recorded and its new count read in
    one upsert (``INSERT … ON CONFLICT … RETURNING``), so N concurrent tries get exactly
    ``limit`` chances between them — reading the count first and recording the hit afterwards
    would let every concurrent try pass the read. Returns the first limit the try went past
    (the try is refused; its hit stays counted), or None: the try may go ahead. A try that
    turns out right gives its hit back with :func:`release`."""
    counts = await hit(engine, table, now, *checks)
    return next(
        (limit for (limit, _), n in zip(checks, counts, strict=True) if n > limit.limit), None
    )


async def release(engine: AsyncEngine, table: Table, now: datetime, *checks: Check) -> None:
    """Give back a hit taken by :func:`claim` in the current window (a right password or
    query code does not count as a wrong one)."""
    if not checks:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(
                or_(
                    *(
                        and_(
                            table.c.key == limit.key(subject),
                            table.c.window_start == limit.window_start(now),
                        )
                        for limit, subject in checks
                    )
                ),
                table.c.hits > 0,
            )
            .values(hits=table.c.hits - 1)
        )


def refuse(limit: Limit, now: datetime, detail: str) -> RateLimited:
    return RateLimited(detail, retry_after=limit.retry_after(now))


def client_address(request: Request) -> str:
    """Who is calling, for per-address limits: the peer's address.

    Behind a reverse proxy the peer is the proxy; uvicorn's ``--proxy-headers`` with
    ``--forwarded-allow-ips`` (the proxy's address) makes it the client's again.
    """
    return request.client.host if request.client else "unknown"
