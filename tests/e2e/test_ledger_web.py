"""A department head signs in with a real browser and posts a status update."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.page_checks import assert_fits
from tests.e2e.support import (
    drop_schemas,
    free_port,
    require_chromium,
    run_cli,
    service_env,
    wait_ready,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ledger_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    prefix = f"web{os.getpid()}_"
    env = service_env(
        tmp_path_factory.mktemp("web-var"), prefix, HUODIAN_ADMIN_PASSWORD="web-admin-pw-1"
    )
    run_cli(env, "migrate", "--service", "ledger")
    run_cli(env, "seed")
    run_cli(
        env,
        "user",
        "add",
        "power",
        "--role",
        "dept_head",
        "--display-name",
        "供电企业负责人",
        "--unit",
        "各供电企业",
        "--password-stdin",
        stdin="power-password-1\n",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.ledger.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=15)
        drop_schemas(prefix)


async def sign_in(page: Page, url: str, username: str, password: str) -> None:
    await page.goto(f"{url}/ui/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


async def test_head_posts_an_update_with_evidence(ledger_url, browser, tmp_path: Path):
    page = await browser.new_page()
    await sign_in(page, ledger_url, "power", "power-password-1")
    await expect(page.get_by_role("heading", name="本单位事项")).to_be_visible()
    rows = page.locator("tbody tr")
    assert await rows.count() == 52  # the Dongying items naming 各供电企业
    await page.get_by_role("link", name="全市用电报装实现电子证照").click()
    await expect(page.get_by_role("heading", name="dongying-2021 第7项")).to_be_visible()

    evidence = tmp_path / "推广方案.txt"
    evidence.write_text("电子证照推广方案", encoding="utf-8")
    await page.locator("#status-select").select_option("in_progress")
    await page.get_by_label("进度（%）").fill("60")
    await page.get_by_label("进展说明").fill("已完成营销系统改造")
    await page.get_by_label("佐证材料").set_input_files(str(evidence))
    await page.get_by_role("button", name="提交").click()

    await expect(page.get_by_role("status")).to_have_text("进展已提交。")
    history = page.locator("#history tbody tr")
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("已完成营销系统改造")
    await expect(history.first).to_contain_text("推广方案.txt")
    await expect(page.locator("#status")).to_contain_text("推进中，进度 60%")
    shot = os.environ.get("HUODIAN_SCREENSHOT", str(tmp_path / "item.png"))
    await page.screenshot(path=shot, full_page=True)


async def test_refused_update_shows_why_in_chinese(ledger_url, browser):
    page = await browser.new_page()
    await sign_in(page, ledger_url, "power", "power-password-1")
    await page.get_by_role("link", name="全市用电报装实现电子证照").click()
    await page.locator("#status-select").select_option("done")
    await page.get_by_label("进度（%）").fill("80")
    await page.get_by_label("进展说明").fill("基本完成")
    await page.get_by_role("button", name="提交").click()
    await expect(page.get_by_role("alert")).to_have_text("状态为“已完成”时，进度须为100%。")


async def test_items_of_other_units_are_read_only(ledger_url, browser):
    page = await browser.new_page()
    await sign_in(page, ledger_url, "power", "power-password-1")
    await page.goto(f"{ledger_url}/ui/?ledger=dongying-2021")
    await page.goto(f"{ledger_url}/ui/items/63")  # 各电力主管部门 alone
    await expect(page.locator("#readonly")).to_be_visible()
    await expect(page.get_by_role("button", name="提交")).to_have_count(0)


async def test_wrong_password_and_sign_out(ledger_url, browser):
    page = await browser.new_page()
    await sign_in(page, ledger_url, "power", "wrong-password")
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    await sign_in(page, ledger_url, "power", "power-password-1")
    await page.get_by_role("button", name="退出", exact=True).click()
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.goto(f"{ledger_url}/ui/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()


async def test_list_and_item_fit_a_phone(ledger_url, browser, tmp_path: Path):
    # At 375 px the list page was 484 px wide with the filter off screen; wide tables now scroll
    # inside their own box and the page itself never scrolls sideways.
    page = await browser.new_page(viewport={"width": 375, "height": 812})
    await sign_in(page, ledger_url, "power", "power-password-1")
    await expect(page.get_by_role("heading", name="本单位事项")).to_be_visible()
    for path in ("/ui/", "/ui/?ledger=dongying-2021", "/ui/items/7"):
        await page.goto(f"{ledger_url}{path}")
        await assert_fits(page, path)
    await page.goto(f"{ledger_url}/ui/")
    await expect(page.locator(".filters")).to_be_in_viewport()
    shot = os.environ.get("HUODIAN_SCREENSHOT_PHONE", str(tmp_path / "items-375.png"))
    await page.screenshot(path=shot, full_page=True)
