"""Projects pushed by the project approval platform become pre-applications (超前对接) that the
unit's clerks see before the customer applies, and are joined to the formal application."""

from services.intake.rules.identity import credit_code_check_character
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, application_body, create
from tests.intake.portal.conftest import PROJECT_CODE, post, project_body


async def push(portal, **changes):
    return await post(portal, "/portal/projects", project_body(**changes))


async def pre_applications(client, **params):
    response = await client.get("/pre-applications", params=params)
    assert response.status_code == 200, response.text
    return response.json()


class TestPush:
    async def test_a_pushed_project_is_assigned_by_its_region(self, portal, portal_key, clock):
        response = await push(portal)
        assert response.status_code == 201, response.text
        pre = response.json()
        assert pre["project_code"] == PROJECT_CODE
        assert (pre["region_code"], pre["region"]) == ("370502", "东营市东营区")
        assert (pre["jurisdiction"], pre["unit"]) == ("dongying", DONGYING_UNIT)
        assert (pre["status"], pre["status_label"]) == ("awaiting", "超前对接中，待正式报装")
        assert pre["expected_load_kw"] == "800.00"
        assert pre["expected_connection_date"] == "2026-03-01"
        assert pre["source_key_id"] == portal_key.key_id
        assert pre["application_number"] is None
        assert pre["received_at"] == "2025-09-30T10:00:00+08:00"

    async def test_a_second_push_updates_the_project(self, portal, clock):
        assert (await push(portal)).status_code == 201
        clock.set("2025-10-09 09:00")
        response = await push(portal, expected_load_kw="1250.5", site_address="东营区测试路3号")
        assert response.status_code == 200, response.text
        pre = response.json()
        assert (pre["expected_load_kw"], pre["site_address"]) == ("1250.50", "东营区测试路3号")
        assert pre["received_at"] == "2025-09-30T10:00:00+08:00"
        assert pre["updated_at"] == "2025-10-09T09:00:00+08:00"

    async def test_bad_projects_are_refused_naming_the_field(self, portal):
        bad_code = await push(portal, builder_credit_code="91370502MA3C8T1Q2X")
        assert bad_code.status_code == 422
        assert [(e["field"], e["code"]) for e in bad_code.json()["errors"]] == [
            ("builder_credit_code", "bad_check_character")
        ]
        elsewhere = await push(portal, project_code="2025-110101-44-03-000001")
        assert elsewhere.status_code == 422
        assert [(e["field"], e["code"]) for e in elsewhere.json()["errors"]] == [
            ("project_code", "region_not_served")
        ]
        malformed = await push(portal, project_code="370502-2025-1")
        assert malformed.status_code == 422
        assert malformed.json()["errors"][0]["field"] == "project_code"


class TestStaffSee:
    async def test_clerks_of_the_unit_and_admins_see_them(
        self, portal, clerk, other_clerk, intake_admin, supervisor, anonymous
    ):
        await push(portal)
        await push(portal, project_code="2025-220622-15-03-000007", project_name="靖宇县水厂")
        listed = await pre_applications(clerk)
        assert listed["total"] == 1
        assert [p["project_code"] for p in listed["pre_applications"]] == [PROJECT_CODE]
        jingyu = await pre_applications(other_clerk)
        assert [p["unit"] for p in jingyu["pre_applications"]] == [JINGYU_UNIT]
        assert (await pre_applications(intake_admin))["total"] == 2
        assert (await pre_applications(intake_admin, unit=JINGYU_UNIT))["total"] == 1
        assert (await pre_applications(intake_admin, status="joined"))["total"] == 0
        foreign = await other_clerk.get("/pre-applications", params={"unit": DONGYING_UNIT})
        assert foreign.json()["code"] == "not_your_unit"
        assert (await supervisor.get("/pre-applications")).status_code == 403
        assert (await anonymous.get("/pre-applications")).status_code == 401
        one = await clerk.get(f"/pre-applications/{PROJECT_CODE}")
        assert one.json()["project_name"] == "东营区测试电器产业园一期"
        foreign_one = await other_clerk.get(f"/pre-applications/{PROJECT_CODE}")
        assert (foreign_one.status_code, foreign_one.json()["code"]) == (403, "not_your_unit")
        missing = await clerk.get("/pre-applications/2025-370502-44-03-999999")
        assert (missing.status_code, missing.json()["code"]) == (404, "project_not_found")


class TestJoin:
    async def test_a_clerks_application_joins_the_project(self, portal, clerk, clock):
        await push(portal)
        clock.set("2025-10-09 10:00")
        created = await create(clerk, project_code=PROJECT_CODE)
        number = created["application"]["number"]
        assert created["application"]["project_code"] == PROJECT_CODE
        pre = (await clerk.get(f"/pre-applications/{PROJECT_CODE}")).json()
        assert (pre["status"], pre["application_number"]) == ("joined", number)
        assert pre["joined_at"] == "2025-10-09T10:00:00+08:00"
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["project_code"] == PROJECT_CODE
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert log[0]["payload"]["project_code"] == PROJECT_CODE
        assert (await pre_applications(clerk, status="joined"))["total"] == 1
        assert (await pre_applications(clerk, status="awaiting"))["total"] == 0

    async def test_a_project_pushed_after_the_application_joins_at_once(self, portal, clerk):
        number = (await create(clerk, project_code=PROJECT_CODE))["application"]["number"]
        response = await push(portal)
        assert response.status_code == 201, response.text
        assert (response.json()["status"], response.json()["application_number"]) == (
            "joined",
            number,
        )
        again = await push(portal, expected_load_kw="900")
        assert again.status_code == 409
        assert again.json()["code"] == "project_already_joined"

    async def test_one_application_per_project_and_only_in_its_area(
        self, portal, clerk, other_clerk
    ):
        await push(portal)
        await create(clerk, project_code=PROJECT_CODE)
        second = await clerk.post("/applications", json=application_body(project_code=PROJECT_CODE))
        assert second.status_code == 409
        assert second.json()["code"] == "project_already_joined"
        jingyu_project = "2025-220622-15-03-000007"
        await push(portal, project_code=jingyu_project)
        first17 = "91220622MA1234567"
        wrong_unit = await clerk.post(
            "/applications",
            json=application_body(
                project_code=jingyu_project,
                applicant={
                    "name": "靖宇县某厂",
                    "id_kind": "credit_code",
                    "id_number": first17 + credit_code_check_character(first17),
                    "mobile": "13800138000",
                },
            ),
        )
        assert wrong_unit.status_code == 409
        assert wrong_unit.json()["code"] == "project_unit_mismatch"
        assert (await clerk.get("/applications")).json()["total"] == 1

    async def test_a_malformed_project_code_is_refused(self, clerk):
        response = await clerk.post("/applications", json=application_body(project_code="X-1"))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "project_code"
