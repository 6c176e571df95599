"""An application on the whitelist (白名单) is connected (装表接电) only once its record is
released after the grid upgrade (建设完成后及时开展报装接电工作); the wait is grid-side time."""

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.whitelist.test_whitelist_api import add_area, small_business


async def move(client, number, status):
    response = await client.post(f"/applications/{number}/whitelist", json={"status": status})
    assert response.status_code == 200, response.text


async def up_to_the_last_stage(clerk, clock):
    """A whitelisted small business with every stage but the last completed."""
    clock.set("2025-09-30 10:00")
    await add_area(clerk, "黄河路台区", capacity_limited=True)
    created = (await small_business(clerk, "黄河路台区"))["application"]
    number = created["number"]
    assert created["three_zero"]["whitelist_status"] == "pending_upgrade"
    stages = [s["stage"] for s in created["stages"]]
    for stage in stages[:-1]:
        clock.set("2025-10-09 09:00")
        done = await complete(clerk, number, stage)
        assert done.status_code == 200, done.text
    return number, stages[-1]


class TestWhitelistGate:
    async def test_connection_waits_for_the_release(self, clerk, clock):
        number, last = await up_to_the_last_stage(clerk, clock)
        refused = await complete(clerk, number, last, **CONNECTION_POINT)
        assert (refused.status_code, refused.json()["code"]) == (409, "whitelist_pending")
        assert "待配套电网改造" in refused.json()["detail"]
        await move(clerk, number, "upgrade_done")
        still = await complete(clerk, number, last, **CONNECTION_POINT)
        assert (still.status_code, still.json()["code"]) == (409, "whitelist_pending")
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["status"], detail["current_stage"]) == ("open", last)

        await move(clerk, number, "released")
        connected = await complete(clerk, number, last, **CONNECTION_POINT)
        assert connected.status_code == 200, connected.text
        assert connected.json()["status"] == "connected"
        kinds = [e["kind"] for e in (await clerk.get(f"/applications/{number}/log")).json()]
        assert kinds[-3:] == ["whitelist_transition", "whitelist_transition", "stage_completed"]

    async def test_waiting_for_the_upgrade_is_grid_side_time(self, clerk, clock):
        number, last = await up_to_the_last_stage(clerk, clock)
        before = (await clerk.get(f"/applications/{number}")).json()
        clock.set("2025-10-20 09:00")  # the utility builds for a while; no pause is opened
        later = (await clerk.get(f"/applications/{number}")).json()
        assert later["status"] == "open"
        assert later["total"]["grid_days"] > before["total"]["grid_days"]
        assert later["total"]["paused_days"] == before["total"]["paused_days"] == 0
        await move(clerk, number, "upgrade_done")
        await move(clerk, number, "released")
        connected = await complete(clerk, number, last, **CONNECTION_POINT)
        assert connected.json()["total"]["grid_days"] == later["total"]["grid_days"]

    async def test_an_application_not_on_the_whitelist_connects_as_before(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "府前1号台区", "630")
        created = (await small_business(clerk, "府前1号台区"))["application"]
        assert created["three_zero"]["whitelist"] is False
        for stage in [s["stage"] for s in created["stages"]]:
            done = await complete(clerk, created["number"], stage, **CONNECTION_POINT)
            assert done.status_code == 200, done.text
