"""The two small apps the HTTP cases serve with uvicorn besides intake (``--factory``).

``bare_app``: the baseline, FastAPI ``async def`` with one validated INSERT through the
driver intake uses (psycopg on PostgreSQL, aiosqlite on SQLite), one pooled connection per
request, in one transaction (``engine.begin()``) — the least a web framework can do for a write;
and ``GET /applications/{id}``, one SELECT by primary key — the least it can do for a read.
``peers_stub``: what intake asks of the other services, answered at once — ledger's list of
valid sign-ins (``/directory/token-versions``, read at most every 5 s to check the clerk's
token; the one user is the bench clerk) and notify's ``POST /events`` (the outbox's
deliveries, acknowledged).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.clock import SYSTEM_CLOCK

BARE_TABLE = "bench_bare_applications"


class BareApplication(BaseModel):
    applicant_name: str = Field(min_length=1, max_length=200)
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$")
    site_address: str = Field(min_length=1, max_length=300)
    capacity_kw: Decimal = Field(gt=0)


def bare_app() -> FastAPI:
    url = os.environ["BENCH_BARE_URL"]
    schema = os.environ.get("BENCH_BARE_SCHEMA")
    engine = create_async_engine(
        url,
        # The pool intake gets from the bench (HUODIAN_DB_POOL_*): the same on both sides, and
        # within the max_connections of a PostgreSQL that other jobs share.
        pool_size=int(os.environ.get("HUODIAN_DB_POOL_SIZE", "10")),
        max_overflow=int(os.environ.get("HUODIAN_DB_POOL_MAX_OVERFLOW", "10")),
        connect_args={"options": f"-c search_path={schema}"} if schema else {},
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    insert = text(
        f"INSERT INTO {BARE_TABLE} (applicant_name, mobile, site_address, capacity_kw) "
        "VALUES (:applicant_name, :mobile, :site_address, CAST(:capacity_kw AS NUMERIC)) "
        "RETURNING id"
    )

    read_one = text(
        f"SELECT id, applicant_name, mobile, site_address, capacity_kw FROM {BARE_TABLE} "
        "WHERE id = :id"
    )

    @app.post("/applications", status_code=201)
    async def create(body: BareApplication) -> dict[str, int]:
        async with engine.begin() as conn:
            new_id = (await conn.execute(insert, body.model_dump(mode="json"))).scalar_one()
        return {"id": new_id}

    @app.get("/applications/{application_id}")
    async def read(application_id: int) -> dict[str, object]:
        async with engine.connect() as conn:
            row = (await conn.execute(read_one, {"id": application_id})).mappings().one()
        return dict(row) | {"capacity_kw": str(row["capacity_kw"])}

    return app


def peers_stub() -> FastAPI:
    app = FastAPI()

    @app.get("/directory/token-versions")
    async def versions() -> dict[str, list[dict[str, int]]]:
        return {"users": [{"id": 1, "version": 0}]}

    @app.post("/events")
    async def events(request: Request) -> dict[str, object]:
        event = await request.json()
        return {"id": event["id"], "duplicate": False, "received_at": SYSTEM_CLOCK.now()}

    return app
