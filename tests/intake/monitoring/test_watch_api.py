"""Monitoring, warning and escalation (监测、预警、督办) across the 2025 National Day holiday."""

from services.intake.settings import IntakeSettings
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create, valid_resident_id


async def watch(client, state, **params):
    response = await client.get("/monitoring/stages", params={"state": state, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def scan(client):
    response = await client.post("/monitoring/scan")
    assert response.status_code == 200, response.text
    return response.json()


class TestWatchLists:
    async def test_at_risk_on_the_due_day_overdue_after(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        # 10-01 is the first at-risk day: one working day (10-09) is left.
        clock.set("2025-09-30 18:00")
        assert (await watch(clerk, "at_risk"))["total"] == 0
        clock.set("2025-10-03 10:00")
        at_risk = await watch(clerk, "at_risk")
        assert at_risk["total"] == 1
        item = at_risk["items"][0]
        assert (item["number"], item["stage_label"], item["due_date"]) == (
            number,
            "业务受理",
            "2025-10-09",
        )
        assert item["clerk"] == "clerk-wang"
        clock.set("2025-10-13 09:00")
        overdue = await watch(clerk, "overdue")
        assert overdue["total"] == 1
        assert overdue["items"][0]["days_overdue"] == 3  # 10-10, 10-11 (make-up), 10-13
        assert (await watch(clerk, "at_risk"))["total"] == 0

    async def test_filters_scopes_and_paging(self, clerk, other_clerk, supervisor, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        await create(clerk, customer_type="hv10_dual")
        await create(clerk, customer_type="hv10_dual")
        paused = (await create(clerk))["application"]["number"]
        await clerk.post(f"/applications/{paused}/pause", json={"reason": "customer_works"})
        clock.set("2025-10-10 10:00")
        everything = await watch(clerk, "overdue")
        assert everything["total"] == 3  # the paused one waits on the customer
        page = await watch(clerk, "overdue", customer_type="hv10_dual", limit=1, offset=1)
        assert (page["total"], len(page["items"])) == (2, 1)
        assert (await watch(clerk, "overdue", stage="supply_plan"))["total"] == 0
        assert (await watch(supervisor, "overdue"))["total"] == 3
        assert (await watch(other_clerk, "overdue"))["total"] == 0
        refused = await other_clerk.get(
            "/monitoring/stages", params={"state": "overdue", "unit": "国网东营供电公司"}
        )
        assert refused.status_code == 403
        bad = await clerk.get("/monitoring/stages", params={"state": "late"})
        assert bad.status_code == 422


class TestScan:
    async def test_only_in_working_time(self, intake_admin, clock):
        clock.set("2025-10-03 10:00")
        assert (await scan(intake_admin))["ran"] is False  # National Day holiday
        clock.set("2025-10-10 20:00")
        result = await scan(intake_admin)
        assert (result["ran"], result["reason"]) == (False, "outside office hours (非工作时间)")
        clock.set("2025-10-11 10:00")  # a Saturday, but a make-up working day
        assert (await scan(intake_admin))["ran"] is True

    async def test_each_warning_once_then_an_escalation(
        self, intake_admin, clerk, supervisor, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        assert (await scan(intake_admin))["at_risk"] == 1
        assert (await scan(intake_admin))["at_risk"] == 0
        clock.set("2025-10-10 09:00")
        first = await scan(intake_admin)
        assert (first["at_risk"], first["overdue"]) == (0, 1)
        assert (await scan(intake_admin))["overdue"] == 0

        escalations = (await supervisor.get("/escalations")).json()
        assert escalations["total"] == 1
        escalation = escalations["items"][0]
        assert (escalation["number"], escalation["stage"], escalation["state"]) == (
            number,
            "acceptance",
            "open",
        )
        assert escalation["supervising_unit"] == "市发展改革委"
        assert escalation["due_date"] == "2025-10-09"
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert (log[-1]["kind"], log[-1]["actor"]) == ("escalation_opened", "system")

        # A late stage completed opens a new clock, which can be escalated in its turn.
        await complete(clerk, number, "acceptance")
        clock.set("2025-10-20 09:00")
        assert (await scan(intake_admin))["overdue"] == 1
        stages = [e["stage"] for e in (await supervisor.get("/escalations")).json()["items"]]
        assert stages == ["supply_plan", "acceptance"]

    async def test_a_total_budget_is_escalated_once(self, intake_admin, clerk, clock):
        clock.set("2025-09-30 10:00")
        person = {
            "name": "赵六",
            "id_kind": "resident_id",
            "id_number": valid_resident_id(),
            "mobile": "13600000000",
        }
        number = (
            await create(
                clerk,
                customer_type="residential",
                has_works=False,
                applicant=person,
                capacity_kw="6",
            )
        )["application"]["number"]
        clock.set("2025-10-10 09:00")
        assert (await scan(intake_admin))["overdue"] == 1
        await complete(clerk, number, "signing")
        assert (await scan(intake_admin))["overdue"] == 0
        assert (await watch(clerk, "overdue"))["items"][0]["basis"] == "total"


class TestEscalationHandling:
    async def _escalated(self, intake_admin, clerk, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-10 09:00")
        await scan(intake_admin)
        return (await intake_admin.get("/escalations")).json()["items"][0]["id"]

    async def test_acknowledge_then_resolve(self, intake_admin, clerk, supervisor, clock):
        escalation = await self._escalated(intake_admin, clerk, clock)
        clock.set("2025-10-10 10:00")
        acknowledged = await supervisor.post(
            f"/escalations/{escalation}/acknowledge", json={"note": "已电话督促"}
        )
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["state_label"] == "已受理"
        assert acknowledged.json()["acknowledged_by"] == "sup-zhao"
        clock.set("2025-10-10 15:00")
        resolved = (
            await supervisor.post(
                f"/escalations/{escalation}/resolve", json={"resolution": "已约谈并当日办结"}
            )
        ).json()
        assert resolved["state"] == "resolved"
        assert resolved["resolved_at"] == "2025-10-10T15:00:00+08:00"
        assert resolved["resolution"] == "已约谈并当日办结"
        again = await supervisor.post(
            f"/escalations/{escalation}/resolve", json={"resolution": "再次"}
        )
        assert again.json()["code"] == "escalation_resolved"
        late_ack = await supervisor.post(f"/escalations/{escalation}/acknowledge", json={})
        assert late_ack.json()["code"] == "escalation_not_open"
        listed = await supervisor.get("/escalations", params={"state": "resolved"})
        assert listed.json()["total"] == 1
        number = resolved["number"]
        kinds = [e["kind"] for e in (await clerk.get(f"/applications/{number}/log")).json()]
        assert kinds[-2:] == ["escalation_acknowledged", "escalation_resolved"]

    async def test_who_may_handle(self, intake, apps, intake_admin, clerk, clock):
        from shared.auth import Role
        from tests.conftest import client_for
        from tests.intake.conftest import staff_token

        escalation = await self._escalated(intake_admin, clerk, clock)
        refused = await clerk.post(f"/escalations/{escalation}/acknowledge", json={})
        assert refused.json()["code"] == "supervisor_required"
        token = await staff_token(apps, "sup-other", Role.supervisor, ("营销部",))
        async with client_for(intake, token) as other:
            response = await other.post(f"/escalations/{escalation}/acknowledge", json={})
            assert response.json()["code"] == "not_your_unit"
            assert (await other.get("/escalations")).json()["total"] == 0
        assert (await clerk.get(f"/escalations/{escalation}")).status_code == 200
        missing = await intake_admin.get("/escalations/999999")
        assert missing.json()["code"] == "escalation_not_found"
        empty = await intake_admin.post(f"/escalations/{escalation}/resolve", json={})
        assert empty.status_code == 422


class TestRecompute:
    async def test_a_new_warning_share_applies_to_open_clocks(
        self, intake, intake_admin, clerk, clock
    ):
        clock.set("2025-10-09 10:00")
        await create(clerk, customer_type="hv35_dual")
        await complete(
            clerk,
            (await clerk.get("/applications")).json()["items"][0]["number"],
            "acceptance",
        )
        before = (await clerk.get("/applications")).json()["items"][0]["clock"]
        assert before["limit_days"] == 20
        intake.state.intake_settings = IntakeSettings(at_risk_percent=50)
        result = await intake_admin.post("/monitoring/recompute")
        assert result.json() == {"recomputed_applications": 1}
        after = (await clerk.get("/applications")).json()["items"][0]["clock"]
        assert after["due_date"] == before["due_date"]
        assert after["at_risk_from"] < before["at_risk_from"]
        assert (await clerk.post("/monitoring/recompute")).status_code == 403
