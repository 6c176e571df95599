"""Fallback channels through the real fan-out (备用渠道): only the preferred channel is queued,
the next one only when the previous is dead, each rendered with its own channel's template, once
per (event, recipient, channel) also when the worker dies between the death and the fallback."""

import html
from datetime import timedelta

import pytest
from sqlmodel import col, select

from services.notify.delivery import outcomes
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.outages.fanout import fan_out
from services.notify.templates.service import templates
from shared.db import session_scope
from shared.web.session import COOKIE
from tests.conftest import client_for
from tests.notify.conftest import WORKDAY_MORNING
from tests.notify.delivery.test_fallbacks import (
    count_messages,
    kit_for,
    message_of,
    set_fallbacks,
    subscriber,
)

KIND = "outage.started"
PREFIX = "outage:9:u1:"
DATA = templates().sample(KIND)


async def fan_out_started(apps) -> int:
    async with session_scope(apps.notify.state.engine) as session:
        return await fan_out(
            session,
            kind=KIND,
            data=DATA,
            feeders=["10kV东城线"],
            areas=[],
            dedup_prefix=PREFIX,
            window=DeliveryWindow.anytime,
            due=WORKDAY_MORNING,
            now=WORKDAY_MORNING,
            outage_id=9,
        )


def robot(sink, key: str) -> str:
    return f"{sink.url}/cgi-bin/webhook/send?key={key}"


@pytest.fixture
def told_by_dead_robot(apps, robot_sink, notify_admin):
    """Fans the outage out to a new subscriber whose WeCom robot refuses for good (errcode
    93000), with ``fallbacks`` set for its message type; returns the subscriber's id."""
    robot_sink.answers["GONE"] = 93000

    async def subscribe_and_fan_out(account: str, fallbacks: dict[str, str], **contacts) -> int:
        await set_fallbacks(notify_admin, KIND, **fallbacks)
        sid = await subscriber(
            notify_admin, account, wecom_webhook=robot(robot_sink, "GONE"), **contacts
        )
        await fan_out_started(apps)
        return sid

    return subscribe_and_fan_out


async def chain(admin, apps, sid: int, channel: str) -> list[dict]:
    first = await message_of(apps, f"{PREFIX}{sid}:{channel}")
    shown = await admin.get(f"/messages/{first.id}")
    assert shown.status_code == 200, shown.text
    links: list[dict] = shown.json()["chain"]
    return links


class TestPreferredChannelOnly:
    async def test_with_a_chain_only_its_first_channel_is_queued(
        self, apps, make_kit, smtp, http_sink, gateway, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        await set_fallbacks(notify_admin, KIND, wecom="sms", sms="email")
        every = await subscriber(
            notify_admin,
            "0546000100",
            mobile="13900000100",
            email="a@example.cn",
            wecom_webhook=robot(robot_sink, "OK"),
            app_webhook=f"{http_sink.url}/app",
        )
        no_robot = await subscriber(
            notify_admin, "0546000101", mobile="13900000101", email="b@example.cn"
        )
        email_only = await subscriber(notify_admin, "0546000102", email="c@example.cn")
        assert await fan_out_started(apps) == 4
        # The app webhook is outside the chain: it is queued as before.
        assert await count_messages(apps, every) == {"wecom": 1, "webhook": 1}
        assert await count_messages(apps, no_robot) == {"sms": 1}
        assert await count_messages(apps, email_only) == {"email": 1}
        assert await fan_out_started(apps) == 0  # once per event, recipient, channel

        for minute in range(3):  # no fallback when the preferred channel succeeds
            await kit.deliver(WORKDAY_MORNING + timedelta(minutes=minute))
        assert (await message_of(apps, f"{PREFIX}{every}:wecom")).state is MessageState.sent
        assert await count_messages(apps, every) == {"wecom": 1, "webhook": 1}
        assert [m["mobile"] for m in gateway.taken] == ["13900000101"]
        assert [to for to, _ in smtp.mails()] == [["c@example.cn"]]

    async def test_without_fallbacks_every_address_is_queued(self, apps, notify_admin):
        sid = await subscriber(
            notify_admin, "0546000103", mobile="13900000103", email="d@example.cn"
        )
        assert await fan_out_started(apps) == 2
        assert await count_messages(apps, sid) == {"sms": 1, "email": 1}


class TestChainOfThree:
    async def test_dead_wecom_then_dead_sms_then_email_each_in_its_own_template(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin, told_by_dead_robot
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        gateway.empty.add("13900000110")  # 空号: refused for good
        sid = await told_by_dead_robot(
            "0546000110",
            {"wecom": "sms", "sms": "email"},
            mobile="13900000110",
            email="e@example.cn",
        )
        assert await count_messages(apps, sid) == {"wecom": 1}
        for minute in range(3):
            await kit.deliver(WORKDAY_MORNING + timedelta(minutes=minute))
        assert await count_messages(apps, sid) == {"wecom": 1, "sms": 1, "email": 1}

        by_sms = await message_of(apps, f"{PREFIX}{sid}:sms")
        by_email = await message_of(apps, f"{PREFIX}{sid}:email")
        sms_text = templates().render(KIND, Channel.sms, DATA)
        email_text = templates().render(KIND, Channel.email, DATA)
        assert sms_text.body != email_text.body
        assert (by_sms.subject, by_sms.body) == (sms_text.subject, sms_text.body)
        assert (by_email.subject, by_email.body) == (email_text.subject, email_text.body)
        assert by_email.subject  # email has a subject
        ((to, mail),) = smtp.mails()
        assert to == ["e@example.cn"]
        assert mail["Subject"] == email_text.subject

        links = await chain(notify_admin, apps, sid, "wecom")
        assert [(link["channel"], link["state"]) for link in links] == [
            ("wecom", "dead"),
            ("sms", "dead"),
            ("email", "sent"),
        ]
        steps = [link["attempts"][-1] for link in links]
        assert [(s["outcome"], s["fallback"]) for s in steps] == [
            ("dead", "queued"),
            ("dead", "queued"),
            ("sent", None),
        ]
        assert all(s["attempted_at"].endswith("+08:00") for s in steps)

        # The same chain on the administrator's page, from its last message.
        token = notify_admin.headers["authorization"].removeprefix("Bearer ")
        async with client_for(apps.notify) as page:
            page.cookies.set(COOKIE, token)
            shown = await page.get(f"/ui/messages/{by_email.id}")
            missing = await page.get("/ui/messages/999999")
        assert shown.status_code == 200, shown.text
        rows = shown.text.split('id="chain"')[1].split("</table>")[0].split("<tr data-message=")[1:]
        assert [row.split('"')[1] for row in rows] == [
            str(links[0]["message_id"]),
            str(by_sms.id),
            str(by_email.id),
        ]
        assert ["死信" in rows[0], "死信" in rows[1], "已发送" in rows[2]] == [True] * 3
        assert "已转备用渠道" in rows[0]
        assert steps[2]["attempted_at"] in rows[2]
        assert html.escape(mail["Message-ID"]) in rows[2]  # the email's receipt
        assert missing.status_code == 404
        assert "无法打开此消息" in missing.text

    async def test_a_channel_without_address_is_passed_over_and_the_biz_id_shown(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin, told_by_dead_robot
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        # No DingTalk robot: WeCom is this subscriber's preferred channel, SMS its fallback.
        sid = await told_by_dead_robot(
            "0546000111", {"dingtalk": "wecom", "wecom": "sms"}, mobile="13900000111"
        )
        for minute in range(2):
            await kit.deliver(WORKDAY_MORNING + timedelta(minutes=minute))
        links = await chain(notify_admin, apps, sid, "wecom")
        assert [(link["channel"], link["state"]) for link in links] == [
            ("wecom", "dead"),
            ("sms", "sent"),
        ]
        assert links[1]["receipt"] == "BIZ000001"
        assert links[1]["attempts"][0]["receipt"] == "BIZ000001"


class TestNoFallbackWhileDown:
    async def test_a_down_gateway_holds_and_its_own_refusal_falls_back(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink, max_attempts=2)
        await set_fallbacks(notify_admin, KIND, sms="email")
        sid = await subscriber(
            notify_admin, "0546000120", mobile="13900000120", email="f@example.cn"
        )
        await fan_out_started(apps)
        assert await count_messages(apps, sid) == {"sms": 1}
        gateway.down = True
        for seconds in (0, 30, 90, 210, 450, 900):  # down far longer than max_attempts tries
            await kit.deliver(WORKDAY_MORNING + timedelta(seconds=seconds))
        held = await message_of(apps, f"{PREFIX}{sid}:sms")
        assert (held.state, held.attempts) == (MessageState.failed, 0)
        assert await count_messages(apps, sid) == {"sms": 1}
        assert smtp.mails() == []

        gateway.down = False
        gateway.empty.add("13900000120")
        for minutes in (20, 30, 40):
            await kit.deliver(WORKDAY_MORNING + timedelta(minutes=minutes))
        assert (await message_of(apps, f"{PREFIX}{sid}:sms")).state is MessageState.dead
        assert await count_messages(apps, sid) == {"sms": 1, "email": 1}
        assert [to for to, _ in smtp.mails()] == [["f@example.cn"]]


class TestCrashBetweenDeathAndFallback:
    async def test_the_fallback_is_neither_lost_nor_doubled(
        self, apps, make_kit, smtp, http_sink, told_by_dead_robot, monkeypatch
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        sid = await told_by_dead_robot("0546000130", {"wecom": "email"}, email="g@example.cn")
        queue_fallback = outcomes.queue_fallback

        async def dies(session, message, hours, *, now):
            await queue_fallback(session, message, hours, now=now)  # queued, not committed
            raise RuntimeError("the worker died before the commit")

        monkeypatch.setattr(outcomes, "queue_fallback", dies)
        with pytest.raises(RuntimeError, match="died before the commit"):
            await kit.deliver(WORKDAY_MORNING)
        wecom = await message_of(apps, f"{PREFIX}{sid}:wecom")
        assert wecom.state is MessageState.sending  # the death was not recorded either
        assert await count_messages(apps, sid) == {"wecom": 1}

        monkeypatch.setattr(outcomes, "queue_fallback", queue_fallback)
        await kit.deliver(WORKDAY_MORNING + timedelta(seconds=30))  # still leased
        assert await count_messages(apps, sid) == {"wecom": 1}
        for seconds in (61, 120, 180):  # the lease ran out: sent again, dead, fallen back
            await kit.deliver(WORKDAY_MORNING + timedelta(seconds=seconds))
        assert await count_messages(apps, sid) == {"wecom": 1, "email": 1}
        assert [to for to, _ in smtp.mails()] == [["g@example.cn"]]
        async with session_scope(apps.notify.state.engine) as session:
            dead = (
                await session.exec(select(Message).where(col(Message.subscriber_id) == sid))
            ).all()
        assert sorted(m.state.value for m in dead) == ["dead", "sent"]
