"""A due date counted over a year whose holidays are not published yet says so on every
surface: the portal's answer, its status callbacks and the applicant's progress (暂定)."""

import pytest

from services.intake.portal.jobs import run_webhook_delivery
from tests.intake.applications.test_stages_api import complete
from tests.intake.portal.conftest import portal_application_body, post
from tests.intake.portal.test_webhooks import registered, sink  # noqa: F401 (fixtures)
from tests.intake.workdays.test_calendar_api import ARRANGEMENT_2027

pytestmark = pytest.mark.usefixtures("elicense")


class TestProvisionalEverywhere:
    async def test_new_years_eve_acceptance(
        self,
        intake,
        intake_admin,
        portal,
        clerk,
        anonymous,
        clock,
        registered,  # noqa: F811
    ):
        clock.set("2026-12-31 10:00")
        response = await post(portal, "/portal/applications", portal_application_body())
        assert response.status_code == 201, response.text
        created = response.json()
        # One working day after 12-31: not 2027-01-01, New Year's Day whatever the State
        # Council publishes, but 01-04, and provisional until 2027 is published.
        assert (created["due_date"], created["due_provisional"]) == ("2027-01-04", True)

        progress = (
            await anonymous.get(
                f"/public/applications/{created['number']}/progress",
                headers={"X-Query-Code": created["query_code"]},
            )
        ).json()
        assert (progress["due_date"], progress["due_provisional"]) == ("2027-01-04", True)
        acceptance = progress["stages"][0]
        assert (acceptance["due_date"], acceptance["due_provisional"]) == ("2027-01-04", True)

        await complete(clerk, created["number"], "acceptance")
        assert (await run_webhook_delivery(intake)).delivered == 1
        callback = registered.received[-1]
        assert callback["due_provisional"] is True
        assert callback["due_date"] > "2027-01-04"

        await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        after = (
            await anonymous.get(
                f"/public/applications/{created['number']}/progress",
                headers={"X-Query-Code": created["query_code"]},
            )
        ).json()
        assert after["due_provisional"] is False
        assert after["stages"][0]["due_provisional"] is False
