"""Fixtures of the intake tests: staff clients with tokens as ledger would issue them, and a
server clock the test sets (intake stamps every transition itself, so time is the server's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from services.intake.jobs import restore_calendar
from services.intake.settings import IntakeSettings
from services.ledger.accounts.models import User
from services.ledger.accounts.service import get_user_by_name
from shared.auth import Role, issue_user_token
from shared.calendar import BEIJING
from shared.clock import SYSTEM_CLOCK, FixedClock
from shared.db import session_scope
from tests.conftest import PASSWORD_HASH, Apps, client_for

DONGYING_UNIT = "国网东营供电公司"
JINGYU_UNIT = "供电分公司"
TOKENS_ISSUED_AT = datetime(2099, 1, 1, tzinfo=UTC)


def beijing(text: str) -> datetime:
    """A Beijing wall-clock time such as "2025-09-30 10:00", as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING).astimezone(UTC)


class ServerClock(FixedClock):
    """The intake app's clock, set by the test."""

    def set(self, text: str) -> datetime:
        self.moment = beijing(text)
        return self.moment


async def staff_token(apps: Apps, username: str, role: Role, units: tuple[str, ...] = ()) -> str:
    """A token as ledger issues it, for a user that exists in ledger (so intake's revocation
    check knows it) and answers for ``units`` (the token's claim is what intake reads).

    It is issued as at the far end of the clock the tests move, so that it outlives every test.
    """
    async with session_scope(apps.ledger.state.engine) as session:
        user = await get_user_by_name(session, username)
        if user is None:
            user = User(
                username=username,
                display_name=username,
                role=role,
                password_hash=PASSWORD_HASH,
                created_at=SYSTEM_CLOCK.now(),
            )
            session.add(user)
            await session.flush()
        assert user.id is not None
        return issue_user_token(
            apps.ledger.state.settings,
            user_id=user.id,
            username=username,
            role=role,
            token_version=user.token_version,
            now=TOKENS_ISSUED_AT,
            units=units,
        )


@pytest.fixture
def intake(apps: Apps) -> Iterator[FastAPI]:
    """The intake app, its clock, calendar and settings restored after the test."""
    app = apps.intake
    calendar = app.state.calendar
    yield app
    app.state.clock = SYSTEM_CLOCK
    app.state.calendar = calendar
    app.state.intake_settings = IntakeSettings()


@pytest.fixture
def clock(intake: FastAPI) -> ServerClock:
    server_clock = ServerClock(beijing("2025-09-30 10:00"))
    intake.state.clock = server_clock
    return server_clock


async def _client(
    intake: FastAPI, apps: Apps, username: str, role: Role, units: tuple[str, ...]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(intake, await staff_token(apps, username, role, units)) as client:
        yield client


@pytest.fixture
async def intake_admin(intake: FastAPI, apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(intake, apps, "admin", Role.admin, ()):
        yield client


@pytest.fixture
async def clerk(intake: FastAPI, apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    """A clerk (受理人员) of the Dongying power company."""
    async for client in _client(intake, apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,)):
        yield client


@pytest.fixture
async def other_clerk(intake: FastAPI, apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    """A clerk of the Jingyu branch, who must not touch Dongying's applications."""
    async for client in _client(intake, apps, "clerk-li", Role.clerk, (JINGYU_UNIT,)):
        yield client


@pytest.fixture
async def supervisor(intake: FastAPI, apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    """A supervisor (监管督办人员) at Dongying's development and reform commission."""
    async for client in _client(intake, apps, "sup-zhao", Role.supervisor, ("市发展改革委",)):
        yield client


@pytest.fixture
async def anonymous(intake: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(intake) as client:
        yield client


def valid_resident_id(first17: str = "37050219800101123") -> str:
    from services.intake.rules.identity import resident_id_check_character

    return first17 + resident_id_check_character(first17)


def valid_credit_code(first17: str = "91370500MA3C12345") -> str:
    from services.intake.rules.identity import credit_code_check_character

    return first17 + credit_code_check_character(first17)


def application_body(**changes: object) -> dict[str, object]:
    """A 10 kV single-supply application to the Dongying power company, at the counter."""
    body: dict[str, object] = {
        "jurisdiction": "dongying",
        "unit": DONGYING_UNIT,
        "channel": "counter",
        "customer_type": "hv10_single",
        "applicant": {
            "name": "东营市某某化工有限公司",
            "id_kind": "credit_code",
            "id_number": valid_credit_code(),
            "mobile": "13800138000",
            "email": "contact@example.cn",
        },
        "site": {"address": "东营区府前大街 1 号", "area_class": "urban"},
        "capacity_kw": "800",
    }
    body.update(changes)
    return body


async def create(client: httpx.AsyncClient, **changes: object) -> dict[str, object]:
    response = await client.post("/applications", json=application_body(**changes))
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def create_rural_home(client: httpx.AsyncClient, **site: str) -> str:
    """A 10 kW residential connection in a village (王五), accepted now; its number."""
    person = {
        "name": "王五",
        "id_kind": "resident_id",
        "id_number": valid_resident_id(),
        "mobile": "13700000000",
    }
    created = await create(
        client,
        customer_type="residential",
        applicant=person,
        capacity_kw="10",
        site={"address": "垦利区某村", "area_class": "rural", **site},
    )
    number: str = created["application"]["number"]  # type: ignore[index]
    return number


async def restart_as_worker(app: FastAPI) -> None:
    """What the start-up of an intake process that runs the background jobs does (the
    in-process apps run none, so their own start-up only attaches the calendar)."""
    config: IntakeSettings = app.state.intake_settings
    app.state.intake_settings = config.model_copy(update={"background_jobs": True})
    try:
        await restore_calendar(app)
    finally:
        app.state.intake_settings = config
