"""Documents on file (申请资料): received at the current stage, stamped by the server; asked for
only when the stage requires them; reused from the customer's earlier application on a change of
use (变更用电)."""

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import application_body, create, valid_credit_code, valid_resident_id

PERSON = {
    "name": "张三",
    "id_kind": "resident_id",
    "id_number": valid_resident_id(),
    "mobile": "13900001234",
}


async def documents(client, number):
    response = await client.get(f"/applications/{number}/documents")
    assert response.status_code == 200, response.text
    return response.json()


async def receive(client, number, **body):
    return await client.post(f"/applications/{number}/documents", json=body)


async def ask(client, number, *names, note=""):
    return await client.post(
        f"/applications/{number}/documents/requests", json={"documents": list(names), "note": note}
    )


async def progress(client, number, code):
    response = await client.get(
        f"/public/applications/{number}/progress", headers={"X-Query-Code": code}
    )
    assert response.status_code == 200, response.text
    return response.json()


def states(view):
    return {r["code"]: r["state"] for r in view["required"]}


class TestReceiving:
    async def test_a_document_is_recorded_at_the_current_stage_by_the_server(
        self, clerk, anonymous, clock
    ):
        clock.set("2025-09-30 10:00")
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        view = await documents(clerk, number)
        assert view["stage_label"] == "业务受理"
        assert states(view) == {
            "identity_proof": "needed",
            "property_proof": "needed",
            "project_approval": "needed",
        }
        clock.set("2025-09-30 10:30")
        response = await receive(
            clerk, number, kind="营业执照", reference=valid_credit_code(), valid_until="2030-12-31"
        )
        assert response.status_code == 201, response.text
        view = response.json()
        assert states(view)["identity_proof"] == "received"
        assert view["needed"] == ["产权证明", "项目批准文件"]
        [document] = view["on_file"]
        assert document["kind"] == "identity_proof"
        assert document["stage"] == "acceptance"
        assert document["received_at"] == "2025-09-30T10:30:00+08:00"
        assert document["received_by"] == "clerk-wang"
        assert document["valid"] is True
        shown = await progress(anonymous, number, code)
        assert shown["documents_needed"] == ["产权证明", "项目批准文件"]
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["documents"]["needed"] == ["产权证明", "项目批准文件"]

    async def test_the_next_stage_asks_for_its_own_documents(self, clerk, clock):
        number = (await create(clerk, customer_type="hv10_dual"))["application"]["number"]
        for name in ("identity_proof", "property_proof", "project_approval"):
            assert (await receive(clerk, number, kind=name)).status_code == 201
        assert (await documents(clerk, number))["needed"] == []
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        await complete(clerk, number, "supply_plan")
        view = await documents(clerk, number)
        assert view["stage_label"] == "设计审查"
        assert set(states(view)) == {"design_unit_qualification", "electrical_design"}
        assert len(view["on_file"]) == 3

    async def test_a_copy_that_expires_during_the_process_is_needed_again(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await receive(clerk, number, kind="identity_proof", valid_until="2025-10-08")
        assert states(await documents(clerk, number))["identity_proof"] == "received"
        clock.set("2025-10-09 09:00")
        view = await documents(clerk, number)
        [identity] = [r for r in view["required"] if r["code"] == "identity_proof"]
        assert (identity["state"], identity["expired"]) == ("needed", True)
        assert view["on_file"][0]["valid"] is False

    async def test_what_the_stage_does_not_take_is_refused(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        for kind, code in (
            ("设计图纸", "document_not_required_at_stage"),
            ("用电设备清单", "document_not_in_catalogue"),
            ("申请用电承诺书", "document_forbidden"),
        ):
            response = await receive(clerk, number, kind=kind)
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["code"] == "document_not_allowed"
            assert body["errors"][0]["field"] == "kind"
            assert body["errors"][0]["code"] == code
        expired = await receive(clerk, number, kind="身份证", valid_until="2025-09-29")
        assert expired.json()["code"] == "document_expired"
        assert (await documents(clerk, number))["on_file"] == []

    async def test_the_server_stamps_the_time_and_only_the_units_clerk_records(
        self, clerk, other_clerk, supervisor, clock
    ):
        number = (await create(clerk))["application"]["number"]
        stamped = await receive(
            clerk, number, kind="身份证", received_at="2025-01-01T08:00:00+08:00"
        )
        assert stamped.status_code == 422
        assert stamped.json()["errors"][0]["field"] == "received_at"
        assert (await receive(other_clerk, number, kind="身份证")).json()["code"] == "not_your_unit"
        assert (await receive(supervisor, number, kind="身份证")).json()["code"] == "clerk_required"

    async def test_an_ended_application_takes_no_documents(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        await clerk.post(f"/applications/{number}/close", json={"reason": "客户撤回申请"})
        response = await receive(clerk, number, kind="身份证")
        assert (response.status_code, response.json()["code"]) == (409, "application_ended")
        view = await documents(clerk, number)
        assert (view["stage"], view["required"], view["needed"]) == (None, [], [])


class TestAsking:
    async def test_only_what_the_stage_still_needs_may_be_asked_for(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await receive(clerk, number, kind="身份证")
        response = await ask(
            clerk, number, "房产证", "申请用电承诺书", "设计图纸", "身份证", "用电设备清单"
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "document_not_allowed"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("documents[1]", "document_forbidden"),
            ("documents[2]", "document_not_required_at_stage"),
            ("documents[3]", "document_on_file"),
            ("documents[4]", "document_not_in_catalogue"),
        ]
        assert (await documents(clerk, number))["requests"] == []

        clock.set("2025-09-30 11:00")
        response = await ask(clerk, number, "房产证", "项目批准文件", note="请一次性提供")
        assert response.status_code == 201, response.text
        [request] = response.json()["requests"]
        assert [d["code"] for d in request["documents"]] == ["property_proof", "project_approval"]
        assert (request["stage"], request["requested_by"]) == ("acceptance", "clerk-wang")
        assert request["requested_at"] == "2025-09-30T11:00:00+08:00"


class TestChangeOfUse:
    async def connected_residence(self, clerk, clock):
        """A residence connected in September 2025 with its documents on file."""
        clock.set("2025-09-29 09:00")
        created = await create(
            clerk,
            customer_type="residential",
            applicant=PERSON,
            capacity_kw="8",
            site={"address": "东营区府前大街 9 号", "area_class": "urban", **CONNECTION_POINT},
        )
        number = created["application"]["number"]
        await receive(clerk, number, kind="居民身份证", reference=PERSON["id_number"])
        await receive(clerk, number, kind="不动产权证书", valid_until="2026-06-30")
        clock.set("2025-09-29 15:00")
        await complete(clerk, number, "signing")
        assert (await complete(clerk, number, "construction_connection")).status_code == 200
        return number

    async def test_valid_documents_on_file_are_reused_not_asked_again(
        self, clerk, anonymous, clock
    ):
        earlier = await self.connected_residence(clerk, clock)
        clock.set("2025-10-09 09:00")
        created = await create(
            clerk,
            customer_type="residential",
            applicant=PERSON,
            capacity_kw="12",
            site={"address": "东营区府前大街 9 号", "area_class": "urban"},
            changes_application=earlier,
        )
        number = created["application"]["number"]
        view = await documents(clerk, number)
        assert view["change_of_use"] is True
        assert view["changes_application"] == earlier
        assert [(r["code"], r["state"], r["reused_from"]) for r in view["required"]] == [
            ("identity_proof", "reused", earlier),
            ("property_proof", "reused", earlier),
        ]
        assert view["needed"] == []
        assert (await progress(anonymous, number, created["query_code"]))["documents_needed"] == []
        response = await ask(clerk, number, "身份证")
        assert response.json()["errors"][0]["code"] == "document_on_file"

    async def test_an_expired_copy_on_file_is_asked_again(self, clerk, clock):
        earlier = await self.connected_residence(clerk, clock)
        clock.set("2026-07-01 09:00")  # the property proof ran out on 2026-06-30
        number = (
            await create(
                clerk,
                customer_type="residential",
                applicant=PERSON,
                capacity_kw="12",
                site={"address": "东营区府前大街 9 号", "area_class": "urban"},
                changes_application=earlier,
            )
        )["application"]["number"]
        view = await documents(clerk, number)
        assert states(view) == {"identity_proof": "reused", "property_proof": "needed"}
        assert view["needed"] == ["产权证明"]
        assert (await ask(clerk, number, "房产证")).status_code == 201

    async def test_a_new_application_of_the_same_customer_reuses_nothing(self, clerk, clock):
        await self.connected_residence(clerk, clock)
        number = (
            await create(clerk, customer_type="residential", applicant=PERSON, capacity_kw="8")
        )["application"]["number"]
        view = await documents(clerk, number)
        assert view["change_of_use"] is False
        assert set(states(view).values()) == {"needed"}

    async def test_the_link_must_be_the_same_customers_connected_application(self, clerk, clock):
        earlier = await self.connected_residence(clerk, clock)
        open_one = (
            await create(clerk, customer_type="residential", applicant=PERSON, capacity_kw="8")
        )["application"]["number"]
        someone_else = {**PERSON, "id_number": valid_resident_id("37050219900202002")}
        cases = (
            (someone_else, earlier, "change_of_use_other_customer"),
            (PERSON, open_one, "change_of_use_not_connected"),
            (PERSON, "BZ20990101000001", "change_of_use_unknown_application"),
        )
        before = (await clerk.get("/applications")).json()["total"]
        for applicant, changed, code in cases:
            response = await clerk.post(
                "/applications",
                json=application_body(
                    customer_type="residential",
                    applicant=applicant,
                    capacity_kw="8",
                    changes_application=changed,
                ),
            )
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0] == {
                "field": "changes_application",
                "code": code,
                "message": response.json()["errors"][0]["message"],
            }
        assert (await clerk.get("/applications")).json()["total"] == before


class TestPersonalData:
    async def test_references_are_masked_for_staff_outside_the_unit(
        self, clerk, supervisor, intake_admin, clock
    ):
        number = (
            await create(clerk, customer_type="residential", applicant=PERSON, capacity_kw="8")
        )["application"]["number"]
        await receive(clerk, number, kind="身份证", reference=f"身份证 {PERSON['id_number']}")
        assert (await documents(clerk, number))["on_file"][0]["reference"] == (
            f"身份证 {PERSON['id_number']}"
        )
        for reader in (supervisor, intake_admin):
            shown = (await documents(reader, number))["on_file"][0]["reference"]
            assert PERSON["id_number"] not in shown
            assert shown == f"身份证 {PERSON['id_number'][:6]}********{PERSON['id_number'][-4:]}"
            detail = (await reader.get(f"/applications/{number}")).json()
            assert PERSON["id_number"] not in str(detail)
