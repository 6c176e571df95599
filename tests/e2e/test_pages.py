"""One sign-in across the three services' pages, with a real browser on ``huodian up``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.support import CHROMIUM_ARGS, require_chromium, running_stack

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "pages-admin-pw-1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    require_chromium()
    with running_stack(
        tmp_path_factory.mktemp("pages-var"), f"pages{os.getpid()}_", ADMIN_PASSWORD
    ) as urls:
        yield urls


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(require_chromium()), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def fits(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px"


def test_huodian_up_prints_the_start_page(stack):
    assert f"start page (工作台): {stack['ledger']}/ui/start" in Path(stack["log"]).read_text()


@pytest.mark.parametrize("width", [1280, 375])
async def test_one_sign_in_opens_the_pages_of_all_three(stack, browser, width, tmp_path: Path):
    page = await browser.new_page(viewport={"width": width, "height": 812})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # A person starts at intake's address and never types another port.
    await page.goto(f"{stack['intake']}/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    assert page.url.startswith(f"{stack['ledger']}/ui/login")
    await page.get_by_label("用户名").fill("admin")
    await page.get_by_label("密码").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="登录").click()

    await expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    await fits(page)
    await page.locator("ul.cards").get_by_role("link", name="报装申请").click()
    await expect(page.get_by_role("heading", name="在办报装申请")).to_be_visible()
    assert page.url == f"{stack['intake']}/ui/"
    await expect(page.get_by_text("目前没有在办的申请。")).to_be_visible()
    await fits(page)

    await page.get_by_role("navigation").get_by_role("link", name="停电信息").click()
    await expect(page.get_by_role("heading", name="当前停电")).to_be_visible()
    assert page.url == f"{stack['notify']}/ui/"
    await fits(page)
    # The stylesheet came from the service itself: the header has its colour.
    colour = await page.evaluate(
        "getComputedStyle(document.querySelector('header')).backgroundColor"
    )
    assert colour == "rgb(11, 83, 148)"
    await page.screenshot(path=str(tmp_path / f"outages-{width}.png"), full_page=True)

    # Nothing was loaded from outside: every request went to one of the three services.
    assert requested
    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested

    await page.get_by_role("button", name="退出").click()
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.goto(f"{stack['notify']}/ui/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
