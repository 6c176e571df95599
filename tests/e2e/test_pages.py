"""One sign-in across the three services' pages, with a real browser on ``huodian up``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from shared.web.session import COOKIE
from tests.e2e.page_checks import assert_fits
from tests.e2e.support import stack_fixture
from tests.intake.conftest import DONGYING_UNIT, application_body

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "pages-admin-pw-1"


stack = stack_fixture("pages", ADMIN_PASSWORD, chromium=True)


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
    await expect(page.locator("#figures")).to_contain_text("全部台账事项")  # an admin's figures
    await assert_fits(page)
    await page.locator("ul.cards").get_by_role("link", name="报装申请").click()
    await expect(page.get_by_role("heading", name="在办报装申请")).to_be_visible()
    assert page.url == f"{stack['intake']}/ui/"
    await expect(page.get_by_text("目前没有在办的申请。")).to_be_visible()
    await assert_fits(page)

    await page.get_by_role("navigation").get_by_role("link", name="停电信息").click()
    await expect(page.get_by_role("heading", name="当前停电")).to_be_visible()
    assert page.url == f"{stack['notify']}/ui/"
    await assert_fits(page)
    # The stylesheet came from the service itself: the header has its colour (waited for: the
    # heading can be visible before the stylesheet has been applied on a busy machine).
    await expect(page.locator("header")).to_have_css("background-color", "rgb(11, 83, 148)")
    await page.screenshot(path=str(tmp_path / f"outages-{width}.png"), full_page=True)

    # Nothing was loaded from outside: every request went to one of the three services.
    assert requested
    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested

    kept = [c for c in await page.context.cookies() if c["name"] == COOKIE]
    assert kept
    await page.get_by_role("button", name="退出", exact=True).click()
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.goto(f"{stack['notify']}/ui/")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    # The sign-out revoked the token on the server: the old cookie, put back, is refused ...
    await page.context.add_cookies(kept)
    await page.goto(f"{stack['ledger']}/ui/start")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    # ... and so is the token itself as a bearer token.
    old = {"Authorization": f"Bearer {kept[0]['value']}"}
    refused = httpx.get(f"{stack['ledger']}/units", headers=old, timeout=60)
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


def _api_token(ledger: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{ledger}/auth/token", json={"username": username, "password": password}, timeout=60
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_clerk_sees_the_application_and_the_applicant_its_progress_on_a_phone(
    stack, browser, tmp_path: Path
):
    ledger, intake = stack["ledger"], stack["intake"]
    admin = _api_token(ledger, "admin", ADMIN_PASSWORD)
    added = httpx.post(
        f"{ledger}/users",
        headers=admin,
        json={
            "username": "clerk-pages",
            "display_name": "受理员王",
            "role": "clerk",
            "password": "clerk-pages-pw-1",
            "units": [DONGYING_UNIT],
        },
        timeout=60,
    )
    assert added.status_code == 201, added.text
    clerk = _api_token(ledger, "clerk-pages", "clerk-pages-pw-1")
    created = httpx.post(f"{intake}/applications", headers=clerk, json=application_body())
    assert created.status_code == 201, created.text
    number, code = created.json()["application"]["number"], created.json()["query_code"]

    staff = await browser.new_page()
    await staff.goto(f"{intake}/ui/")
    await staff.get_by_label("用户名").fill("clerk-pages")
    await staff.get_by_label("密码").fill("clerk-pages-pw-1")
    await staff.get_by_role("button", name="登录").click()
    # Back where the clerk began, signed in: their unit's application in its stage.
    await expect(staff.get_by_role("heading", name="在办报装申请")).to_be_visible()
    await expect(staff.locator("#stages tbody tr")).to_have_text(["业务受理10"])
    await expect(staff.get_by_text("受理员王（受理人员）")).to_be_visible()

    phone = await browser.new_page(viewport={"width": 375, "height": 812})
    await phone.goto(f"{intake}/ui/progress")
    await phone.get_by_label("申请编号").fill(number)
    await phone.get_by_label("查询码").fill(code)
    await phone.get_by_role("button", name="查询").click()
    await expect(phone.locator("#status")).to_contain_text("办理中")
    await expect(phone.locator("#stages tbody tr").first).to_contain_text("业务受理")
    # 期限说明: the total's why open, each begun stage's a tap away, all within the phone's width.
    await expect(phone.get_by_role("heading", name="期限说明")).to_be_visible()
    await expect(phone.locator("#why details[open] li").first).to_contain_text("办电全流程")
    await phone.locator('#why details[data-stage="acceptance"] summary').click()
    await expect(phone.locator('#why details[data-stage="acceptance"] li').nth(1)).to_contain_text(
        "起算：北京时间"
    )
    await assert_fits(phone)
    await phone.screenshot(path=str(tmp_path / "progress-375.png"), full_page=True)

    await phone.get_by_label("申请编号").fill(number)
    await phone.get_by_label("查询码").fill("WRONG123")
    await phone.get_by_role("button", name="查询").click()
    await expect(phone.get_by_role("alert")).to_have_text("申请编号或查询码不正确，请核对后重试。")
