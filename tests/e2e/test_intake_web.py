"""A clerk walks intake's pages (在办申请, 申请详情, 督办事项, 获得电力指标, 窗口受理) in a real
browser on a desktop and on a phone: nothing scrolls sideways, nothing is fetched from outside
127.0.0.1, and axe finds no serious or critical accessibility violation."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.page_checks import assert_page_ok
from tests.e2e.support import create_user, sign_in, sign_in_page, stack_fixture
from tests.intake.conftest import DONGYING_UNIT, application_body, valid_credit_code

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "intake-web-admin-pw-1"
CLERK, CLERK_PASSWORD = "clerk-web", "clerk-web-pw-1"

stack = stack_fixture("iweb", ADMIN_PASSWORD, chromium=True)


@pytest.fixture(scope="module")
def number(stack: dict[str, str]) -> str:
    """One application accepted through the API by a clerk of Dongying."""
    ledger, intake = stack["ledger"], stack["intake"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    create_user(
        ledger,
        admin,
        username=CLERK,
        display_name="受理员李",
        role="clerk",
        password=CLERK_PASSWORD,
        units=[DONGYING_UNIT],
    )
    clerk = sign_in(ledger, CLERK, CLERK_PASSWORD)
    created = httpx.post(f"{intake}/applications", headers=clerk, json=application_body())
    assert created.status_code == 201, created.text
    return str(created.json()["application"]["number"])


@pytest.mark.parametrize("width", [1280, 375])
async def test_a_clerk_walks_the_pages(stack, number, browser, width, tmp_path: Path):
    intake = stack["intake"]
    page = await browser.new_page(viewport={"width": width, "height": 812})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{intake}/ui/open")
    await sign_in_page(page, CLERK, CLERK_PASSWORD)

    # Back at the open applications, signed in: the clerk's application, on time.
    await expect(page.get_by_role("heading", name="在办申请")).to_be_visible()
    row = page.locator(f'tr[data-number="{number}"]')
    await expect(row).to_contain_text("正常")
    await assert_page_ok(page)
    await page.get_by_label("环节").select_option("connection")
    await page.get_by_role("button", name="筛选").click()
    await expect(page.get_by_text("没有符合条件的在办申请。")).to_be_visible()

    await page.goto(f"{intake}/ui/open")
    await page.get_by_role("link", name=number).first.click()
    await expect(page.get_by_role("heading", name=f"申请 {number}")).to_be_visible()
    await expect(page.locator("#why section").first).to_contain_text("工作日")
    await expect(page.locator("#log li").first).to_contain_text("受理")
    await assert_page_ok(page)
    await page.screenshot(path=str(tmp_path / f"application-{width}.png"), full_page=True)

    await page.goto(f"{intake}/ui/escalations")
    await expect(page.get_by_role("heading", name="督办事项")).to_be_visible()
    await assert_page_ok(page)

    await page.goto(f"{intake}/ui/kpis")
    await expect(page.get_by_role("heading", name="获得电力指标")).to_be_visible()
    await assert_page_ok(page)

    # The counter form: a wrong ID number is told beside its field, then the application is in.
    await page.goto(f"{intake}/ui/accept")
    await expect(page.get_by_role("heading", name="窗口受理")).to_be_visible()
    await assert_page_ok(page)
    await page.get_by_label("用户类型").select_option("hv10_single")
    await page.get_by_label("报装容量（千瓦）").fill("630")
    await page.get_by_label("申请人/单位名称").fill("东营市某某机械有限公司")
    await page.get_by_label("证件类型").select_option("credit_code")
    await page.get_by_label("证件号码").fill("91370500XXXXXXXXXX")
    await page.get_by_label("手机号码").fill("13800138000")
    await page.get_by_label("用电地址", exact=True).fill("东营区黄河路 9 号")
    await page.get_by_role("button", name="受理").click()
    await expect(page.locator("#applicant-id_number-error")).to_be_visible()
    await assert_page_ok(page)
    await page.get_by_label("证件号码").fill(valid_credit_code())
    await page.get_by_role("button", name="受理").click()
    await expect(page.get_by_role("heading", name="已受理")).to_be_visible()
    await expect(page.locator("#query-code")).not_to_be_empty()
    await assert_page_ok(page)

    assert requested
    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested


def _accepted(stack: dict[str, str]) -> tuple[str, str]:
    """An application of Dongying just accepted (已受理): number and query code."""
    clerk = sign_in(stack["ledger"], CLERK, CLERK_PASSWORD)
    site = {
        "address": "东营区府前街 1 号",
        "area_class": "central",
        "feeder": "10kV 府前线",
        "transformer_area": "府前1号台区",
    }
    created = httpx.post(
        f"{stack['intake']}/applications",
        headers=clerk,
        json=application_body(site=site),
        timeout=60,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["application"]["number"]), str(created.json()["query_code"])


def _complete(stack: dict[str, str], number: str, stage: str) -> dict[str, object]:
    """The clerk completes ``stage``, with the documents it still needs taken in first."""
    intake = stack["intake"]
    clerk = sign_in(stack["ledger"], CLERK, CLERK_PASSWORD)
    view = httpx.get(f"{intake}/applications/{number}/documents", headers=clerk).json()
    for needed in [r["code"] for r in view["required"] if r["state"] == "needed"]:
        taken = httpx.post(
            f"{intake}/applications/{number}/documents", headers=clerk, json={"kind": needed}
        )
        assert taken.status_code == 201, taken.text
    done = httpx.post(
        f"{intake}/applications/{number}/stages/{stage}/complete", headers=clerk, json={}
    )
    assert done.status_code == 200, done.text
    found: dict[str, object] = done.json()
    return found


def _connected(stack: dict[str, str]) -> tuple[str, str]:
    """An application of Dongying taken through to connection (已接电): number and query code."""
    number, code = _accepted(stack)
    for stage in ("acceptance", "supply_plan", "completion_inspection", "connection"):
        done = _complete(stack, number, stage)
    assert done["status"] == "connected"
    return number, code


async def test_the_applicants_page_follows_the_stages_without_a_reload(stack, number, browser):
    """The live part (static/live.js): a stage the clerk completes shows within seconds."""
    mine, code = _accepted(stack)  # the `number` fixture added the clerk
    page = await browser.new_page(viewport={"width": 375, "height": 812})
    await page.goto(f"{stack['intake']}/ui/progress")
    await page.get_by_label("申请编号").fill(mine)
    await page.get_by_label("查询码").fill(code)
    await page.get_by_role("button", name="查询").click()
    state = page.locator('#stages tr[data-stage="acceptance"] td').nth(1)
    await expect(state).to_have_text("办理中")
    await expect(page.get_by_role("button", name="刷新")).to_be_visible()  # without JavaScript
    await page.evaluate("window.notReloaded = true")
    _complete(stack, mine, "acceptance")
    await expect(state).to_have_text("已完成", timeout=20_000)
    assert await page.evaluate("window.notReloaded") is True
    await assert_page_ok(page)


@pytest.mark.parametrize("width", [1280, 375])
async def test_an_applicant_checks_rates_and_reads_the_public_pages(
    stack, number, browser, width, tmp_path: Path
):
    """No account, on a phone first: progress by number and query code, the rating once
    connected, then the information pages (办理流程, 时限, 资料, 收费, 接入能力)."""
    intake = stack["intake"]
    mine, code = _connected(stack)  # the `number` fixture added the clerk
    page = await browser.new_page(viewport={"width": width, "height": 812})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{intake}/ui/progress")
    await expect(page.get_by_role("heading", name="办电进度查询")).to_be_visible()
    await assert_page_ok(page)
    await page.get_by_label("申请编号").fill(mine)
    await page.get_by_label("查询码").fill(code)
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator("#status")).to_contain_text("已接电")
    await expect(page.get_by_role("heading", name="服务评价")).to_be_visible()
    await assert_page_ok(page)

    await page.get_by_label("4 星 满意").check()
    await page.get_by_label("意见或建议（选填）").fill("办电很快")
    await page.get_by_role("button", name="提交评价").click()
    await expect(page.locator("#rated")).to_have_text("感谢您的评价！")
    await expect(page.locator("#rating")).to_contain_text("4 星（满意）")
    await expect(page.locator("#rating-form")).to_have_count(0)  # once only
    await assert_page_ok(page)
    await page.screenshot(path=str(tmp_path / f"rated-{width}.png"), full_page=True)

    # The information pages, from the progress page's links.
    for label, heading in (
        ("办理流程", "办理流程"),
        ("办理时限", "办理时限"),
        ("申请资料", "申请资料"),
        ("收费项目", "收费项目"),
        ("配电网接入能力", "配电网接入能力及容量受限情况"),
    ):
        await page.goto(f"{intake}/ui/progress")
        await page.get_by_role("link", name=label, exact=True).click()
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        await assert_page_ok(page, f"{label} at {width}")
    await expect(page.locator("#not-published, #capacity").first).to_be_visible()
    await page.goto(f"{intake}/ui/info/limits?jurisdiction=jingyu")
    await expect(page.locator("section.limits").first).to_be_visible()
    await assert_page_ok(page)

    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested
