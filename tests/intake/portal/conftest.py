"""Fixtures of the portal tests: a portal key, a client that signs with it at the server's time,
and the e-license stand-in reached in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Generator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.intake.portal.models import PortalScope
from services.intake.portal.service import add_portal_client
from services.intake.rules.signing import sign_request
from services.intake.standins.elicense import ELicenseClient, create_standin_app
from shared.clock import SYSTEM_CLOCK, FixedClock
from shared.db import session_scope
from tests.intake.conftest import ServerClock, beijing

ELICENSE = "http://elicense.test"
COMPANY = {"credit_code": "91370502MA3C8T1Q2E", "name": "东营市获电测试电器有限公司"}
COMPANY_PROPERTY = "鲁（2021）东营市不动产权第0012345号"
PERSON = {"id_number": "370502198503150028", "name": "测试用户甲"}
PERSON_PROPERTY = "鲁（2020）东营市不动产权第0054321号"
PROJECT_CODE = "2025-370502-44-03-012345"


@dataclass(frozen=True)
class PortalKey:
    key_id: str
    secret: str


class ClockSigner(httpx.Auth):
    """Signs each request like :class:`services.intake.rules.signing.PortalAuth`, but at the
    time of the intake app's clock (tests move that clock)."""

    requires_request_body = True

    def __init__(self, key: PortalKey, clock: ServerClock) -> None:
        self.key, self.clock = key, clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_request(
                key_id=self.key.key_id,
                secret=self.key.secret,
                method=request.method,
                target=request.url.raw_path.decode("ascii"),
                body=request.content,
                timestamp=int(self.clock.now().timestamp()),
            )
        )
        yield request


async def new_portal_key(
    intake: FastAPI, name: str, scopes: Collection[PortalScope] = tuple(PortalScope)
) -> PortalKey:
    async with session_scope(intake.state.engine) as session:
        client, secret = await add_portal_client(
            session,
            name,
            scopes,
            now=SYSTEM_CLOCK.now(),
            keyring=intake.state.settings.keyring(),
        )
        return PortalKey(client.key_id, secret)


@pytest.fixture
async def portal_key(intake: FastAPI) -> PortalKey:
    """A key with every scope (the portal tests play all three platforms with it)."""
    return await new_portal_key(intake, "东营市政务服务平台")


def signed_client(intake: FastAPI, key: PortalKey, clock: ServerClock) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=intake),
        base_url="http://intake.test",
        auth=ClockSigner(key, clock),
    )


@pytest.fixture
async def portal(
    intake: FastAPI, portal_key: PortalKey, clock: ServerClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The government portal (政务服务平台), signing with its key."""
    async with signed_client(intake, portal_key, clock) as client:
        yield client


@pytest.fixture
def elicense(intake: FastAPI) -> Iterator[None]:
    """The intake app checks licences against the stand-in, whose today is 2025-09-30."""
    standin = create_standin_app(clock=FixedClock(beijing("2025-09-30 12:00")))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=standin))
    before = intake.state.elicense
    intake.state.elicense = ELicenseClient(ELICENSE, http)
    yield
    intake.state.elicense = before


async def post(
    client: httpx.AsyncClient, path: str, body: dict[str, object], key: str | None = None
) -> httpx.Response:
    """A portal POST with an Idempotency-Key (a fresh one unless given)."""
    return await client.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def project_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "project_code": PROJECT_CODE,
        "project_name": "东营区测试电器产业园一期",
        "builder_name": COMPANY["name"],
        "builder_credit_code": COMPANY["credit_code"],
        "site_address": "东营区测试路1号",
        "expected_load_kw": "800",
        "expected_connection_date": "2026-03-01",
    }
    body.update(changes)
    return body


def portal_application_body(**changes: object) -> dict[str, object]:
    """A 10 kV single-supply application of the test company, submitted on the portal."""
    body: dict[str, object] = {
        "region_code": "370502",
        "customer_type": "hv10_single",
        "applicant": {
            "name": COMPANY["name"],
            "id_kind": "credit_code",
            "id_number": COMPANY["credit_code"],
            "mobile": "13800138000",
            "email": "power@example.cn",
        },
        "site": {"address": "东营区测试路1号", "area_class": "urban"},
        "capacity_kw": "800",
        "property_certificate": {"number": COMPANY_PROPERTY},
    }
    body.update(changes)
    return body
