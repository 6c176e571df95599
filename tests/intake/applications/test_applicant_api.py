"""The applicant checks progress with the number and query code, and rates the service."""

import asyncio
from datetime import timedelta

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import create


async def progress(client, number, code):
    return await client.get(
        f"/public/applications/{number}/progress", headers={"X-Query-Code": code}
    )


async def rate(client, number, code, **body):
    return await client.post(
        f"/public/applications/{number}/rating", json=body, headers={"X-Query-Code": code}
    )


class TestProgress:
    async def test_stages_dates_and_what_is_awaited(self, clerk, anonymous, clock):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "请提供用电设备清单"},
        )
        response = await progress(anonymous, number, code.lower())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status_label"] == "暂停计时（等待您办理）"
        assert body["current_stage_label"] == "供电方案答复"
        assert [(s["label"], s["state"]) for s in body["stages"]] == [
            ("业务受理", "done"),
            ("供电方案答复", "open"),
            ("竣工检验", "pending"),
            ("装表接电", "pending"),
        ]
        assert body["stages"][0]["due_date"] == "2025-10-09"
        assert body["awaiting_you"] == ["等待客户补充资料：请提供用电设备清单"]
        assert body["can_rate"] is False
        assert "13800138000" not in response.text

    async def test_the_documents_a_stage_may_ask_for(self, clerk, anonymous, clock):
        created = await create(clerk)
        body = (
            await progress(anonymous, created["application"]["number"], created["query_code"])
        ).json()
        assert body["current_stage_label"] == "业务受理"
        assert body["documents"]  # 一证受理 plus the project approval for high voltage
        assert body["awaiting_you"] == []

    async def test_a_wrong_code_is_the_same_404_as_no_application(self, clerk, anonymous, clock):
        number = (await create(clerk))["application"]["number"]
        wrong = await progress(anonymous, number, "AAAAAAAA")
        missing = await progress(anonymous, "BZ20990101000001", "AAAAAAAA")
        assert wrong.status_code == missing.status_code == 404
        assert wrong.json() == missing.json()
        assert (await anonymous.get(f"/public/applications/{number}/progress")).status_code == 422


class TestRating:
    async def test_once_connected_and_only_once(self, clerk, anonymous, clock):
        created = await create(
            clerk, site={"address": "东营区", "area_class": "central", **CONNECTION_POINT}
        )
        number, code = created["application"]["number"], created["query_code"]
        early = await rate(anonymous, number, code, score=5)
        assert early.status_code == 409
        assert early.json()["code"] == "not_connected"
        for name in ("acceptance", "supply_plan", "completion_inspection", "connection"):
            await complete(clerk, number, name)
        assert (await progress(anonymous, number, code)).json()["can_rate"] is True
        assert (await rate(anonymous, number, code, score=6)).status_code == 422
        rated = await rate(anonymous, number, code, score=5, comment="办电很快")
        assert rated.status_code == 200, rated.text
        assert rated.json()["rating"] == 5
        assert rated.json()["can_rate"] is False
        again = await rate(anonymous, number, code, score=1)
        assert again.json()["code"] == "already_rated"
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert (log[-1]["kind"], log[-1]["actor"], log[-1]["payload"]) == (
            "rated",
            "applicant",
            {"score": 5},
        )
        assert (await clerk.get(f"/applications/{number}")).json()["rating"] == 5


class TestGuessing:
    async def test_ten_wrong_codes_lock_the_number_for_the_window(self, clerk, anonymous, clock):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        for _ in range(10):
            assert (await progress(anonymous, number, "AAAAAAAA")).status_code == 404
        locked = await progress(anonymous, number, code)
        assert (locked.status_code, locked.json()["code"]) == (429, "rate_limited")
        assert int(locked.headers["Retry-After"]) > 0
        clock.moment += timedelta(minutes=15)  # intake's clock, which these tests set
        assert (await progress(anonymous, number, code)).status_code == 200

    async def test_one_address_gets_sixty_tries_a_minute(self, clerk, anonymous, clock):
        for i in range(60):
            number = f"BZ2099010100{i:04d}"
            assert (await progress(anonymous, number, "AAAAAAAA")).status_code == 404
        refused = await progress(anonymous, "BZ20990101009999", "AAAAAAAA")
        assert refused.status_code == 429
        clock.moment += timedelta(minutes=1)
        assert (await progress(anonymous, "BZ20990101009999", "AAAAAAAA")).status_code == 404

    async def test_parallel_wrong_codes_get_exactly_ten_chances(self, clerk, anonymous, clock):
        # The try is counted and its count read in one statement: parallel tries cannot all
        # read "fewer than ten" before any of them is recorded.
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        answers = await asyncio.gather(
            *(progress(anonymous, number, "AAAAAAAA") for _ in range(16))
        )
        assert sorted(a.status_code for a in answers) == [404] * 10 + [429] * 6
        assert (await progress(anonymous, number, code)).status_code == 429

    async def test_right_codes_in_parallel_use_up_nothing(self, clerk, anonymous, clock):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        answers = await asyncio.gather(*(progress(anonymous, number, code) for _ in range(10)))
        assert {a.status_code for a in answers} == {200}
        for _ in range(12):
            assert (await progress(anonymous, number, code)).status_code == 200
        for _ in range(10):
            assert (await progress(anonymous, number, "AAAAAAAA")).status_code == 404
        assert (await progress(anonymous, number, code)).status_code == 429
