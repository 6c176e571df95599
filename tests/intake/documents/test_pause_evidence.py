"""Pause evidence (暂停计时佐证): what the customer was asked for, when, and when it arrived; a
pause for missing material says what it waits for; exported per application and per period."""

import io

from openpyxl import load_workbook

from tests.intake.conftest import create
from tests.intake.documents.test_documents_api import documents, receive

MOBILE = "13812345678"


async def pause(client, number, **body):
    return await client.post(f"/applications/{number}/pause", json=body)


async def paused_for_the_approval(clerk, clock):
    """An application paused on 2025-09-30 for its project approval, which arrives on 10-10."""
    clock.set("2025-09-30 10:00")
    number = (await create(clerk))["application"]["number"]
    await receive(clerk, number, kind="营业执照")
    await receive(clerk, number, kind="不动产权证书")
    clock.set("2025-09-30 11:00")
    response = await pause(
        clerk,
        number,
        reason="missing_material",
        documents=["项目核准文件"],
        note=f"请提供项目核准文件，联系人 {MOBILE}",
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paused"
    clock.set("2025-10-10 09:00")
    assert (await receive(clerk, number, kind="项目批准文件")).status_code == 201
    clock.set("2025-10-10 09:30")
    resumed = await clerk.post(f"/applications/{number}/resume", json={"note": "资料已补齐"})
    assert resumed.status_code == 200, resumed.text
    return number


class TestPausing:
    async def test_a_pause_for_missing_material_says_what_it_waits_for(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        bare = await pause(clerk, number, reason="missing_material")
        assert (bare.status_code, bare.json()["code"]) == (422, "pause_reason_required")
        no_reason = await pause(clerk, number, note="等客户")
        assert no_reason.status_code == 422
        assert no_reason.json()["errors"][0]["field"] == "reason"
        forbidden = await pause(
            clerk, number, reason="missing_material", documents=["申请用电承诺书"]
        )
        assert (forbidden.status_code, forbidden.json()["code"]) == (422, "document_not_allowed")
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["status"], detail["pauses"]) == ("open", [])
        assert (await documents(clerk, number))["requests"] == []
        noted = await pause(clerk, number, reason="missing_material", note="等待客户补充委托书")
        assert noted.status_code == 200, noted.text

    async def test_the_documents_asked_with_a_pause_are_a_request_linked_to_it(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-09-30 11:00")
        response = await pause(
            clerk, number, reason="missing_material", documents=["身份证", "房产证"]
        )
        assert response.status_code == 200, response.text
        [request] = (await documents(clerk, number))["requests"]
        assert [d["code"] for d in request["documents"]] == ["identity_proof", "property_proof"]
        assert request["pause_id"] is not None
        assert request["requested_at"] == "2025-09-30T11:00:00+08:00"
        kinds = [e["kind"] for e in (await clerk.get(f"/applications/{number}/log")).json()]
        assert kinds[-2:] == ["documents_requested", "paused"]


class TestEvidence:
    async def test_per_application_what_was_asked_when_and_when_it_arrived(
        self, clerk, supervisor, clock
    ):
        number = await paused_for_the_approval(clerk, clock)
        response = await clerk.get(f"/applications/{number}/pauses/evidence")
        assert response.status_code == 200, response.text
        [evidence] = response.json()["pauses"]
        assert (evidence["stage"], evidence["reason_label"]) == ("acceptance", "等待客户补充资料")
        assert evidence["started_at"] == "2025-09-30T11:00:00+08:00"
        assert evidence["ended_at"] == "2025-10-10T09:30:00+08:00"
        assert (evidence["started_by"], evidence["ended_by"]) == ("clerk-wang", "clerk-wang")
        # Paused from 09-30 to 10-10: 09-30 and 10-09 are the working days it held up
        # (the National Day holiday, 10-01 to 10-08, is not counted anyway).
        assert evidence["days"] == EXPECTED_PAUSED_DAYS
        assert evidence["note"] == f"请提供项目核准文件，联系人 {MOBILE}"
        [awaited] = evidence["awaited"]
        assert awaited == {
            "code": "project_approval",
            "name": "项目批准文件",
            "asked_at": "2025-09-30T11:00:00+08:00",
            "asked_by": "clerk-wang",
            "state": "arrived",
            "arrived_at": "2025-10-10T09:00:00+08:00",
            "source": "counter",
            "source_label": "窗口收取",
            "received_by": "clerk-wang",
        }
        masked = (await supervisor.get(f"/applications/{number}/pauses/evidence")).json()
        assert MOBILE not in masked["pauses"][0]["note"]

    async def test_a_running_pause_shows_what_is_outstanding(self, clerk, clock):
        clock.set("2026-02-10 10:00")
        number = (await create(clerk))["application"]["number"]
        await pause(clerk, number, reason="missing_material", documents=["项目批准文件"])
        [evidence] = (await clerk.get(f"/applications/{number}/pauses/evidence")).json()["pauses"]
        assert (evidence["ended_at"], evidence["days"]) == (None, None)
        assert evidence["awaited"][0]["state"] == "outstanding"
        assert evidence["awaited"][0]["arrived_at"] is None

    async def test_per_period_as_a_workbook(self, clerk, other_clerk, supervisor, clock):
        number = await paused_for_the_approval(clerk, clock)
        clock.set("2025-10-13 10:00")
        later = (await create(clerk))["application"]["number"]
        await pause(clerk, later, reason="customer_works", note="客户自建配电房施工中")
        period = {"period_start": "2025-09-01", "period_end": "2025-09-30"}
        report = (await clerk.get("/pauses/evidence", params=period)).json()
        assert [p["application"] for p in report["pauses"]] == [number]
        october = {"period_start": "2025-10-01", "period_end": "2025-10-31"}
        report = (await supervisor.get("/pauses/evidence", params=october)).json()
        assert [(p["application"], p["awaited"]) for p in report["pauses"]] == [(later, [])]
        assert (await other_clerk.get("/pauses/evidence", params=october)).json()["pauses"] == []
        foreign = await other_clerk.get(
            "/pauses/evidence", params={**october, "unit": "国网东营供电公司"}
        )
        assert (foreign.status_code, foreign.json()["code"]) == (403, "not_your_unit")
        reversed_ = await clerk.get(
            "/pauses/evidence", params={"period_start": "2025-10-31", "period_end": "2025-10-01"}
        )
        assert (reversed_.status_code, reversed_.json()["code"]) == (422, "invalid_period")

        whole = {"period_start": "2025-09-01", "period_end": "2025-10-31", "format": "xlsx"}
        response = await clerk.get("/pauses/evidence", params=whole)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "暂停计时佐证（2025-09-01至2025-10-31）"
        assert rows[1][:4] == ("申请编号", "供电单位", "环节", "暂停原因")
        first, second = rows[2], rows[3]
        assert first[0] == number
        assert first[5:10] == (
            "2025-09-30 11:00",
            "clerk-wang",
            "项目批准文件",
            "2025-09-30 11:00",
            "项目批准文件：2025-10-10 09:00 窗口收取",
        )
        assert (first[10], first[12]) == ("2025-10-10 09:30", EXPECTED_PAUSED_DAYS)
        assert (second[0], second[3], second[10]) == (later, "等待客户完成自有工程", "暂停中")

        one = await clerk.get(f"/applications/{number}/pauses/evidence", params={"format": "xlsx"})
        assert one.status_code == 200
        assert number in one.headers["content-disposition"]


EXPECTED_PAUSED_DAYS = 2


class TestProvisionalFigures:
    """A figure counted over a year whose holiday arrangement is not published yet (2027 in the
    shipped calendar: its holidays are predicted) is marked 预测 in the evidence and its .xlsx."""

    async def paused_and_resumed(self, clerk, clock, accepted, resumed):
        clock.set(f"{accepted} 09:00")
        number = (await create(clerk))["application"]["number"]
        clock.set(f"{accepted} 10:00")
        paused = await pause(clerk, number, reason="customer_works", note="客户自建配电房施工中")
        assert paused.status_code == 200, paused.text
        clock.set(f"{resumed} 09:00")
        assert (await clerk.post(f"/applications/{number}/resume", json={})).status_code == 200
        detail = (await clerk.get(f"/applications/{number}")).json()
        return number, detail

    async def test_a_due_date_in_2027_is_provisional_one_in_2026_is_not(self, clerk, clock):
        late, late_detail = await self.paused_and_resumed(clerk, clock, "2026-12-28", "2027-01-05")
        early, early_detail = await self.paused_and_resumed(
            clerk, clock, "2026-12-01", "2026-12-03"
        )
        [late_stage] = [s for s in late_detail["stages"] if s["state"] == "open"]
        [early_stage] = [s for s in early_detail["stages"] if s["state"] == "open"]
        assert late_stage["due_date"].startswith("2027-")
        assert early_stage["due_date"].startswith("2026-12-")

        period = {"period_start": "2026-12-01", "period_end": "2026-12-31"}
        report = (await clerk.get("/pauses/evidence", params=period)).json()
        by_number = {p["application"]: p for p in report["pauses"]}
        assert (by_number[late]["due_date"], by_number[late]["due_provisional"]) == (
            late_stage["due_date"],
            True,
        )
        assert by_number[late]["provisional"] is True  # paused into 2027
        assert (by_number[early]["due_date"], by_number[early]["due_provisional"]) == (
            early_stage["due_date"],
            False,
        )
        assert by_number[early]["provisional"] is False

        response = await clerk.get("/pauses/evidence", params={**period, "format": "xlsx"})
        assert response.status_code == 200, response.text
        rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
        header = rows[1]
        column = {name: header.index(name) for name in ("暂停工作日预测", "办结期限", "期限预测")}
        cells = {row[0]: row for row in rows[2:]}
        assert cells[late][column["办结期限"]] == late_stage["due_date"]
        assert cells[late][column["期限预测"]] == "预测"
        assert cells[late][column["暂停工作日预测"]] == "预测"
        assert cells[early][column["办结期限"]] == early_stage["due_date"]
        assert cells[early][column["期限预测"]] in ("", None)
        assert cells[early][column["暂停工作日预测"]] in ("", None)
