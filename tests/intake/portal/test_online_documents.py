"""零证办电 / 一证受理: what the e-license service verified, or the approval platform pushed,
counts as received with its source, and is never asked of the customer again."""

import pytest

from services.intake.integrity.bundle import verify_bundle
from tests.intake.documents.test_documents_api import ask, documents, receive, states
from tests.intake.portal.conftest import PROJECT_CODE, portal_application_body, post, project_body

pytestmark = pytest.mark.usefixtures("elicense")


def sources(view):
    return {r["code"]: (r["state"], r["source"]) for r in view["required"]}


class TestVerifiedOnline:
    async def test_licences_and_pushed_project_count_as_received(
        self, intake, portal, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        assert (await post(portal, "/portal/projects", project_body())).status_code == 201
        clock.set("2025-10-09 09:30")
        created = await post(
            portal, "/portal/applications", portal_application_body(project_code=PROJECT_CODE)
        )
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        view = await documents(clerk, number)
        assert sources(view) == {
            "identity_proof": ("received", "elicense"),
            "property_proof": ("received", "elicense"),
            "project_approval": ("received", "portal"),
        }
        assert view["needed"] == []
        on_file = {d["kind"]: d for d in view["on_file"]}
        assert on_file["identity_proof"]["reference"] == "91370502MA3C8T1Q2E"
        assert on_file["identity_proof"]["source_label"] == "电子证照在线核验"
        assert on_file["identity_proof"]["received_at"] == "2025-10-09T09:30:00+08:00"
        assert on_file["project_approval"]["reference"] == PROJECT_CODE
        assert on_file["project_approval"]["source_label"] == "政务平台推送"
        log = (await clerk.get(f"/applications/{number}/log")).json()
        received = [e["payload"] for e in log if e["kind"] == "document_received"]
        assert [(p["kind"], p["source"]) for p in received] == [
            ("project_approval", "portal"),
            ("identity_proof", "elicense"),
            ("property_proof", "elicense"),
        ]

        again = await ask(clerk, number, "营业执照", "房产证")
        assert again.status_code == 409, again.text
        body = again.json()
        assert body["code"] == "document_verified_online"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("documents[0]", "document_verified_online"),
            ("documents[1]", "document_verified_online"),
        ]
        taken = await receive(clerk, number, kind="营业执照")
        assert (taken.status_code, taken.json()["code"]) == (409, "document_verified_online")
        assert taken.json()["errors"][0]["field"] == "kind"
        view = await documents(clerk, number)
        assert (len(view["on_file"]), view["requests"]) == (3, [])

        clock.set("2025-10-09 15:00")
        done = await clerk.post(f"/applications/{number}/stages/acceptance/complete", json={})
        assert done.status_code == 200, done.text

        # The evidence bundle binds each of them to its log entry, like a counter document.
        bundle = (await clerk.get(f"/applications/{number}/evidence")).json()
        lines = verify_bundle(bundle, intake.state.settings.keyring()).lines
        assert [line for line in lines if "document" in line] == [
            f"ok   document {d['id']} ({d['kind']}) matches the log" for d in view["on_file"]
        ]

    async def test_a_project_pushed_after_the_application_joins_as_its_approval(
        self, portal, clerk, clock
    ):
        clock.set("2025-10-09 09:30")
        created = await post(
            portal, "/portal/applications", portal_application_body(project_code=PROJECT_CODE)
        )
        number = created.json()["number"]
        assert states(await documents(clerk, number))["project_approval"] == "needed"
        clock.set("2025-10-10 10:00")
        assert (await post(portal, "/portal/projects", project_body())).status_code == 201
        view = await documents(clerk, number)
        assert sources(view)["project_approval"] == ("received", "portal")
        [project] = [d for d in view["on_file"] if d["kind"] == "project_approval"]
        assert project["received_at"] == "2025-10-10T10:00:00+08:00"

    async def test_a_counter_copy_may_still_be_asked_for_what_was_not_verified(
        self, portal, clerk, clock
    ):
        clock.set("2025-10-09 09:30")
        created = await post(
            portal, "/portal/applications", portal_application_body(property_certificate=None)
        )
        number = created.json()["number"]
        assert sources(await documents(clerk, number)) == {
            "identity_proof": ("received", "elicense"),
            "property_proof": ("needed", None),
            "project_approval": ("needed", None),
        }
        asked = await ask(clerk, number, "不动产权证书", "项目批准文件")
        assert asked.status_code == 201, asked.text
        taken = await receive(
            clerk, number, kind="不动产权证书", reference="鲁（2025）东营市不动产权第0000001号"
        )
        assert taken.status_code == 201, taken.text
        assert sources(taken.json())["property_proof"] == ("received", "counter")
