"""Notify's pages in a real browser on ``huodian up``, on a desktop and on a phone: a dispatcher's
outage (登记、发布), the reliability chart, and the administrator's queue and templates. Every
page fits the width (no sideways scroll), loads nothing from outside 127.0.0.1, and passes axe
(no serious or critical accessibility violation)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.async_api import expect

from shared.calendar import BEIJING
from shared.clock import SYSTEM_CLOCK
from tests.e2e.page_checks import assert_page_ok
from tests.e2e.support import (
    require_chromium,
    running_stack,
)

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "notify-web-admin-pw-1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    require_chromium()
    with running_stack(
        tmp_path_factory.mktemp("notify-web-var"), f"nweb{os.getpid()}_", ADMIN_PASSWORD
    ) as urls:
        yield urls


def local(days: int, hours: int = 0) -> str:
    moment = SYSTEM_CLOCK.now() + timedelta(days=days, hours=hours)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("width", [1280, 375])
async def test_notify_pages_on_desktop_and_phone(stack, browser, width):
    notify = stack["notify"]
    page = await browser.new_page(viewport={"width": width, "height": 812})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{notify}/ui/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.get_by_label("用户名").fill("admin")
    await page.get_by_label("密码").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("heading", name="当前停电")).to_be_visible()
    await assert_page_ok(page)

    await page.get_by_role("link", name="登记停电").click()
    await expect(page.get_by_role("heading", name="登记停电")).to_be_visible()
    await assert_page_ok(page)
    await page.get_by_label("所属单位").fill("营销部")
    await page.get_by_label("停电原因").fill(f"10kV线路检修（{width}）")
    await page.get_by_label("停电线路").fill("F1")
    await page.get_by_label("计划停电时间").fill(local(10))
    await page.get_by_label("预计复电时间").fill(local(10, 8))
    await page.get_by_role("button", name="登记").click()
    await expect(page.locator("#state")).to_have_text("待发布")
    await assert_page_ok(page)
    await page.get_by_role("button", name="发布").click()
    await expect(page.get_by_role("status")).to_have_text("已发布停电通知。")
    await expect(page.locator("#state")).to_have_text("已发布")
    await assert_page_ok(page)

    await page.get_by_role("navigation").get_by_role("link", name="供电可靠性").click()
    await expect(page.get_by_role("heading", name="供电可靠性统计")).to_be_visible()
    await expect(page.locator("figure.chart svg")).to_be_visible()
    await expect(page.locator("figure.chart g.bar-row")).to_have_count(4)
    await assert_page_ok(page)

    await page.get_by_role("navigation").get_by_role("link", name="消息投递").click()
    await expect(page.get_by_role("heading", name="消息投递")).to_be_visible()
    await expect(page.locator("#channels tbody tr")).to_have_count(5)
    await assert_page_ok(page)

    await page.get_by_role("navigation").get_by_role("link", name="消息模板").click()
    await page.locator('tr[data-kind="outage.announced"]').get_by_role("link", name="短信").click()
    await expect(page.locator("#preview-body")).to_contain_text("停电")
    await assert_page_ok(page)

    outside = [u for u in requested if not u.startswith("http://127.0.0.1:")]
    assert not outside, outside
