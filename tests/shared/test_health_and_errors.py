import pytest

from shared.migrations import head_revision
from tests.conftest import client_for


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
class TestProbes:
    async def test_healthz(self, apps, service):
        async with client_for(apps.app(service)) as client:
            response = await client.get("/healthz")
        assert response.json() == {"status": "ok", "service": service}

    async def test_readyz_at_head(self, apps, service):
        async with client_for(apps.app(service)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["revision"] == head_revision(service)

    async def test_openapi_has_chinese_descriptions(self, apps, service):
        async with client_for(apps.app(service)) as client:
            spec = (await client.get("/openapi.json")).json()
        assert "获电" in spec["info"]["title"]
        summaries = [op["summary"] for path in spec["paths"].values() for op in path.values()]
        assert any("就绪检查" in s for s in summaries)

    async def test_unknown_path_is_problem_json(self, apps, service):
        async with client_for(apps.app(service)) as client:
            response = await client.get("/no/such/thing")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


async def test_readyz_reports_pending_migrations(apps, settings):
    from shared.migrations import downgrade, upgrade

    downgrade("intake", settings, "base")
    try:
        async with client_for(apps.intake) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["code"] == "migrations_pending"
    finally:
        upgrade("intake", settings)


async def test_malformed_json_is_422_not_500(apps):
    async with client_for(apps.ledger) as client:
        response = await client.post(
            "/auth/token", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


async def test_a_deadline_past_the_calendar_is_422_not_500():
    from datetime import date

    import httpx
    from fastapi import FastAPI

    from shared.calendar import WorkingCalendar
    from shared.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    calendar = WorkingCalendar.build(first_year=2025, last_year=2026)

    @app.get("/due")
    async def due() -> str:
        return calendar.add_working_days(date(2026, 12, 30), 10).due.isoformat()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/due")
    assert response.status_code == 422
    assert response.json()["code"] == "date_outside_calendar"
    assert "2026-12-31" in response.json()["detail"]


async def test_a_pool_with_no_free_connection_is_503_not_500(tmp_path):
    """Under overload every pooled connection stays busy past the pool's timeout: the caller
    gets 503 database_busy with Retry-After, and nothing is written."""
    import httpx
    from fastapi import FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    from shared.errors import install_error_handlers

    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}",
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/rows")
    async def add_row() -> str:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        return "ok"

    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    held = await engine.connect()  # the pool's only connection, kept busy
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/rows")
        assert response.status_code == 503
        assert response.json()["code"] == "database_busy"
        assert response.headers["retry-after"] == "5"
        assert (await held.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await held.close()
        await engine.dispose()
