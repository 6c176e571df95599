"""Deadlines in a year nobody has confirmed are provisional until the year is loaded; a policy
version entered late judges the applications accepted since its date; pauses survive both."""

import copy

from services.intake.policies.service import reference_versions
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create
from tests.intake.workdays.test_calendar_api import ARRANGEMENT_2027


class TestProvisionalDeadlines:
    async def test_loading_2027_recomputes_a_deadline_that_falls_in_it(
        self, intake_admin, clerk, clock
    ):
        clock.set("2026-12-29 10:00")
        number = (await create(clerk, customer_type="hv35_dual"))["application"]["number"]
        clock.set("2026-12-30 10:00")
        application = (await complete(clerk, number, "acceptance")).json()
        # 20 working days from 12-30 with 2027-01-01 predicted off (元旦): 2027-01-28,
        # provisional until 2027 is published.
        assert application["clock"]["due_date"] == "2027-01-28"
        assert application["clock"]["provisional"] is True
        loaded = await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        assert loaded.json()["recomputed_applications"] == 1
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["clock"]["due_date"] == "2027-01-28"  # the same, now confirmed
        assert detail["clock"]["provisional"] is False

    async def test_a_pause_in_an_unconfirmed_year_is_recounted(self, intake_admin, clerk, clock):
        clock.set("2026-12-30 10:00")
        number = (await create(clerk, customer_type="hv35_dual"))["application"]["number"]
        await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        clock.set("2027-01-04 10:00")
        resumed = (await clerk.post(f"/applications/{number}/resume", json={})).json()
        assert resumed["pauses"][0]["days"] == 2  # 12-31, 01-04: 01-01 predicted off
        await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["pauses"][0]["days"] == 2  # 01-01 is a holiday
        assert detail["total"]["paused_days"] == 2
        # acceptance: 1 day + 2 paused from 12-30 → 12-31, 01-04, 01-05.
        assert detail["clock"]["due_date"] == "2027-01-05"

    async def test_untouched_applications_are_not_counted(self, intake_admin, clerk, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        loaded = await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        assert loaded.json()["recomputed_applications"] == 0


def dongying_version(**changes):
    body = copy.deepcopy(
        reference_versions()[0].model_dump(
            mode="json", exclude={"origin", "created_at", "created_by"}
        )
    )
    body.update(changes)
    return body


class TestPolicyEnteredLate:
    async def test_applications_since_its_date_are_judged_by_it(self, intake_admin, clerk, clock):
        clock.set("2025-08-29 10:00")
        before = (await create(clerk))["application"]["number"]
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "等待客户补充资料"},
        )
        clock.set("2025-10-10 09:00")
        await clerk.post(f"/applications/{number}/resume", json={})

        version = dongying_version(code="dongying-2025", effective_from="2025-09-01")
        hv10 = version["entries"][3]
        hv10["stages"][1]["limit_days"] = 3  # 供电方案答复 5 → 3
        hv10["total_days"] = 6
        clock.set("2025-10-10 11:00")
        response = await intake_admin.post("/policies", json=version)
        assert response.status_code == 201, response.text
        assert response.json()["rejudged_applications"] == 1

        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["policy_code"] == "dongying-2025"
        assert detail["total"]["limit_days"] == 6
        assert detail["pauses"][0]["days"] == 1  # the pause survives
        # 3 days + 1 paused from 10-09: 10-10, 10-11 (make-up Saturday), 10-13, 10-14.
        assert detail["clock"]["due_date"] == "2025-10-14"
        event = (await clerk.get(f"/applications/{number}/log")).json()[-1]
        assert (event["kind"], event["actor"]) == ("policy_rejudged", "admin")
        assert event["payload"]["from"] == "dongying-2020"
        assert (await clerk.get(f"/applications/{number}/log/verify")).json()["valid"]
        untouched = (await clerk.get(f"/applications/{before}")).json()
        assert untouched["policy_code"] == "dongying-2020"

    async def test_a_version_that_changes_stages_in_use_is_refused(
        self, intake_admin, clerk, anonymous, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        version = dongying_version(code="dongying-2025", effective_from="2025-09-01")
        version["entries"][3] = copy.deepcopy(version["entries"][4])  # 10 kV dual stages
        version["entries"][3]["customer_type"] = "hv10_single"
        response = await intake_admin.post("/policies", json=version)
        assert response.status_code == 409
        assert response.json()["code"] == "policy_conflicts_with_applications"
        assert number in response.json()["detail"]
        assert len((await anonymous.get("/policies")).json()) == 4
