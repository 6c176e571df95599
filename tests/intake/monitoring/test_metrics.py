"""Intake's own figures on /metrics: open, at-risk and overdue stages across the 2025 National
Day holiday, and the outbox's lag."""

from datetime import datetime

from tests.intake.conftest import create
from tests.shared.test_metrics import scrape, value

ACCEPTANCE = {"stage": "acceptance"}


def stages(samples: dict, state: str) -> float:
    return value(samples, "huodian_intake_stages", state=state, **ACCEPTANCE)


class TestIntakeFigures:
    async def test_open_at_risk_and_overdue_stages(self, clerk, anonymous, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        await create(clerk)
        samples = await scrape(anonymous)
        assert (stages(samples, "open"), stages(samples, "at_risk")) == (2, 0)
        clock.set("2025-10-03 10:00")  # due 10-09, one working day left: at risk
        assert stages(await scrape(anonymous), "at_risk") == 2
        clock.set("2025-10-13 09:00")
        samples = await scrape(anonymous)
        assert (stages(samples, "overdue"), stages(samples, "at_risk")) == (2, 0)

    async def test_outbox_lag_is_the_age_of_the_oldest_pending_event(
        self, clerk, intake_admin, anonymous, clock
    ):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        # The acceptance queues the applicant's receipt (受理回执); nothing delivers it here.
        assert value(await scrape(anonymous), "huodian_intake_outbox_pending") == 1
        clock.set("2025-10-13 09:00")
        assert (await intake_admin.post("/monitoring/scan")).status_code == 200
        clock.set("2025-10-13 09:05")
        samples = await scrape(anonymous)
        assert value(samples, "huodian_intake_outbox_pending") >= 3  # + overdue, escalation
        # The oldest pending event is the receipt, queued 2025-09-30 10:00 Beijing time.
        waited = datetime(2025, 10, 13, 9, 5) - datetime(2025, 9, 30, 10, 0)
        assert value(samples, "huodian_intake_outbox_lag_seconds") == waited.total_seconds()
