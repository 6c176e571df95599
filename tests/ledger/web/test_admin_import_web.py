"""The administrator's import page (导入台账): upload, row-by-row preview, confirmation."""

from __future__ import annotations

import re

import pytest

from shared.auth import Role
from shared.web.session import csrf_token
from tests.conftest import add_user, client_for, sign_in
from tests.ledger.ledgers.test_ledger_import import CLEAN_ROWS
from tests.ledger.ledgers.test_spreadsheet_api import xlsx
from tests.ledger.web.test_admin_ledgers_web import _browser

FORM = {"code": "county-web", "name": "某县网页导入台账", "plan_end": "2026-12-31"}


@pytest.fixture
async def admin_token(apps):
    await add_user(apps, "boss", Role.admin)
    return await sign_in(apps, "boss")


async def _upload(browser, csrf: str, content: bytes, **form: str):
    return await browser.post(
        "/ui/admin/ledgers/import",
        data={"csrf": csrf, **FORM, **form},
        files={"file": ("台账.xlsx", content, "application/octet-stream")},
    )


async def _ledger_status(apps, token: str, code: str) -> int:
    async with client_for(apps.ledger, token) as api:
        return (await api.get(f"/ledgers/{code}")).status_code


async def test_preview_then_confirm_once(apps, admin_token):
    csrf = csrf_token(apps.ledger.state.settings, admin_token)
    async with _browser(apps, admin_token) as browser:
        page = await browser.get("/ui/admin/ledgers")
        assert 'action="/ui/admin/ledgers/import"' in page.text
        preview = await _upload(browser, csrf, xlsx(CLEAN_ROWS))
        assert preview.status_code == 200, preview.text
        assert re.findall(r'<tr data-row="(\d+)"', preview.text) == ["3", "4", "6"]
        assert "确认导入" in preview.text
        assert await _ledger_status(apps, admin_token, "county-web") == 404
        token = re.search(r'name="token" value="([^"]+)"', preview.text)
        assert token is not None
        confirm = {"csrf": csrf, "token": token[1]}
        done = await browser.post("/ui/admin/ledgers/import/confirm", data=confirm)
        assert done.status_code == 303
        page = await browser.get(done.headers["location"])
        assert "台账已导入。" in page.text
        assert '<tr data-ledger="county-web">' in page.text
        again = await browser.post("/ui/admin/ledgers/import/confirm", data=confirm)
        assert again.status_code == 409
        assert "只能使用一次" in again.text
    assert await _ledger_status(apps, admin_token, "county-web") == 200


async def test_problems_are_shown_row_by_row(apps, admin_token):
    csrf = csrf_token(apps.ledger.state.settings, admin_token)
    rows = [*CLEAN_ROWS, (3, None, "", "月球供电所", "明年")]
    async with _browser(apps, admin_token) as browser:
        preview = await _upload(browser, csrf, xlsx(rows))
    assert preview.status_code == 200
    assert 'data-problems="4"' in preview.text
    bad = preview.text.split('<tr data-row="7" class="row-problem">')[1].split("</tr>")[0]
    assert "序号 3 与第 6 行重复" in bad
    assert "未知的责任单位“月球供电所”" in bad
    assert "工作目标任务为空" in bad
    assert 'name="token"' not in preview.text


@pytest.mark.parametrize(
    ("content", "form", "status", "shown"),
    [
        (b"not a workbook", {}, 422, "该文件不是 .xlsx 工作簿"),
        (xlsx(CLEAN_ROWS), {"code": "Bad Code"}, 422, "台账编码"),
        (xlsx(CLEAN_ROWS), {"csrf": "forged"}, 403, 'role="alert"'),
    ],
    ids=["not-xlsx", "bad-code", "bad-csrf"],
)
async def test_refusals_keep_the_form(apps, admin_token, content, form, status, shown):
    csrf = csrf_token(apps.ledger.state.settings, admin_token)
    form = dict(form)
    async with _browser(apps, admin_token) as browser:
        refused = await _upload(browser, form.pop("csrf", csrf), content, **form)
    assert refused.status_code == status
    assert shown in refused.text
    assert 'role="alert"' in refused.text
    assert await _ledger_status(apps, admin_token, form.get("code", FORM["code"])) == 404
