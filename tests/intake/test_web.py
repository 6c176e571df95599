"""Intake's page (报装网页): the open applications by stage, for whoever signed in at ledger."""

from __future__ import annotations

import re

from sqlalchemy import update

from services.ledger.accounts.models import User
from shared.auth import Role
from shared.db import session_scope
from shared.web.session import COOKIE
from tests.conftest import client_for
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, create, staff_token


async def page_with(intake, token: str | None):
    async with client_for(intake) as browser:
        if token:
            browser.cookies.set(COOKIE, token)
        return await browser.get("/ui/")


def stage_rows(html: str) -> list[tuple[str, ...]]:
    body = html.split('<table id="stages">')[1].split("</table>")[0]
    return [
        tuple(re.findall(r"<td[^>]*>([^<]*)</td>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    ]


class TestApplicationsPage:
    async def test_each_sees_the_open_applications_they_may_see_by_stage(
        self, intake, apps, clerk, other_clerk, intake_admin
    ):
        await create(clerk)
        await create(clerk)
        await create(other_clerk, unit=JINGYU_UNIT)
        await create(clerk, customer_type="residential")

        mine = await page_with(
            intake, await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        )
        assert mine.status_code == 200, mine.text
        assert "本单位受理的申请" in mine.text
        assert stage_rows(mine.text) == [("业务受理", "2", "0"), ("受理签约", "1", "0")]

        everyone = await page_with(intake, await staff_token(apps, "admin", Role.admin))
        assert stage_rows(everyone.text) == [("业务受理", "3", "0"), ("受理签约", "1", "0")]
        assert "办理中 4 件" in everyone.text
        # The shared layout: the stylesheet, and the pages an administrator may use.
        assert 'href="/ui/static/huodian.css"' in everyone.text
        assert 'href="http://ledger.test/ui/"' in everyone.text
        assert 'href="/ui/" aria-current="page"' in everyone.text

    async def test_none_open_says_so(self, intake, apps):
        page = await page_with(intake, await staff_token(apps, "viewer", Role.viewer))
        assert page.status_code == 200
        assert "目前没有在办的申请。" in page.text

    async def test_signed_out_goes_to_the_one_sign_in_and_back(self, intake):
        page = await page_with(intake, None)
        assert page.status_code == 303
        assert page.headers["location"] == (
            "http://ledger.test/ui/login?next=http%3A%2F%2Fintake.test%2Fui%2F"
        )

    async def test_a_dispatcher_is_told_in_chinese(self, intake, apps):
        page = await page_with(
            intake, await staff_token(apps, "disp", Role.dispatcher, ("营销部",))
        )
        assert page.status_code == 403
        assert "不能使用此页面" in page.text

    async def test_a_revoked_sign_in_no_longer_opens_the_page(self, intake, apps):
        token = await staff_token(apps, "viewer", Role.viewer)
        assert (await page_with(intake, token)).status_code == 200
        async with session_scope(apps.ledger.state.engine) as session:
            await session.exec(  # type: ignore[call-overload]
                update(User)
                .where(User.username == "viewer")
                .values(token_version=User.token_version + 1)
            )
        intake.state.token_versions.forget()
        assert (await page_with(intake, token)).status_code == 303
