"""Fixtures of the notify tests: the in-process app without its background worker and scheduler
(tests run rounds themselves, at chosen moments), a real SMTP server, HTTP sinks, and a delivery
kit bound to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from services.notify.delivery.channels import Channels
from services.notify.delivery.windows import DeliveryHours
from services.notify.delivery.worker import DeliveryRound, deliver_due
from services.notify.messages.service import NewMessage, enqueue
from services.notify.settings import NotifySettings
from shared.auth import Role
from shared.calendar import WorkingCalendar
from shared.clock import SYSTEM_CLOCK
from shared.db import session_scope
from shared.outbound import outbound_client
from tests.conftest import add_user, client_for, sign_in
from tests.notify.sinks import HttpSink, SmsGateway, SmtpSink

# A Tuesday morning in Beijing (2025-03-04 10:00 CST), a working day.
WORKDAY_MORNING = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
CALENDAR = WorkingCalendar.build(last_year=2028)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.close()


@dataclass
class Kit:
    """Deliver and enqueue against the test database with chosen settings."""

    engine: object
    sync_engine: object
    settings: NotifySettings
    channels: Channels
    hours: DeliveryHours

    async def deliver(self, now: datetime = WORKDAY_MORNING) -> DeliveryRound:
        return await deliver_due(
            self.engine,  # type: ignore[arg-type]
            self.sync_engine,  # type: ignore[arg-type]
            self.channels,
            self.settings,
            self.hours,
            now=now,
        )

    async def enqueue(self, *messages: NewMessage, now: datetime = WORKDAY_MORNING) -> int:
        async with session_scope(self.engine) as session:  # type: ignore[arg-type]
            return await enqueue(session, list(messages), hours=self.hours, now=now)


@pytest.fixture
async def make_kit(apps) -> AsyncIterator[object]:
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: object) -> Kit:
        settings = NotifySettings(**overrides)  # type: ignore[arg-type]
        client = httpx.AsyncClient(timeout=5)
        robots = outbound_client(apps.notify.state.outbound, httpx.Timeout(5))
        clients.extend((client, robots))
        return Kit(
            apps.notify.state.engine,
            apps.notify.state.delivery_engine,
            settings,
            Channels.build(settings, client, SYSTEM_CLOCK, outbound=robots),
            DeliveryHours.from_settings(settings, CALENDAR),
        )

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def notify_admin(apps) -> AsyncIterator[httpx.AsyncClient]:
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


def email(key: str, to: str = "head@example.cn", **extra: object) -> NewMessage:
    return NewMessage(
        dedup_key=key,
        kind="test",
        channel="email",  # type: ignore[arg-type]
        recipient=to,
        subject=f"测试 {key}",
        body=f"正文 {key}",
        **extra,  # type: ignore[arg-type]
    )


SMS_SECRET = "gw-secret"


@pytest.fixture
def gateway(http_sink: HttpSink) -> SmsGateway:
    stand_in = SmsGateway(SMS_SECRET)
    http_sink.responder = stand_in
    return stand_in


@pytest.fixture
def robot_sink():
    """A WeCom robot: ``answers`` maps a robot key to its errcode (0 when not listed)."""
    sink = HttpSink()
    sink.answers = {}  # type: ignore[attr-defined]

    def answer(request):
        code = sink.answers.get(request.query.get("key", [""])[0], 0)  # type: ignore[attr-defined]
        return 200, {"errcode": code, "errmsg": "内部信息", "msgid": f"msg-{len(sink.requests)}"}

    sink.responder = answer
    yield sink
    sink.close()
