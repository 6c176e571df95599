"""The counter form (窗口受理): what POST /applications takes, refusals beside their fields."""

from __future__ import annotations

import re
from html import unescape

from sqlmodel import func, select

from services.intake.applications.models import Application
from shared.auth import Role
from shared.db import session_scope
from shared.web.session import csrf_token
from tests.conftest import client_for
from tests.intake.conftest import DONGYING_UNIT, staff_token, valid_credit_code
from tests.intake.test_web_monitoring import get, post

FORM = {
    "jurisdiction": "dongying",
    "unit": DONGYING_UNIT,
    "customer_type": "hv10_single",
    "capacity_kw": "800",
    "applicant.name": "东营市某某化工有限公司",
    "applicant.id_kind": "credit_code",
    "applicant.mobile": "13800138000",
    "site.address": "东营区府前大街 1 号",
    "site.area_class": "urban",
}


async def count(intake) -> int:
    async with session_scope(intake.state.engine) as session:
        return (await session.exec(select(func.count()).select_from(Application))).one()


class TestCounterForm:
    async def test_the_form_asks_only_what_the_api_takes(self, intake, apps):
        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        page = await get(intake, token, "/ui/accept")
        assert page.status_code == 200, page.text
        form = page.text.split('action="/ui/accept"')[1].split("</form>")[0]
        names = set(re.findall(r'name="([^"]+)"', form)) - {"csrf"}
        assert names == {*FORM, "applicant.id_number", "applicant.email", "site.feeder"} | {
            "site.transformer_area",
            "project_code",
            "no_works",
        }
        assert f"<option>{DONGYING_UNIT}</option>" in form  # the clerk's own units only
        # 一证受理: a residential customer gives proof of identity and of property, nothing more.
        documents = unescape(page.text.split('<table id="documents">')[1].split("</table>")[0])
        residential = documents.split("<td>居民用户</td>")[1].split("</tr>")[0]
        assert residential.count("、") == 1

    async def test_accepted_with_its_number_and_query_code(self, intake, apps, clerk):
        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        data = {
            **FORM,
            "applicant.id_number": valid_credit_code(),
            "csrf": csrf_token(intake.state.settings, token),
        }
        page = await post(intake, token, "/ui/accept", data)
        assert page.status_code == 201, page.text
        number = page.text.split('<strong id="number">')[1].split("<")[0]
        code = page.text.split('<strong id="query-code">')[1].split("<")[0]
        api = (await clerk.get(f"/applications/{number}")).json()
        assert (api["channel"], api["unit"], api["capacity_kw"]) == (
            "counter",
            DONGYING_UNIT,
            "800.00",
        )
        async with client_for(intake) as browser:
            shown = await browser.get(
                f"/public/applications/{number}/progress", headers={"X-Query-Code": code}
            )
        assert shown.status_code == 200

    async def test_errors_beside_their_fields_and_nothing_written(self, intake, apps):
        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        csrf = csrf_token(intake.state.settings, token)
        before = await count(intake)
        bad_id = await post(
            intake,
            token,
            "/ui/accept",
            {**FORM, "applicant.id_number": "91370500XXXXXXXXXX", "csrf": csrf},
        )
        assert bad_id.status_code == 422, bad_id.text
        message = bad_id.text.split('id="applicant-id_number-error">')[1].split("<")[0]
        assert re.search(r"[\u4e00-\u9fff]", message)
        assert 'value="东营市某某化工有限公司"' in bad_id.text  # the form keeps what was typed
        missing = await post(
            intake,
            token,
            "/ui/accept",
            {**FORM, "capacity_kw": "", "applicant.id_number": valid_credit_code(), "csrf": csrf},
        )
        assert missing.status_code == 422
        assert "缺少必填字段" in missing.text.split('id="capacity_kw-error">')[1].split("<")[0]
        too_big = await post(
            intake,
            token,
            "/ui/accept",
            {
                **FORM,
                "customer_type": "low_voltage_three_zero",
                "capacity_kw": "500",
                "applicant.id_number": valid_credit_code(),
                "csrf": csrf,
            },
        )
        assert too_big.status_code == 422
        assert "160" in too_big.text.split('id="capacity_kw-error">')[1].split("</span>")[0]
        forged = await post(intake, token, "/ui/accept", {**FORM, "csrf": "x"})
        assert forged.status_code == 403
        assert await count(intake) == before

    async def test_only_clerks(self, intake, apps):
        assert (await get(intake, None, "/ui/accept")).status_code == 303
        viewer = await staff_token(apps, "viewer", Role.viewer)
        assert (await get(intake, viewer, "/ui/accept")).status_code == 403
        supervisor = await staff_token(apps, "sup-zhao", Role.supervisor, ("市发展改革委",))
        refused = await post(intake, supervisor, "/ui/accept", {**FORM, "csrf": "x"})
        assert refused.status_code == 403
