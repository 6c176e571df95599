"""The Dongying portal tour (东营门户之旅), across the real processes, as in the README.

An application submitted on the government portal from 东营区 (region 370502) is assigned to
国网东营供电公司. Users are bound to the real units of the hierarchy (shared/units.json): a clerk
of 国网东营供电公司 and a clerk of the group 各供电企业, which contains it, work it from 业务受理 to
装表接电 between them; a clerk of a branch (国网广饶县供电公司) and one of a sibling company
(国网胜利供电公司) are refused it. The portal's webhook hears every step; notify (a real process)
makes the connected customer an outage subscriber. One from 广饶县 (370523) goes to the county
company 国网广饶县供电公司, whose clerk sees it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.rules.signing import PortalAuth
from tests.e2e.support import (
    add_user,
    free_port,
    run_cli,
    running_stack,
    service_env,
    sign_in,
    wait_for,
)
from tests.intake.portal.sink import WebhookSink, running_sink

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-dongying-admin-password"
COMPANY = {"name": "东营市获电测试电器有限公司", "credit_code": "91370502MA3C8T1Q2E"}
PROPERTY = "鲁（2021）东营市不动产权第0012345号"
STAGES = ("acceptance", "supply_plan", "completion_inspection", "connection")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir: Path = tmp_path_factory.mktemp("e2e-dongying-var")
    prefix = f"e2ed{os.getpid()}_"
    with running_stack(
        var_dir,
        prefix,
        ADMIN_PASSWORD,
        HUODIAN_ELICENSE_PORT=str(free_port()),
        HUODIAN_INTAKE_ELICENSE_URL="",  # unset: `huodian up` runs the stand-in
        HUODIAN_INTAKE_BACKGROUND_JOBS="true",
        HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.5",
        HUODIAN_INTAKE_WEBHOOK_INTERVAL_SECONDS="0.5",
        HUODIAN_OUTBOUND_ALLOW="127.0.0.1",  # the portal's webhook is a local sink
    ) as urls:
        yield {"urls": urls, "env": service_env(var_dir, prefix)}


def clerk_of(ledger: str, admin: dict[str, str], username: str, unit: str) -> dict[str, str]:
    add_user(ledger, admin, username, "clerk", unit)
    return sign_in(ledger, username, f"{username}-password-1")


def test_a_portal_application_from_dongying_district_to_connection(
    stack: dict[str, Any],
) -> None:
    urls, env = stack["urls"], stack["env"]
    intake, ledger, notify = urls["intake"], urls["ledger"], urls["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)

    # Users of real units: the company, the group containing it, a branch, a sibling company.
    # A name the hierarchy does not know is still refused.
    company = clerk_of(ledger, admin, "clerk-dongying", "国网东营供电公司")
    group = clerk_of(ledger, admin, "clerk-suppliers", "各供电企业")
    branch = clerk_of(ledger, admin, "clerk-guangrao", "国网广饶县供电公司")
    sibling = clerk_of(ledger, admin, "clerk-shengli", "国网胜利供电公司")
    unknown = httpx.post(
        f"{ledger}/users",
        headers=admin,
        json={
            "username": "clerk-mars",
            "display_name": "clerk-mars",
            "role": "clerk",
            "password": "clerk-mars-password-1",
            "units": ["火星供电局"],
        },
        timeout=60,
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_unit")

    issued = run_cli(env, "key", "add", "--name", "东营市政务服务平台")
    lines = dict(line.split(": ", 1) for line in issued.splitlines() if ": " in line)
    key_id, secret = lines["key id"], lines["secret"]

    with (
        running_sink(WebhookSink(secret)) as sink,
        httpx.Client(base_url=intake, auth=PortalAuth(key_id, secret)) as portal,
    ):
        hooked = httpx.put(
            f"{intake}/portal/clients/{key_id}/webhook", headers=admin, json={"url": sink.url}
        )
        assert hooked.status_code == 200, hooked.text

        submitted = portal.post(
            "/portal/applications",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "region_code": "370502",
                "customer_type": "hv10_single",
                "applicant": {
                    "name": COMPANY["name"],
                    "id_kind": "credit_code",
                    "id_number": COMPANY["credit_code"],
                    "mobile": "13805460000",
                },
                "site": {"address": "东营区测试路1号", "area_class": "urban"},
                "capacity_kw": "800",
                "property_certificate": {"number": PROPERTY},
            },
        )
        assert submitted.status_code == 201, submitted.text
        number = submitted.json()["number"]
        assert [c["outcome"] for c in submitted.json()["licences"]] == ["valid", "valid"]

        one = httpx.get(f"{intake}/applications/{number}", headers=group)
        assert one.status_code == 200, one.text
        assert (one.json()["unit"], one.json()["jurisdiction"]) == ("国网东营供电公司", "dongying")
        for clerk in (company, group):
            listed = httpx.get(f"{intake}/applications", headers=clerk).json()
            assert [a["number"] for a in listed["items"]] == [number]
        for outsider in (branch, sibling):
            assert httpx.get(f"{intake}/applications", headers=outsider).json()["total"] == 0
            refused = httpx.post(
                f"{intake}/applications/{number}/stages/acceptance/complete",
                headers=outsider,
                json={},
            )
            assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")

        # The company's clerk accepts and answers the supply plan; the group's clerk finishes.
        for stage, clerk in zip(STAGES, (company, company, group, group), strict=True):
            body = (
                {"feeder": "10kV 府前线", "transformer_area": "府前1号台区"}
                if stage == "connection"
                else {"note": "按时办结"}
            )
            # 零证办电: the licences verified online count; what is still needed is taken first.
            view = httpx.get(f"{intake}/applications/{number}/documents", headers=clerk).json()
            for needed in [r["code"] for r in view["required"] if r["state"] == "needed"]:
                taken = httpx.post(
                    f"{intake}/applications/{number}/documents",
                    headers=clerk,
                    json={"kind": needed},
                )
                assert taken.status_code == 201, taken.text
            done = httpx.post(
                f"{intake}/applications/{number}/stages/{stage}/complete", headers=clerk, json=body
            )
            assert done.status_code == 200, done.text
        assert done.json()["status"] == "connected"
        assert [s["completed_by"] for s in done.json()["stages"]] == [
            "clerk-dongying",
            "clerk-dongying",
            "clerk-suppliers",
            "clerk-suppliers",
        ]

        expected = ["application.stage_completed"] * 3 + ["application.connected"]
        assert wait_for(lambda: len(sink.received) >= 4)
        assert [t for _, t in sink.types()] == expected
        assert {n for n, _ in sink.types()} == {number}
        assert sink.refused == []

        # From 广饶县 (370523) an application goes to the county company 国网广饶县供电公司: its
        # clerk sees it, the city company's and the group's (above it) too, a sibling's not.
        county = portal.post(
            "/portal/applications",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "region_code": "370523",
                "customer_type": "hv10_single",
                "applicant": {
                    "name": COMPANY["name"],
                    "id_kind": "credit_code",
                    "id_number": COMPANY["credit_code"],
                    "mobile": "13805460000",
                },
                "site": {"address": "广饶县测试路2号", "area_class": "town"},
                "capacity_kw": "800",
                "property_certificate": {"number": PROPERTY},
            },
        )
        assert county.status_code == 201, county.text
        assert county.json()["unit"] == "国网广饶县供电公司"
        county_number = county.json()["number"]
        for clerk in (branch, company, group):
            listed = httpx.get(f"{intake}/applications", headers=clerk).json()
            assert county_number in [a["number"] for a in listed["items"]]
        assert httpx.get(f"{intake}/applications", headers=sibling).json()["total"] == 0

    def subscribed() -> list[dict[str, Any]]:
        found = httpx.get(f"{notify}/subscribers", headers=admin).json()["items"]
        return [s for s in found if s["account_number"] == number]

    (subscriber,) = wait_for(subscribed)
    assert (subscriber["feeder"], subscriber["source"]) == ("10kV 府前线", "intake")
