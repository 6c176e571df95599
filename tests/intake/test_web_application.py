"""Intake's page of one application (申请详情页): the same facts as the API, for each role."""

from __future__ import annotations

import re
from html import unescape

from shared.auth import Role
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, create, staff_token
from tests.intake.test_web_monitoring import get


def section(html: str, marker: str, end: str) -> str:
    return html.split(marker)[1].split(end)[0]


class TestApplicationPage:
    async def test_stages_pauses_documents_log_and_why(self, intake, apps, clerk, clock):
        clock.set("2025-09-26 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-09-29 10:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "customer_works", "note": "请完成用户侧配电房土建"},
        )
        assert paused.status_code == 200, paused.text
        clock.set("2025-10-10 10:00")

        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        page = await get(intake, token, f"/ui/applications/{number}")
        assert page.status_code == 200, page.text
        html = unescape(page.text)
        api = (await clerk.get(f"/applications/{number}")).json()

        stages = section(html, '<table id="stages">', "</table>")
        for stage in api["stages"]:
            row = section(stages, f'data-stage="{stage["stage"]}">', "</tr>")
            assert f"<td>{stage['label']}</td>" in row
            assert f"<td>{stage['due_date'] or ''}</td>" in row
        pauses = section(html, '<table id="pauses">', "</table>")
        assert "请完成用户侧配电房土建" in pauses
        assert "仍在暂停" in pauses

        # The documents of the current stage: each named, with its state and where it came from.
        documents = section(html, '<table id="documents">', "</table>")
        for item in api["documents"]["required"]:
            assert f'data-document="{item["code"]}" data-state="{item["state"]}"' in documents

        # The why of each deadline: the total and every started stage, its lines as the API says.
        why = section(html, '<div id="why">', "</div>")
        total = (await clerk.get(f"/applications/{number}/why")).json()
        assert total["lines"]
        for line in total["lines"]:
            assert f"<li>{line}</li>" in why
        acceptance = (await clerk.get(f"/applications/{number}/stages/acceptance/why")).json()
        stage_part = section(why, 'data-stage="acceptance">', "</section>")
        assert [f"<li>{line}</li>" for line in acceptance["lines"]] == re.findall(
            r"<li>.*?</li>", stage_part
        )

        log = section(html, '<ol id="log" class="log">', "</ol>")
        kinds = re.findall(r'data-kind="(\w+)"', log)
        api_log = (await clerk.get(f"/applications/{number}/log")).json()
        assert kinds == [e["kind"] for e in api_log]
        assert kinds[-1] == "paused"
        assert "暂停计时" in log
        assert "符合三零服务条件" in html or "未作三零判定" in html
        assert 'id="fee-total"' in html or 'id="no-fees"' in html

    async def test_another_units_clerk_and_a_missing_number(self, intake, apps, clerk):
        number = (await create(clerk))["application"]["number"]
        li = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        refused = await get(intake, li, f"/ui/applications/{number}")
        api = await clerk.get(f"/applications/{number}")
        assert api.status_code == 200
        assert refused.status_code == 403
        assert "东营区府前大街" not in refused.text
        assert 'id="error"' in refused.text
        missing = await get(intake, li, "/ui/applications/NOPE")
        assert missing.status_code == 404
        assert re.search(r'id="error">[^<]*[\u4e00-\u9fff]', missing.text)

    async def test_viewers_see_it_masked_and_outsiders_do_not(self, intake, apps, clerk):
        number = (await create(clerk))["application"]["number"]
        viewer = await staff_token(apps, "viewer", Role.viewer)
        page = await get(intake, viewer, f"/ui/applications/{number}")
        assert page.status_code == 200
        mobile = section(page.text, '<dd id="mobile">', "</dd>")
        assert "13800138000" not in page.text  # masked, as the API masks it for viewers
        assert mobile.startswith("138")
        clerk_token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        own = await get(intake, clerk_token, f"/ui/applications/{number}")
        assert section(own.text, '<dd id="mobile">', "</dd>") == "13800138000"
        assert (await get(intake, None, f"/ui/applications/{number}")).status_code == 303
        disp = await staff_token(apps, "disp", Role.dispatcher, ("营销部",))
        assert (await get(intake, disp, f"/ui/applications/{number}")).status_code == 403
