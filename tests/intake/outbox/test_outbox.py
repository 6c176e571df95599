"""Events to notify through the outbox: written with the change, delivered over HTTP with
retries and backoff, exactly once from notify's side."""

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest

from services.intake.jobs import run_delivery, run_scan, start_jobs, stop_jobs
from services.intake.outbox.service import deliver_pending
from services.intake.settings import IntakeSettings
from shared.auth import Role
from shared.http import ServiceClient
from tests.conftest import add_user, client_for, sign_in
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import create

ALL_STAGES = ("acceptance", "supply_plan", "completion_inspection", "connection")


@pytest.fixture
async def notify_admin(apps):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


async def outbox(client, **params):
    response = await client.get("/outbox", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def connected_application(clerk):
    number = (
        await create(clerk, site={"address": "东营区", "area_class": "central", **CONNECTION_POINT})
    )["application"]["number"]
    for stage in ALL_STAGES:
        assert (await complete(clerk, number, stage)).status_code == 200
    return number


class TestWrittenWithTheChange:
    async def test_a_connection_writes_one_event(self, intake, intake_admin, clerk, clock):
        number = await connected_application(clerk)
        events = (await outbox(intake_admin))["items"]
        assert [(e["type"], e["subject"], e["state"]) for e in events] == [
            ("intake.application.connected", number, "pending"),
            ("intake.application.received", number, "pending"),  # its acceptance's receipt
        ]
        assert "data" not in events[0]  # personal data stays out of the admin listing

    async def test_an_acceptance_writes_its_receipt_with_the_code_sealed(
        self, intake, settings, clerk, clock
    ):
        from sqlmodel import select

        from services.intake.outbox.models import OutboxEvent
        from shared.db import session_scope
        from shared.events import open_query_code

        clock.set("2025-09-30 10:00")
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        async with session_scope(intake.state.engine) as session:
            (row,) = (await session.exec(select(OutboxEvent))).all()
        assert (row.type, row.subject) == ("intake.application.received", number)
        sealed = row.data.pop("query_code_sealed")
        assert code not in sealed
        assert open_query_code(settings.keyring(), number, sealed) == code
        due = created["application"]["clock"]["due_date"]
        assert row.data == {
            "application_number": number,
            "unit": created["application"]["unit"],
            "customer_type": "hv10_single",
            "channel": "counter",
            "applicant_name": "东营市某某化工有限公司",
            "mobile": "13800138000",
            "accepted_on_text": "2025年9月30日",
            "staged": True,
            "stage": "业务受理",
            "due_date": due,
            "due_text": f"{int(due[:4])}年{int(due[5:7])}月{int(due[8:])}日",
            "due_provisional": False,
            "clerks_told_apart": True,  # a portal application's clerks: intake.portal.submitted
        }

    async def test_the_connected_data_is_what_notify_needs(self, intake, clerk, clock):
        from sqlmodel import select

        from services.intake.outbox.models import OutboxEvent
        from shared.db import session_scope

        number = await connected_application(clerk)
        async with session_scope(intake.state.engine) as session:
            (row,) = (
                await session.exec(
                    select(OutboxEvent).where(OutboxEvent.type == "intake.application.connected")
                )
            ).all()
        assert row.data == {
            "application_number": number,
            "name": "东营市某某化工有限公司",
            "mobile": "13800138000",
            "email": "contact@example.cn",
            "feeder": "10kV 府前线",
            "transformer_area": "府前1号台区",
            "area_class": "central",  # the code only: notify looks the label up
        }

    async def test_a_corrected_contact_is_sent_again(self, intake_admin, clerk, clock):
        number = await connected_application(clerk)
        corrected = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "transformer_area", "value": "府前3号台区", "reason": "台区调整"},
        )
        assert corrected.status_code == 200, corrected.text
        await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "capacity_kw", "value": "900", "reason": "增容前更正"},
        )
        types = [e["type"] for e in (await outbox(intake_admin))["items"]]
        assert types == ["intake.application.connected"] * 2 + ["intake.application.received"]

    async def test_a_refused_change_writes_nothing(self, intake_admin, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        for stage in ALL_STAGES[:3]:
            await complete(clerk, number, stage)
        refused = await complete(clerk, number, "connection")  # no feeder / transformer area
        assert refused.status_code == 422
        types = [e["type"] for e in (await outbox(intake_admin))["items"]]
        assert types == ["intake.application.received"]  # the acceptance's only

    async def test_the_scan_writes_each_warning_once(self, intake_admin, clerk, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-09 09:00")
        await intake_admin.post("/monitoring/scan")
        await intake_admin.post("/monitoring/scan")
        clock.set("2025-10-10 09:00")
        await intake_admin.post("/monitoring/scan")
        await intake_admin.post("/monitoring/scan")
        types = [e["type"] for e in (await outbox(intake_admin))["items"]]
        assert sorted(types) == [
            "intake.application.received",
            "intake.escalation.opened",
            "intake.stage.at_risk",
            "intake.stage.overdue",
        ]


class TestDelivery:
    async def test_delivered_to_notify_which_subscribes_the_customer(
        self, intake, intake_admin, clerk, notify_admin, clock
    ):
        number = await connected_application(clerk)
        run = await run_delivery(intake)
        assert (run.delivered, run.failed) == (2, 0)  # the receipt and the connection
        events = (await outbox(intake_admin, state="delivered"))["items"]
        assert [(e["attempts"], e["duplicate"]) for e in events] == [(1, False), (1, False)]
        subscribers = (await notify_admin.get("/subscribers")).json()["items"]
        shown = [(s["account_number"], s["area_class"], s["area_class_label"]) for s in subscribers]
        assert shown == [(number, "central", "中心区")]
        assert (await run_delivery(intake)).delivered == 0

    async def test_stage_events_are_accepted_by_notify(
        self, apps, intake, intake_admin, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-10 09:00")
        await run_scan(intake)
        run = await run_delivery(intake)
        assert (run.delivered, run.failed) == (3, 0), (await outbox(intake_admin))["items"]

    async def test_a_lost_answer_is_redelivered_and_notify_sees_a_duplicate(
        self, intake, intake_admin, clerk, notify_admin, clock
    ):
        from sqlalchemy import text

        await connected_application(clerk)
        await run_delivery(intake)
        async with intake.state.engine.begin() as conn:  # as if the answer never came back
            await conn.execute(
                text(
                    "UPDATE outbox_events SET state = 'pending' "
                    "WHERE type = 'intake.application.connected'"
                )
            )
        assert (await run_delivery(intake)).delivered == 1
        event, _receipt = (await outbox(intake_admin))["items"]
        assert (event["state"], event["attempts"], event["duplicate"]) == ("delivered", 2, True)
        assert (await notify_admin.get("/subscribers")).json()["total"] == 1

    async def test_notify_down_means_retries_with_backoff(
        self, intake, settings, intake_admin, clerk, clock
    ):
        await connected_application(clerk)
        down = ServiceClient(
            settings,
            "intake",
            httpx.AsyncClient(transport=httpx.MockTransport(_refuse_connection)),
        )
        config = IntakeSettings(outbox_retry_base_seconds=10, outbox_retry_max_seconds=60)
        engine = intake.state.engine
        start = clock.now()
        try:
            for attempt, wait in ((1, 10), (2, 20), (3, 40), (4, 60), (5, 60)):
                run = await deliver_pending(engine, down, config, now=clock.now())
                assert (run.delivered, run.failed) == (0, 2)  # the receipt and the connection
                for event in (await outbox(intake_admin))["items"]:
                    assert event["attempts"] == attempt
                    assert "无法连接 notify" in event["last_error"]
                clock.moment += timedelta(seconds=wait - 1)
                assert (await deliver_pending(engine, down, config, now=clock.now())).failed == 0
                clock.moment += timedelta(seconds=1)
        finally:
            await down.aclose()
        assert clock.now() - start == timedelta(seconds=190)
        run = await deliver_pending(engine, intake.state.client, config, now=clock.now())
        assert run.delivered == 2
        events = (await outbox(intake_admin))["items"]
        assert [(e["state"], e["attempts"], e["last_error"]) for e in events] == [
            ("delivered", 6, None)
        ] * 2

    async def test_a_refusal_is_kept_with_the_reason(
        self, intake, settings, intake_admin, clerk, clock
    ):
        await connected_application(clerk)
        refusing = ServiceClient(
            settings,
            "intake",
            httpx.AsyncClient(
                transport=httpx.MockTransport(
                    lambda _request: httpx.Response(422, json={"code": "event_data_invalid"})
                )
            ),
        )
        try:
            run = await deliver_pending(
                intake.state.engine, refusing, IntakeSettings(), now=clock.now()
            )
        finally:
            await refusing.aclose()
        assert run.failed == 2
        for event in (await outbox(intake_admin, state="pending"))["items"]:
            assert "422" in event["last_error"]

    async def test_admin_delivers_now(self, intake_admin, clerk, clock):
        await connected_application(clerk)
        response = await intake_admin.post("/outbox/deliver")
        assert response.json() == {"delivered": 2, "failed": 0}
        assert (await clerk.post("/outbox/deliver")).status_code == 403


class TestBackgroundTask:
    async def test_started_and_stopped_with_the_app(self, intake):
        intake.state.intake_settings = IntakeSettings(background_jobs=False)
        await start_jobs(intake)
        assert intake.state.jobs is None
        intake.state.intake_settings = IntakeSettings(
            background_jobs=True, outbox_interval_seconds=3600, scan_interval_seconds=3600
        )
        await start_jobs(intake)
        jobs = intake.state.jobs
        try:
            assert jobs is not None
            assert jobs.running
            for _ in range(500):  # the first pass takes the integrity lock (no timing asserted)
                if getattr(intake.state, "integrity_leader", False):
                    break
                await asyncio.sleep(0.01)
            assert intake.state.integrity_leader
        finally:
            await asyncio.wait_for(stop_jobs(intake), 5)  # the hour's wait ends at once
        assert not jobs.running
        assert intake.state.jobs is None
        assert not intake.state.integrity_leader


def _refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class TestRequestIds:
    async def test_the_queuing_request_s_id_is_stored_and_sent_to_notify(
        self, intake, clerk, clock, caplog
    ):
        from sqlmodel import select

        from services.intake.outbox.models import OutboxEvent
        from shared.db import session_scope

        clerk.headers["X-Request-Id"] = "clerk:connect.2026-03-02"
        try:
            await connected_application(clerk)
        finally:
            del clerk.headers["X-Request-Id"]
        async with session_scope(intake.state.engine) as session:
            rows = (await session.exec(select(OutboxEvent))).all()
        assert [r.request_id for r in rows] == ["clerk:connect.2026-03-02"] * 2
        with caplog.at_level(logging.INFO, logger="huodian.access"):
            assert (await run_delivery(intake)).delivered == 2
        seen = [
            (r.service, r.method, r.route, r.status)
            for r in caplog.records
            if r.name == "huodian.access" and r.request_id == "clerk:connect.2026-03-02"
        ]
        assert ("notify", "POST", "/events", 200) in seen

    async def test_the_receipt_message_carries_the_accepting_request_s_id(
        self, apps, intake, clerk, notify_admin, clock
    ):
        from services.notify.messages.models import Message
        from shared.db import session_scope

        notify = apps.notify
        clerk.headers["X-Request-Id"] = "clerk:accept.2026-03-02"
        try:
            created = await create(clerk)
        finally:
            del clerk.headers["X-Request-Id"]
        assert (await run_delivery(intake)).delivered == 1
        listed = await notify_admin.get("/messages", params={"kind": "intake.received"})
        (message,) = listed.json()["items"]
        assert message["request_id"] == "clerk:accept.2026-03-02"
        detail = (await notify_admin.get(f"/messages/{message['id']}")).json()
        assert detail["request_id"] == "clerk:accept.2026-03-02"
        number = created["application"]["number"]
        # An administrator sees the code masked; the worker sends it whole.
        assert f"申请编号{number}，查询码********（" in detail["body"]
        async with session_scope(notify.state.engine) as session:
            row = await session.get(Message, message["id"])
        assert row is not None
        assert f"申请编号{number}，查询码{created['query_code']}（" in row.body

    async def test_an_event_queued_by_a_job_has_the_runs_id(self, intake, clerk, clock, caplog):
        import logging

        from sqlmodel import select

        from services.intake.outbox.models import OutboxEvent
        from shared.db import session_scope

        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-10 09:00")
        with caplog.at_level(logging.INFO, logger="huodian.intake.jobs"):
            await run_scan(intake)  # the watch, a job: no request, a run id of its own
        (started,) = [r for r in caplog.records if getattr(r, "job", None) == "watch"]
        async with session_scope(intake.state.engine) as session:
            rows = (
                await session.exec(
                    select(OutboxEvent).where(OutboxEvent.type != "intake.application.received")
                )
            ).all()
        assert rows
        assert {r.request_id for r in rows} == {started.getMessage().rsplit(" ", 1)[-1]}
