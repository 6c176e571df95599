"""The administrator imports a ledger from Excel in a real browser, at 1280 and 375 px: a sheet
with mistakes is shown row by row and nothing is written; the corrected sheet is confirmed once."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.page_checks import assert_page_ok
from tests.e2e.test_ledger_web import ledger_url, sign_in
from tests.ledger.ledgers.test_ledger_import import CLEAN_ROWS
from tests.ledger.ledgers.test_spreadsheet_api import xlsx

pytestmark = pytest.mark.e2e
__all__ = ["ledger_url"]  # the fixture, shared with the department head's test

MISTAKES = [*CLEAN_ROWS, (3, None, "序号重复", "月球供电所", "明年")]


@pytest.mark.parametrize("width", [1280, 375])
async def test_admin_previews_then_confirms_an_import(
    ledger_url: str, browser: Browser, width: int, tmp_path: Path
):
    wrong, right = tmp_path / "有错的台账.xlsx", tmp_path / "台账.xlsx"
    wrong.write_bytes(xlsx(MISTAKES))
    right.write_bytes(xlsx(CLEAN_ROWS))
    code = f"county-{width}"
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await sign_in(page, ledger_url, "admin", "web-admin-pw-1")
    await page.goto(f"{ledger_url}/ui/admin/ledgers")

    async def upload(path: Path) -> None:
        await page.get_by_label("Excel 文件").set_input_files(path)
        await page.get_by_label("台账编码（小写字母、数字和 -）").fill(code)
        await page.get_by_label("台账名称").fill(f"某县任务台账{width}")
        await page.get_by_role("button", name="预览").click()
        await expect(page.get_by_role("heading", name="导入预览")).to_be_visible()

    await upload(wrong)
    await expect(page.get_by_role("alert")).to_contain_text("发现 3 处问题，尚未导入任何内容")
    bad = page.locator('tr[data-row="7"]')
    await expect(bad).to_contain_text("序号 3 与第 6 行重复")
    await expect(bad).to_contain_text("未知的责任单位“月球供电所”")
    await expect(bad).to_contain_text("无法识别完成时间“明年”")
    await expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    await assert_page_ok(page, f"the preview with mistakes at {width}")

    await page.get_by_role("link", name="返回台账管理").click()
    await expect(page.locator(f'tr[data-ledger="{code}"]')).to_have_count(0)
    await upload(right)
    await expect(page.get_by_role("status")).to_contain_text("全部 3 行检查无误")
    await assert_page_ok(page, f"the clean preview at {width}")
    confirm = page.locator('form[action$="/import/confirm"]')
    sent = {
        name: await confirm.locator(f'input[name="{name}"]').get_attribute("value") or ""
        for name in ("csrf", "token")
    }
    await page.get_by_role("button", name="确认导入").click()
    await expect(page.get_by_role("status")).to_have_text("台账已导入。")
    await expect(page.locator(f'tr[data-ledger="{code}"]')).to_contain_text("某县任务台账")
    await assert_page_ok(page, f"the ledgers after the import at {width}")

    # The back button does not show the preview again (Cache-Control: no-store); its form sent
    # again, with the token already used, is refused.
    again = await page.request.post(f"{ledger_url}/ui/admin/ledgers/import/confirm", form=sent)
    assert again.status == 409
    assert "只能使用一次" in await again.text()
