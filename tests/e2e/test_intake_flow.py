"""An application from acceptance to 装表接电 across the real intake and notify processes.

``huodian up`` runs the three services; a clerk and a supervisor are created in ledger, the
clerk signs in there and operates intake with that token; every stage is completed over HTTP
and intake's background task delivers the connection event to notify over real HTTP, where the
customer becomes an outage subscriber.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.intake.rules.identity import credit_code_check_character
from tests.e2e.support import add_user, sign_in, stack_fixture, wait_for

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-intake-admin-password"
STAGES = ("acceptance", "supply_plan", "external_works", "inspection_connection")
"""A Jingyu high-voltage application's stages (its plan's item 8: the merged four)."""
# The real process runs its background work: the outbox is polled every half second.
stack = stack_fixture(
    "e2ei",
    ADMIN_PASSWORD,
    HUODIAN_INTAKE_BACKGROUND_JOBS="true",
    HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.5",
)


def test_an_application_from_acceptance_to_connection(stack):
    intake, ledger, notify = stack["intake"], stack["ledger"], stack["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    # Jingyu's branch (供电分公司) accepts; its 营销部 supervises the time limits.
    add_user(ledger, admin, "clerk-e2e", "clerk", "供电分公司")
    add_user(ledger, admin, "sup-e2e", "supervisor", "营销部")
    clerk = sign_in(ledger, "clerk-e2e", "clerk-e2e-password-1")

    credit_code = "91220622MA1234567"
    created = httpx.post(
        f"{intake}/applications",
        headers=clerk,
        json={
            "jurisdiction": "jingyu",
            "unit": "供电分公司",
            "channel": "online",
            "customer_type": "hv10_single",
            "applicant": {
                "name": "靖宇县某矿泉水有限公司",
                "id_kind": "credit_code",
                "id_number": credit_code + credit_code_check_character(credit_code),
                "mobile": "13943900000",
                "email": "water@example.cn",
            },
            "site": {"address": "靖宇县工业园区", "area_class": "town"},
            "capacity_kw": "630",
        },
    )
    assert created.status_code == 201, created.text
    number = created.json()["application"]["number"]
    query_code = created.json()["query_code"]
    assert created.json()["application"]["clock"]["basis"] == "total"  # Jingyu: 22 in total

    taken = 0
    for stage in STAGES:
        body = (
            {"feeder": "10kV 园区线", "transformer_area": "园区2号台区"}
            if stage == STAGES[-1]
            else {"note": "按时办结"}
        )
        # A stage completes only with its documents: the clerk takes what it still needs.
        view = httpx.get(f"{intake}/applications/{number}/documents", headers=clerk).json()
        for needed in [r["code"] for r in view["required"] if r["state"] == "needed"]:
            received = httpx.post(
                f"{intake}/applications/{number}/documents", headers=clerk, json={"kind": needed}
            )
            assert received.status_code == 201, received.text
            taken += 1
        done = httpx.post(
            f"{intake}/applications/{number}/stages/{stage}/complete", headers=clerk, json=body
        )
        assert done.status_code == 200, done.text
    application = done.json()
    assert application["status"] == "connected"
    assert [s["state"] for s in application["stages"]] == ["done"] * 4
    assert application["total"]["within_limit"] is True

    # The applicant sees it connected, without signing in, and rates the service.
    progress = httpx.get(
        f"{intake}/public/applications/{number}/progress", headers={"X-Query-Code": query_code}
    ).json()
    assert progress["status_label"] == "已接电"
    assert progress["can_rate"] is True
    rated = httpx.post(
        f"{intake}/public/applications/{number}/rating",
        headers={"X-Query-Code": query_code},
        json={"score": 5, "comment": "线上办电，很方便"},
    )
    assert rated.status_code == 200, rated.text
    chain = httpx.get(f"{intake}/applications/{number}/log/verify", headers=clerk).json()
    assert chain["valid"] is True
    assert taken == 3 + 1  # 业务受理: identity, property, project approval; 竣工检验: the report
    assert chain["length"] == 1 + taken + 4 + 1

    # intake's background task posts the event to notify; notify answers with a receipt.
    def delivered() -> list[dict[str, Any]]:
        listed = httpx.get(f"{intake}/outbox", headers=admin, params={"state": "delivered"}).json()[
            "items"
        ]
        ours = [e for e in listed if e["subject"] == number]
        return ours if "intake.application.connected" in {e["type"] for e in ours} else []

    events = wait_for(delivered)
    assert [(e["type"], e["duplicate"]) for e in events] == [
        ("intake.application.connected", False),
        ("intake.application.received", False),  # the acceptance's receipt (受理回执)
    ]
    pending = httpx.get(f"{intake}/outbox", headers=admin, params={"state": "pending"}).json()
    assert [e for e in pending["items"] if e["subject"] == number] == []

    # notify registered the new customer as an outage subscriber of its feeder and 台区.
    subscribers = httpx.get(f"{notify}/subscribers", headers=admin).json()["items"]
    (subscriber,) = [s for s in subscribers if s["account_number"] == number]
    assert subscriber["feeder"] == "10kV 园区线"
    assert subscriber["transformer_area"] == "园区2号台区"
    assert (subscriber["area_class"], subscriber["area_class_label"]) == ("town", "城镇")
    assert subscriber["source"] == "intake"
