"""The administrator's user pages (用户管理): list, add, bind units, disable; refusals in Chinese
with nothing written; other roles get the 403 page, the signed-out the sign-in page."""

from __future__ import annotations

import re

import pytest

from services.ledger.accounts.service import get_user_by_name, to_public
from shared.auth import Role
from shared.db import session_scope
from shared.web.session import COOKIE, csrf_token
from tests.conftest import PASSWORD, add_user, client_for, sign_in


@pytest.fixture
async def admin_token(apps):
    await add_user(apps, "boss", Role.admin)
    await add_user(apps, "head", Role.dept_head, ["各供电企业"])
    return await sign_in(apps, "boss")


def _browser(apps, token: str | None):
    browser = client_for(apps.ledger)
    if token:
        browser.cookies.set(COOKIE, token)
    return browser


def _csrf(apps, token: str) -> str:
    return csrf_token(apps.ledger.state.settings, token)


async def _stored(apps, username: str):
    async with session_scope(apps.ledger.state.engine) as session:
        user = await get_user_by_name(session, username)
        return None if user is None else await to_public(session, user)


async def test_the_admin_sees_every_user_with_units(apps, admin_token):
    async with _browser(apps, admin_token) as browser:
        page = await browser.get("/ui/admin/users")
    assert page.status_code == 200, page.text
    assert re.findall(r'<tr data-user="([^"]+)">', page.text) == ["boss", "head"]
    row = page.text.split('<tr data-user="head">')[1].split("</tr>")[0]
    assert "部门负责人" in row
    assert 'value="各供电企业"' in row
    assert '<a href="/ui/admin/users" aria-current="page">用户管理</a>' in page.text


async def test_adding_a_user(apps, admin_token):
    form = {
        "csrf": _csrf(apps, admin_token),
        "username": "new.head",
        "display_name": "新负责人",
        "role": "dept_head",
        "password": PASSWORD,
        "units": "各供电企业、市发展改革委",
    }
    async with _browser(apps, admin_token) as browser:
        added = await browser.post("/ui/admin/users", data=form)
        assert added.status_code == 303
        assert added.headers["location"] == "/ui/admin/users?saved=added"
        page = await browser.get(added.headers["location"])
    assert "用户已添加。" in page.text
    stored = await _stored(apps, "new.head")
    assert stored is not None
    assert stored.role is Role.dept_head
    assert sorted(u.name for u in stored.units) == ["各供电企业", "市发展改革委"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"units": ""}, "部门负责人至少须绑定一个单位"),
        ({"password": "short"}, "初始密码："),
        ({"username": "有 空格"}, "用户名："),
        ({"role": "king"}, "角色："),
        ({"username": "head"}, "head"),  # exists already
        ({"csrf": "forged"}, "页面"),
    ],
)
async def test_a_refused_user_is_explained_and_not_written(apps, admin_token, change, message):
    form = {
        "csrf": _csrf(apps, admin_token),
        "username": "refused",
        "display_name": "被拒",
        "role": "dept_head",
        "password": PASSWORD,
        "units": "各供电企业",
        **change,
    }
    async with _browser(apps, admin_token) as browser:
        page = await browser.post("/ui/admin/users", data=form)
    assert page.status_code in (403, 409, 422), page.text
    error = page.text.split('<div class="error" role="alert">')[1].split("</div>")[0]
    assert message in error
    assert "被拒" in page.text  # the form keeps what was typed
    assert await _stored(apps, "refused") is None
    assert await _stored(apps, form["username"]) is None or form["username"] == "head"


async def test_binding_units_and_disabling(apps, admin_token):
    async with _browser(apps, admin_token) as browser:
        changed = await browser.post(
            "/ui/admin/users/head",
            data={"csrf": _csrf(apps, admin_token), "units": "市发展改革委", "active": "true"},
        )
        assert changed.status_code == 303
        stored = await _stored(apps, "head")
        assert [u.name for u in stored.units] == ["市发展改革委"]
        assert stored.is_active
        disabled = await browser.post(
            "/ui/admin/users/head", data={"csrf": _csrf(apps, admin_token), "units": "市发展改革委"}
        )
        assert disabled.status_code == 303
        page = await browser.get("/ui/admin/users")
    assert not (await _stored(apps, "head")).is_active
    row = page.text.split('<tr data-user="head">')[1].split("</tr>")[0]
    assert "已停用" in row


async def test_a_refused_change_writes_nothing(apps, admin_token):
    csrf = _csrf(apps, admin_token)
    async with _browser(apps, admin_token) as browser:
        empty = await browser.post("/ui/admin/users/head", data={"csrf": csrf, "units": ""})
        unknown = await browser.post(
            "/ui/admin/users/head", data={"csrf": csrf, "units": "无此单位"}
        )
        nobody = await browser.post("/ui/admin/users/nobody", data={"csrf": csrf, "active": "1"})
        myself = await browser.post("/ui/admin/users/boss", data={"csrf": csrf})
    assert empty.status_code == 422
    assert "部门负责人至少须绑定一个单位" in empty.text
    assert unknown.status_code == 422
    assert "无此单位" in unknown.text
    assert nobody.status_code == 404
    assert myself.status_code == 403
    assert "管理员不能停用自己的账号" in myself.text
    head = await _stored(apps, "head")
    assert [u.name for u in head.units] == ["各供电企业"]
    assert head.is_active
    assert (await _stored(apps, "boss")).is_active


async def test_saving_a_row_unchanged_keeps_the_admin_signed_in(apps, admin_token):
    async with _browser(apps, admin_token) as browser:
        saved = await browser.post(
            "/ui/admin/users/boss", data={"csrf": _csrf(apps, admin_token), "active": "true"}
        )
        assert saved.status_code == 303
        page = await browser.get("/ui/admin/users")
    assert page.status_code == 200


async def test_other_roles_and_the_signed_out(apps, admin_token):
    head = await sign_in(apps, "head")
    async with _browser(apps, head) as browser:
        page = await browser.get("/ui/admin/users")
        post = await browser.post(
            "/ui/admin/users/head", data={"csrf": _csrf(apps, head), "units": "市发展改革委"}
        )
    assert page.status_code == 403
    assert "无权访问" in page.text
    assert post.status_code == 403
    assert [u.name for u in (await _stored(apps, "head")).units] == ["各供电企业"]
    async with _browser(apps, None) as browser:
        anonymous = await browser.get("/ui/admin/users")
    assert anonymous.status_code == 303
    assert "/ui/login?next=" in anonymous.headers["location"]
