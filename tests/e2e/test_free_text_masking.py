"""Free text against the real processes: a clerk types an ID number and phones into a pause
note; the supervisor and a viewer get them masked, in the application and in its stage log,
while the clerk of the unit sees them whole."""

from __future__ import annotations

import httpx
import pytest

from services.intake.rules.identity import credit_code_check_character
from tests.e2e.support import add_user, sign_in, stack_fixture

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-masking-admin-password"
ID = "22062219850203123X"
MOBILE = "13943901234"
LANDLINE = "0439-6221234"
NOTE = f"待客户补充：法人身份证{ID}，联系电话{MOBILE}，座机{LANDLINE}"


stack = stack_fixture("e2eft", ADMIN_PASSWORD)


def whole(text: str) -> bool:
    return ID in text and MOBILE in text and LANDLINE in text


def masked(text: str) -> bool:
    return (
        not any(value in text for value in (ID, MOBILE, LANDLINE))
        and "220622********123X" in text
        and "139****1234" in text
        and "0439-***1234" in text
    )


def test_a_pause_note_is_masked_for_those_who_may_not_see_it(stack):
    intake, ledger = stack["intake"], stack["ledger"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, "clerk-mask", "clerk", "供电分公司")
    add_user(ledger, admin, "sup-mask", "supervisor", "营销部")
    added = httpx.post(
        f"{ledger}/users",
        headers=admin,
        json={
            "username": "viewer-mask",
            "display_name": "viewer-mask",
            "role": "viewer",
            "email": "viewer-mask@example.cn",
            "password": "viewer-mask-password-1",
            "units": [],
        },
    )
    assert added.status_code == 201, added.text
    clerk = sign_in(ledger, "clerk-mask", "clerk-mask-password-1")
    supervisor = sign_in(ledger, "sup-mask", "sup-mask-password-1")
    viewer = sign_in(ledger, "viewer-mask", "viewer-mask-password-1")

    credit_code = "91220622MA7654321"
    created = httpx.post(
        f"{intake}/applications",
        headers=clerk,
        json={
            "jurisdiction": "jingyu",
            "unit": "供电分公司",
            "channel": "online",
            "customer_type": "hv10_single",
            "applicant": {
                "name": "靖宇县某木业有限公司",
                "id_kind": "credit_code",
                "id_number": credit_code + credit_code_check_character(credit_code),
                "mobile": "13943900001",
            },
            "site": {"address": "靖宇县工业园区", "area_class": "town"},
            "capacity_kw": "400",
        },
    )
    assert created.status_code == 201, created.text
    number = created.json()["application"]["number"]
    paused = httpx.post(
        f"{intake}/applications/{number}/pause",
        headers=clerk,
        json={"reason": "missing_material", "note": NOTE},
    )
    assert paused.status_code == 200, paused.text

    for who, headers, may_see in (
        ("clerk", clerk, True),
        ("supervisor", supervisor, False),
        ("viewer", viewer, False),
        ("admin", admin, False),
    ):
        detail = httpx.get(f"{intake}/applications/{number}", headers=headers)
        assert detail.status_code == 200, (who, detail.text)
        note = detail.json()["pauses"][0]["note"]
        log = httpx.get(f"{intake}/applications/{number}/log", headers=headers).json()
        (reason,) = [e["reason"] for e in log if e["kind"] == "paused"]
        for text in (note, reason):
            assert whole(text) if may_see else masked(text), (who, text)
