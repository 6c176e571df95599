"""A pause says whether its working days were counted over a year not yet published (暂定)."""

from tests.intake.conftest import create
from tests.intake.workdays.test_calendar_api import ARRANGEMENT_2027


async def pause(clerk, number: str) -> None:
    response = await clerk.post(
        f"/applications/{number}/pause", json={"reason": "missing_material", "note": "补充资料"}
    )
    assert response.status_code == 200, response.text


async def resume(clerk, number: str) -> None:
    response = await clerk.post(f"/applications/{number}/resume", json={})
    assert response.status_code == 200, response.text


async def pauses(clerk, number: str) -> list[tuple[int, bool]]:
    detail = (await clerk.get(f"/applications/{number}")).json()
    return [(p["days"], p["provisional"]) for p in detail["pauses"]]


class TestPauseProvisional:
    async def test_a_pause_within_a_published_year_is_not(self, clerk, clock):
        clock.set("2026-11-02 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2026-11-03 09:00")
        await pause(clerk, number)
        clock.set("2026-11-05 09:00")
        await resume(clerk, number)
        assert await pauses(clerk, number) == [(2, False)]

    async def test_a_pause_into_an_unpublished_year_is_until_it_is_loaded(
        self, clerk, intake_admin, clock
    ):
        clock.set("2026-12-29 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2026-12-30 10:00")
        await pause(clerk, number)
        clock.set("2027-01-05 10:00")
        # Running: 12-31, (01-01 predicted off), 01-04, 01-05 so far.
        assert await pauses(clerk, number) == [(3, True)]
        await resume(clerk, number)
        assert await pauses(clerk, number) == [(3, True)]
        response = await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        assert response.status_code == 200, response.text
        assert await pauses(clerk, number) == [(3, False)]
