"""Status callbacks (状态回调): every status change of a portal's application is posted to its
webhook URL, signed, retried with backoff, and in order per application."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from services.intake.portal.jobs import run_webhook_delivery, start_portal_jobs, stop_portal_jobs
from services.intake.settings import IntakeSettings
from shared.outbound import OutboundPolicy, outbound_client
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import create
from tests.intake.portal.conftest import portal_application_body, post
from tests.intake.portal.sink import WebhookSink, running_sink

pytestmark = pytest.mark.usefixtures("elicense")


@pytest.fixture
def sink(portal_key, clock) -> Iterator[WebhookSink]:
    with running_sink(WebhookSink(portal_key.secret, now=lambda: clock.now())) as running:
        yield running


@pytest.fixture
async def registered(intake_admin, portal_key, sink) -> WebhookSink:
    response = await intake_admin.put(
        f"/portal/clients/{portal_key.key_id}/webhook", json={"url": sink.url}
    )
    assert response.status_code == 200, response.text
    return sink


async def submit(portal) -> str:
    response = await post(portal, "/portal/applications", portal_application_body())
    assert response.status_code == 201, response.text
    number: str = response.json()["number"]
    return number


async def deliveries(intake_admin, key_id, **params):
    response = await intake_admin.get(f"/portal/clients/{key_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


class TestRegistration:
    async def test_an_admin_sets_the_url(self, intake_admin, clerk, portal, portal_key, sink):
        path = f"/portal/clients/{portal_key.key_id}/webhook"
        assert (await clerk.put(path, json={"url": sink.url})).status_code == 403
        assert (await intake_admin.put(path, json={"url": "not a url"})).status_code == 422
        missing = await intake_admin.put("/portal/clients/pk_nobody/webhook", json={"url": None})
        assert missing.json()["code"] == "portal_client_not_found"
        set_ = await intake_admin.put(path, json={"url": sink.url})
        assert set_.json()["webhook_url"] == sink.url
        assert (await portal.get("/portal/me")).json()["webhook_url"] == sink.url
        listed = (await intake_admin.get("/portal/clients")).json()
        assert [(c["key_id"], c["webhook_url"]) for c in listed] == [(portal_key.key_id, sink.url)]
        assert "secret" not in listed[0]
        cleared = await intake_admin.put(path, json={"url": None})
        assert cleared.json()["webhook_url"] is None


class TestCallbacks:
    async def test_every_status_change_in_order(
        self, intake, portal, portal_key, clerk, clock, registered
    ):
        number = await submit(portal)
        clock.set("2025-10-09 10:00")
        await complete(clerk, number, "acceptance")
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "等待客户补充资料"},
        )
        clock.set("2025-10-10 10:00")
        await clerk.post(f"/applications/{number}/resume", json={"note": "资料已补齐"})
        await complete(clerk, number, "supply_plan")
        await complete(clerk, number, "completion_inspection")
        await complete(clerk, number, "connection", **CONNECTION_POINT)

        run = await run_webhook_delivery(intake)
        assert (run.delivered, run.failed, run.skipped) == (6, 0, 0)
        assert [t for _, t in registered.types()] == [
            "application.stage_completed",
            "application.paused",
            "application.resumed",
            "application.stage_completed",
            "application.stage_completed",
            "application.connected",
        ]
        assert registered.refused == []
        first, paused, *_, connected = registered.received
        assert first["stage_label"] == "业务受理"
        assert (first["current_stage"], first["status"]) == ("supply_plan", "open")
        assert first["occurred_at"] == "2025-10-09T02:00:00+00:00"
        assert paused["details"] == {
            "pause_reason": "missing_material",
            "pause_reason_label": "等待客户补充资料",
        }
        assert (connected["status"], connected["current_stage"]) == ("connected", None)
        assert [e["seq"] for e in registered.received] == sorted(
            e["seq"] for e in registered.received
        )
        headers = {k.lower(): v for k, v in registered.headers[-1].items()}
        assert headers["x-huodian-key"] == portal_key.key_id
        assert headers["x-huodian-event"] == "application.connected"
        assert headers["x-huodian-delivery"] == connected["id"]
        assert headers["x-huodian-timestamp"] == str(int(clock.now().timestamp()))
        assert (await run_webhook_delivery(intake)).delivered == 0  # each once

    async def test_a_closed_application(self, intake, portal, clerk, registered):
        number = await submit(portal)
        await clerk.post(f"/applications/{number}/close", json={"reason": "客户撤回申请"})
        await run_webhook_delivery(intake)
        (closed,) = registered.received
        assert (closed["type"], closed["status"], closed["reason"]) == (
            "application.closed",
            "closed",
            "客户撤回申请",
        )

    async def test_only_applications_from_the_portal(self, intake, clerk, registered):
        number = (await create(clerk))["application"]["number"]
        await complete(clerk, number, "acceptance")
        assert (await run_webhook_delivery(intake)).delivered == 0
        assert registered.received == []

    async def test_without_a_url_they_are_skipped(
        self, intake, intake_admin, portal, portal_key, clerk
    ):
        number = await submit(portal)
        await complete(clerk, number, "acceptance")
        run = await run_webhook_delivery(intake)
        assert (run.delivered, run.skipped) == (0, 1)
        (skipped,) = (await deliveries(intake_admin, portal_key.key_id))["deliveries"]
        assert (skipped["state"], skipped["application_number"]) == ("skipped", number)


class TestRetries:
    async def test_a_failed_callback_holds_back_its_application_only(
        self, intake, intake_admin, portal, portal_key, clerk, clock, registered
    ):
        first = await submit(portal)
        second = await submit(portal)
        await complete(clerk, first, "acceptance")
        await complete(clerk, second, "acceptance")
        clock.moment += timedelta(minutes=1)
        await complete(clerk, first, "supply_plan")

        registered.fail_next = 1  # the portal is down for the first callback (of `first`)
        run = await run_webhook_delivery(intake)
        assert (run.delivered, run.failed) == (1, 1)
        assert registered.types() == [(second, "application.stage_completed")]
        waiting = await deliveries(intake_admin, portal_key.key_id, application=first)
        assert [(d["seq"], d["state"], d["attempts"]) for d in waiting["deliveries"]] == [
            # log seq: 1 created, 2-3 licences verified online, 4 the project approval taken
            (6, "pending", 0),
            (5, "pending", 1),
        ]
        failed = waiting["deliveries"][1]
        assert failed["last_status"] == 503
        assert "503" in failed["last_error"]

        assert (await run_webhook_delivery(intake)).delivered == 0  # backing off: 10 s
        clock.moment += timedelta(seconds=10)
        assert (await run_webhook_delivery(intake)).delivered == 2
        assert registered.types()[1:] == [
            (first, "application.stage_completed"),
            (first, "application.stage_completed"),
        ]
        assert [e["stage"] for e in registered.received[1:]] == ["acceptance", "supply_plan"]
        done = await deliveries(intake_admin, portal_key.key_id, state="delivered")
        assert done["total"] == 3

    async def test_backoff_doubles_and_is_capped(self, intake, portal, clerk, clock, registered):
        number = await submit(portal)
        await complete(clerk, number, "acceptance")
        registered.fail_next = 3
        for wait in (0, 10, 20):
            clock.moment += timedelta(seconds=wait)
            assert (await run_webhook_delivery(intake)).failed == 1
            assert (await run_webhook_delivery(intake)).failed == 0
        clock.moment += timedelta(seconds=40)
        assert (await run_webhook_delivery(intake)).delivered == 1

    async def test_a_wrong_signature_is_refused_by_the_sink(
        self, intake, portal, clerk, clock, registered
    ):
        number = await submit(portal)
        await complete(clerk, number, "acceptance")
        registered.secret = "another-secret"
        assert (await run_webhook_delivery(intake)).failed == 1
        assert registered.refused == ["bad_signature"]


class TestBackground:
    async def test_the_task_starts_and_stops_with_the_app(self, intake):
        intake.state.intake_settings = IntakeSettings(background_jobs=False)
        await start_portal_jobs(intake)
        assert intake.state.portal_jobs is None
        intake.state.intake_settings = IntakeSettings(
            background_jobs=True, webhook_interval_seconds=3600
        )
        await start_portal_jobs(intake)
        jobs = intake.state.portal_jobs
        assert jobs is not None
        assert jobs.running
        await asyncio.wait_for(stop_portal_jobs(intake), 5)  # ends the hour's wait at once
        assert not jobs.running
        assert intake.state.portal_jobs is None

    async def test_admins_can_send_now(self, intake_admin, portal, clerk, registered):
        number = await submit(portal)
        await complete(clerk, number, "acceptance")
        sent = await intake_admin.post("/portal/deliveries/run")
        assert sent.json() == {"delivered": 1, "failed": 0, "skipped": 0}
        assert (await clerk.post("/portal/deliveries/run")).status_code == 403


class TestInternalUrls:
    @pytest.fixture
    def strict(self, intake):
        """intake with the default policy: no allow-list."""
        kept = intake.state.outbound, intake.state.webhook_http
        intake.state.outbound = OutboundPolicy()
        intake.state.webhook_http = outbound_client(intake.state.outbound, httpx.Timeout(5))
        yield
        intake.state.outbound, intake.state.webhook_http = kept

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8102/users",
            "http://10.0.0.1/callback",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8103/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8101/",
        ],
    )
    async def test_they_are_refused_as_callback_urls(self, intake_admin, portal_key, strict, url):
        path = f"/portal/clients/{portal_key.key_id}/webhook"
        refused = await intake_admin.put(path, json={"url": url})
        assert refused.status_code == 422
        assert refused.json()["code"] == "url_not_allowed"

    async def test_a_registered_one_is_checked_again_when_sent(
        self, intake, intake_admin, portal, portal_key, clerk, registered, strict
    ):
        await complete(clerk, await submit(portal), "acceptance")  # queues a callback
        run = await run_webhook_delivery(intake)
        assert (run.delivered, run.failed) == (0, 1)
        assert registered.received == []
        failed = (await deliveries(intake_admin, portal_key.key_id))["deliveries"][0]
        assert failed["last_status"] is None
        assert failed["last_error"].startswith("not sent: 主机 127.0.0.1 是内部或保留地址")
