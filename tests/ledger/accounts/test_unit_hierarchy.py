"""Users bound to the real units of the hierarchy (shared/units.json), and what a head of a group
answers for: its own items and its members', never its group's or its siblings'."""

from datetime import datetime

import httpx
import pytest

from services.ledger.ledgers.service import NewItem, create_ledger
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import PASSWORD, Apps, add_user, client_for, sign_in
from tests.ledger.ledgers.test_items_api import item_id
from tests.ledger.updates.test_updates_api import update_form

NOW = datetime.fromisoformat("2026-04-01T02:00:00+00:00")


def user_body(username: str, role: str, *units: str) -> dict[str, object]:
    return {
        "username": username,
        "display_name": username,
        "role": role,
        "password": PASSWORD,
        "units": list(units),
    }


class TestBindingUsers:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("国网东营供电公司", "国网东营供电公司"),
            ("国网广饶县供电公司", "国网广饶县供电公司"),
            ("国网山东省电力公司东营供电公司", "国网东营供电公司"),  # the full name
        ],
    )
    async def test_a_clerk_of_a_real_unit(self, admin, given, stored):
        # No ledger is loaded: the unit comes from the hierarchy.
        response = await admin.post("/users", json=user_body("clerk-dy", "clerk", given))
        assert response.status_code == 201, response.text
        assert [u["name"] for u in response.json()["units"]] == [stored]
        units = (await admin.get("/units")).json()
        assert [u["name"] for u in units] == [stored]

    async def test_an_unknown_name_is_still_refused_and_nothing_is_written(self, admin):
        response = await admin.post(
            "/users", json=user_body("clerk-x", "clerk", "国网东营供电公司", "火星供电局")
        )
        assert (response.status_code, response.json()["code"]) == (422, "unknown_unit")
        assert "火星供电局" in response.json()["detail"]
        assert "clerk-x" not in [u["username"] for u in (await admin.get("/users")).json()]
        assert (await admin.get("/units")).json() == []

    async def test_a_user_moves_to_a_branch(self, admin):
        created = await admin.post(
            "/users", json=user_body("clerk-dy", "clerk", "国网东营供电公司")
        )
        assert created.status_code == 201
        moved = await admin.patch("/users/clerk-dy", json={"units": ["国网利津县供电公司"]})
        assert moved.status_code == 200, moved.text
        assert [u["name"] for u in moved.json()["units"]] == ["国网利津县供电公司"]


async def _ledger_of_companies(apps: Apps) -> None:
    rows = [
        NewItem(1, "压缩办电时间", "城区配电网改造", "国网东营供电公司", "2026年6月底前"),
        NewItem(2, "压缩办电时间", "全市推广", "各供电企业", "2026年6月底前"),
        NewItem(3, "压缩办电时间", "广饶县配电网改造", "国网广饶县供电公司", "2026年9月底前"),
    ]
    async with session_scope(apps.ledger.state.engine) as session:
        await create_ledger(session, code="dongying-2026", name="测试台账", rows=rows, now=NOW)


async def _head(apps: Apps, username: str, unit: str) -> httpx.AsyncClient:
    await add_user(apps, username, Role.dept_head, [unit])
    return client_for(apps.ledger, await sign_in(apps, username))


class TestResponsibility:
    async def post(self, head: httpx.AsyncClient, seq: int) -> httpx.Response:
        target = await item_id(head, "dongying-2026", seq)
        return await head.post(f"/items/{target}/updates", data=update_form())

    async def test_a_group_head_answers_for_its_members(self, apps):
        await _ledger_of_companies(apps)
        async with await _head(apps, "power", "各供电企业") as group:
            for seq, unit in (
                (1, "国网东营供电公司"),
                (2, "各供电企业"),
                (3, "国网广饶县供电公司"),
            ):
                posted = await self.post(group, seq)
                assert posted.status_code == 201, posted.text
                assert posted.json()["unit"] == unit  # recorded for the unit responsible

    async def test_a_member_does_not_answer_for_its_group_or_siblings(self, apps):
        await _ledger_of_companies(apps)
        async with await _head(apps, "city", "国网东营供电公司") as city:
            assert (await self.post(city, 1)).status_code == 201
            assert (await self.post(city, 3)).status_code == 201  # its branch
            refused = await self.post(city, 2)
            assert (refused.status_code, refused.json()["code"]) == (403, "not_responsible")
        async with await _head(apps, "shengli", "国网胜利供电公司") as sibling:
            for seq in (1, 2, 3):
                assert (await self.post(sibling, seq)).status_code == 403
        async with await _head(apps, "guangrao", "国网广饶县供电公司") as branch:
            assert (await self.post(branch, 3)).status_code == 201
            assert (await self.post(branch, 1)).status_code == 403
