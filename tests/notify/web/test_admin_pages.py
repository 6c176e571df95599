"""The notify administrator's pages (通知管理网页): the queue by channel and state, the channels'
health (熔断), dead letters with resend, and the message templates with a preview."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from services.notify.delivery.models import ChannelHealth
from services.notify.messages.models import Channel, Message, MessageState
from shared.auth import Role
from shared.db import session_scope
from shared.web.session import COOKIE, csrf_token
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in
from tests.notify.outages.test_outages import customers, planned  # noqa: F401 (a fixture)


@pytest.fixture
async def tokens(apps):
    await add_user(apps, "admin", Role.admin, [])
    await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
    return {"admin": await sign_in(apps, "admin"), "dispatcher": await sign_in(apps, "diaodu")}


def browser(apps, token: str | None):
    client = client_for(apps.notify)
    if token:
        client.cookies.set(COOKIE, token)
    return client


def table(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"')[1].split("</table>")[0]


async def test_queue_dead_letters_and_resend(apps, tokens, customers):  # noqa: F811
    async with client_for(apps.notify, tokens["dispatcher"]) as api:
        outage = (await api.post("/outages", json=planned(10))).json()
        assert (await api.post(f"/outages/{outage['id']}/announce", json={})).status_code == 200
    async with session_scope(apps.notify.state.engine) as session:
        dead = await session.exec(
            update(Message)
            .where(col(Message.channel) == Channel.sms)
            .values(state=MessageState.dead, last_error="网关拒收")
            .returning(col(Message.id))
        )
        dead_ids = sorted(dead.scalars().all())
        session.add(
            ChannelHealth(
                channel=Channel.wecom,
                down_since=FROZEN_AT,
                failures=3,
                next_probe_at=FROZEN_AT + timedelta(minutes=5),
                last_error="超时",
            )
        )
    assert len(dead_ids) >= 2
    settings = apps.notify.state.settings
    csrf = csrf_token(settings, tokens["admin"])
    async with browser(apps, tokens["admin"]) as page:
        shown = await page.get("/ui/delivery")
        assert shown.status_code == 200, shown.text
        queue = table(shown.text, "deliveries")
        sms = queue.split('<tr data-channel="sms">')[1].split("</tr>")[0]
        assert f'data-state="dead">{len(dead_ids)}<' in sms
        wecom = table(shown.text, "channels").split('<tr data-channel="wecom">')[1]
        assert "已熔断" in wecom.split("</tr>")[0]
        listed = re.findall(r'<tr data-message="(\d+)">', shown.text)
        assert listed == [str(i) for i in dead_ids]

        one = await page.post("/ui/delivery/resend", data={"csrf": csrf, "message_id": dead_ids[0]})
        assert one.status_code == 303, one.text
        assert one.headers["location"].endswith("resent=1")
        again = await page.post(
            "/ui/delivery/resend", data={"csrf": csrf, "message_id": dead_ids[0]}
        )
        assert again.status_code == 409  # queued now, not dead
        assert 'id="error"' in again.text
        forged = await page.post("/ui/delivery/resend", data={"csrf": "x"})
        assert forged.status_code == 403
        rest = await page.post("/ui/delivery/resend", data={"csrf": csrf})
        assert rest.headers["location"].endswith(f"resent={len(dead_ids) - 1}")
    async with session_scope(apps.notify.state.engine) as session:
        states = (
            await session.exec(
                Message.__table__.select().where(col(Message.id).in_(dead_ids))  # type: ignore[attr-defined]
            )
        ).all()
    assert {row.state for row in states} == {MessageState.queued}


async def test_templates_with_a_preview(apps, tokens):
    async with browser(apps, tokens["admin"]) as page:
        listed = await page.get("/ui/templates")
        assert listed.status_code == 200
        assert '<tr data-kind="outage.announced">' in listed.text
        shown = await page.get(
            "/ui/templates", params={"kind": "outage.announced", "channel": "sms"}
        )
        assert shown.status_code == 200
        body = re.search(r'id="preview-body"[^>]*>(.*?)</td>', shown.text, re.S).group(1)
        assert "停电" in body
        assert "{{" not in body  # rendered with the sample data
        unknown = await page.get("/ui/templates", params={"kind": "nothing"})
        assert unknown.status_code == 404


async def test_only_administrators(apps, tokens):
    async with browser(apps, tokens["dispatcher"]) as page:
        for url in ("/ui/delivery", "/ui/templates"):
            assert (await page.get(url)).status_code == 403
        csrf = csrf_token(apps.notify.state.settings, tokens["dispatcher"])
        assert (await page.post("/ui/delivery/resend", data={"csrf": csrf})).status_code == 403
    async with browser(apps, None) as anonymous:
        assert (await anonymous.get("/ui/delivery")).status_code == 303
