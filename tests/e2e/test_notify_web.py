"""Notify's pages in a real browser on ``huodian up``, on a desktop and on a phone: a dispatcher's
outage (登记、发布), the reliability chart, and the administrator's queue and templates. Every
page fits the width (no sideways scroll), loads nothing from outside 127.0.0.1, and passes axe
(no serious or critical accessibility violation)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import expect

from shared.calendar import BEIJING
from shared.clock import SYSTEM_CLOCK
from tests.e2e.page_checks import assert_page_ok
from tests.e2e.support import stack_fixture

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "notify-web-admin-pw-1"


stack = stack_fixture("nweb", ADMIN_PASSWORD, chromium=True)


def local(days: int, hours: int = 0) -> str:
    moment = SYSTEM_CLOCK.now() + timedelta(days=days, hours=hours)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def admin_api(stack: dict[str, str]) -> httpx.AsyncClient:
    """The administrator at notify's API, with a bearer token from ledger."""
    signed = httpx.post(
        f"{stack['ledger']}/auth/token",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=60,
    )
    assert signed.status_code == 200, signed.text
    token = signed.json()["access_token"]
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)


async def subscribe(stack: dict[str, str], feeder: str) -> None:
    """One customer on ``feeder`` (through the API), so that an outage has someone to tell."""
    async with admin_api(stack) as api:
        added = await api.post(
            f"{stack['notify']}/subscribers",
            json={
                "account_number": f"E2E-{feeder}",
                "name": "网页测试客户",
                "mobile": "13800000000",
                "feeder": feeder,
                "transformer_area": f"T-{feeder}",
                "area_class": "urban",
            },
        )
    assert added.status_code == 201, added.text


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

    feeder = f"F{width}"  # a line of its own: no repeated outage (一停多用) to acknowledge
    await subscribe(stack, feeder)
    await page.get_by_role("link", name="登记停电").click()
    await expect(page.get_by_role("heading", name="登记停电")).to_be_visible()
    await assert_page_ok(page)
    await page.get_by_label("所属单位").fill("营销部")
    await page.get_by_label("停电原因").fill(f"10kV线路检修（{width}）")
    await page.get_by_label("停电线路").fill(feeder)
    await page.get_by_label("计划停电时间").fill(local(10))
    await page.get_by_label("预计复电时间").fill(local(10, 8))
    await page.get_by_role("button", name="登记").click()
    await expect(page.locator("#state")).to_have_text("待发布")
    await assert_page_ok(page)
    await page.get_by_role("button", name="发布").click()
    await expect(page.get_by_role("status")).to_have_text("已发布停电通知。")
    await expect(page.locator("#state")).to_have_text("已发布")
    await assert_page_ok(page)

    # The delivery progress follows without a reload (static/live.js): the dispatcher's system
    # moves the estimated restoration on (the API), which notifies the customers again.
    progress = page.locator("#delivery-progress > p").first
    before = re.search(r"共 (\d+) 条通知", await progress.inner_text())
    assert before
    assert int(before[1]) >= 1
    await page.evaluate("window.notReloaded = true")
    outage_id = page.url.split("?")[0].rsplit("/", 1)[1]
    async with admin_api(stack) as api:
        moved = await api.post(
            f"{notify}/outages/{outage_id}/etr",
            json={"etr": (SYSTEM_CLOCK.now() + timedelta(days=10, hours=9)).isoformat()},
        )
    assert moved.status_code == 200, moved.text
    await expect(progress).not_to_contain_text(before[0], timeout=20_000)
    assert re.search(r"共 (\d+) 条通知", await progress.inner_text())
    assert await page.evaluate("window.notReloaded") is True

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
