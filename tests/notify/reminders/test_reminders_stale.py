"""Stale-update escalation through notify (更新超期督办): the run records the ledger's steps, queues
one message per step and recipient in working time, dead letters for units with nobody to tell,
and never queues a step twice, even when the ledger did not hear that it was sent."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from services.ledger.escalations.models import StaleEscalation
from services.ledger.ledgers.service import NewItem, create_ledger
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import add_user, client_for, sign_in
from tests.ledger.escalations.test_stale_escalations import (
    CODE,
    LOADED_AT,
    NO_HEAD,
    NO_LEADER,
    feed,
    ledger,
)

__all__ = ["ledger"]  # the fixture, used by name


@pytest.fixture
async def operator(apps, ledger):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


async def run(operator, as_of: str) -> dict:
    response = await operator.post("/reminders/stale-items/run", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    return response.json()


async def messages(operator, **params: str) -> list[dict]:
    found = await operator.get(
        "/messages", params={"kind": "stale_escalation", "limit": 100, **params}
    )
    return found.json()["items"]


class TestSentUp:
    async def test_one_message_per_unit_to_the_ancestors_head(self, apps, operator):
        # Neither county company has a head: 各供电企业's (power, of the fixture) is told, once
        # for each, and each message says for which unit.
        rows = [
            NewItem(
                1,
                "压缩办电时间",
                "县区配电网改造。",
                "国网广饶县供电公司、国网利津县供电公司",
                "2025年12月底前",
            )
        ]
        async with session_scope(apps.ledger.state.engine) as session:
            await create_ledger(
                session, code="up-2025", name="上报测试台账", rows=rows, now=LOADED_AT
            )
        await run(operator, "2025-10-14")
        ours = sorted(
            (m["recipient"], m["body"].splitlines()[1:3])
            for m in await messages(operator, state="queued")
            if "up-2025" in m["subject"]
        )
        assert ours == [
            (
                "power@example.cn",
                [
                    "责任单位：国网利津县供电公司",
                    "（国网利津县供电公司无人可通知，转其上级单位各供电企业）",
                ],
            ),
            (
                "power@example.cn",
                [
                    "责任单位：国网广饶县供电公司",
                    "（国网广饶县供电公司无人可通知，转其上级单位各供电企业）",
                ],
            ),
        ]


class TestStaleEscalationRun:
    async def test_heads_then_supervising_leaders(self, operator):
        holiday = await run(operator, "2025-10-06")  # National Day
        assert (holiday["working_day"], holiday["steps"]) == (False, 0)
        assert (await run(operator, "2025-10-13"))["steps"] == 0

        first = await run(operator, "2025-10-14")
        assert first == {
            "as_of": "2025-10-14",
            "working_day": True,
            "steps": 3,
            "recorded": 3,
            "acknowledged": 3,
            "reminders_due": 4,
            "queued": 2,
            "dead": 2,
            "already_queued": 0,
            "unresolved": [
                {
                    "recipient": "unit:各电力主管部门",
                    "error": NO_HEAD.format("各电力主管部门"),
                    "reminders": 1,
                },
                {
                    "recipient": "unit:市发展改革委",
                    "error": NO_HEAD.format("市发展改革委"),
                    "reminders": 1,
                },
            ],
        }
        again = await run(operator, "2025-10-14")
        assert (again["steps"], again["reminders_due"]) == (0, 0)

        queued = await messages(operator, state="queued")
        assert {m["recipient"] for m in queued} == {"power@example.cn"}
        assert {m["window"] for m in queued} == {"working_hours"}
        assert {m["subject"] for m in queued} == {
            f"【更新超期】{CODE} 第1项已10个工作日未更新进展",
            f"【更新超期】{CODE} 第2项已10个工作日未更新进展",
        }
        assert "最后进展：2025-09-24（至今10个工作日未更新）" in queued[0]["body"]

        second = await run(operator, "2025-10-21")
        assert (second["steps"], second["queued"], second["dead"]) == (3, 1, 2)
        assert {u["error"] for u in second["unresolved"]} == {
            NO_LEADER.format("各供电企业"),
            NO_LEADER.format("各电力主管部门"),
        }
        to_leader = await messages(operator, recipient="lead@example.cn")
        assert [m["subject"] for m in to_leader] == [
            f"【督办升级】{CODE} 第2项已15个工作日未更新进展"
        ]
        assert to_leader[0]["body"].startswith("drc_lead：\n以下事项已提醒责任单位负责人")

    async def test_a_lost_acknowledgement_queues_nothing_twice(self, apps, operator):
        first = await run(operator, "2025-10-14")
        assert first["queued"] == 2
        # The ledger never heard that they were sent: it offers them again.
        async with session_scope(apps.ledger.state.engine) as session:
            await session.exec(update(StaleEscalation).values(queued_at=None))
        again = await run(operator, "2025-10-15")
        assert (again["steps"], again["recorded"], again["acknowledged"]) == (3, 0, 3)
        assert (again["queued"], again["dead"], again["already_queued"]) == (0, 0, 4)
        assert len(await messages(operator)) == 4

    async def test_steps_recorded_before_notify_asked_are_sent(self, apps, settings, operator):
        recorded = await feed(apps, settings, "2025-10-14")
        assert recorded["recorded"] == 3
        body = await run(operator, "2025-10-15")
        assert (body["steps"], body["recorded"], body["queued"]) == (3, 0, 2)
