import asyncio
import json
import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select

from services.notify.delivery.windows import DeliveryHours
from services.notify.scheduler import jobs
from services.notify.scheduler.jobs import JobRuntime
from services.notify.scheduler.models import JOBS_TABLE, scheduled_jobs
from services.notify.scheduler.service import NotifyScheduler
from services.notify.settings import NotifySettings
from shared.auth import Role
from shared.calendar import BEIJING, WorkingCalendar
from shared.clock import SYSTEM_CLOCK
from shared.db import create_sync_engine, database_target, session_scope
from shared.leader import AdvisoryLock, FileLock
from shared.logs import JsonFormatter, request_id_scope
from tests.conftest import add_user

CALENDAR = WorkingCalendar.build(last_year=2028)


@pytest.fixture
def store_engine(settings):
    engine = create_sync_engine(database_target(settings, "notify"))
    yield engine
    engine.dispose()


@pytest.fixture
def make_scheduler(apps, settings, store_engine):
    config = NotifySettings(reminder_time="08:30", scheduler_standby_seconds=0.02)

    def make() -> NotifyScheduler:
        engine = apps.notify.state.engine
        lock = (
            AdvisoryLock(engine, config.scheduler_lock_id)
            if settings.database_url
            else FileLock(settings.var_dir / "scheduler-test.lock")
        )
        runtime = JobRuntime(
            engine=engine,
            client=apps.notify.state.client,
            calendar=CALENDAR,
            hours=DeliveryHours.from_settings(config, CALENDAR),
            settings=config,
            clock=SYSTEM_CLOCK,
        )
        scheduler = NotifyScheduler(runtime, lock, store_engine)
        return scheduler

    yield make
    jobs.runtime = None


@pytest.fixture
async def two(make_scheduler):
    first, second = make_scheduler(), make_scheduler()
    yield first, second
    await first.stop()
    await second.stop()


async def stored_jobs(apps) -> dict[str, datetime]:
    async with session_scope(apps.notify.state.engine) as session:
        rows = await session.exec(select(scheduled_jobs.c.id, scheduled_jobs.c.next_run_time))
        return {job_id: datetime.fromtimestamp(at, UTC) for job_id, at in rows}


class TestOneActiveScheduler:
    async def test_the_second_stands_by_until_the_first_stops(self, apps, two):
        first, second = two
        await first.step()
        await second.step()
        assert (first.active, second.active) == (True, False)
        await second.step()
        assert not second.active

        await first.stop()
        await second.step()
        assert second.active

    async def test_the_loop_takes_over(self, apps, two):
        first, second = two
        first.start()
        await asyncio.wait_for(first.wait_until_active(), 5)
        second.start()
        await first.stop()
        await asyncio.wait_for(second.wait_until_active(), 5)
        assert not first.active


class TestJobs:
    async def test_jobs_persist_with_a_daily_beijing_time(self, apps, two):
        first, _ = two
        await first.step()
        stored = await stored_jobs(apps)
        assert set(stored) == {"ledger-reminders", "report-reminders", "stale-escalations"}
        local = stored["ledger-reminders"].astimezone(BEIJING)
        assert (local.hour, local.minute) == (8, 30)
        assert local - datetime.now(BEIJING) <= timedelta(days=1)

    async def test_a_run_missed_while_down_is_made_up_once(self, apps, two, store_engine):
        first, second = two
        await first.step()
        await first.stop()
        # The replica was down for three days: the job's next run lies in the past.
        store = SQLAlchemyJobStore(engine=store_engine, tablename=JOBS_TABLE)
        job = store.lookup_job("ledger-reminders")
        job.next_run_time = datetime.now(BEIJING) - timedelta(days=3)
        store.update_job(job)

        await second.step()
        for _ in range(250):
            if second.runtime.runs:
                break
            await asyncio.sleep(0.02)
        assert [name for name, _ in second.runtime.runs] == ["ledger-reminders"]
        after = (await stored_jobs(apps))["ledger-reminders"]
        assert after > datetime.now(UTC)  # coalesced: the next run is the coming one

    async def test_jobs_only_queue_messages(self, apps, seeded, two, notify_admin):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        first, _ = two
        await first.step()
        run = await jobs.ledger_reminders(today=date(2021, 6, 21))
        assert (run.queued, run.dead) == (8, 13)
        states = (await notify_admin.get("/messages", params={"limit": 500})).json()["items"]
        assert {m["state"] for m in states} == {"queued", "dead"}


class TestOncePerDay:
    """Each job runs once per Beijing date, whichever replica leads (定时任务每日一次)."""

    async def test_a_second_run_the_same_day_is_skipped(self, apps, seeded, two, notify_admin):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        first, second = two
        await first.step()
        day = date(2021, 6, 21)

        async def messages() -> int:
            page = await notify_admin.get("/messages", params={"limit": 500})
            return len(page.json()["items"])

        assert (await jobs.ledger_reminders(today=day)) is not None
        assert await messages() == 8 + 13  # queued + dead
        await first.stop()
        await second.step()  # the other replica leads now, the same day
        assert (await jobs.ledger_reminders(today=day)) is None
        assert await messages() == 8 + 13
        assert (await jobs.ledger_reminders(today=date(2021, 6, 22))) is not None

        state = (await notify_admin.get("/scheduler")).json()
        runs = {(r["job_id"], r["run_date"]): r for r in state["runs"]}
        assert set(runs) == {("ledger-reminders", "2021-06-22"), ("ledger-reminders", "2021-06-21")}
        assert runs["ledger-reminders", "2021-06-21"]["attempts"] == 1
        assert runs["ledger-reminders", "2021-06-21"]["finished_at"] is not None
        assert "queued=8" in runs["ledger-reminders", "2021-06-21"]["outcome"]

    async def test_a_run_cut_off_midway_is_taken_over(self, apps, seeded, two):
        from sqlmodel import select as select_rows

        from services.notify.scheduler.models import ScheduledJobRun
        from services.notify.scheduler.runs import claim_run

        first, _ = two
        await first.step()
        day = date(2021, 6, 21)
        # The leader claimed the run and died before finishing it.
        async with session_scope(apps.notify.state.engine) as session:
            assert await claim_run(session, "stale-escalations", day, SYSTEM_CLOCK.now())
        assert (await jobs.stale_escalations(today=day)) is not None
        assert (await jobs.stale_escalations(today=day)) is None
        async with session_scope(apps.notify.state.engine) as session:
            (run,) = (await session.exec(select_rows(ScheduledJobRun))).all()
        assert (run.job_id, run.attempts, run.finished_at is not None) == (
            "stale-escalations",
            2,
            True,
        )


class TestReportReminders:
    async def test_once_before_each_deadline(self, apps, seeded, notify_admin):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        await add_user(apps, "regulator", Role.dept_head, ["各电力主管部门"])
        run = await notify_admin.post("/reminders/reports/run", params={"as_of": "2025-06-20"})
        assert run.status_code == 200, run.text
        assert run.json()["reports"] == ["2025-half_year"]
        assert (run.json()["queued"], run.json()["dead"]) == (1, 1)
        assert run.json()["unresolved"] == [
            {
                "recipient": "user:regulator",
                "error": "department head 'regulator' has no email",
                "reminders": 1,
            }
        ]
        again = await notify_admin.post("/reminders/reports/run", params={"as_of": "2025-06-23"})
        assert again.json()["queued"] == 0
        queued = (await notify_admin.get("/messages", params={"kind": "report_reminder"})).json()
        mail = next(m for m in queued["items"] if m["recipient"] == "power@example.cn")
        assert mail["subject"] == "【报送提醒】请于2025-06-25前报送2025年上半年情况"

        early = await notify_admin.post("/reminders/reports/run", params={"as_of": "2025-06-10"})
        assert early.json()["reports"] == []
        annual = await notify_admin.post("/reminders/reports/run", params={"as_of": "2025-12-30"})
        assert annual.json()["reports"] == ["2025-annual"]
        weekend = await notify_admin.post("/reminders/reports/run", params={"as_of": "2025-06-21"})
        assert weekend.json()["working_day"] is False


class TestInTheApp:
    async def test_the_app_runs_the_scheduler(self, settings, apps):
        from services.notify.app import create_app
        from tests.conftest import client_for, sign_in

        app = create_app(
            settings, NotifySettings(worker_enabled=False, scheduler_standby_seconds=0.05)
        )
        async with app.router.lifespan_context(app):
            await app.state.client.aclose()
            app.state.client = apps.client_for(settings, "notify")  # reaches ledger in-process
            await asyncio.wait_for(app.state.scheduler.wait_until_active(), 5)
            await add_user(apps, "admin", Role.admin)
            async with client_for(app, await sign_in(apps, "admin")) as admin:
                state = (await admin.get("/scheduler")).json()
        assert state["active_here"] is True
        assert [j["id"] for j in state["jobs"]] == [
            "ledger-reminders",
            "report-reminders",
            "stale-escalations",
        ]


class JsonLines(logging.Handler):
    """The JSON lines a logger writes, formatted as they are emitted (in the run's context)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def scheduler_lines():
    logger = logging.getLogger("huodian.notify.scheduler")
    handler, level = JsonLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


class TestRequestIds:
    """Each run of a job has a request id of its own, on its lines, its messages and its record."""

    async def test_one_run_is_followed_by_its_id(
        self, apps, seeded, two, notify_admin, scheduler_lines
    ):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        first, _ = two
        await first.step()
        results = [
            await jobs.ledger_reminders(today=date(2021, 6, 21)),
            await jobs.ledger_reminders(today=date(2021, 6, 22)),
        ]
        started = [line for line in scheduler_lines if line.get("job") == "ledger-reminders"]
        ids = [line["request_id"] for line in started]
        assert [line["message"] for line in started] == [f"ledger-reminders: run {i}" for i in ids]
        assert len(set(ids)) == 2
        # Every line of a run carries its id: the start, and the outcome at the end.
        for run_id in ids:
            of_run = [line["message"] for line in scheduler_lines if line["request_id"] == run_id]
            assert len(of_run) == 2
            assert of_run[1].startswith("ledger-reminders: ")
        page = (await notify_admin.get("/messages", params={"limit": 500})).json()["items"]
        made = Counter(m["request_id"] for m in page)
        assert made == {i: r.queued + r.dead for i, r in zip(ids, results, strict=True) if r}
        assert made[ids[0]] == 8 + 13
        state = (await notify_admin.get("/scheduler")).json()
        runs = {r["run_date"]: r["request_id"] for r in state["runs"]}
        assert runs == {"2021-06-21": ids[0], "2021-06-22": ids[1]}

    async def test_a_run_started_by_hand_names_the_request(self, two, scheduler_lines):
        first, _ = two
        await first.step()
        with request_id_scope("admin:run-now.0001"):
            await jobs.report_reminders(today=date(2021, 6, 21))
        (started,) = [line for line in scheduler_lines if line.get("job") == "report-reminders"]
        assert started["called_from"] == "admin:run-now.0001"
        assert started["request_id"] not in {None, "admin:run-now.0001"}
