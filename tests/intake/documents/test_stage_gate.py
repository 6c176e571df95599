"""A stage completes only once what the rules require for it has been received or waived with a
recorded reason (who, why, when)."""

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete_only
from tests.intake.conftest import create
from tests.intake.documents.test_documents_api import documents, receive, states


async def waive(client, number, kind, reason):
    return await client.post(
        f"/applications/{number}/documents/waivers", json={"kind": kind, "reason": reason}
    )


class TestGate:
    async def test_completion_inspection_waits_for_the_completion_report(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        refused = await complete_only(clerk, number, "acceptance")
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["code"] == "stage_documents_missing"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("identity_proof", "document_needed"),
            ("property_proof", "document_needed"),
            ("project_approval", "document_needed"),
        ]
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["current_stage"] == "acceptance"
        for kind in ("营业执照", "不动产权证书", "项目核准文件"):
            assert (await receive(clerk, number, kind=kind)).status_code == 201
        clock.set("2025-10-09 10:00")
        assert (await complete_only(clerk, number, "acceptance")).status_code == 200
        assert (await complete_only(clerk, number, "supply_plan")).status_code == 200

        clock.set("2025-10-16 10:00")
        refused = await complete_only(clerk, number, "completion_inspection")
        assert refused.status_code == 409
        assert [e["field"] for e in refused.json()["errors"]] == ["completion_report"]
        assert "工程竣工报告" in refused.json()["errors"][0]["message"]
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert [e["kind"] for e in log].count("stage_completed") == 2

        assert (await receive(clerk, number, kind="竣工报告")).status_code == 201
        done = await complete_only(clerk, number, "completion_inspection")
        assert done.status_code == 200, done.text
        assert done.json()["current_stage"] == "connection"
        connected = await complete_only(clerk, number, "connection", **CONNECTION_POINT)
        assert connected.json()["status"] == "connected"

    async def test_an_expired_copy_does_not_count(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await receive(clerk, number, kind="营业执照", valid_until="2025-10-08")
        await receive(clerk, number, kind="不动产权证书")
        await receive(clerk, number, kind="项目核准文件")
        clock.set("2025-10-09 10:00")
        refused = await complete_only(clerk, number, "acceptance")
        assert refused.status_code == 409
        assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
            ("identity_proof", "document_expired")
        ]


class TestWaivers:
    async def test_a_waived_document_lets_the_stage_complete_and_is_on_the_record(
        self, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await receive(clerk, number, kind="营业执照")
        await receive(clerk, number, kind="不动产权证书")
        clock.set("2025-09-30 11:00")
        response = await waive(
            clerk, number, "项目批准文件", "  改扩建项目，发改委书面确认无需另行审批  "
        )
        assert response.status_code == 201, response.text
        view = response.json()
        assert states(view)["project_approval"] == "waived"
        assert view["needed"] == []
        [waiver] = view["waivers"]
        assert (waiver["kind"], waiver["stage"]) == ("project_approval", "acceptance")
        assert waiver["reason"] == "改扩建项目，发改委书面确认无需另行审批"
        assert (waiver["waived_by"], waiver["waived_at"]) == (
            "clerk-wang",
            "2025-09-30T11:00:00+08:00",
        )
        event = (await clerk.get(f"/applications/{number}/log")).json()[-1]
        assert (event["kind"], event["actor"]) == ("document_waived", "clerk-wang")
        assert event["payload"]["kind"] == "project_approval"
        assert event["reason"] == "改扩建项目，发改委书面确认无需另行审批"
        clock.set("2025-10-09 10:00")
        assert (await complete_only(clerk, number, "acceptance")).status_code == 200

    async def test_a_waiver_needs_a_reason_and_a_document_still_needed(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await receive(clerk, number, kind="营业执照")
        blank = await waive(clerk, number, "项目批准文件", "   ")
        assert (blank.status_code, blank.json()["code"]) == (422, "waiver_reason_required")
        missing = await clerk.post(
            f"/applications/{number}/documents/waivers", json={"kind": "项目批准文件"}
        )
        assert missing.status_code == 422
        held = await waive(clerk, number, "身份证", "已收")
        assert (held.status_code, held.json()["code"]) == (409, "document_not_needed")
        other = await waive(clerk, number, "设计图纸", "本环节不收")
        assert (other.status_code, other.json()["code"]) == (422, "document_not_allowed")
        assert (await waive(clerk, number, "项目批准文件", "无需审批")).status_code == 201
        twice = await waive(clerk, number, "项目批准文件", "无需审批")
        assert (twice.status_code, twice.json()["code"]) == (409, "document_not_needed")
        asked = await clerk.post(
            f"/applications/{number}/documents/requests", json={"documents": ["项目批准文件"]}
        )
        assert asked.json()["errors"][0]["code"] == "document_on_file"
        assert (await documents(clerk, number))["waivers"][0]["reason"] == "无需审批"

    async def test_only_the_units_clerk_waives(self, clerk, other_clerk, supervisor, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        for client, code in ((other_clerk, "not_your_unit"), (supervisor, "clerk_required")):
            response = await waive(client, number, "项目批准文件", "无需审批")
            assert (response.status_code, response.json()["code"]) == (403, code)
        assert (await documents(clerk, number))["waivers"] == []
