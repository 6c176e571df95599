"""What changes an application's obligations is in the hash-chained stage log: documents
received and asked for, fee items added and voided, whitelist transitions (白名单), external-line
decisions and approvals. Editing any of those events afterwards breaks the chain."""

import pytest

from tests.intake.applications.test_log_api import tamper
from tests.intake.conftest import create, valid_credit_code
from tests.intake.fees.test_fees_api import HIGH_RELIABILITY, MAINTENANCE
from tests.intake.whitelist.test_whitelist_api import add_area, small_business


async def log_of(client, number):
    response = await client.get(f"/applications/{number}/log")
    assert response.status_code == 200, response.text
    return response.json()


async def verify(client, number):
    return (await client.get(f"/applications/{number}/log/verify")).json()


async def with_obligations(clerk, clock):
    """An application with a document received and asked for, two fees added, one voided."""
    clock.set("2025-09-30 10:00")
    number = (await create(clerk))["application"]["number"]
    received = await clerk.post(
        f"/applications/{number}/documents",
        json={"kind": "营业执照", "reference": valid_credit_code(), "note": "原件核验"},
    )
    assert received.status_code == 201, received.text
    asked = await clerk.post(
        f"/applications/{number}/documents/requests",
        json={"documents": ["产权证明"], "note": "请补充产权证明"},
    )
    assert asked.status_code == 201, asked.text
    added = await clerk.post(
        f"/applications/{number}/fees", json={"items": [HIGH_RELIABILITY, MAINTENANCE]}
    )
    assert added.status_code == 201, added.text
    fee_id = added.json()["items"][1]["id"]
    clock.set("2025-09-30 11:00")
    voided = await clerk.post(
        f"/applications/{number}/fees/{fee_id}/void", json={"reason": "用户撤回确认"}
    )
    assert voided.status_code == 200, voided.text
    return number, fee_id


class TestObligationsAreLogged:
    async def test_documents_and_fees_are_events_with_author_and_reason(self, clerk, clock):
        number, fee_id = await with_obligations(clerk, clock)
        log = await log_of(clerk, number)
        assert [e["kind"] for e in log] == [
            "created",
            "document_received",
            "documents_requested",
            "fee_added",
            "fee_voided",
        ]
        document, asked, added, voided = log[1:]
        assert (document["actor"], document["stage"], document["reason"]) == (
            "clerk-wang",
            "acceptance",
            "原件核验",
        )
        assert (document["payload"]["kind"], document["payload"]["name"]) == (
            "identity_proof",
            "有效身份证明",
        )
        assert len(document["payload"]["reference_sha256"]) == 64
        assert asked["payload"]["kinds"] == ["property_proof"]
        assert [(i["name"], i["amount"]) for i in added["payload"]["items"]] == [
            ("高可靠性供电费", "24000.00"),
            ("受电工程代运行维护", "6000.00"),
        ]
        assert (voided["reason"], voided["payload"]["fee_id"]) == ("用户撤回确认", fee_id)
        assert voided["occurred_at"] == "2025-09-30T11:00:00+08:00"
        assert (await verify(clerk, number))["valid"] is True

    async def test_a_refused_fee_request_logs_nothing(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        refused = await clerk.post(
            f"/applications/{number}/fees",
            json={"items": [{**HIGH_RELIABILITY, "name": "表计迁移费"}]},
        )
        assert refused.status_code == 422, refused.text
        assert [e["kind"] for e in await log_of(clerk, number)] == ["created"]

    async def test_whitelist_transitions_are_events(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "黄河路台区", capacity_limited=True)
        number = (await small_business(clerk, "黄河路台区"))["application"]["number"]
        clock.set("2025-12-15 16:00")
        await clerk.post(
            f"/applications/{number}/whitelist",
            json={"status": "upgrade_done", "note": "新增配变一台，联系人13912345678"},
        )
        clock.set("2025-12-16 09:00")
        await clerk.post(f"/applications/{number}/whitelist", json={"status": "released"})
        moves = [e for e in await log_of(clerk, number) if e["kind"] == "whitelist_transition"]
        assert [(m["payload"]["from"], m["payload"]["to"]) for m in moves] == [
            ("pending_upgrade", "upgrade_done"),
            ("upgrade_done", "released"),
        ]
        assert moves[0]["reason"] == "新增配变一台，联系人139****5678"
        assert moves[1]["reason"] is None
        assert {m["actor"] for m in moves} == {"clerk-wang"}
        assert (await verify(clerk, number))["valid"] is True


class TestTamperingIsDetected:
    @pytest.mark.parametrize(
        ("kind", "sql"),
        [
            (
                "fee_voided",
                "UPDATE application_events SET reason = 'x' WHERE kind = 'fee_voided'",
            ),
            (
                "fee_added",
                "UPDATE application_events SET actor = 'someone-else' WHERE kind = 'fee_added'",
            ),
            (
                "document_received",
                "UPDATE application_events SET payload = '{}' WHERE kind = 'document_received'",
            ),
        ],
    )
    async def test_an_edited_obligation_event_breaks_the_chain(
        self, intake, clerk, clock, kind, sql
    ):
        number, _ = await with_obligations(clerk, clock)
        seq = next(e["seq"] for e in await log_of(clerk, number) if e["kind"] == kind)
        await tamper(intake, sql)
        check = await verify(clerk, number)
        assert (check["valid"], check["first_bad_seq"]) == (False, seq)

    async def test_a_removed_whitelist_event_breaks_the_chain(self, intake, clerk, clock):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "黄河路台区", capacity_limited=True)
        number = (await small_business(clerk, "黄河路台区"))["application"]["number"]
        clock.set("2025-12-15 16:00")
        await clerk.post(f"/applications/{number}/whitelist", json={"status": "upgrade_done"})
        await tamper(intake, "DELETE FROM application_events WHERE kind = 'whitelist_transition'")
        check = await verify(clerk, number)
        assert check["valid"] is False
        assert "shorter" in check["problem"]
