"""The administrator adds a user, opens the ledgers and a report in a real browser, at 1280 and
375 px: no page scrolls sideways, no request leaves 127.0.0.1, axe-core finds nothing serious."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.page_checks import assert_page_ok
from tests.e2e.test_ledger_web import ledger_url, sign_in

pytestmark = pytest.mark.e2e
__all__ = ["ledger_url"]  # the fixtures, shared with the department head's test


@pytest.mark.parametrize("width", [1280, 375])
async def test_admin_adds_and_disables_a_user(ledger_url: str, browser: Browser, width: int):
    page = await browser.new_page(viewport={"width": width, "height": 900})
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
    await sign_in(page, ledger_url, "admin", "web-admin-pw-1")
    await page.get_by_role("link", name="用户管理").first.click()
    await expect(page.get_by_role("heading", name="用户管理")).to_be_visible()

    username = f"clerk{width}"
    await page.get_by_label("用户名（字母、数字、._-）").fill(username)
    await page.get_by_label("姓名").fill("受理员")
    await page.get_by_label("角色").select_option("clerk")
    await page.get_by_label("初始密码（至少8位）").fill("clerk-password-1")
    await page.get_by_role("button", name="添加").click()
    await expect(page.get_by_role("status")).to_have_text("用户已添加。")
    row = page.locator(f'tr[data-user="{username}"]')
    await expect(row).to_contain_text("受理人员")

    await row.get_by_label("启用").uncheck()
    await row.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("status")).to_have_text("用户已修改。")
    await expect(page.locator(f'tr[data-user="{username}"]')).to_contain_text("已停用")

    await page.get_by_label("用户名（字母、数字、._-）").fill("x")
    await page.get_by_label("姓名").fill("太短")
    await page.get_by_label("初始密码（至少8位）").fill("short")
    await page.get_by_role("button", name="添加").click()
    await expect(page.get_by_role("alert")).to_contain_text("初始密码")

    await assert_page_ok(page, "/ui/admin/users")

    await page.get_by_role("link", name="台账管理").first.click()
    await expect(page.get_by_role("heading", name="台账管理")).to_be_visible()
    await assert_page_ok(page, "/ui/admin/ledgers")
    await page.goto(f"{ledger_url}/ui/?ledger=dongying-2021")
    await page.get_by_role("link", name="年度").first.click()
    await expect(page.locator("#ranking tbody tr").first).to_be_visible()
    await assert_page_ok(page, "the report")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="下载Excel报告").click()
    assert (await download.value).suggested_filename.endswith("-annual.xlsx")
    assert hosts == {"127.0.0.1"}, hosts
