"""The stage log: append-only, hash-chained, verifiable; corrections are new events."""

import itertools

from sqlalchemy import text

from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create


async def tamper(intake, sql, **params):
    async with intake.state.engine.begin() as conn:
        await conn.execute(text(sql), params)


class TestLog:
    async def test_every_step_is_an_event_linked_to_the_one_before(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "等待客户补充资料"},
        )
        clock.set("2025-10-10 09:00")
        await clerk.post(f"/applications/{number}/resume", json={"note": "资料已补齐"})
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert [(e["seq"], e["kind"], e["stage"]) for e in log] == [
            (1, "created", "acceptance"),
            (2, "document_received", "acceptance"),
            (3, "document_received", "acceptance"),
            (4, "document_received", "acceptance"),
            (5, "stage_completed", "acceptance"),
            (6, "paused", "supply_plan"),
            (7, "resumed", "supply_plan"),
        ]
        assert log[0]["prev_hash"] == "0" * 64
        assert all(e["prev_hash"] == before["hash"] for before, e in itertools.pairwise(log))
        assert log[4]["payload"]["grid_days"] == 1
        assert log[6]["reason"] == "资料已补齐"
        assert log[6]["payload"] == {"paused_days": 1}
        check = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert check == {
            "number": number,
            "valid": True,
            "length": 7,
            "head": log[-1]["hash"],
            "first_bad_seq": None,
            "problem": None,
            "key_ids": ["k1"],
            "findings": [],
        }

    async def test_an_edited_event_breaks_the_chain(self, intake, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        # Someone with database access backdates the completion (后补流程).
        await tamper(
            intake,
            "UPDATE application_events SET occurred_at = :t WHERE seq = 5",
            t="2025-09-30 03:00:00",
        )
        check = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert check["valid"] is False
        assert check["first_bad_seq"] == 5
        assert "hash" in check["problem"]

    async def test_a_removed_last_event_is_noticed(self, intake, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        # 1 created, 2-4 the documents taken, 5 the completion: the last one goes.
        await tamper(intake, "DELETE FROM application_events WHERE seq = 5")
        check = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert check["valid"] is False
        assert check["length"] == 4
        assert "shorter" in check["problem"]

    async def test_a_removed_middle_event_is_noticed(self, intake, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        await clerk.post(f"/applications/{number}/resume", json={})
        await tamper(intake, "DELETE FROM application_events WHERE seq = 2")
        check = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert (check["valid"], check["first_bad_seq"]) == (False, 2)

    async def test_a_supervisor_verifies_too(self, clerk, supervisor, clock):
        number = (await create(clerk))["application"]["number"]
        assert (await supervisor.get(f"/applications/{number}/log/verify")).json()["valid"]


class TestCorrections:
    async def test_a_correction_is_a_new_event_with_reason_and_author(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-09-30 11:00")
        response = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "mobile", "value": "13912345678", "reason": "客户来电更正手机号"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["applicant"]["mobile"] == "13912345678"
        event = (await clerk.get(f"/applications/{number}/log")).json()[-1]
        assert event["kind"] == "corrected"
        assert event["actor"] == "clerk-wang"
        assert event["reason"] == "客户来电更正手机号"
        assert event["payload"] == {"field": "mobile", "old": "138****8000", "new": "139****5678"}
        assert (await clerk.get(f"/applications/{number}/log/verify")).json()["valid"]

    async def test_corrections_are_validated(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        for field, value, code in (
            ("mobile", "123", "invalid_mobile"),
            ("id_number", "91370500MA3C123450", "bad_check_character"),
            ("email", "not-an-email", "invalid_email"),
            ("area_class", "suburb", "invalid_area_class"),
            ("capacity_kw", "-5", "invalid_capacity"),
            ("site_address", "  ", "required"),
        ):
            response = await clerk.post(
                f"/applications/{number}/corrections",
                json={"field": field, "value": value, "reason": "更正"},
            )
            assert response.status_code == 422, (field, response.text)
            assert response.json()["errors"][0]["code"] == code, field
        same = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "mobile", "value": "13800138000", "reason": "更正"},
        )
        assert same.json()["code"] == "nothing_to_correct"
        times = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "accepted_at", "value": "2025-09-01", "reason": "改时间"},
        )
        assert times.status_code == 422
        assert len((await clerk.get(f"/applications/{number}/log")).json()) == 1
