"""A regulator (监管督办人员 of the city's development and reform commission) compares the power
companies in a real browser on a desktop and on a phone: from the start page to the ranking, the
chart, the outage hours against the targets and the .xlsx; nothing scrolls sideways, nothing is
fetched from outside 127.0.0.1, and axe finds no serious or critical violation."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from tests.e2e.page_checks import assert_page_ok
from tests.e2e.support import create_user, sign_in, sign_in_page, stack_fixture
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import DONGYING_UNIT, application_body
from tests.intake.kpis.test_kpis_api import SITE

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "regulator-web-admin-pw-1"
CLERK, CLERK_PASSWORD = "clerk-reg", "clerk-reg-pw-1"
REGULATOR, REGULATOR_PASSWORD = "fgw-reg", "fgw-reg-pw-1"
STAGES = ("acceptance", "supply_plan", "completion_inspection", "connection")

stack = stack_fixture("rweb", ADMIN_PASSWORD, chromium=True)


@pytest.fixture(scope="module")
async def connected(stack: dict[str, str]) -> str:
    """One application of Dongying connected today, and the regulator's account."""
    ledger, intake = stack["ledger"], stack["intake"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    create_user(
        ledger,
        admin,
        username=CLERK,
        display_name="受理员王",
        role="clerk",
        password=CLERK_PASSWORD,
        units=[DONGYING_UNIT],
    )
    create_user(
        ledger,
        admin,
        username=REGULATOR,
        display_name="市发改委能源科",
        role="viewer",
        password=REGULATOR_PASSWORD,
    )
    headers = sign_in(ledger, CLERK, CLERK_PASSWORD)
    async with httpx.AsyncClient(base_url=intake, headers=headers, timeout=60) as clerk:
        created = await clerk.post("/applications", json=application_body(site=SITE))
        assert created.status_code == 201, created.text
        number = str(created.json()["application"]["number"])
        for stage in STAGES:
            done = await complete(clerk, number, stage)
            assert done.status_code == 200, done.text
    return number


@pytest.mark.parametrize("width", [1280, 375])
async def test_a_regulator_compares_the_companies(stack, connected, browser, width, tmp_path: Path):
    page = await browser.new_page(viewport={"width": width, "height": 812})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{stack['ledger']}/ui/start")
    await sign_in_page(page, REGULATOR, REGULATOR_PASSWORD)
    await expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    await page.get_by_role("main").get_by_role("link", name="各供电单位对比").click()

    await expect(page.get_by_role("heading", name="各供电单位获得电力指标对比")).to_be_visible()
    await expect(page.locator("#rule")).to_contain_text("时限内办结占比从高到低")
    row = page.locator(f'table.ranking tr[data-unit="{DONGYING_UNIT}"]')
    await expect(row.locator("td").nth(0)).to_have_text("1")
    await expect(row.locator("td").nth(2)).to_have_text("1")
    await expect(page.locator("figure.chart")).to_be_visible()
    await expect(page.locator('#reliability tr[data-area="urban"]')).to_contain_text("4")
    await assert_page_ok(page)
    await page.screenshot(path=str(tmp_path / f"regulator-{width}.png"), full_page=True)

    href = await page.locator("#download").get_attribute("href")
    assert href is not None
    download = await page.request.get(f"{stack['intake']}{href}")
    assert download.ok
    book = load_workbook(io.BytesIO(await download.body()))
    ranked = [r for r in book["通报排名"].iter_rows(values_only=True) if r[1] == DONGYING_UNIT]
    assert ranked[0][:3] == (1, DONGYING_UNIT, 1)

    assert requested
    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested
