"""From a project push on the government portal to 装表接电, across the real processes.

``huodian up`` runs intake, ledger, notify and the e-license stand-in. A portal key is issued
with the CLI; the portal pushes a project (超前对接) and then the customer's application, signed
with HMAC and an Idempotency-Key (a retry gets the first answer); the application joins the
pre-application; the approval service approves the external-line works; a clerk takes the
application through every stage. The portal's webhook — a real HTTP server here — receives the
status callbacks in order, and notify (a real process) receives the connection event and makes
the customer an outage subscriber.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.rules.signing import PortalAuth
from shared.settings import Settings
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
ADMIN_PASSWORD = "e2e-portal-admin-password"
UNIT = "供电分公司"  # Jingyu's branch, which serves 靖宇县 (220622)
PROJECT_CODE = "2025-220622-15-03-000007"
COMPANY = {"name": "靖宇县测试矿泉水有限公司", "credit_code": "91220622MA14X3B6YF"}
PROPERTY = "吉（2022）靖宇县不动产权第0000123号"
STAGES = ("acceptance", "supply_plan", "external_works", "inspection_connection")
# What the project approval platform pushes, and what the customer then applies for.
PROJECT = {
    "project_code": PROJECT_CODE,
    "project_name": "靖宇县测试矿泉水扩建项目",
    "builder_name": COMPANY["name"],
    "builder_credit_code": COMPANY["credit_code"],
    "site_address": "靖宇县测试大街6号",
    "expected_load_kw": "630",
    "expected_connection_date": "2026-05-01",
}
APPLICATION = {
    "region_code": "220622",
    "customer_type": "hv10_single",
    "applicant": {
        "name": COMPANY["name"],
        "id_kind": "credit_code",
        "id_number": COMPANY["credit_code"],
        "mobile": "13943900000",
        "email": "water@example.cn",
    },
    "site": {"address": "靖宇县测试大街6号", "area_class": "town"},
    "capacity_kw": "630",
    "project_code": PROJECT_CODE,
    "property_certificate": {"number": PROPERTY},
}
"""A Jingyu high-voltage application's stages (its plan's item 8: the merged four)."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir: Path = tmp_path_factory.mktemp("e2e-portal-var")
    prefix = f"e2ep{os.getpid()}_"
    elicense = f"http://127.0.0.1:{(port := free_port())}"
    with running_stack(
        var_dir,
        prefix,
        ADMIN_PASSWORD,
        HUODIAN_ELICENSE_PORT=str(port),
        HUODIAN_INTAKE_ELICENSE_URL="",  # unset: `huodian up` runs the stand-in
        HUODIAN_INTAKE_BACKGROUND_JOBS="true",
        HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.5",
        HUODIAN_INTAKE_WEBHOOK_INTERVAL_SECONDS="0.5",
        HUODIAN_OUTBOUND_ALLOW="127.0.0.1",  # the portal's webhook is a local sink
    ) as urls:
        assert wait_for(lambda: _healthy(f"{elicense}/healthz"))
        yield {"urls": urls, "env": service_env(var_dir, prefix)}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def portal_post(
    portal: httpx.Client, path: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    return portal.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def test_from_a_portal_push_to_connection(stack: dict[str, Any]) -> None:
    urls, env = stack["urls"], stack["env"]
    intake, ledger, notify = urls["intake"], urls["ledger"], urls["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, "clerk-portal", "clerk", UNIT)
    clerk = sign_in(ledger, "clerk-portal", "clerk-portal-password-1")

    # One key plays all three platforms here: applications, project pushes, approval results.
    issued = run_cli(
        env,
        "key",
        "add",
        "--name",
        "白山市政务服务平台",
        "--scope",
        "applications",
        "--scope",
        "projects",
        "--scope",
        "approvals",
    )
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

        # The project approval platform pushes the project before the customer applies.
        pushed = portal_post(
            portal,
            "/portal/projects",
            PROJECT,
        )
        assert pushed.status_code == 201, pushed.text
        seen = httpx.get(f"{intake}/pre-applications", headers=clerk).json()
        assert [p["project_code"] for p in seen["pre_applications"]] == [PROJECT_CODE]

        # The customer applies on the portal; the portal retries after a lost answer.
        application = APPLICATION
        first = portal_post(portal, "/portal/applications", application, key="apply-e2e-1")
        assert first.status_code == 201, first.text
        retry = portal_post(portal, "/portal/applications", application, key="apply-e2e-1")
        assert (retry.status_code, retry.json()) == (201, first.json())
        assert retry.headers["idempotent-replayed"] == "true"
        number = first.json()["number"]
        assert [c["outcome"] for c in first.json()["licences"]] == ["valid", "valid"]
        listed = httpx.get(f"{intake}/applications", headers=clerk).json()
        assert [a["number"] for a in listed["items"]] == [number]
        assert listed["items"][0]["channel"] == "portal"
        pre = httpx.get(f"{intake}/pre-applications/{PROJECT_CODE}", headers=clerk).json()
        assert (pre["status"], pre["application_number"]) == ("joined", number)

        # The external line digs a side street: 告知承诺制, approved by the approval service.
        works = httpx.put(
            f"{intake}/applications/{number}/external-line",
            headers=clerk,
            json={"length_m": "180", "crossings": ["other_urban_road"]},
        )
        assert works.json()["approval"]["state"] == "pending", works.text
        approved = portal_post(
            portal,
            "/portal/approvals",
            {
                "application_number": number,
                "result": "approved",
                "approval_number": "靖审批〔2025〕第7号",
                "decided_on": time.strftime("%Y-%m-%d"),
            },
        )
        assert approved.json()["approval"]["state"] == "approved", approved.text

        # 零证办电: the licences verified online and the pushed project count as received.
        view = httpx.get(f"{intake}/applications/{number}/documents", headers=clerk).json()
        assert {r["code"]: r["source"] for r in view["required"]} == {
            "identity_proof": "elicense",
            "property_proof": "elicense",
            "project_approval": "portal",
        }
        again = httpx.post(
            f"{intake}/applications/{number}/documents/requests",
            headers=clerk,
            json={"documents": ["营业执照"]},
        )
        assert (again.status_code, again.json()["code"]) == (409, "document_verified_online")

        for stage in STAGES:
            body = (
                {"feeder": "10kV 园区线", "transformer_area": "园区2号台区"}
                if stage == STAGES[-1]
                else {"note": "按时办结"}
            )
            if stage == STAGES[-1]:
                report = httpx.post(
                    f"{intake}/applications/{number}/documents",
                    headers=clerk,
                    json={"kind": "工程竣工报告", "reference": "竣工-2025-007"},
                )
                assert report.status_code == 201, report.text
            done = httpx.post(
                f"{intake}/applications/{number}/stages/{stage}/complete", headers=clerk, json=body
            )
            assert done.status_code == 200, done.text
        assert done.json()["status"] == "connected"

        # The portal hears every status change, signed, in order.
        expected = ["application.stage_completed"] * 3 + ["application.connected"]
        assert wait_for(lambda: len(sink.received) >= 4)
        assert [t for _, t in sink.types()] == expected
        assert {n for n, _ in sink.types()} == {number}
        assert [e["stage"] for e in sink.received] == list(STAGES)
        assert sink.refused == []
        log = httpx.get(
            f"{intake}/portal/clients/{key_id}/deliveries",
            headers=admin,
            params={"state": "delivered"},
        ).json()
        assert log["total"] == 4

    # notify, a real process, made the connected customer an outage subscriber.
    def subscribed() -> list[dict[str, Any]]:
        found = httpx.get(f"{notify}/subscribers", headers=admin).json()["items"]
        return [s for s in found if s["account_number"] == number]

    (subscriber,) = wait_for(subscribed)
    assert (subscriber["feeder"], subscriber["source"]) == ("10kV 园区线", "intake")


def test_up_leaves_a_configured_elicense_service_alone(monkeypatch, capsys):
    from services.cli.up import _elicense_standin

    monkeypatch.setenv("HUODIAN_INTAKE_ELICENSE_URL", "https://elicense.example.cn")
    env: dict[str, str] = {}
    assert _elicense_standin(Settings(), argparse.Namespace(log_level="info"), env) is None
    assert env == {}
    assert "elicense: https://elicense.example.cn" in capsys.readouterr().out
