"""Notify's page (停电网页): the outages not yet over, of the dispatcher's units."""

from __future__ import annotations

import re

import pytest

from shared.auth import Role
from shared.web.session import COOKIE
from tests.conftest import add_user, client_for, sign_in
from tests.notify.outages.test_outages import planned


@pytest.fixture
async def staff(apps):
    users = {
        "marketing": (Role.dispatcher, ["营销部"]),
        "branch": (Role.dispatcher, ["供电分公司"]),
        "admin": (Role.admin, []),
        "viewer": (Role.viewer, []),
    }
    tokens = {}
    for name, (role, units) in users.items():
        await add_user(apps, name, role, units)
        tokens[name] = await sign_in(apps, name)
    return tokens


async def page_as(apps, token: str):
    async with client_for(apps.notify) as browser:
        browser.cookies.set(COOKIE, token)
        return await browser.get("/ui/")


def outage_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-outage="(\d+)">', html)


async def test_dispatchers_see_their_units_outages_not_yet_over(apps, staff):
    async with client_for(apps.notify, staff["marketing"]) as marketing:
        later = (await marketing.post("/outages", json=planned(12))).json()
        sooner = (await marketing.post("/outages", json=planned(3, cause="变压器更换"))).json()
        over = (await marketing.post("/outages", json=planned(5))).json()
        cancelled = await marketing.post(f"/outages/{over['id']}/cancel", json={"reason": "改期"})
        assert cancelled.status_code == 200, cancelled.text
    async with client_for(apps.notify, staff["branch"]) as branch:
        theirs = (await branch.post("/outages", json=planned(1))).json()

    page = await page_as(apps, staff["marketing"])
    assert page.status_code == 200, page.text
    assert outage_ids(page.text) == [str(sooner["id"]), str(later["id"])]  # soonest first
    row = page.text.split(f'<tr data-outage="{sooner["id"]}">')[1].split("</tr>")[0]
    assert "计划停电" in row
    assert "待发布" in row
    assert "变压器更换" in row
    assert "本单位未结束的停电 2 起" in page.text

    everyone = await page_as(apps, staff["admin"])
    assert outage_ids(everyone.text) == [str(i) for i in (theirs["id"], sooner["id"], later["id"])]


async def test_a_viewer_may_not_use_it(apps, staff):
    page = await page_as(apps, staff["viewer"])
    assert page.status_code == 403
    assert "无权访问" in page.text
