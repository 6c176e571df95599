"""Notify's own figures on /metrics: the queue by channel and state, deliveries, failed
attempts and the scheduler's leader."""

from tests.conftest import client_for
from tests.notify.conftest import WORKDAY_MORNING, email
from tests.shared.test_metrics import scrape, value


async def test_notify_queue_deliveries_and_scheduler(apps, make_kit, smtp):
    kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
    await kit.enqueue(
        email("m-1"), email("m-2", to="b@example.cn"), email("x", to="nobody@example.cn")
    )
    done = await kit.deliver()
    assert (done.sent, done.dead) == (2, 1)
    await kit.enqueue(email("m-3", to="c@example.cn"), now=WORKDAY_MORNING)
    async with client_for(apps.notify) as client:
        samples = await scrape(client)
    assert value(samples, "huodian_notify_messages", channel="email", state="sent") == 2
    assert value(samples, "huodian_notify_messages", channel="email", state="queued") == 1
    assert value(samples, "huodian_notify_deliveries_total", channel="email") == 2
    assert value(samples, "huodian_notify_messages", channel="email", state="dead") == 1
    assert value(samples, "huodian_notify_failed_attempts_total", channel="email") == 1
    assert value(samples, "huodian_notify_scheduler_leader") == 0  # no scheduler in the tests
