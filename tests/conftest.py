"""Fixtures: a real database per test run (SQLite files, or PostgreSQL schemas when
HUODIAN_TEST_DATABASE_URL is set), migrated by Alembic, emptied after every test; the three apps
reached in-process through httpx.ASGITransport; a signed-in client per role; and time frozen.

Time: every test but the end-to-end ones (real processes, which no in-process freeze reaches)
runs with the clock frozen at :data:`FROZEN_AT` by ``time-machine``, unless it moves the clock
itself (the ``frozen`` fixture, or a clock it hands to the code under test). So nothing a test
asserts depends on the hour or the day the suite runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.app import create_app as create_intake
from services.intake.policies.service import forget_versions_read
from services.intake.settings import IntakeSettings
from services.ledger.accounts.models import UserCreate
from services.ledger.accounts.service import create_user, get_user_by_name, token_for
from services.ledger.app import create_app as create_ledger
from services.ledger.ledgers.models import Unit
from services.ledger.reference.seed import seed_reference_ledgers
from services.notify.app import create_app as create_notify
from services.notify.settings import NotifySettings
from shared.auth import Role, hash_password, issue_service_token
from shared.clock import SYSTEM_CLOCK
from shared.db import database_target, session_scope
from shared.http import ServiceClient
from shared.migrations import upgrade
from shared.settings import SERVICES, ServiceName, Settings

PG_URL = os.environ.get("HUODIAN_TEST_DATABASE_URL")
PASSWORD = "correct-horse-9"

# A Thursday in a confirmed calendar year, mid-morning in Beijing (10:00 +08:00), inside every
# delivery window: the "now" of every in-process test unless it says otherwise.
FROZEN_AT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(request: pytest.FixtureRequest) -> Iterator[time_machine.Coordinates | None]:
    """Freeze time at FROZEN_AT; a test moves it with ``frozen.move_to(...)`` or ``.shift()``."""
    if request.node.get_closest_marker("e2e"):
        yield None
        return
    with time_machine.travel(FROZEN_AT, tick=False) as traveller:
        yield traveller


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var_dir = tmp_path_factory.mktemp("var")
    prefix = f"t{os.getpid()}_"
    settings = Settings(
        database_url=PG_URL,
        db_schema_prefix=prefix,
        var_dir=var_dir,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        intake_url="http://intake.test",
        ledger_url="http://ledger.test",
        notify_url="http://notify.test",
        # The channel and webhook tests post to local sinks; the default refuses loopback.
        outbound_allow=["127.0.0.1"],
    )
    for service in SERVICES:
        upgrade(service, settings)
    yield settings
    if PG_URL:
        engine = create_engine(database_target(settings, "ledger").sync_url)
        with engine.begin() as conn:
            schemas = conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"),
                {"prefix": prefix},
            ).scalars()
            for schema in list(schemas):
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@dataclass
class Apps:
    intake: FastAPI
    ledger: FastAPI
    notify: FastAPI

    def app(self, service: ServiceName) -> FastAPI:
        return {"intake": self.intake, "ledger": self.ledger, "notify": self.notify}[service]

    def client_for(self, settings: Settings, caller: ServiceName) -> ServiceClient:
        """A service client that reaches the three in-process apps (for apps a test makes)."""
        mounts = {f"http://{s}.test": httpx.ASGITransport(app=self.app(s)) for s in SERVICES}
        return ServiceClient(settings, caller, httpx.AsyncClient(mounts=mounts))


@pytest.fixture(scope="session")
async def apps(settings: Settings) -> AsyncIterator[Apps]:
    # The in-process apps run no background work behind the tests' backs: tests call it.
    apps = Apps(
        create_intake(settings, IntakeSettings(background_jobs=False)),
        create_ledger(settings),
        create_notify(settings, NotifySettings(worker_enabled=False, scheduler_enabled=False)),
    )
    async with AsyncExitStack() as stack:
        for service in SERVICES:
            app = apps.app(service)
            await stack.enter_async_context(app.router.lifespan_context(app))
            await app.state.client.aclose()
            app.state.client = apps.client_for(settings, service)
        yield apps


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "apps" not in request.fixturenames:
        return
    apps: Apps = request.getfixturevalue("apps")
    for service in ("intake", "notify"):
        apps.app(service).state.token_versions.forget()  # user ids start again at 1
    forget_versions_read()  # the policy versions added by the test are gone with its tables
    for service in SERVICES:
        app = apps.app(service)
        tables = import_module(f"services.{service}.schema").metadata.sorted_tables
        async with app.state.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await _empty_postgresql(conn, [t.name for t in tables])
            else:
                for table in reversed(tables):
                    await conn.execute(table.delete())


async def _empty_postgresql(conn: AsyncConnection, tables: list[str]) -> None:
    """Only the tables the test wrote to are truncated, and the sequences it drew from are
    restarted: a TRUNCATE of every table after every test cost ~85 ms (file work for each
    table), most of the PostgreSQL run's teardown."""
    if not tables:
        return
    written = " UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables
    )
    names = ", ".join(f'"{name}"' for name in (await conn.execute(text(written))).scalars())
    if names:
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    # A sequence advances also for rows rolled back: every one drawn from starts again at 1.
    await conn.execute(
        text(
            "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
            "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )
    )


@pytest.fixture
async def ledger_session(apps: Apps) -> AsyncIterator[AsyncSession]:
    async with session_scope(apps.ledger.state.engine) as session:
        yield session


@pytest.fixture
async def seeded(apps: Apps) -> None:
    async with session_scope(apps.ledger.state.engine) as session:
        await seed_reference_ledgers(session, now=SYSTEM_CLOCK.now())


def client_for(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    )


PASSWORD_HASH = hash_password(PASSWORD)


async def add_user(
    apps: Apps, username: str, role: Role, units: list[str] | None = None, email: str | None = None
) -> None:
    """Create a user through the service, with the password hashed once per run (argon2 is slow
    on purpose); a user of that name made earlier in the test (e.g. by intake's fixtures) stays.
    Units the ledger does not have yet (no reference ledger loaded) are added first."""
    async with session_scope(apps.ledger.state.engine) as session:
        existing = await get_user_by_name(session, username)
        if existing is not None:
            assert existing.role is role, f"{username} exists already as {existing.role}"
            return
        known = set(
            (await session.exec(select(Unit.name).where(col(Unit.name).in_(units or [])))).all()
        )
        session.add_all(Unit(name=name) for name in dict.fromkeys(units or []) if name not in known)
        await session.flush()
        user = await create_user(
            session,
            UserCreate(
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                units=units or [],
                email=email,
            ),
            now=SYSTEM_CLOCK.now(),
            password_hash=PASSWORD_HASH,
        )
        assert user.id is not None


async def sign_in(apps: Apps, username: str) -> str:
    """A token as POST /auth/token would issue it (that route has its own tests)."""
    async with session_scope(apps.ledger.state.engine) as session:
        user = await get_user_by_name(session, username)
        assert user is not None
        assert user.id is not None
        return await token_for(session, apps.ledger.state.settings, user, now=SYSTEM_CLOCK.now())


@pytest.fixture
async def admin(apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.ledger, await sign_in(apps, "admin")) as client:
        yield client


@pytest.fixture
async def viewer(apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    await add_user(apps, "viewer", Role.viewer)
    async with client_for(apps.ledger, await sign_in(apps, "viewer")) as client:
        yield client


@pytest.fixture
async def power_head(apps: Apps, seeded: None) -> AsyncIterator[httpx.AsyncClient]:
    """Head of 各供电企业 (the power-supply companies)."""
    await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
    async with client_for(apps.ledger, await sign_in(apps, "power")) as client:
        yield client


@pytest.fixture
async def regulator_head(apps: Apps, seeded: None) -> AsyncIterator[httpx.AsyncClient]:
    """Head of 各电力主管部门 (the energy regulators)."""
    await add_user(apps, "regulator", Role.dept_head, ["各电力主管部门"], "reg@example.cn")
    async with client_for(apps.ledger, await sign_in(apps, "regulator")) as client:
        yield client


def service_client(
    apps: Apps, settings: Settings, target: ServiceName, caller: ServiceName
) -> httpx.AsyncClient:
    return client_for(apps.app(target), issue_service_token(settings, caller, SYSTEM_CLOCK.now()))
