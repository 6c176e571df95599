"""Reading applications: clerks see their units unmasked, others masked; lists filter in SQL."""

from tests.intake.conftest import create


class TestReading:
    async def test_a_supervisor_sees_masked_personal_data(self, clerk, supervisor, clock):
        number = (await create(clerk))["application"]["number"]
        applicant = (await supervisor.get(f"/applications/{number}")).json()["applicant"]
        assert applicant["mobile"] == "138****8000"
        assert applicant["id_number"] == "913705********345" + applicant["id_number"][-1]

    async def test_an_admin_sees_masked_personal_data(self, clerk, intake_admin, clock):
        number = (await create(clerk))["application"]["number"]
        listed = (await intake_admin.get("/applications")).json()["items"][0]
        assert listed["applicant"]["mobile"] == "138****8000"
        assert listed["number"] == number

    async def test_unknown_number(self, clerk):
        response = await clerk.get("/applications/BZ20250101999999")
        assert response.status_code == 404
        assert response.json()["code"] == "application_not_found"

    async def test_lists_filter_and_page(self, clerk, other_clerk, clock):
        await create(clerk)
        await create(clerk, customer_type="hv10_dual")
        second = (await create(clerk, customer_type="hv10_dual"))["application"]["number"]
        page = (
            await clerk.get("/applications", params={"customer_type": "hv10_dual", "limit": 1})
        ).json()
        assert page["total"] == 2
        assert [a["number"] for a in page["items"]] == [second]
        by_stage = await clerk.get("/applications", params={"stage": "acceptance"})
        assert by_stage.json()["total"] == 3
        assert (await other_clerk.get("/applications")).json()["total"] == 0
        refused = await other_clerk.get("/applications", params={"unit": "国网东营供电公司"})
        assert refused.status_code == 403
