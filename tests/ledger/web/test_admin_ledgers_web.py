"""The administrator's ledger page (台账管理): downloads, archiving with a reason, restoring."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook

from shared.auth import Role
from shared.web.session import COOKIE, csrf_token
from tests.conftest import add_user, client_for, sign_in

CODE = "dongying-2021"


@pytest.fixture
async def tokens(apps, seeded):
    await add_user(apps, "boss", Role.admin)
    await add_user(apps, "reader", Role.viewer)
    return {"admin": await sign_in(apps, "boss"), "viewer": await sign_in(apps, "reader")}


def _browser(apps, token):
    browser = client_for(apps.ledger)
    browser.cookies.set(COOKIE, token)
    return browser


async def _archived(apps, token) -> bool:
    async with client_for(apps.ledger, token) as api:
        return (await api.get(f"/ledgers/{CODE}")).json()["archived_at"] is not None


async def test_archive_and_restore(apps, tokens):
    admin = tokens["admin"]
    csrf = csrf_token(apps.ledger.state.settings, admin)
    async with _browser(apps, admin) as browser:
        page = await browser.get("/ui/admin/ledgers")
        assert page.status_code == 200, page.text
        assert CODE in re.findall(r'<tr data-ledger="([^"]+)">', page.text)
        archived = await browser.post(
            f"/ui/admin/ledgers/{CODE}/archive", data={"csrf": csrf, "reason": "误导入"}
        )
        assert archived.status_code == 303
        page = await browser.get(archived.headers["location"])
        assert "台账已归档。" in page.text
        row = page.text.split(f'<tr data-ledger="{CODE}">')[1].split("</tr>")[0]
        assert "已归档" in row
        assert "boss" in row
        assert await _archived(apps, admin)
        again = await browser.post(
            f"/ui/admin/ledgers/{CODE}/archive", data={"csrf": csrf, "reason": "再次"}
        )
        assert again.status_code == 409
        assert 'role="alert"' in again.text
        restored = await browser.post(f"/ui/admin/ledgers/{CODE}/restore", data={"csrf": csrf})
        assert restored.status_code == 303
        assert not await _archived(apps, admin)
        twice = await browser.post(f"/ui/admin/ledgers/{CODE}/restore", data={"csrf": csrf})
        assert twice.status_code == 409


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"reason": "   "}, 422, "归档原因："),
        ({"reason": "误导入", "csrf": "forged"}, 403, "页面已过期"),
    ],
)
async def test_a_refused_archive_writes_nothing(apps, tokens, form, status, message):
    admin = tokens["admin"]
    data = {"csrf": csrf_token(apps.ledger.state.settings, admin), **form}
    async with _browser(apps, admin) as browser:
        page = await browser.post(f"/ui/admin/ledgers/{CODE}/archive", data=data)
    assert page.status_code == status
    assert message in page.text.split('role="alert">')[1]
    assert not await _archived(apps, admin)


async def test_others_may_not_archive_but_may_download(apps, tokens):
    viewer = tokens["viewer"]
    csrf = csrf_token(apps.ledger.state.settings, viewer)
    async with _browser(apps, viewer) as browser:
        page = await browser.get("/ui/admin/ledgers")
        post = await browser.post(
            f"/ui/admin/ledgers/{CODE}/archive", data={"csrf": csrf, "reason": "误导入"}
        )
        xlsx = await browser.get(f"/ui/ledgers/{CODE}/export.xlsx")
        csv = await browser.get(f"/ui/ledgers/{CODE}/export.csv")
        pdf = await browser.get(f"/ui/ledgers/{CODE}/export.pdf")
    assert page.status_code == 403
    assert post.status_code == 403
    assert not await _archived(apps, tokens["admin"])
    assert xlsx.status_code == 200
    sheet = load_workbook(BytesIO(xlsx.content)).active
    assert sheet.max_row > 60  # the 68 Dongying items and a header
    assert csv.status_code == 200
    assert "全市用电报装实现电子证照" in csv.content.decode("utf-8-sig")
    assert pdf.status_code == 422
