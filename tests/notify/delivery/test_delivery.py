import asyncio
import base64
import hashlib
import hmac
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from services.notify.delivery.channels import sms_signature
from services.notify.delivery.models import ChannelHealth
from services.notify.delivery.outcomes import backoff
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.messages.service import NewMessage
from services.notify.settings import NotifySettings
from shared.db import session_scope
from shared.outbound import OutboundPolicy
from tests.conftest import FROZEN_AT, PG_URL
from tests.notify.conftest import WORKDAY_MORNING, email
from tests.notify.sinks import SmtpSink, WebhookReceiver, self_signed
from tests.shared.test_outbound import resolver

LATER = WORKDAY_MORNING + timedelta(hours=1)


async def stored(apps, key: str) -> Message:
    async with session_scope(apps.notify.state.engine) as session:
        found = (await session.exec(select(Message).where(col(Message.dedup_key) == key))).one()
        return found


def robot(channel: Channel, key: str, url: str, **extra) -> NewMessage:
    return NewMessage(
        dedup_key=key,
        kind="test",
        channel=channel,
        recipient=url,
        subject="【停电通知】",
        body="东城线10kV 今日检修",
        **extra,
    )


class TestEmail:
    async def test_queued_mail_reaches_the_smtp_server(self, apps, make_kit, smtp: SmtpSink):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="获电 <n@hd.cn>")
        assert await kit.enqueue(email("a"), email("b", to="other@example.cn")) == 2

        done = await kit.deliver()

        assert (done.claimed, done.sent) == (2, 2)
        received = {tuple(to): mail for to, mail in smtp.mails()}
        mail = received[("head@example.cn",)]
        assert mail["Subject"] == "测试 a"
        assert mail["X-Huodian-Dedup-Key"] == "a"
        assert mail.get_content().strip() == "正文 a"
        assert (await stored(apps, "b")).state is MessageState.sent
        assert (await stored(apps, "b")).sent_at == WORKDAY_MORNING

    async def test_each_dedup_key_is_queued_once(self, make_kit, smtp):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        assert await kit.enqueue(email("same")) == 1
        assert await kit.enqueue(email("same"), email("new")) == 1
        await kit.deliver()
        assert sorted(m["Subject"] for _, m in smtp.mails()) == ["测试 new", "测试 same"]

    async def test_a_refused_mailbox_is_dead_at_once(self, apps, make_kit, smtp):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.enqueue(email("x", to="nobody@example.cn"))
        done = await kit.deliver()
        assert done.dead == 1
        message = await stored(apps, "x")
        assert message.state is MessageState.dead
        assert "550" in (message.last_error or "")

    async def test_a_busy_mailbox_is_retried(self, apps, make_kit, smtp):
        smtp.refuse["busy"] = "450 4.2.1 mailbox busy"
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.enqueue(email("x", to="busy@example.cn"))
        assert (await kit.deliver()).failed == 1
        message = await stored(apps, "x")
        assert message.state is MessageState.failed
        assert "450" in (message.last_error or "")

    async def test_content_refused_for_good_is_dead(self, apps, make_kit, smtp):
        smtp.data_reply = "554 5.6.0 message content rejected"
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.enqueue(email("x"))
        assert (await kit.deliver()).dead == 1
        message = await stored(apps, "x")
        assert message.state is MessageState.dead
        assert message.last_error == "SMTP 554: 5.6.0 message content rejected"

    async def test_a_server_failing_data_holds_the_channel(self, apps, make_kit, smtp):
        smtp.data_reply = "451 4.3.0 temporary failure"
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.enqueue(email("x"))
        assert (await kit.deliver()).held == 1
        message = await stored(apps, "x")
        assert message.attempts == 0  # the server's failure uses no attempt
        assert message.last_error == "SMTP 451: 4.3.0 temporary failure"
        down = await health(apps)
        assert down is not None
        assert down.down_since == WORKDAY_MORNING

    async def test_without_smtp_host_email_waits_in_the_queue(self, apps, make_kit):
        kit = make_kit()
        await kit.enqueue(email("waiting"))
        assert (await kit.deliver()).claimed == 0
        assert (await stored(apps, "waiting")).state is MessageState.queued


async def health(apps) -> ChannelHealth | None:
    async with session_scope(apps.notify.state.engine) as session:
        return await session.get(ChannelHealth, "email")


class TestSmtpOutage:
    """A channel that is down holds its messages (circuit breaker); it does not kill them."""

    async def test_a_down_server_holds_messages_without_using_attempts(self, apps, make_kit, smtp):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port, max_attempts=5)
        smtp.stop()
        await kit.enqueue(*(email(f"m{i}", to=f"u{i}@example.cn") for i in range(5)))

        first = await kit.deliver(LATER)
        assert (first.claimed, first.held, first.failed) == (5, 5, 0)
        message = await stored(apps, "m0")
        assert message.state is MessageState.failed
        assert message.attempts == 0
        assert "SMTP server 127.0.0.1" in (message.last_error or "")
        down = await health(apps)
        assert down is not None
        assert (down.down_since, down.failures) == (LATER, 1)
        assert down.next_probe_at == LATER + timedelta(seconds=30)

        # Down: nothing is tried before the probe; then one message probes, with a doubled wait.
        assert (await kit.deliver(LATER + timedelta(seconds=29))).claimed == 0
        probe = await kit.deliver(LATER + timedelta(seconds=30))
        assert (probe.claimed, probe.held) == (1, 1)
        down = await health(apps)
        assert down is not None
        assert down.next_probe_at == LATER + timedelta(seconds=30 + 60)

        smtp.start()
        back = await kit.deliver(LATER + timedelta(seconds=90))
        assert (back.claimed, back.sent) == (1, 1)
        assert (await health(apps)).down_since is None  # type: ignore[union-attr]
        rest = await kit.deliver(LATER + timedelta(seconds=91))
        assert rest.sent == 4
        assert sorted(to[0] for to, _ in smtp.mails()) == [f"u{i}@example.cn" for i in range(5)]
        assert (await stored(apps, "m4")).attempts == 1

    async def test_down_longer_than_the_retry_budget_then_everything_is_delivered(
        self, apps, make_kit, smtp
    ):
        # With max_attempts=2 the old worker turned these into dead letters within a minute.
        kit = make_kit(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            max_attempts=2,
            backoff_base_seconds=30,
            channel_probe_max_seconds=300,
        )
        smtp.stop()
        await kit.enqueue(*(email(f"long{i}", to=f"l{i}@example.cn") for i in range(12)))
        moment = LATER
        for _ in range(40):  # three hours of rounds every five minutes
            done = await kit.deliver(moment)
            assert done.dead == 0
            moment += timedelta(minutes=5)
        down = await health(apps)
        assert down is not None
        assert down.failures > 2
        assert down.next_probe_at is not None
        assert down.next_probe_at - moment <= timedelta(seconds=300)

        smtp.start()
        for _ in range(4):
            await kit.deliver(moment)
            moment += timedelta(minutes=5)
        assert sorted(to[0] for to, _ in smtp.mails()) == sorted(
            f"l{i}@example.cn" for i in range(12)
        )
        async with session_scope(apps.notify.state.engine) as session:
            states = (await session.exec(select(Message.state, Message.attempts))).all()
        assert set(states) == {(MessageState.sent, 1)}

    async def test_a_message_failing_for_its_own_reason_still_dies_then_is_resent(
        self, apps, make_kit, smtp, notify_admin, frozen
    ):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port, max_attempts=2)
        smtp.refuse["busy"] = "450 4.2.1 mailbox busy"
        await kit.enqueue(email("d", to="busy@example.cn"), email("ok"))
        first = await kit.deliver(LATER)
        assert (first.sent, first.failed) == (1, 1)
        await kit.deliver(LATER + timedelta(minutes=5))
        message = await stored(apps, "d")
        assert message.state is MessageState.dead
        assert message.attempts == 2
        # The server answered: the channel was never marked down.
        assert await health(apps) is None

        dead = (await notify_admin.get("/messages/dead")).json()
        assert [m["dedup_key"] for m in dead["items"]] == ["d"]
        assert "450" in dead["items"][0]["last_error"]

        resend_at = LATER + timedelta(minutes=10)
        frozen.move_to(resend_at)
        resent = await notify_admin.post(f"/messages/{message.id}/resend")
        assert resent.status_code == 200, resent.text
        assert resent.json()["state"] == "queued"
        assert resent.json()["attempts"] == 0
        smtp.refuse.clear()
        await kit.deliver(resend_at)
        assert (await stored(apps, "d")).state is MessageState.sent
        assert len(smtp.mails()) == 2

    async def test_channel_health_is_listed(self, apps, make_kit, smtp, notify_admin):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        smtp.stop()
        await kit.enqueue(email("h1"), email("h2", to="b@example.cn"))
        await kit.deliver(LATER)
        listed = (await notify_admin.get("/delivery/channels")).json()
        mail = next(c for c in listed if c["channel"] == "email")
        assert (mail["down"], mail["failures"], mail["waiting"]) == (True, 1, 2)
        assert "SMTP server" in mail["last_error"]

    def test_backoff_doubles_up_to_the_cap(self):
        settings = NotifySettings(backoff_base_seconds=30, backoff_max_seconds=300)
        waits = [backoff(settings, n).total_seconds() for n in range(1, 7)]
        assert waits == [30, 60, 120, 240, 300, 300]


class TestResendRules:
    async def test_sent_messages_and_unresolved_recipients_are_refused(
        self, apps, make_kit, smtp, notify_admin
    ):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.enqueue(
            email("ok"),
            email("nobody-known", to="unit:各供电企业", state=MessageState.dead),
        )
        await kit.deliver()
        sent = await stored(apps, "ok")
        refused = await notify_admin.post(f"/messages/{sent.id}/resend")
        assert refused.status_code == 409
        assert refused.json()["code"] == "message_not_resendable"

        unresolved = await stored(apps, "nobody-known")
        refused = await notify_admin.post(f"/messages/{unresolved.id}/resend")
        assert refused.status_code == 409
        assert refused.json()["code"] == "recipient_unresolved"

        bulk = await notify_admin.post("/messages/dead/resend")
        assert bulk.json() == {"requeued": 0}
        missing = await notify_admin.post("/messages/999999/resend")
        assert missing.status_code == 404


class TestSms:
    @staticmethod
    def gateway(secret: str):
        def answer(request):
            h = request.headers
            expected = sms_signature(
                secret, h["X-Huodian-Timestamp"], h["X-Huodian-Nonce"], request.body
            )
            if h.get("X-Huodian-Signature") != expected:
                return 401, {"code": "BAD_SIGNATURE", "message": "signature mismatch"}
            if request.json()["mobile"] == "13900000000":
                return 200, {"code": "INVALID_MOBILE", "message": "空号"}
            return 200, {"code": "OK", "message": "ok", "biz_id": "1"}

        return answer

    async def test_signed_request_in_the_documented_shape(self, apps, make_kit, http_sink):
        http_sink.responder = self.gateway("s3cret")
        kit = make_kit(sms_gateway_url=f"{http_sink.url}/sms/send", sms_secret="s3cret")
        await kit.enqueue(robot(Channel.sms, "s1", "13812345678"))
        assert (await kit.deliver()).sent == 1
        (request,) = http_sink.requests
        assert request.path == "/sms/send"
        assert request.json() == {
            "message_id": "s1",
            "mobile": "13812345678",
            "sign_name": "获电",
            "content": "东城线10kV 今日检修",
        }

    async def test_a_wrong_secret_holds_the_channel_and_an_empty_number_is_dead(
        self, apps, make_kit, http_sink
    ):
        http_sink.responder = self.gateway("right")
        wrong = make_kit(sms_gateway_url=http_sink.url, sms_secret="wrong")
        await wrong.enqueue(robot(Channel.sms, "s2", "13812345678"))
        assert (await wrong.deliver()).held == 1
        held = await stored(apps, "s2")
        assert "HTTP 401" in (held.last_error or "")
        assert held.attempts == 0

        # Fixed: the next probe (after the backoff) goes through and the channel is up.
        right = make_kit(sms_gateway_url=http_sink.url, sms_secret="right")
        await right.enqueue(robot(Channel.sms, "s3", "13900000000"))
        later = WORKDAY_MORNING + timedelta(seconds=30)
        assert (await right.deliver(later)).sent == 1
        assert (await right.deliver(later)).dead == 1
        assert "INVALID_MOBILE" in ((await stored(apps, "s3")).last_error or "")


class TestGroupRobots:
    async def test_wecom_gets_its_text_message(self, apps, make_kit, http_sink):
        kit = make_kit()
        await kit.enqueue(robot(Channel.wecom, "w1", f"{http_sink.url}/cgi-bin/webhook/send?key=K"))
        assert (await kit.deliver()).sent == 1
        (request,) = http_sink.requests
        assert request.query == {"key": ["K"]}
        assert request.json() == {
            "msgtype": "text",
            "text": {"content": "【停电通知】\n东城线10kV 今日检修"},
        }

    async def test_wecom_error_code_is_a_failure(self, apps, make_kit, http_sink):
        http_sink.responder = lambda _r: (
            200,
            {"errcode": 45009, "errmsg": "api freq out of limit"},
        )
        kit = make_kit()
        await kit.enqueue(robot(Channel.wecom, "w2", http_sink.url))
        assert (await kit.deliver()).failed == 1
        assert "45009" in ((await stored(apps, "w2")).last_error or "")

    async def test_dingtalk_is_signed_when_a_secret_is_set(self, apps, make_kit, http_sink):
        kit = make_kit(dingtalk_secrets={"TOKEN": "SECabc"})
        await kit.enqueue(
            robot(Channel.dingtalk, "d1", f"{http_sink.url}/robot/send?access_token=TOKEN"),
            robot(Channel.dingtalk, "d2", f"{http_sink.url}/robot/send?access_token=OTHER"),
        )
        assert (await kit.deliver()).sent == 2
        by_token = {r.query["access_token"][0]: r for r in http_sink.requests}
        signed = by_token["TOKEN"]
        timestamp = signed.query["timestamp"][0]
        digest = hmac.new(b"SECabc", f"{timestamp}\nSECabc".encode(), hashlib.sha256).digest()
        assert signed.query["sign"] == [base64.b64encode(digest).decode()]
        assert signed.json()["msgtype"] == "text"
        assert "sign" not in by_token["OTHER"].query

    @pytest.mark.parametrize("secret", ["hook", "whsec_" + base64.b64encode(b"k" * 24).decode()])
    async def test_generic_webhook_is_signed_as_standard_webhooks(
        self, apps, make_kit, http_sink, secret
    ):
        receiver = WebhookReceiver(secret)
        http_sink.responder = receiver
        kit = make_kit(webhook_secret=secret)
        await kit.enqueue(robot(Channel.webhook, "h1", f"{http_sink.url}/push"))
        assert (await kit.deliver()).sent == 1
        (request,) = http_sink.requests
        assert receiver.refused == []
        assert receiver.verified == [request.json()]
        assert request.json()["id"] == "h1"
        assert request.headers["webhook-id"] == request.headers["Idempotency-Key"] == "h1"
        assert request.headers["webhook-timestamp"] == str(int(FROZEN_AT.timestamp()))

    async def test_a_replay_after_the_tolerance_is_refused(self, apps, make_kit, http_sink, frozen):
        receiver = WebhookReceiver("hook")
        http_sink.responder = receiver
        kit = make_kit(webhook_secret="hook")
        await kit.enqueue(robot(Channel.webhook, "h1", f"{http_sink.url}/push"))
        assert (await kit.deliver()).sent == 1
        (captured,) = http_sink.requests
        assert receiver.check(captured) is None  # at once: still within the tolerance
        frozen.move_to(FROZEN_AT + timedelta(minutes=5, seconds=1))
        assert receiver.check(captured) == "Message timestamp too old"

    async def test_a_tampered_body_or_a_wrong_secret_is_refused(self, apps, make_kit, http_sink):
        kit = make_kit(webhook_secret="hook")
        await kit.enqueue(robot(Channel.webhook, "h1", f"{http_sink.url}/push"))
        assert (await kit.deliver()).sent == 1
        (request,) = http_sink.requests
        tampered = replace(request, body=request.body.replace(b'"h1"', b'"h2"'))
        assert WebhookReceiver("hook").check(tampered) == "No matching signature found"
        assert WebhookReceiver("other").check(request) == "No matching signature found"
        assert WebhookReceiver("hook").check(request) is None

    async def test_a_receiver_refusing_the_signature_gets_it_again(self, apps, make_kit, http_sink):
        http_sink.responder = WebhookReceiver("the-receivers-secret")
        kit = make_kit(webhook_secret="hook")
        await kit.enqueue(robot(Channel.webhook, "h1", f"{http_sink.url}/push"))
        assert (await kit.deliver()).failed == 1
        assert "HTTP 401" in ((await stored(apps, "h1")).last_error or "")

    async def test_a_client_error_is_final(self, apps, make_kit, http_sink):
        http_sink.responder = lambda _r: (404, {"error": "no such hook"})
        kit = make_kit()
        await kit.enqueue(robot(Channel.webhook, "h2", http_sink.url))
        assert (await kit.deliver()).dead == 1


class TestRateLimit:
    async def test_per_channel_sends_per_minute(self, apps, make_kit, http_sink):
        kit = make_kit(rate_per_minute={"webhook": 3})
        await kit.enqueue(*(robot(Channel.webhook, f"r{i}", http_sink.url) for i in range(5)))
        assert (await kit.deliver()).sent == 3
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(seconds=30))).claimed == 0
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(seconds=61))).sent == 2
        assert len(http_sink.requests) == 5


class TestSeveralWorkers:
    async def test_concurrent_rounds_send_each_message_once(self, apps, make_kit, http_sink):
        kit = make_kit(worker_batch=7)
        await kit.enqueue(*(robot(Channel.webhook, f"c{i}", http_sink.url) for i in range(40)))
        rounds = await asyncio.gather(*(kit.deliver() for _ in range(4)))
        while (more := await kit.deliver()).claimed:
            rounds.append(more)
        assert sum(r.sent for r in rounds) == 40
        assert sorted(r.json()["id"] for r in http_sink.requests) == sorted(
            f"c{i}" for i in range(40)
        )

    @pytest.mark.skipif(not PG_URL, reason="several workers share a queue on PostgreSQL only")
    async def test_the_rate_limit_holds_across_concurrent_workers(self, apps, make_kit, http_sink):
        kit = make_kit(rate_per_minute={"webhook": 5}, worker_batch=4)
        await kit.enqueue(*(robot(Channel.webhook, f"l{i}", http_sink.url) for i in range(20)))
        rounds = await asyncio.gather(*(kit.deliver() for _ in range(6)))
        assert sum(r.sent for r in rounds) == 5
        assert len(http_sink.requests) == 5
        later = WORKDAY_MORNING + timedelta(seconds=61)
        rounds = await asyncio.gather(*(kit.deliver(later) for _ in range(6)))
        assert sum(r.sent for r in rounds) == 5

    @pytest.mark.skipif(not PG_URL, reason="SQLite has one writer: a queuing transaction blocks")
    async def test_uncommitted_messages_are_not_sent(self, apps, make_kit, http_sink):
        from services.notify.messages.service import enqueue

        kit = make_kit()
        async with session_scope(apps.notify.state.engine) as session:
            await enqueue(
                session, [robot(Channel.webhook, "u1", http_sink.url)], now=WORKDAY_MORNING
            )
            assert (await kit.deliver()).claimed == 0
        assert (await kit.deliver()).sent == 1


class TestQuietHours:
    NIGHT = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # 23:00 in Beijing

    async def test_non_urgent_waits_for_morning_urgent_goes_now(self, apps, make_kit, http_sink):
        kit = make_kit()
        await kit.enqueue(
            robot(Channel.webhook, "planned", http_sink.url),
            robot(Channel.webhook, "fault", http_sink.url, window=DeliveryWindow.anytime),
            now=self.NIGHT,
        )
        planned = await stored(apps, "planned")
        assert planned.next_attempt_at == datetime(2025, 3, 4, 23, 0, tzinfo=UTC)  # 07:00
        assert (await kit.deliver(self.NIGHT + timedelta(minutes=1))).sent == 1
        assert [r.json()["id"] for r in http_sink.requests] == ["fault"]
        assert (await kit.deliver(datetime(2025, 3, 4, 23, 0, tzinfo=UTC))).sent == 1

    async def test_a_message_late_from_an_outage_still_waits_for_morning(
        self, apps, make_kit, http_sink
    ):
        kit = make_kit()
        await kit.enqueue(robot(Channel.webhook, "late", http_sink.url))  # due 10:00
        assert (await kit.deliver(self.NIGHT)).claimed == 0

    async def test_staff_reminders_wait_for_working_time(self, apps, make_kit):
        kit = make_kit()
        saturday = datetime(2025, 3, 8, 2, 0, tzinfo=UTC)
        hours = kit.hours
        monday_0830 = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)
        assert hours.earliest(DeliveryWindow.working_hours, saturday) == monday_0830
        evening = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)  # 19:00 Tuesday
        assert hours.earliest(DeliveryWindow.working_hours, evening) == datetime(
            2025, 3, 5, 0, 30, tzinfo=UTC
        )
        early = datetime(2025, 3, 4, 23, 0, tzinfo=UTC)  # 07:00 Wednesday
        assert hours.earliest(DeliveryWindow.working_hours, early) == datetime(
            2025, 3, 5, 0, 30, tzinfo=UTC
        )
        # National Day 2025: 10-01..10-08 off; 10-09 the first working day.
        holiday = datetime(2025, 10, 2, 2, 0, tzinfo=UTC)
        assert hours.earliest(DeliveryWindow.working_hours, holiday).date().isoformat() == (
            "2025-10-09"
        )


class TestBackgroundWorker:
    async def test_the_app_delivers_in_the_background(self, settings, smtp):
        from services.notify.app import create_app

        app = create_app(
            settings,
            NotifySettings(
                smtp_host="127.0.0.1",
                smtp_port=smtp.port,
                worker_poll_seconds=0.05,
                scheduler_enabled=False,
            ),
        )
        async with app.router.lifespan_context(app):
            assert app.state.worker.running
            async with session_scope(app.state.engine) as session:
                from services.notify.messages.service import enqueue

                await enqueue(session, [email("bg", window=DeliveryWindow.anytime)], now=FROZEN_AT)
            app.state.worker.wake()
            for _ in range(200):
                if smtp.mails():
                    break
                await asyncio.sleep(0.02)
            assert [m["Subject"] for _, m in smtp.mails()] == ["测试 bg"]
        assert not app.state.worker.running


class TestNotifyRestart:
    async def test_nothing_is_lost_when_notify_and_smtp_stop(self, apps, settings, smtp, frozen):
        from services.notify.app import create_app
        from services.notify.messages.service import enqueue

        config = NotifySettings(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            worker_poll_seconds=0.05,
            backoff_base_seconds=1,
            scheduler_enabled=False,
        )
        smtp.stop()
        first = create_app(settings, config)
        async with first.router.lifespan_context(first):
            async with session_scope(first.state.engine) as session:
                await enqueue(
                    session,
                    [
                        email(f"r{i}", to=f"r{i}@example.cn", window=DeliveryWindow.anytime)
                        for i in range(3)
                    ],
                    now=FROZEN_AT,
                )
            first.state.worker.wake()
            for _ in range(200):
                if (await stored(apps, "r2")).state is MessageState.failed:
                    break
                await asyncio.sleep(0.02)
        # notify is down; the SMTP server comes back; then notify starts again.
        assert {(await stored(apps, f"r{i}")).state for i in range(3)} == {MessageState.failed}
        smtp.start()
        frozen.shift(timedelta(minutes=1))  # past the retry's backoff
        second = create_app(settings, config)
        async with second.router.lifespan_context(second):
            for _ in range(250):
                if len(smtp.mails()) == 3:
                    break
                await asyncio.sleep(0.02)
        # Stopping let the round under way record its outcomes.
        assert sorted(to[0] for to, _ in smtp.mails()) == [f"r{i}@example.cn" for i in range(3)]
        assert {(await stored(apps, f"r{i}")).state for i in range(3)} == {MessageState.sent}


class TestOutboundGuard:
    """Robots and webhooks are URLs from outside: never called inside, never echoed."""

    async def test_a_name_that_now_resolves_to_loopback_is_not_called(
        self, apps, make_kit, http_sink
    ):
        port = http_sink.url.rsplit(":", 1)[1]
        hook = f"http://push.example.cn:{port}/hook"
        # Registered while it resolved to a public address ...
        public = OutboundPolicy(resolver=resolver({"push.example.cn": ["101.226.4.6"]}))
        await public.check_url(hook)
        # ... and pointed at loopback since (DNS rebinding): the guard resolves again to send.
        kept = apps.notify.state.outbound
        apps.notify.state.outbound = OutboundPolicy(
            resolver=resolver({"push.example.cn": ["127.0.0.1"]})
        )
        try:
            kit = make_kit()
        finally:
            apps.notify.state.outbound = kept
        await kit.enqueue(robot(Channel.webhook, "rebound", hook))
        assert (await kit.deliver()).dead == 1
        assert http_sink.requests == []
        error = (await stored(apps, "rebound")).last_error or ""
        assert "not sent" in error
        assert "127.0.0.1" in error

    async def test_last_error_keeps_the_status_not_the_body(self, apps, make_kit, http_sink):
        http_sink.responder = lambda _r: (500, {"secret": "internal-admin-token"})
        kit = make_kit()
        await kit.enqueue(robot(Channel.webhook, "h500", f"{http_sink.url}/admin"))
        assert (await kit.deliver()).failed == 1
        error = (await stored(apps, "h500")).last_error or ""
        assert "HTTP 500" in error
        assert "internal-admin-token" not in error

    async def test_a_robot_refusal_keeps_only_its_code(self, apps, make_kit, http_sink):
        http_sink.responder = lambda _r: (200, {"errcode": 93000, "errmsg": "internal-secret"})
        kit = make_kit()
        await kit.enqueue(robot(Channel.wecom, "w93000", f"{http_sink.url}/cgi-bin/webhook/send"))
        assert (await kit.deliver()).dead == 1
        error = (await stored(apps, "w93000")).last_error or ""
        assert error == "WeCom robot refused: errcode 93000"


class TestExactlyOnce:
    """Each outcome is committed as soon as its send returns, and a resend is recognisable."""

    async def test_each_outcome_is_recorded_as_soon_as_it_is_sent(self, apps, make_kit, http_sink):
        release = threading.Event()

        def answer(request):
            if request.path == "/slow":
                release.wait(10)
            return 200, {}

        http_sink.responder = answer
        kit = make_kit()
        await kit.enqueue(
            robot(Channel.webhook, "fast", f"{http_sink.url}/fast"),
            robot(Channel.webhook, "slow", f"{http_sink.url}/slow"),
        )
        round_ = asyncio.create_task(kit.deliver())
        try:
            for _ in range(200):
                if (await stored(apps, "fast")).state is MessageState.sent:
                    break
                await asyncio.sleep(0.02)
            # The slow one is still in flight, held by its lease; the fast one is recorded.
            assert (await stored(apps, "fast")).state is MessageState.sent
            assert (await stored(apps, "slow")).state is MessageState.sending
        finally:
            release.set()
        assert (await round_).sent == 2
        assert {r.headers["Idempotency-Key"] for r in http_sink.requests} == {"fast", "slow"}

    async def test_the_message_id_is_the_same_on_every_attempt(self, apps, make_kit, smtp):
        kit = make_kit(
            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="获电 <n@hd.cn>", lease_seconds=10
        )
        await kit.enqueue(email("twice"))
        await kit.deliver()
        # As if the worker had died after the server took it: the lease runs out, it is re-sent.
        async with session_scope(apps.notify.state.engine) as session:
            message = (
                await session.exec(select(Message).where(col(Message.dedup_key) == "twice"))
            ).one()
            message.state = MessageState.sending
            message.next_attempt_at = WORKDAY_MORNING + timedelta(seconds=10)
            session.add(message)
        assert (await kit.deliver(WORKDAY_MORNING + timedelta(seconds=10))).sent == 1
        first, second = (mail for _, mail in smtp.mails())
        assert first["Message-ID"] == second["Message-ID"]
        assert first["Message-ID"].endswith("@hd.cn>")
        assert first["X-Huodian-Dedup-Key"] == "twice"
        assert (await stored(apps, "twice")).attempts == 2

    async def test_a_claim_is_a_small_lease(self, apps, make_kit, smtp):
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        assert kit.settings.worker_batch == 10
        await kit.enqueue(*(email(f"b{i}", to=f"b{i}@example.cn") for i in range(25)))
        assert [(await kit.deliver()).claimed for _ in range(4)] == [10, 10, 5, 0]
        assert len(smtp.mails()) == 25


class TestPossibleDuplicates:
    """A message claimed again while it was still ``sending`` is flagged, and counted."""

    async def test_a_send_cut_off_mid_flight_is_flagged_when_sent_again(
        self, apps, make_kit, http_sink, notify_admin
    ):
        release = threading.Event()
        calls: dict[str, int] = {}

        def answer(request):
            calls[request.path] = calls.get(request.path, 0) + 1
            if request.path == "/cut" and calls["/cut"] == 1:
                release.wait(10)
            if request.path == "/flaky" and calls["/flaky"] == 1:
                return 500, {}
            return 200, {}

        http_sink.responder = answer
        kit = make_kit(lease_seconds=10)
        await kit.enqueue(
            robot(Channel.webhook, "cut", f"{http_sink.url}/cut"),
            robot(Channel.webhook, "fine", f"{http_sink.url}/fine"),
            robot(Channel.webhook, "flaky", f"{http_sink.url}/flaky"),
        )
        round_ = asyncio.create_task(kit.deliver())
        try:
            for _ in range(200):
                if (await stored(apps, "fine")).state is MessageState.sent and (
                    await stored(apps, "flaky")
                ).state is MessageState.failed:
                    break
                await asyncio.sleep(0.02)
            assert (await stored(apps, "cut")).state is MessageState.sending
            # The worker dies with the send in flight: nothing records its outcome.
            round_.cancel()
            with pytest.raises(asyncio.CancelledError):
                await round_
        finally:
            release.set()
        assert not (await stored(apps, "cut")).possible_duplicate

        # The lease runs out; it is claimed again (and so is the failed one, after its backoff).
        assert (await kit.deliver(LATER)).sent == 2
        cut, fine, flaky = [await stored(apps, k) for k in ("cut", "fine", "flaky")]
        assert (cut.state, cut.attempts, cut.possible_duplicate) == (MessageState.sent, 2, True)
        assert cut.earlier_attempt_at == WORKDAY_MORNING
        # A message whose earlier attempt ended (sent, or failed) is no duplicate.
        assert (fine.possible_duplicate, fine.earlier_attempt_at) == (False, None)
        assert (flaky.state, flaky.attempts, flaky.possible_duplicate) == (
            MessageState.sent,
            2,
            False,
        )

        shown = (await notify_admin.get(f"/messages/{cut.id}")).json()
        assert shown["possible_duplicate"] is True
        assert shown["earlier_attempt_at"].startswith("2025-03-04T10:00:00")
        listed = (await notify_admin.get("/messages", params={"possible_duplicate": True})).json()
        assert [m["dedup_key"] for m in listed["items"]] == ["cut"]
        channels = (await notify_admin.get("/delivery/channels")).json()
        counts = {c["channel"]: c["possible_duplicates"] for c in channels}
        assert counts["webhook"] == 1
        assert counts["email"] == 0


class TestRequestIds:
    async def test_a_message_keeps_the_id_it_was_made_under_and_its_send_is_logged_with_it(
        self, apps, make_kit, smtp: SmtpSink, caplog
    ):
        import logging

        from shared.logs import request_id_scope

        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="获电 <n@hd.cn>")
        with request_id_scope("intake:connect.2026-03-02"):
            assert await kit.enqueue(email("rid-a")) == 1
        assert await kit.enqueue(email("rid-b")) == 1  # made outside any request: none
        assert (await stored(apps, "rid-a")).request_id == "intake:connect.2026-03-02"
        assert (await stored(apps, "rid-b")).request_id is None

        with caplog.at_level(logging.INFO, logger="huodian.notify.delivery"):
            done = await kit.deliver()
        assert done.sent == 2
        sends = {
            r.message_id: (r.request_id, r.channel, r.state)
            for r in caplog.records
            if r.name == "huodian.notify.delivery" and hasattr(r, "message_id")
        }
        first, second = (await stored(apps, "rid-a")), (await stored(apps, "rid-b"))
        assert sends[first.id] == ("intake:connect.2026-03-02", "email", "sent")
        fresh, channel, state = sends[second.id]
        assert fresh != "intake:connect.2026-03-02"
        assert (channel, state) == ("email", "sent")


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A certificate for 127.0.0.1 that the sender trusts (its default context reads
    ``SSL_CERT_FILE``)."""
    files = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(files.cert))
    return files


class TestEmailSecurity:
    """``SMTP_SECURITY``: STARTTLS or implicit TLS, certificate checked, login inside TLS."""

    @pytest.mark.parametrize(("security", "login"), [("starttls", ("hd", "pw")), ("tls", None)])
    async def test_sent_over_tls(self, apps, make_kit, tls_files, security, login):
        sink = SmtpSink(security=security, tls=tls_files.server_context(), login=login)
        sink.start()
        try:
            user, password = login or (None, None)
            kit = make_kit(
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                smtp_security=security,
                smtp_username=user,
                smtp_password=password,
            )
            await kit.enqueue(email("a"))
            assert (await kit.deliver()).sent == 1
        finally:
            sink.stop()
        assert sink.sessions == [(True, user)]
        ((to, mail),) = sink.mails()
        assert (to, mail["X-Huodian-Dedup-Key"]) == (["head@example.cn"], "a")

    async def test_a_wrong_password_holds_the_channel(self, apps, make_kit, tls_files):
        sink = SmtpSink(security="starttls", tls=tls_files.server_context(), login=("hd", "pw"))
        sink.start()
        try:
            kit = make_kit(
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                smtp_security="starttls",
                smtp_username="hd",
                smtp_password="wrong",
            )
            await kit.enqueue(email("a"))
            assert (await kit.deliver()).held == 1
        finally:
            sink.stop()
        assert sink.mails() == []
        message = await stored(apps, "a")
        assert message.attempts == 0
        assert "535" in (message.last_error or "")  # authentication failed

    async def test_an_untrusted_certificate_is_refused(self, apps, make_kit, tmp_path):
        untrusted = self_signed(tmp_path)  # SSL_CERT_FILE not pointed at it
        sink = SmtpSink(security="tls", tls=untrusted.server_context())
        sink.start()
        try:
            kit = make_kit(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="tls")
            await kit.enqueue(email("a"))
            assert (await kit.deliver()).held == 1
        finally:
            sink.stop()
        assert sink.mails() == []
        assert "CERTIFICATE_VERIFY_FAILED" in ((await stored(apps, "a")).last_error or "")

    async def test_none_does_not_upgrade_even_if_offered(self, apps, make_kit, tls_files):
        sink = SmtpSink(tls=tls_files.server_context())
        sink.security = "offered"  # STARTTLS advertised, not required
        sink.start()
        try:
            kit = make_kit(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
            await kit.enqueue(email("a"))
            assert (await kit.deliver()).sent == 1
        finally:
            sink.stop()
        assert sink.sessions == [(False, None)]
