"""A calendar change reaches people (节假日调整): a load or amendment that moves a live deadline
records old → new, clears the warnings that no longer apply, and tells the clerk, the unit and
the applicant (through notify) and the portal (its callback), exactly once."""

import asyncio
import logging
from datetime import date

import pytest
from sqlmodel import col, select

from services.intake.app import create_app as create_intake
from services.intake.applications.models import Application
from services.intake.jobs import run_delivery, stop_jobs
from services.intake.monitoring.models import Escalation
from services.intake.outbox.models import EventType, OutboxEvent
from services.intake.settings import IntakeSettings
from services.intake.workdays.models import PREDICTED_SOURCE
from shared.auth import Role
from shared.calendar import WorkingCalendar, YearArrangement
from shared.db import session_scope
from tests.conftest import add_user, client_for, sign_in
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create, restart_as_worker
from tests.intake.workdays.test_calendar_api import ARRANGEMENT_2027


async def amended_2026(intake_admin) -> dict[str, object]:
    """2026 as published, amended (a made-up correction): the National Day holiday runs to
    Friday 10-09 and Saturday 10-10 is no longer worked."""
    shipped = (await intake_admin.get("/calendar/years/2026")).json()
    return {
        "holidays": [*shipped["holidays"], "2026-10-08", "2026-10-09"],
        "makeup_workdays": [d for d in shipped["makeup_workdays"] if d != "2026-10-10"],
        "source": "国办发明电〔2025〕7号（测试更正）",
    }


async def load(intake_admin, year: int, body: dict[str, object]) -> dict[str, object]:
    response = await intake_admin.put(f"/calendar/years/{year}", json=body)
    assert response.status_code == 200, response.text
    loaded: dict[str, object] = response.json()
    return loaded


async def due_changes(client, number: str) -> list[dict[str, object]]:
    response = await client.get(f"/applications/{number}/due-changes")
    assert response.status_code == 200, response.text
    changes: list[dict[str, object]] = response.json()
    return changes


async def due_changed_events(intake) -> list[OutboxEvent]:
    async with session_scope(intake.state.engine) as session:
        return list(
            (
                await session.exec(
                    select(OutboxEvent).where(col(OutboxEvent.type) == EventType.due_changed.value)
                )
            ).all()
        )


async def row(intake, number: str) -> Application:
    async with session_scope(intake.state.engine) as session:
        found = (
            await session.exec(select(Application).where(col(Application.number) == number))
        ).one()
        return found


async def escalations(intake) -> list[Escalation]:
    async with session_scope(intake.state.engine) as session:
        return list((await session.exec(select(Escalation))).all())


@pytest.fixture
async def notify_admin(apps):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


class TestAmendedYear:
    async def test_the_moved_deadline_is_recorded_and_told_once(
        self, intake, intake_admin, clerk, supervisor, clock
    ):
        clock.set("2026-10-08 09:30")
        number = (await create(clerk))["application"]["number"]
        before = (await clerk.get(f"/applications/{number}")).json()
        assert before["clock"]["due_date"] == "2026-10-09"

        clock.set("2026-10-08 11:00")
        loaded = await load(intake_admin, 2026, await amended_2026(intake_admin))
        assert loaded["moved_deadlines"] == 1
        after = (await clerk.get(f"/applications/{number}")).json()
        # 10-09 is now off and Saturday 10-10 no longer worked: Monday 10-12.
        assert after["clock"]["due_date"] == "2026-10-12"
        assert after["stages"][0]["due_date"] == "2026-10-12"

        (change,) = await due_changes(clerk, number)
        assert change == {
            "stage": "acceptance",
            "stage_label": change["stage_label"],
            "basis": "stage",
            "old_due": "2026-10-09",
            "new_due": "2026-10-12",
            "old_provisional": False,
            "new_provisional": False,
            "calendar_year": 2026,
            "calendar_source": "国办发明电〔2025〕7号（测试更正）",
            "cleared": [],
            "cleared_labels": [],
            "changed_at": "2026-10-08T11:00:00+08:00",
            "changed_by": "admin",
        }
        # The supervisor of the application reads it too.
        assert len(await due_changes(supervisor, number)) == 1

        (event,) = await due_changed_events(intake)
        assert event.subject == number
        assert {k: event.data[k] for k in ("old_due_text", "new_due_text", "stage_code")} == {
            "old_due_text": "2026年10月9日",
            "new_due_text": "2026年10月12日",
            "stage_code": "acceptance",
        }
        assert (event.data["clerk"], event.data["mobile"]) == ("clerk-wang", "13800138000")

        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert log[-1]["kind"] == "due_changed"
        assert log[-1]["payload"]["from"] == "2026-10-09"
        assert log[-1]["payload"]["to"] == "2026-10-12"
        verified = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert verified["valid"] is True, verified

        # The same amendment again moves nothing: nothing more recorded or told.
        again = await load(intake_admin, 2026, await amended_2026(intake_admin))
        assert again["moved_deadlines"] == 0
        assert len(await due_changes(clerk, number)) == 1
        assert len(await due_changed_events(intake)) == 1

    async def test_nothing_when_nothing_moved(self, intake, intake_admin, clerk, clock):
        clock.set("2026-11-02 10:00")
        number = (await create(clerk))["application"]["number"]
        loaded = await load(intake_admin, 2026, await amended_2026(intake_admin))
        assert loaded["moved_deadlines"] == 0
        assert await due_changes(clerk, number) == []
        assert await due_changed_events(intake) == []

    async def test_an_overdue_stage_no_longer_overdue_loses_its_escalation(
        self, intake, intake_admin, clerk, clock
    ):
        clock.set("2026-10-08 09:30")
        number = (await create(clerk))["application"]["number"]
        clock.set("2026-10-12 10:00")  # due 10-09: overdue
        scanned = (await intake_admin.post("/monitoring/scan")).json()
        assert scanned["overdue"] == 1
        (escalation,) = await escalations(intake)
        assert escalation.state.value == "open"
        assert (await row(intake, number)).warned_level == 2

        await load(intake_admin, 2026, await amended_2026(intake_admin))
        (change,) = await due_changes(clerk, number)
        # Due today now: at risk, not overdue, and the 督办 withdrawn.
        assert change["cleared"] == ["overdue", "escalation"]
        assert change["cleared_labels"] == ["超期", "督办"]
        (escalation,) = await escalations(intake)
        assert (escalation.state.value, escalation.resolved_by) == ("resolved", "system")
        assert escalation.resolution is not None
        assert "2026年10月12日" in escalation.resolution
        assert (await row(intake, number)).warned_level == 1
        overdue = (await clerk.get("/monitoring/stages", params={"state": "overdue"})).json()
        assert overdue["total"] == 0
        at_risk = (await clerk.get("/monitoring/stages", params={"state": "at_risk"})).json()
        assert [i["number"] for i in at_risk["items"]] == [number]
        listed = (await intake_admin.get("/escalations")).json()
        assert [e["state"] for e in listed["items"]] == ["resolved"]
        (event,) = await due_changed_events(intake)
        assert event.data["cleared"] == ["超期", "督办"]
        verified = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert verified["valid"] is True, verified

        # Missed again: the same stage's 督办 is opened again, at the new due date.
        clock.set("2026-10-13 10:00")
        assert (await intake_admin.post("/monitoring/scan")).json()["overdue"] == 1
        (escalation,) = await escalations(intake)
        assert (escalation.state.value, escalation.due_date) == ("open", date(2026, 10, 12))
        assert escalation.resolution is None

    async def test_an_at_risk_warning_that_no_longer_applies_is_cleared(
        self, intake, intake_admin, clerk, clock
    ):
        clock.set("2026-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["clock"]["due_date"] == "2026-10-13"  # supply plan: 5 working days
        clock.set("2026-10-12 10:00")
        assert (await intake_admin.post("/monitoring/scan")).json()["at_risk"] == 1
        assert (await row(intake, number)).warned_level == 1

        await load(intake_admin, 2026, await amended_2026(intake_admin))
        (change,) = await due_changes(clerk, number)
        assert (change["stage"], change["old_due"], change["new_due"]) == (
            "supply_plan",
            "2026-10-13",
            "2026-10-16",
        )
        assert change["cleared"] == ["at_risk"]
        assert (await row(intake, number)).warned_level == 0
        # It is warned again when the moved deadline comes near.
        assert (await intake_admin.post("/monitoring/scan")).json()["at_risk"] == 0
        clock.set("2026-10-15 10:00")
        assert (await intake_admin.post("/monitoring/scan")).json()["at_risk"] == 1


class TestToldThroughNotify:
    async def test_notify_takes_the_event_and_messages_the_applicant(
        self, apps, intake, intake_admin, clerk, notify_admin, clock
    ):
        await add_user(apps, "he.head", Role.dept_head, ["国网东营供电公司"], "he@example.cn")
        clock.set("2026-10-08 09:30")
        number = (await create(clerk))["application"]["number"]
        await load(intake_admin, 2026, await amended_2026(intake_admin))
        run = await run_delivery(intake)
        assert (run.delivered, run.failed) == (2, 0)  # the acceptance's receipt, then the move
        listed = (
            await notify_admin.get("/messages", params={"kind": "intake.due_changed"})
        ).json()["items"]
        by_recipient = {(m["recipient"], m["channel"]): m for m in listed}
        sms = by_recipient[("13800138000", "sms")]
        assert f"报装{number}" in sms["body"]
        assert "由2026年10月9日调整为2026年10月12日" in sms["body"]
        assert ("contact@example.cn", "email") in by_recipient
        assert ("he@example.cn", "email") in by_recipient
        # The test clerk has no email in the directory: a visible dead message, not silence.
        dead = by_recipient[("user:clerk-wang", "email")]
        assert dead["state"] == "dead"
        assert (await run_delivery(intake)).delivered == 0


class TestPublishedYearReplacesThePrediction:
    async def test_a_moved_provisional_deadline(self, intake, intake_admin, clerk, clock):
        clock.set("2027-02-01 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2027-02-02 10:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        # Predicted: 除夕 02-05 and 初三 02-08 off, so five working days end on 02-11.
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["clock"]["due_date"], detail["clock"]["provisional"]) == (
            "2027-02-11",
            True,
        )
        loaded = await load(intake_admin, 2027, ARRANGEMENT_2027)
        assert loaded["moved_deadlines"] == 1
        (change,) = await due_changes(clerk, number)
        # Published: 02-05, 02-08..12 off, Saturday 02-06 worked.
        assert (change["old_due"], change["new_due"]) == ("2027-02-11", "2027-02-16")
        assert (change["old_provisional"], change["new_provisional"]) == (True, False)
        (event,) = await due_changed_events(intake)
        assert event.data["provisional"] is False
        assert event.data["new_due_text"] == "2027年2月16日"

    async def test_an_unmoved_provisional_deadline_is_confirmed_silently(
        self, intake, intake_admin, clerk, clock
    ):
        clock.set("2026-12-31 10:00")
        number = (await create(clerk))["application"]["number"]
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["clock"]["due_date"], detail["clock"]["provisional"]) == (
            "2027-01-04",
            True,
        )
        loaded = await load(intake_admin, 2027, ARRANGEMENT_2027)
        assert loaded["moved_deadlines"] == 0
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["clock"]["due_date"], detail["clock"]["provisional"]) == (
            "2027-01-04",
            False,
        )
        assert await due_changes(clerk, number) == []
        assert await due_changed_events(intake) == []


class TestRefused:
    async def test_unknown_application_and_other_units(self, clerk, other_clerk, clock):
        clock.set("2026-10-08 09:30")
        number = (await create(clerk))["application"]["number"]
        missing = await clerk.get("/applications/DY000/due-changes")
        assert missing.status_code == 404
        assert missing.json()["code"] == "application_not_found"
        refused = await other_clerk.get(f"/applications/{number}/due-changes")
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_your_unit"


class TestStartUp:
    """A process starting with a calendar that moves stored deadlines (a newer package, a year's
    holidays predicted) brings the live clocks up to it once across replicas — the one that
    takes the integrity lock — recording and telling each move as a calendar load does."""

    @staticmethod
    async def restart_both(intake, replica, caplog) -> int:
        """Both start at once as processes that run the jobs; returns how many recomputed (a
        ``calendar`` job run)."""
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="huodian.intake.jobs"):
            await asyncio.gather(restart_as_worker(intake), restart_as_worker(replica))
        return sum(getattr(r, "job", None) == "calendar" for r in caplog.records)

    async def test_one_replica_recomputes_records_and_tells_once(
        self, apps, intake, clerk, clock, settings, caplog
    ):
        clock.set("2026-12-31 10:00")
        older = WorkingCalendar.build(
            [
                YearArrangement(
                    year=2027,
                    holidays=frozenset({date(2027, 1, 1), date(2027, 1, 4)}),
                    makeup_workdays=frozenset(),
                    source="旧版日历（测试）",
                )
            ],
            today=date(2026, 12, 31),
        )
        intake.state.calendar = older  # the calendar the stored deadlines were computed under
        number = (await create(clerk))["application"]["number"]
        assert (await row(intake, number)).due_date == date(2027, 1, 5)

        await stop_jobs(intake)  # nobody leads
        replica = create_intake(settings, IntakeSettings(background_jobs=False))
        replica.state.clock = clock
        async with replica.router.lifespan_context(replica):
            await replica.state.client.aclose()
            replica.state.client = apps.client_for(settings, "intake")
            try:
                # A process without jobs attaches the calendar only: it takes no lock it
                # would never use, and recomputes nothing.
                assert not getattr(replica.state, "integrity_leader", False)
                assert (await row(intake, number)).due_date == date(2027, 1, 5)
                assert await due_changes(clerk, number) == []

                # Two processes that run the jobs start at once and race for the lock.
                assert await self.restart_both(intake, replica, caplog) == 1
                # 2027 unpublished: 01-01 predicted off, 01-04 a working day again.
                assert (await row(intake, number)).due_date == date(2027, 1, 4)
                (change,) = await due_changes(clerk, number)
                assert (change["old_due"], change["new_due"]) == ("2027-01-05", "2027-01-04")
                assert (change["old_provisional"], change["new_provisional"]) == (False, True)
                assert (change["calendar_year"], change["calendar_source"]) == (
                    2027,
                    PREDICTED_SOURCE,
                )
                assert change["changed_by"] == "system:startup"
                (event,) = await due_changed_events(intake)
                assert (event.subject, event.data["new_due"]) == (number, "2027-01-04")
                log = (await clerk.get(f"/applications/{number}/log")).json()
                assert [e["kind"] for e in log].count("due_changed") == 1

                # Started again with nothing changed: nothing recorded, nobody told.
                assert await self.restart_both(intake, replica, caplog) == 1
                assert len(await due_changes(clerk, number)) == 1
                assert len(await due_changed_events(intake)) == 1
            finally:
                await stop_jobs(replica)
                await stop_jobs(intake)
