"""External-line works (电力外线接入工程): the approval the plan requires, the approval service's
answer through the portal, no connection without it, and the 3-month push of the construction
information after completion — counted across the 2026 Spring Festival."""

import pytest

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import create, valid_resident_id
from tests.intake.portal.conftest import post

pytestmark = pytest.mark.usefixtures("clock")


async def works(client, number, **body):
    return await client.put(f"/applications/{number}/external-line", json=body)


async def approval(portal, number, result="approved", key=None, **changes):
    body = {
        "application_number": number,
        "result": result,
        "approval_number": "东审批电力〔2025〕第18号",
        "decided_on": "2025-10-10",
        "note": "",
        **changes,
    }
    return await post(portal, "/portal/approvals", body, key=key)


async def run_to_connection(clerk, number):
    for stage in ("acceptance", "supply_plan", "completion_inspection"):
        response = await complete(clerk, number, stage)
        assert response.status_code == 200, response.text
    return await complete(clerk, number, "connection", **CONNECTION_POINT)


async def new_application(clerk, **changes):
    return (await create(clerk, **changes))["application"]["number"]


class TestDecision:
    async def test_a_short_high_voltage_line_is_filed_on_commitment(self, clerk):
        number = await new_application(clerk)
        response = await works(clerk, number, length_m="320")
        assert response.status_code == 200, response.text
        recorded = response.json()
        assert (recorded["voltage"], recorded["length_m"]) == ("high", "320.00")
        assert (recorded["procedure"], recorded["procedure_name"]) == (
            "commitment_filing",
            "告知承诺备案制",
        )
        assert recorded["rule"]["code"] == "short_high_voltage"
        assert "高压实行告知承诺备案制" in recorded["rule"]["text"]
        assert recorded["explanation"].startswith("管线长度320米，高压：告知承诺备案制")
        assert recorded["approval"]["state"] == "filed"
        assert recorded["recorded_by"] == "clerk-wang"
        assert recorded["push"] is None
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert (log[-1]["kind"], log[-1]["payload"]["procedure"]) == (
            "external_line_decided",
            "commitment_filing",
        )

    @pytest.mark.parametrize(
        ("length", "crossings", "procedure", "state"),
        [
            ("500", [], "commitment_filing", "filed"),
            ("500.01", [], "full_approval", "pending"),
            ("120", ["urban_trunk_road"], "full_approval", "pending"),
            ("120", ["urban_green_land", "trees"], "commitment", "pending"),
        ],
    )
    async def test_the_plan_decides(self, clerk, length, crossings, procedure, state):
        number = await new_application(clerk)
        recorded = (await works(clerk, number, length_m=length, crossings=crossings)).json()
        assert (recorded["procedure"], recorded["approval"]["state"]) == (procedure, state)

    async def test_a_short_low_voltage_line_needs_no_approval(self, clerk):
        applicant = {
            "name": "张三",
            "id_kind": "resident_id",
            "id_number": valid_resident_id(),
            "mobile": "13800138000",
        }
        number = await new_application(
            clerk, customer_type="residential", applicant=applicant, capacity_kw="8"
        )
        recorded = (await works(clerk, number, length_m="80")).json()
        assert (recorded["voltage"], recorded["procedure"]) == ("low", "exempt")
        assert recorded["approval"]["state_label"] == "免审批"

    async def test_who_records_and_reads(
        self, clerk, other_clerk, supervisor, intake_admin, anonymous
    ):
        number = await new_application(clerk)
        refused = await works(other_clerk, number, length_m="100")
        assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")
        assert (await works(intake_admin, number, length_m="100")).status_code == 403
        missing = await clerk.get(f"/applications/{number}/external-line")
        assert missing.json()["code"] == "external_line_not_recorded"
        await works(clerk, number, length_m="100")
        for reader in (clerk, supervisor, intake_admin):
            assert (await reader.get(f"/applications/{number}/external-line")).status_code == 200
        assert (await anonymous.get(f"/applications/{number}/external-line")).status_code == 401

    async def test_bad_works_are_refused(self, clerk):
        number = await new_application(clerk)
        bad = await works(clerk, number, length_m="0", crossings=["motorway"])
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {"length_m", "crossings.0"}
        no_works = await new_application(clerk, customer_type="low_voltage", has_works=False)
        refused = await works(clerk, no_works, length_m="10")
        assert refused.json()["code"] == "application_has_no_works"


class TestApproval:
    async def test_no_connection_until_approved(self, clerk, portal, clock):
        number = await new_application(clerk)
        await works(clerk, number, length_m="260", crossings=["other_urban_road"])
        clock.set("2025-10-09 09:00")
        refused = await run_to_connection(clerk, number)
        assert refused.status_code == 409
        assert refused.json()["code"] == "external_line_not_approved"

        clock.set("2025-10-10 16:00")
        answer = await approval(portal, number, key="approval-0001", note="同意开挖")
        assert answer.status_code == 200, answer.text
        approved = answer.json()["approval"]
        assert (approved["state"], approved["approval_number"]) == (
            "approved",
            "东审批电力〔2025〕第18号",
        )
        assert (approved["decided_on"], approved["received_at"]) == (
            "2025-10-10",
            "2025-10-10T16:00:00+08:00",
        )
        replay = await approval(portal, number, key="approval-0001", note="同意开挖")
        assert replay.headers["idempotent-replayed"] == "true"
        again = await approval(portal, number, key="approval-0002")
        assert (again.status_code, again.json()["code"]) == (409, "approval_not_pending")

        clock.set("2025-10-17 15:00")
        connected = await complete(clerk, number, "connection", **CONNECTION_POINT)
        assert connected.status_code == 200, connected.text
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert [e["kind"] for e in log if e["kind"].startswith("external")] == [
            "external_line_decided",
            "external_line_approval",
        ]
        assert log[-1]["kind"] == "stage_completed"
        # Completed with the connection; 3 months later is Saturday 2026-01-17: Monday then.
        push = (await clerk.get(f"/applications/{number}/external-line")).json()["push"]
        assert (push["completed_on"], push["due_on"], push["state"]) == (
            "2025-10-17",
            "2026-01-19",
            "pending",
        )

    async def test_a_refusal_needs_new_works(self, clerk, portal):
        number = await new_application(clerk)
        await works(clerk, number, length_m="900")
        refused = (await approval(portal, number, result="rejected", note="线路走向不当")).json()
        assert refused["approval"]["state"] == "rejected"
        assert refused["approval"]["note"] == "线路走向不当"
        blocked = await clerk.post(f"/applications/{number}/external-line/completion")
        assert blocked.json()["code"] == "external_line_not_approved"
        redesigned = (await works(clerk, number, length_m="450")).json()
        assert redesigned["approval"] == {
            "state": "filed",
            "state_label": "已告知承诺备案",
            "approval_number": None,
            "decided_on": None,
            "received_at": None,
            "note": None,
        }

    async def test_what_the_approval_service_cannot_post(self, clerk, portal, anonymous):
        number = await new_application(clerk)
        unknown = await approval(portal, "BZ20250930999999")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "application_not_found")
        not_recorded = await approval(portal, number)
        assert not_recorded.json()["code"] == "external_line_not_recorded"
        await works(clerk, number, length_m="100")
        filed = await approval(portal, number)
        assert filed.json()["code"] == "approval_not_pending"
        bad = await approval(portal, number, result="maybe")
        assert bad.status_code == 422
        unsigned = await anonymous.post(
            "/portal/approvals", json={}, headers={"Idempotency-Key": "x"}
        )
        assert unsigned.status_code == 401


class TestPush:
    async def test_the_push_duty_and_the_overdue_list(self, clerk, other_clerk, supervisor, clock):
        first = await new_application(clerk)
        second = await new_application(clerk)
        for number in (first, second):
            await works(clerk, number, length_m="200")
        refused = await clerk.post(
            f"/applications/{first}/external-line/push", json={"reference": "x"}
        )
        assert refused.json()["code"] == "external_line_not_completed"

        clock.set("2025-11-14 10:00")  # 3 months on is Saturday 2026-02-14, a make-up workday
        done = (await clerk.post(f"/applications/{first}/external-line/completion")).json()
        assert (done["push"]["due_on"], done["push"]["state"]) == ("2026-02-14", "pending")
        assert done["completed_at"] == "2025-11-14T10:00:00+08:00"
        twice = await clerk.post(f"/applications/{first}/external-line/completion")
        assert twice.json()["code"] == "external_line_completed"
        again = await works(clerk, first, length_m="300")
        assert again.json()["code"] == "external_line_completed"
        clock.set("2025-11-16 10:00")  # 3 months on falls in the Spring Festival holiday
        late = (await clerk.post(f"/applications/{second}/external-line/completion")).json()
        assert late["push"]["due_on"] == "2026-02-24"

        clock.set("2026-02-16 10:00")
        overdue = (await clerk.get("/external-lines", params={"push_state": "overdue"})).json()
        assert [w["application_number"] for w in overdue["items"]] == [first]
        assert overdue["items"][0]["push"]["days_overdue"] == 2
        pending = (await clerk.get("/external-lines", params={"push_state": "pending"})).json()
        assert [w["application_number"] for w in pending["items"]] == [second]
        assert (await supervisor.get("/external-lines", params={"push_state": "overdue"})).json()[
            "total"
        ] == 1
        assert (await other_clerk.get("/external-lines")).json()["total"] == 0

        clock.set("2026-02-25 09:00")
        pushed = await clerk.post(
            f"/applications/{first}/external-line/push", json={"reference": "推送回执 0001"}
        )
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["push"] | {"rule": ""} == {
            "completed_on": "2025-11-14",
            "due_on": "2026-02-14",
            "pushed_on": "2026-02-25",
            "reference": "推送回执 0001",
            "state": "pushed_late",
            "overdue": False,
            "days_overdue": 11,
            "rule": "",
        }
        assert "3个月内" in pushed.json()["push"]["rule"]
        twice = await clerk.post(
            f"/applications/{first}/external-line/push", json={"reference": "again"}
        )
        assert twice.json()["code"] == "already_pushed"
        listed = await clerk.get("/external-lines", params={"push_state": "overdue"})
        assert [w["application_number"] for w in listed.json()["items"]] == [second]
        late_list = await clerk.get("/external-lines", params={"push_state": "pushed_late"})
        assert late_list.json()["total"] == 1
        filed = await clerk.get("/external-lines", params={"approval_state": "filed"})
        assert filed.json()["total"] == 2
