"""The report page (报告页面): the per-unit overview ranked as in a 通报, and its .xlsx."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook

from shared.auth import Role
from shared.web.session import COOKIE
from tests.conftest import add_user, client_for, sign_in

PAGE = "/ui/ledgers/dongying-2021/reports/half_year?year=2021"


@pytest.fixture
async def viewer(apps, seeded):
    await add_user(apps, "reader", Role.viewer)
    return await sign_in(apps, "reader")


async def test_units_ranked_as_the_report_ranks_them(apps, viewer):
    async with client_for(apps.ledger, viewer) as api:
        report = (await api.get("/ledgers/dongying-2021/reports/half_year?year=2021")).json()
    async with client_for(apps.ledger) as browser:
        browser.cookies.set(COOKIE, viewer)
        page = await browser.get(PAGE)
    assert page.status_code == 200, page.text
    assert "上半年工作情况报告" in page.text
    ranked = re.findall(r'<tr data-unit="([^"]+)">', page.text)
    assert ranked == [u["unit"] for u in report["units"]]
    assert len(ranked) > 3
    overdue = [u["overdue"] for u in report["units"]]
    assert overdue == sorted(overdue, reverse=True)
    first = report["units"][0]
    row = page.text.split(f'<tr data-unit="{first["unit"]}">')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(?:<span class="overdue">)?(\d+)', row)
    assert cells[0] == "1"  # rank
    assert cells[1] == str(first["items"])
    assert cells[-1] == str(first["overdue"])
    assert f"共 {len(report['items'])} 项" in page.text


async def test_the_xlsx_download(apps, viewer):
    async with client_for(apps.ledger) as browser:
        browser.cookies.set(COOKIE, viewer)
        page = await browser.get(PAGE)
        link = re.search(r'<a href="([^"]+)">下载Excel报告</a>', page.text)
        assert link is not None
        download = await browser.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "dongying-2021-2021-half_year.xlsx" in download.headers["content-disposition"]
    workbook = load_workbook(BytesIO(download.content))
    assert workbook.sheetnames


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/ledgers/dongying-2021/reports/monthly?year=2021", 422),
        ("/ui/ledgers/dongying-2021/reports/annual?year=1999", 422),
        ("/ui/ledgers/no-such/reports/annual?year=2021", 404),
        ("/ui/ledgers/no-such/reports/annual.xlsx?year=2021", 404),
    ],
)
async def test_bad_addresses_are_refused(apps, viewer, path, status):
    async with client_for(apps.ledger) as browser:
        browser.cookies.set(COOKIE, viewer)
        assert (await browser.get(path)).status_code == status


@pytest.mark.parametrize("path", [PAGE, PAGE.replace("half_year?", "half_year.xlsx?")])
async def test_signed_out_goes_to_sign_in(apps, seeded, path):
    async with client_for(apps.ledger) as browser:
        answer = await browser.get(path)
    assert answer.status_code == 303
    assert "/ui/login?next=" in answer.headers["location"]


async def test_the_item_list_of_a_ledger_links_its_reports(apps, viewer):
    async with client_for(apps.ledger) as browser:
        browser.cookies.set(COOKIE, viewer)
        everything = await browser.get("/ui/")
        one = await browser.get("/ui/?ledger=dongying-2021")
        links = re.findall(r'href="(/ui/ledgers/dongying-2021/reports/[^"]+)"', one.text)
        assert len(links) == 2
        for link in links:
            assert (await browser.get(link.replace("&amp;", "&"))).status_code == 200
    assert "/reports/" not in everything.text
