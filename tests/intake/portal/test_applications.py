"""Applications submitted through the portal: accepted for the customer with channel portal,
after the e-license checks (营业执照 / 身份证 / 不动产登记), and joined to a pushed project."""

import httpx
import pytest
from sqlmodel import select

from services.intake.idempotency import IdempotencyRecord
from services.intake.portal.models import LicenceCheck
from services.intake.standins.elicense import ELicenseClient
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import client_for
from tests.e2e.support import free_port
from tests.intake.conftest import DONGYING_UNIT, staff_token
from tests.intake.portal.conftest import (
    PERSON,
    PERSON_PROPERTY,
    PROJECT_CODE,
    portal_application_body,
    post,
    project_body,
)

pytestmark = pytest.mark.usefixtures("elicense")


async def submit(portal, key=None, **changes):
    return await post(portal, "/portal/applications", portal_application_body(**changes), key=key)


def person(**changes):
    applicant = {
        "name": PERSON["name"],
        "id_kind": "resident_id",
        "id_number": PERSON["id_number"],
        "mobile": "13900139000",
    }
    applicant.update(changes)
    return applicant


class TestAccepted:
    async def test_the_portal_submits_for_the_customer(self, portal, portal_key, clerk, anonymous):
        response = await submit(portal)
        assert response.status_code == 201, response.text
        created = response.json()
        number = created["number"]
        assert (created["unit"], created["jurisdiction"]) == (DONGYING_UNIT, "dongying")
        assert (created["status"], created["current_stage"]) == ("open", "acceptance")
        assert created["accepted_at"] == "2025-09-30T10:00:00+08:00"
        assert created["due_date"] == "2025-10-09"  # one working day after the holiday
        assert [(c["field"], c["licence_type"], c["outcome"]) for c in created["licences"]] == [
            ("applicant.id_number", "business_licence", "valid"),
            ("property_certificate.number", "real_estate", "valid"),
        ]
        assert created["licences"][0]["issuer"] == "东营市东营区市场监督管理局"
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert (detail["channel"], detail["clerk"]) == ("portal", f"portal:{portal_key.key_id}")
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert log[0]["actor"] == f"portal:{portal_key.key_id}"
        assert log[0]["payload"]["portal_client"] == portal_key.key_id
        progress = await anonymous.get(
            f"/public/applications/{number}/progress",
            headers={"X-Query-Code": created["query_code"]},
        )
        assert progress.status_code == 200, progress.text

    async def test_a_person_with_a_property_certificate(self, intake, portal):
        response = await submit(
            portal,
            customer_type="residential",
            applicant=person(),
            property_certificate={"number": PERSON_PROPERTY},
            capacity_kw="8",
        )
        assert response.status_code == 201, response.text
        async with session_scope(intake.state.engine) as session:
            checks = (await session.exec(select(LicenceCheck))).all()
        assert {(c.licence_type.value, c.number) for c in checks} == {
            ("id_card", "370502********0028"),  # the ID number is stored masked
            ("real_estate", PERSON_PROPERTY),
        }

    async def test_it_joins_the_pushed_project(self, portal, clerk):
        await post(portal, "/portal/projects", project_body())
        response = await submit(portal, project_code=PROJECT_CODE)
        assert response.json()["pre_application_joined"] is True
        pre = (await clerk.get(f"/pre-applications/{PROJECT_CODE}")).json()
        assert (pre["status"], pre["application_number"]) == ("joined", response.json()["number"])

    async def test_a_retry_does_not_apply_twice(self, portal, clerk):
        first = await submit(portal, key="apply-0001")
        retry = await submit(portal, key="apply-0001")
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
        assert (await clerk.get("/applications")).json()["total"] == 1


class TestCountyCompanies:
    """Each county's applications go to its own company (service_areas.json); the city company
    and the group 各供电企业 are above it in the hierarchy, a sibling county is not."""

    async def test_a_countys_application_goes_to_its_company(self, intake, apps, portal, clerk):
        guangrao = await submit(
            portal, region_code="370523", site={"address": "广饶县测试路2号", "area_class": "town"}
        )
        assert guangrao.status_code == 201, guangrao.text
        assert (guangrao.json()["unit"], guangrao.json()["jurisdiction"]) == (
            "国网广饶县供电公司",
            "dongying",
        )
        kenli = await submit(portal, region_code="370505")
        assert kenli.json()["unit"] == "国网东营市垦利区供电公司"
        city = await submit(portal, region_code="370502")
        assert city.json()["unit"] == "国网东营供电公司"
        every = sorted(r.json()["number"] for r in (guangrao, kenli, city))

        async def seen(username: str, unit: str) -> list[str]:
            token = await staff_token(apps, username, Role.clerk, (unit,))
            async with client_for(intake, token) as client:
                listed = (await client.get("/applications")).json()["items"]
            return sorted(a["number"] for a in listed)

        assert await seen("clerk-guangrao", "国网广饶县供电公司") == [guangrao.json()["number"]]
        assert await seen("clerk-kenli", "国网东营市垦利区供电公司") == [kenli.json()["number"]]
        assert await seen("clerk-lijin", "国网利津县供电公司") == []
        assert await seen("clerk-shengli", "国网胜利供电公司") == []
        # The city company's clerk has 东营区's and, by the hierarchy, its county companies'.
        assert (
            sorted(a["number"] for a in (await clerk.get("/applications")).json()["items"]) == every
        )
        assert await seen("clerk-group", "各供电企业") == every

        async with client_for(
            intake, await staff_token(apps, "clerk-lijin", Role.clerk, ("国网利津县供电公司",))
        ) as lijin:
            refused = await lijin.get(f"/applications/{guangrao.json()['number']}")
        assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")


class TestRefused:
    async def refused(self, response, clerk):
        assert response.status_code == 422, response.text
        assert (await clerk.get("/applications")).json()["total"] == 0
        return [(e["field"], e["code"]) for e in response.json()["errors"]]

    async def test_a_failed_check_names_the_field(self, portal, clerk):
        revoked = await submit(
            portal,
            applicant={
                "name": "东营市测试商贸有限公司",
                "id_kind": "credit_code",
                "id_number": "91370502MA3C9E4L19",
                "mobile": "13800138000",
            },
            property_certificate=None,
        )
        assert revoked.json()["code"] == "licence_check_failed"
        assert await self.refused(revoked, clerk) == [("applicant.id_number", "licence_revoked")]
        other_name = await submit(
            portal,
            applicant=person(name="测试用户乙"),
            property_certificate={"number": "鲁（2022）东营市不动产权第0099999号"},
        )
        assert await self.refused(other_name, clerk) == [
            ("applicant.name", "licence_holder_mismatch"),
            ("property_certificate.number", "licence_not_found"),
        ]
        expired = await submit(
            portal,
            customer_type="residential",
            capacity_kw="8",
            applicant=person(id_number="370523199207080041", name="测试用户乙"),
            property_certificate={"number": PERSON_PROPERTY, "holder": "测试用户甲"},
        )
        assert await self.refused(expired, clerk) == [("applicant.id_number", "licence_expired")]

    async def test_the_holder_of_a_property_may_differ(self, portal, clerk):
        wrong_holder = await submit(
            portal, property_certificate={"number": PERSON_PROPERTY, "holder": "测试用户丙"}
        )
        assert await self.refused(wrong_holder, clerk) == [
            ("property_certificate.holder", "licence_holder_mismatch")
        ]

    async def test_malformed_input_is_refused_before_any_check(self, portal, clerk):
        bad_id = await submit(portal, applicant=person(id_number="370502198503150029"))
        assert await self.refused(bad_id, clerk) == [("applicant.id_number", "bad_check_character")]
        elsewhere = await submit(portal, region_code="110101")
        assert await self.refused(elsewhere, clerk) == [("region_code", "region_not_served")]
        bad_region = await submit(portal, region_code="3705")
        assert bad_region.status_code == 422
        assert bad_region.json()["errors"][0]["field"] == "region_code"


class TestELicenseDown:
    async def test_a_502_is_not_the_final_answer(self, intake, portal, clerk):
        working = intake.state.elicense
        async with httpx.AsyncClient() as http:
            intake.state.elicense = ELicenseClient(f"http://127.0.0.1:{free_port()}", http)
            down = await submit(portal, key="apply-0002")
        assert down.status_code == 502
        assert down.json()["code"] == "elicense_unavailable"
        async with session_scope(intake.state.engine) as session:
            assert (await session.exec(select(IdempotencyRecord))).all() == []
        intake.state.elicense = working
        retry = await submit(portal, key="apply-0002")
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        assert (await clerk.get("/applications")).json()["total"] == 1


class TestReceipt:
    """The applicant's receipt (受理回执) is queued for notify with the application, under the
    request id of the portal's call."""

    async def events(self, intake):
        from services.intake.outbox.models import OutboxEvent

        async with session_scope(intake.state.engine) as session:
            return (await session.exec(select(OutboxEvent))).all()

    async def test_queued_once_under_the_portal_s_request_id(self, intake, portal):
        portal.headers["X-Request-Id"] = "portal:submit.0001"
        try:
            first = await submit(portal, key="apply-0002")
            retry = await submit(portal, key="apply-0002")
        finally:
            del portal.headers["X-Request-Id"]
        assert first.headers["X-Request-Id"] == "portal:submit.0001"
        assert retry.headers["idempotent-replayed"] == "true"
        # The receipt, and the notice for the accepting unit's clerks as an event of its own
        # (its recipients are resolved in ledger; the receipt must not wait for that).
        event, notice = sorted(await self.events(intake), key=lambda e: e.id or 0)
        assert (event.type, event.subject, event.request_id) == (
            "intake.application.received",
            first.json()["number"],
            "portal:submit.0001",
        )
        assert event.data["channel"] == "portal"
        assert event.data["due_date"] == first.json()["due_date"]
        assert first.json()["query_code"] not in str(event.data)
        assert (notice.type, notice.subject, notice.request_id) == (
            "intake.portal.submitted",
            first.json()["number"],
            "portal:submit.0001",
        )
        assert {k: v for k, v in event.data.items() if k in notice.data} == notice.data
        assert not {"applicant_name", "mobile", "query_code_sealed"} & set(notice.data)

    async def test_a_refused_submission_queues_nothing(self, intake, portal):
        revoked = await submit(
            portal,
            applicant={
                "name": "东营市测试商贸有限公司",
                "id_kind": "credit_code",
                "id_number": "91370502MA3C9E4L19",
                "mobile": "13800138000",
            },
            property_certificate=None,
        )
        assert revoked.status_code == 422
        assert await self.events(intake) == []
