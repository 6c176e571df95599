"""The set-based recompute of a calendar change gives every row what the ORM ``refresh`` gives it
(services/intake/due_changes/setwise.py), whichever path an application takes."""

from datetime import date

from sqlalchemy import select

from bench.bench_recompute import moved_calendar
from services.intake.applications.clocking import Clocking, is_live, refresh_applications
from services.intake.applications.models import Application, ApplicationStage
from services.intake.due_changes.setwise import recompute_running
from shared.calendar import WorkingCalendar
from shared.db import session_scope
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create

DERIVED = (
    Application.__table__.c.id,
    Application.__table__.c.due_date,
    Application.__table__.c.at_risk_from,
    Application.__table__.c.due_provisional,
    Application.__table__.c.paused_days,
)
STAGE_DERIVED = tuple(
    ApplicationStage.__table__.c[name]
    for name in (
        "id",
        "due_date",
        "provisional",
        "paused_days",
        "elapsed_days",
        "grid_days",
        "within_limit",
    )
)


async def _derived(session):
    connection = await session.connection()
    apps = (await connection.execute(select(*DERIVED).order_by(DERIVED[0]))).all()
    stages = (await connection.execute(select(*STAGE_DERIVED).order_by(STAGE_DERIVED[0]))).all()
    return apps, stages


class TestColumnsAgreeWithRefresh:
    async def test_every_shape_of_application(self, intake, clerk, clock):
        clock.set("2026-12-01 10:00")
        await create(clerk, customer_type="hv35_dual")  # at acceptance
        await create(clerk)  # low voltage: a total limit only
        clock.set("2026-12-02 10:00")
        on = (await create(clerk, customer_type="hv35_dual"))["application"]["number"]
        paused = (await create(clerk, customer_type="hv35_dual"))["application"]["number"]
        resumed = (await create(clerk, customer_type="hv35_dual"))["application"]["number"]
        clock.set("2026-12-03 10:00")
        await complete(clerk, on, "acceptance")
        for number in (paused, resumed):
            await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        clock.set("2026-12-07 10:00")
        await clerk.post(f"/applications/{resumed}/resume", json={})

        base = WorkingCalendar.build(last_year=2028)
        changed = Clocking(moved_calendar(base), 80)
        assert changed.calendar.is_workday(date(2026, 10, 7))
        engine = intake.state.engine
        async with session_scope(engine) as session:
            done = await recompute_running(session, changed, is_live())
            by_columns = await _derived(session)
            await session.rollback()
        async with session_scope(engine) as session:
            ids = (await (await session.connection()).execute(select(Application.id))).scalars()
            by_refresh = await refresh_applications(session, list(ids), changed)
            expected = await _derived(session)
            await session.rollback()
        assert by_refresh > 0
        assert done.changed == by_refresh
        assert by_columns == expected
