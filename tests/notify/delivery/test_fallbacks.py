"""Receipts per attempt (回执) and fallback channels (备用渠道): a real SMTP server (aiosmtpd), the
SMS gateway stand-in and a robot sink; the chain of attempts as GET /messages/{id} shows it."""

from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from services.notify.delivery.channels import Receipt, smtp_receipt
from services.notify.delivery.fallbacks import STAFF_KINDS, fallback_key
from services.notify.delivery.models import DeliveryAttempt
from services.notify.messages.models import Channel, Message, MessageState
from services.notify.messages.service import NewMessage
from services.notify.templates.service import templates
from shared.db import session_scope
from tests.conftest import FROZEN_AT
from tests.notify.conftest import SMS_SECRET as SECRET
from tests.notify.conftest import WORKDAY_MORNING
from tests.notify.sinks import HttpSink, SmtpSink

KIND = "outage.started"
# The fan-out's dedup keys: change, subscriber, channel.
PREFIX = "outage:7:started:"


def kit_for(make_kit, smtp: SmtpSink, http_sink: HttpSink, **extra):
    return make_kit(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        sms_gateway_url=f"{http_sink.url}/sms/send",
        sms_secret=SECRET,
        **extra,
    )


async def subscriber(admin, account: str, **contacts) -> int:
    created = await admin.post(
        "/subscribers",
        json={
            "account_number": account,
            "name": "李四",
            "feeder": "10kV东城线",
            "transformer_area": "东城1号台区",
            "area_class": "urban",
            **contacts,
        },
    )
    assert created.status_code == 201, created.text
    sid: int = created.json()["id"]
    return sid


def wecom(sid: int, url: str, kind: str = KIND) -> NewMessage:
    return NewMessage(
        dedup_key=f"{PREFIX}{sid}:wecom",
        kind=kind,
        channel=Channel.wecom,
        recipient=url,
        subject="【停电通知】",
        body="10kV东城线 2025-03-04 10:00 起停电",
        subscriber_id=sid,
        outage_id=7,
    )


def sms(sid: int, mobile: str) -> NewMessage:
    return NewMessage(
        dedup_key=f"{PREFIX}{sid}:sms",
        kind=KIND,
        channel=Channel.sms,
        recipient=mobile,
        subject="",
        body="停电通知",
        subscriber_id=sid,
    )


async def message_of(apps, key: str) -> Message:
    async with session_scope(apps.notify.state.engine) as session:
        found = await session.exec(select(Message).where(col(Message.dedup_key) == key))
        return found.one()


async def count_messages(apps, sid: int) -> dict[str, int]:
    async with session_scope(apps.notify.state.engine) as session:
        rows = await session.exec(
            select(Message.channel, func.count())
            .where(col(Message.subscriber_id) == sid)
            .group_by(col(Message.channel))
        )
        return {Channel(ch).value: n for ch, n in rows.all()}


async def set_fallbacks(admin, kind: str = KIND, **fallbacks: str) -> None:
    response = await admin.put(f"/delivery/fallbacks/{kind}", json={"fallbacks": fallbacks})
    assert response.status_code == 200, response.text


class TestReceipts:
    async def test_the_sms_biz_id_is_kept_and_shown(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        sid = await subscriber(notify_admin, "0546000001", mobile="13812345678")
        await kit.enqueue(sms(sid, "13812345678"))
        assert (await kit.deliver()).sent == 1
        sent = await message_of(apps, f"{PREFIX}{sid}:sms")
        assert sent.receipt == "BIZ000001"

        listed = (await notify_admin.get("/messages", params={"subscriber_id": sid})).json()
        assert [m["receipt"] for m in listed["items"]] == ["BIZ000001"]
        detail = (await notify_admin.get(f"/messages/{sent.id}")).json()
        assert detail["receipt"] == "BIZ000001"
        (link,) = detail["chain"]
        (attempt,) = link["attempts"]
        assert attempt["outcome"] == "sent"
        assert (attempt["receipt"], attempt["provider_code"]) == ("BIZ000001", "OK")
        assert attempt["attempted_at"] == "2025-03-04T10:00:00+08:00"
        assert attempt["fallback"] is None

    async def test_the_smtp_queue_id_of_the_250_reply_or_else_the_message_id(
        self, apps, make_kit, smtp, http_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        sid = await subscriber(notify_admin, "0546000002", email="li@example.cn")

        def mail(key: str) -> NewMessage:
            return NewMessage(
                dedup_key=key,
                kind=KIND,
                channel=Channel.email,
                recipient="li@example.cn",
                subject="停电通知",
                body="正文",
                subscriber_id=sid,
            )

        smtp.data_reply = "250 2.0.0 Ok: queued as 4ZQ7xk1Lm9"
        await kit.enqueue(mail("postfix"))
        assert (await kit.deliver()).sent == 1
        assert (await message_of(apps, "postfix")).receipt == "4ZQ7xk1Lm9"

        smtp.data_reply = "250 Message accepted for delivery"
        await kit.enqueue(mail("plain"))
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(seconds=1))).sent == 1
        plain = await message_of(apps, "plain")
        (_, received) = smtp.mails()[-1]
        assert plain.receipt == received["Message-ID"]
        detail = (await notify_admin.get(f"/messages/{plain.id}")).json()
        (attempt,) = detail["chain"][0]["attempts"]
        assert attempt["provider_code"] == "250 Message accepted for delivery"

    def test_queue_ids_of_common_servers(self):
        assert smtp_receipt(250, b"2.0.0 Ok: queued as 4ZQ7xk", "<m@x>") == Receipt(
            "4ZQ7xk", "250 2.0.0 Ok: queued as 4ZQ7xk"
        )
        assert smtp_receipt(250, b"OK id=1tAbCd-0003Xy-2Q", "<m@x>").id == "1tAbCd-0003Xy-2Q"
        assert smtp_receipt(250, b"Queued mail for delivery", "<m@x>").id == "<m@x>"
        assert Receipt.of("a\x00b" * 100, None) == Receipt(("a b" * 100)[:200], None)

    async def test_robot_msgid_and_errcodes_per_attempt(
        self, apps, make_kit, smtp, http_sink, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        sid = await subscriber(notify_admin, "0546000003", mobile="13812345679")
        robot_sink.answers["BUSY"] = 45009  # rate limited: retried
        await kit.enqueue(wecom(sid, f"{robot_sink.url}/cgi-bin/webhook/send?key=BUSY"))
        assert (await kit.deliver()).failed == 1
        robot_sink.answers["BUSY"] = 0
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(minutes=5))).sent == 1

        message = await message_of(apps, f"{PREFIX}{sid}:wecom")
        assert message.receipt == "msg-2"
        detail = (await notify_admin.get(f"/messages/{message.id}")).json()
        attempts = detail["chain"][0]["attempts"]
        assert [
            (a["attempt"], a["outcome"], a["provider_code"], a["receipt"]) for a in attempts
        ] == [
            (1, "failed", "errcode 45009", "msg-1"),
            (2, "sent", "errcode 0", "msg-2"),
        ]
        assert "内部信息" not in str(detail)  # the robot's errmsg is never kept
        assert attempts[0]["error"] == "WeCom robot refused: errcode 45009"

    async def test_a_held_attempt_is_in_the_log_without_using_an_attempt(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        gateway.down = True
        sid = await subscriber(notify_admin, "0546000004", mobile="13812345670")
        key = f"{PREFIX}{sid}:sms"
        await kit.enqueue(sms(sid, "13812345670"))
        assert (await kit.deliver()).held == 1
        gateway.down = False
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(seconds=30))).sent == 1
        message = await message_of(apps, key)
        detail = (await notify_admin.get(f"/messages/{message.id}")).json()
        attempts = detail["chain"][0]["attempts"]
        assert [(a["attempt"], a["outcome"], a["provider_code"]) for a in attempts] == [
            (1, "held", "HTTP 503"),
            (1, "sent", "OK"),
        ]
        assert message.attempts == 1


class TestFallbackSettings:
    async def test_set_read_replace_and_clear(self, notify_admin):
        assert (await notify_admin.get("/delivery/fallbacks")).json() == []
        await set_fallbacks(notify_admin, wecom="sms", sms="email")
        listed = (await notify_admin.get("/delivery/fallbacks")).json()
        assert [(f["kind"], f["fallbacks"], f["updated_by"]) for f in listed] == [
            (KIND, {"sms": "email", "wecom": "sms"}, "admin")
        ]
        await set_fallbacks(notify_admin, dingtalk="email")
        listed = (await notify_admin.get("/delivery/fallbacks")).json()
        assert listed[0]["fallbacks"] == {"dingtalk": "email"}
        await set_fallbacks(notify_admin)
        assert (await notify_admin.get("/delivery/fallbacks")).json() == []

    @pytest.mark.parametrize(
        "fallbacks",
        [
            {"wecom": "sms", "sms": "email", "email": "wecom"},
            {"sms": "sms"},
            {"dingtalk": "email", "wecom": "sms", "sms": "wecom"},
        ],
    )
    async def test_a_cycle_is_refused(self, notify_admin, fallbacks):
        await set_fallbacks(notify_admin, webhook="email")
        refused = await notify_admin.put(
            f"/delivery/fallbacks/{KIND}", json={"fallbacks": fallbacks}
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "fallback_cycle"
        # Nothing half-written: the earlier setting stands.
        listed = (await notify_admin.get("/delivery/fallbacks")).json()
        assert listed[0]["fallbacks"] == {"webhook": "email"}

    async def test_unknown_channels_and_types_are_refused(self, notify_admin):
        bad = await notify_admin.put(
            f"/delivery/fallbacks/{KIND}", json={"fallbacks": {"wecom": "fax"}}
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "validation_failed"
        worse = await notify_admin.put(
            f"/delivery/fallbacks/{KIND}", json={"fallbacks": {"pager": "sms"}}
        )
        assert worse.status_code == 422
        unknown = await notify_admin.put(
            "/delivery/fallbacks/no.such.kind", json={"fallbacks": {"wecom": "sms"}}
        )
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "message_kind_not_found"

    async def test_staff_types_go_by_email_only(self, notify_admin):
        assert STAFF_KINDS <= set(templates().kinds())
        for kind in sorted(STAFF_KINDS):
            refused = await notify_admin.put(
                f"/delivery/fallbacks/{kind}", json={"fallbacks": {"email": "sms"}}
            )
            assert refused.status_code == 422, kind
            assert refused.json()["code"] == "fallback_staff_email_only"
            cleared = await notify_admin.put(f"/delivery/fallbacks/{kind}", json={"fallbacks": {}})
            assert cleared.status_code == 200
        assert (await notify_admin.get("/delivery/fallbacks")).json() == []

    def test_fallback_keys_are_the_fan_out_keys_of_the_channel(self):
        assert fallback_key("outage:7:started:12:wecom", Channel.wecom, Channel.sms) == (
            "outage:7:started:12:sms"
        )
        assert fallback_key("x:1", Channel.email, Channel.sms) == "x:1:fallback:sms"
        long = fallback_key("k" * 199 + ":email", Channel.email, Channel.sms)
        assert len(long) == 200


class TestFallbackDelivery:
    async def test_wecom_then_sms_then_email_each_once(
        self, apps, make_kit, smtp, http_sink, gateway, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        await set_fallbacks(notify_admin, wecom="sms", sms="email")
        sid = await subscriber(
            notify_admin, "0546000010", mobile="13900000000", email="wang@example.cn"
        )
        gateway.empty.add("13900000000")  # 空号: the gateway refuses it for good
        robot_sink.answers["GONE"] = 93000  # the robot's webhook is invalid: final
        await kit.enqueue(wecom(sid, f"{robot_sink.url}/cgi-bin/webhook/send?key=GONE"))

        for minute in range(3):
            await kit.deliver(WORKDAY_MORNING + timedelta(minutes=minute))
        first = await message_of(apps, f"{PREFIX}{sid}:wecom")
        by_sms = await message_of(apps, f"{PREFIX}{sid}:sms")
        by_email = await message_of(apps, f"{PREFIX}{sid}:email")
        assert (first.state, by_sms.state, by_email.state) == (
            MessageState.dead,
            MessageState.dead,
            MessageState.sent,
        )
        assert (by_sms.recipient, by_email.recipient) == ("13900000000", "wang@example.cn")
        assert by_email.body == first.body
        assert by_email.outage_id == 7
        ((to, mail),) = smtp.mails()
        assert to == ["wang@example.cn"]
        assert by_email.receipt == mail["Message-ID"]

        for shown in (first, by_sms, by_email):
            chain = (await notify_admin.get(f"/messages/{shown.id}")).json()["chain"]
            assert [(link["message_id"], link["channel"], link["state"]) for link in chain] == [
                (first.id, "wecom", "dead"),
                (by_sms.id, "sms", "dead"),
                (by_email.id, "email", "sent"),
            ]
        steps = [link["attempts"][-1] for link in chain]
        assert [(s["outcome"], s["fallback"], s["fallback_message_id"]) for s in steps] == [
            ("dead", "queued", by_sms.id),
            ("dead", "queued", by_email.id),
            ("sent", None, None),
        ]
        assert (steps[0]["provider_code"], steps[1]["provider_code"]) == (
            "errcode 93000",
            "INVALID_MOBILE",
        )

        # Re-sent and dead again: the fallback is not queued twice.
        assert (await notify_admin.post(f"/messages/{first.id}/resend")).status_code == 200
        await kit.deliver(FROZEN_AT)  # re-sent at the app's clock
        assert await count_messages(apps, sid) == {"wecom": 1, "sms": 1, "email": 1}
        chain = (await notify_admin.get(f"/messages/{first.id}")).json()["chain"]
        again = chain[0]["attempts"][-1]
        assert (again["fallback"], again["fallback_message_id"]) == ("existing", by_sms.id)
        assert len(smtp.mails()) == 1

    async def test_a_channel_that_is_down_does_not_fall_back(
        self, apps, make_kit, smtp, http_sink, gateway, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink, max_attempts=2)
        await set_fallbacks(notify_admin, sms="email")
        sid = await subscriber(
            notify_admin, "0546000011", mobile="13812340000", email="zhao@example.cn"
        )
        gateway.down = True
        await kit.enqueue(sms(sid, "13812340000"))
        for seconds in (0, 30, 90, 210, 450):  # down longer than max_attempts tries
            await kit.deliver(WORKDAY_MORNING + timedelta(seconds=seconds))
        assert await count_messages(apps, sid) == {"sms": 1}
        held = await message_of(apps, f"{PREFIX}{sid}:sms")
        assert (held.state, held.attempts) == (MessageState.failed, 0)
        assert smtp.mails() == []

    async def test_own_failures_beyond_max_attempts_fall_back(
        self, apps, make_kit, smtp, http_sink, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink, max_attempts=2)
        await set_fallbacks(notify_admin, wecom="email")
        sid = await subscriber(notify_admin, "0546000012", email="qian@example.cn")
        robot_sink.answers["BUSY"] = 45009
        await kit.enqueue(wecom(sid, f"{robot_sink.url}/cgi-bin/webhook/send?key=BUSY"))
        for seconds in (0, 30, 60):
            await kit.deliver(WORKDAY_MORNING + timedelta(seconds=seconds))
        assert (await message_of(apps, f"{PREFIX}{sid}:wecom")).state is MessageState.dead
        assert (await message_of(apps, f"{PREFIX}{sid}:email")).state is MessageState.sent
        assert [to for to, _ in smtp.mails()] == [["qian@example.cn"]]

    async def test_no_address_no_rule_or_already_there(
        self, apps, make_kit, smtp, http_sink, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        await set_fallbacks(notify_admin, wecom="sms")
        robot_sink.answers["GONE"] = 93000
        url = f"{robot_sink.url}/cgi-bin/webhook/send?key=GONE"
        no_mobile = await subscriber(notify_admin, "0546000013", email="sun@example.cn")
        told = await subscriber(notify_admin, "0546000014", mobile="13812341111")
        # The fan-out queued this event for ``told`` on SMS too: that one is the fallback.
        sms = NewMessage(
            dedup_key=f"{PREFIX}{told}:sms",
            kind=KIND,
            channel=Channel.sms,
            recipient="13812341111",
            subject="",
            body="停电通知",
            subscriber_id=told,
            state=MessageState.sent,
        )
        await kit.enqueue(
            wecom(no_mobile, url),
            wecom(told, url),
            wecom(told, url, kind="outage.restored").model_copy(
                update={"dedup_key": "outage:7:restored:x:wecom"}
            ),
            sms,
        )
        await kit.deliver()

        async def last_step(key: str) -> tuple[str, int | None]:
            async with session_scope(apps.notify.state.engine) as session:
                message = (
                    await session.exec(select(Message).where(col(Message.dedup_key) == key))
                ).one()
                attempt = (
                    await session.exec(
                        select(DeliveryAttempt).where(col(DeliveryAttempt.message_id) == message.id)
                    )
                ).one()
            assert attempt.outcome == "dead"
            return attempt.fallback.value, attempt.fallback_message_id  # type: ignore[union-attr]

        assert await last_step(f"{PREFIX}{no_mobile}:wecom") == ("no_address", None)
        existing = await message_of(apps, f"{PREFIX}{told}:sms")
        assert await last_step(f"{PREFIX}{told}:wecom") == ("existing", existing.id)
        assert await last_step("outage:7:restored:x:wecom") == ("no_rule", None)
        assert await count_messages(apps, no_mobile) == {"wecom": 1}
        assert await count_messages(apps, told) == {"wecom": 2, "sms": 1}

    async def test_a_former_subscriber_gets_no_fallback(
        self, apps, make_kit, smtp, http_sink, robot_sink, notify_admin
    ):
        kit = kit_for(make_kit, smtp, http_sink)
        await set_fallbacks(notify_admin, wecom="email")
        robot_sink.answers["GONE"] = 93000
        sid = await subscriber(notify_admin, "0546000015", email="zhou@example.cn")
        await kit.enqueue(wecom(sid, f"{robot_sink.url}/cgi-bin/webhook/send?key=GONE"))
        assert (await notify_admin.delete(f"/subscribers/{sid}")).status_code == 204
        assert (await kit.deliver()).dead == 1
        assert await count_messages(apps, sid) == {"wecom": 1}
        assert smtp.mails() == []
