"""期限说明 for the portal (政务服务平台): why each due date and time spent of an application it
submitted, the same answer the applicant's progress page lists; signed like every portal route."""

import pytest

from services.intake.portal.models import PortalScope
from tests.intake.conftest import create
from tests.intake.portal.conftest import (
    new_portal_key,
    portal_application_body,
    post,
    signed_client,
)

pytestmark = pytest.mark.usefixtures("elicense")


async def submitted(portal) -> str:
    response = await post(portal, "/portal/applications", portal_application_body())
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


class TestPortalWhy:
    async def test_the_portal_reads_the_why_of_its_own_application(self, portal, clerk):
        number = await submitted(portal)
        response = await portal.get(f"/portal/applications/{number}/why")
        assert response.status_code == 200, response.text
        why = response.json()
        assert why["number"] == number
        assert why["total"]["subject"] == "total"
        assert [s["stage"] for s in why["stages"]] == ["acceptance"]
        # Line for line what staff are told (no personal data in it to mask).
        staff = await clerk.get(f"/applications/{number}/stages/acceptance/why")
        assert staff.status_code == 200, staff.text
        assert why["stages"][0]["lines"] == staff.json()["lines"]
        assert why["stages"][0]["due_date"] == staff.json()["due_date"]
        assert why["stages"][0]["policy"]["code"] == staff.json()["policy"]["code"]
        assert why["total"]["start_day"] == "2025-09-30"

    async def test_another_portals_or_a_counter_application_is_not_found(
        self, intake, portal, clerk, clock
    ):
        number = await submitted(portal)
        counter = (await create(clerk))["application"]["number"]
        other = await new_portal_key(intake, "另一平台")
        async with signed_client(intake, other, clock) as elsewhere:
            for asked in (number, counter, "NO-SUCH-NUMBER"):
                response = await elsewhere.get(f"/portal/applications/{asked}/why")
                assert response.status_code == 404, response.text
                assert response.json()["code"] == "application_not_found"
        response = await portal.get(f"/portal/applications/{counter}/why")
        assert response.status_code == 404

    async def test_unsigned_or_without_the_scope_is_refused(self, intake, portal, anonymous, clock):
        number = await submitted(portal)
        assert (await anonymous.get(f"/portal/applications/{number}/why")).status_code == 401
        projects_only = await new_portal_key(intake, "审批平台", (PortalScope.projects,))
        async with signed_client(intake, projects_only, clock) as platform:
            response = await platform.get(f"/portal/applications/{number}/why")
        assert response.status_code == 403
        assert response.json()["code"] == "scope_required"
