"""Intake's pages for the work in hand (在办申请, 督办事项): what each role sees and may do."""

from __future__ import annotations

import re

from shared.auth import Role
from shared.web.session import COOKIE, csrf_token
from tests.conftest import client_for
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, create, staff_token
from tests.intake.monitoring.test_watch_api import scan


async def get(intake, token: str | None, path: str, **params: str):
    async with client_for(intake) as browser:
        if token:
            browser.cookies.set(COOKIE, token)
        return await browser.get(path, params=params)


async def post(intake, token: str, path: str, data: dict[str, str]):
    async with client_for(intake) as browser:
        browser.cookies.set(COOKIE, token)
        return await browser.post(path, data=data)


def states(html: str) -> dict[str, str]:
    """Application number → the clock state its row shows."""
    return dict(re.findall(r'<tr data-number="([^"]+)" data-state="(\w*)"', html))


class TestOpenApplications:
    async def test_each_row_coloured_by_its_clock_and_scoped(
        self, intake, apps, clerk, other_clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        late = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 10:00")
        due_today = (await create(clerk, customer_type="hv10_dual"))["application"]["number"]
        fresh = (await create(clerk, customer_type="residential"))["application"]["number"]
        theirs = (await create(other_clerk, unit=JINGYU_UNIT))["application"]["number"]
        paused = (await create(clerk))["application"]["number"]
        assert (
            await clerk.post(f"/applications/{paused}/pause", json={"reason": "customer_works"})
        ).status_code == 200
        clock.set("2025-10-10 10:00")

        wang = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        page = await get(intake, wang, "/ui/open")
        assert page.status_code == 200, page.text
        shown = states(page.text)
        assert theirs not in shown  # another unit's application
        assert shown[late] == "overdue"
        assert shown[paused] == "paused"
        # The API's own clocks, row by row.
        for number in (due_today, fresh):
            api = (await clerk.get(f"/applications/{number}")).json()
            assert shown[number] == api["clock"]["state"]
        assert "超期" in page.text.split(f'data-number="{late}"')[1].split("</tr>")[0]
        assert f'href="/ui/applications/{late}"' in page.text

        admin = await staff_token(apps, "admin", Role.admin)
        everyone = states((await get(intake, admin, "/ui/open")).text)
        assert theirs in everyone
        assert late in everyone

    async def test_filters_by_stage_and_unit(self, intake, apps, clerk, other_clerk):
        await create(clerk)
        theirs = (await create(other_clerk, unit=JINGYU_UNIT))["application"]["number"]
        admin = await staff_token(apps, "admin", Role.admin)
        by_unit = await get(intake, admin, "/ui/open", unit=JINGYU_UNIT)
        assert list(states(by_unit.text)) == [theirs]
        assert f'value="{JINGYU_UNIT}"' in by_unit.text
        none = await get(intake, admin, "/ui/open", stage="connection")
        assert states(none.text) == {}
        assert "没有符合条件的在办申请。" in none.text
        assert '<option value="connection" selected>' in none.text

    async def test_another_units_filter_is_refused_in_chinese(self, intake, apps, clerk):
        await create(clerk)
        li = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        page = await get(intake, li, "/ui/open", unit=DONGYING_UNIT)
        assert page.status_code == 403
        assert 'id="error"' in page.text
        assert re.search(r"[\u4e00-\u9fff]", page.text.split('id="error">')[1].split("<")[0])

    async def test_signed_out_and_wrong_role(self, intake, apps):
        assert (await get(intake, None, "/ui/open")).status_code == 303
        disp = await staff_token(apps, "disp", Role.dispatcher, ("营销部",))
        assert (await get(intake, disp, "/ui/open")).status_code == 403


class TestEscalationsPage:
    async def _escalated(self, intake_admin, clerk, clock) -> int:
        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-10 09:00")
        await scan(intake_admin)
        return int((await intake_admin.get("/escalations")).json()["items"][0]["id"])

    async def test_a_supervisor_acknowledges_then_resolves(
        self, intake, apps, intake_admin, clerk, clock
    ):
        escalation = await self._escalated(intake_admin, clerk, clock)
        token = await staff_token(apps, "sup-zhao", Role.supervisor, ("市发展改革委",))
        csrf = csrf_token(intake.state.settings, token)
        page = await get(intake, token, "/ui/escalations")
        assert page.status_code == 200, page.text
        assert f'action="/ui/escalations/{escalation}/acknowledge"' in page.text
        assert "待处理" in page.text

        done = await post(
            intake,
            token,
            f"/ui/escalations/{escalation}/acknowledge",
            {"csrf": csrf, "note": "已电话督促"},
        )
        assert done.status_code == 303
        api = (await intake_admin.get(f"/escalations/{escalation}")).json()
        assert (api["state"], api["acknowledged_by"]) == ("acknowledged", "sup-zhao")

        empty = await post(
            intake,
            token,
            f"/ui/escalations/{escalation}/resolve",
            {"csrf": csrf, "resolution": " "},
        )
        assert empty.status_code == 422
        assert "请填写处理情况" in empty.text
        resolved = await post(
            intake,
            token,
            f"/ui/escalations/{escalation}/resolve",
            {"csrf": csrf, "resolution": "已约谈并当日办结"},
        )
        assert resolved.status_code == 303
        after = await get(intake, token, "/ui/escalations", state="", done="resolved")
        assert "该督办已办结。" in after.text
        assert "已约谈并当日办结" in after.text
        assert (await intake_admin.get(f"/escalations/{escalation}")).json()["state"] == "resolved"
        again = await post(
            intake,
            token,
            f"/ui/escalations/{escalation}/resolve",
            {"csrf": csrf, "resolution": "再次"},
        )
        assert again.status_code == 409
        assert "已办结" in again.text

    async def test_a_forged_form_writes_nothing(self, intake, apps, intake_admin, clerk, clock):
        escalation = await self._escalated(intake_admin, clerk, clock)
        token = await staff_token(apps, "sup-zhao", Role.supervisor, ("市发展改革委",))
        refused = await post(
            intake, token, f"/ui/escalations/{escalation}/acknowledge", {"csrf": "x"}
        )
        assert refused.status_code == 403
        assert "页面已过期，请刷新页面后重试。" in refused.text
        assert (await intake_admin.get(f"/escalations/{escalation}")).json()["state"] == "open"

    async def test_clerks_see_but_do_not_handle(self, intake, apps, intake_admin, clerk, clock):
        escalation = await self._escalated(intake_admin, clerk, clock)
        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        page = await get(intake, token, "/ui/escalations")
        assert page.status_code == 200
        assert f'id="escalation-{escalation}"' in page.text
        assert "/acknowledge" not in page.text
        csrf = csrf_token(intake.state.settings, token)
        refused = await post(
            intake, token, f"/ui/escalations/{escalation}/acknowledge", {"csrf": csrf}
        )
        assert refused.status_code == 403
        assert (await get(intake, None, "/ui/escalations")).status_code == 303


class TestOpenApplicationsPaging:
    async def test_a_long_list_says_how_much_it_shows(self, intake, apps, clerk, monkeypatch):
        from services.intake.web import monitoring

        monkeypatch.setattr(monitoring, "SHOWN", 1)
        await create(clerk)
        newest = (await create(clerk))["application"]["number"]
        admin = await staff_token(apps, "admin", Role.admin)
        page = await get(intake, admin, "/ui/open")
        assert list(states(page.text)) == [newest]
        assert "共 2 件（办理中与暂停计时），显示最近受理的 1 件" in page.text
