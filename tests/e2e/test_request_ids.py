"""Following one application through the logs by its request ids (日志与请求号), across the real
processes of ``huodian up``: the portal's submission (intake, the e-license stand-in, notify's
receipt and ledger's directory, asked for the clerks to tell), the clerk's connection that intake's
outbox carries to notify, and the outage message notify makes for the connected customer and
its worker sends. Every line is JSON; every line of a request carries its id.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.rules.signing import PortalAuth
from shared.clock import SYSTEM_CLOCK
from tests.e2e.support import (
    add_user,
    free_port,
    run_cli,
    running_stack,
    service_env,
    sign_in,
    wait_for,
)
from tests.e2e.test_portal_flow import APPLICATION, PROJECT, STAGES, _healthy
from tests.notify.sinks import SmtpSink

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-request-id-admin-password"
UNIT = "供电分公司"
SUBMITTED = "portal-e2e:submit.0001"
CONNECTED = "clerk-e2e:connect.0002"
ANNOUNCED = "dispatch-e2e:announce.0003"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink) -> Iterator[dict[str, Any]]:
    var_dir: Path = tmp_path_factory.mktemp("e2e-request-ids")
    prefix = f"e2er{os.getpid()}_"
    elicense = f"http://127.0.0.1:{(port := free_port())}"
    with running_stack(
        var_dir,
        prefix,
        ADMIN_PASSWORD,
        log_level="info",
        HUODIAN_ELICENSE_PORT=str(port),
        HUODIAN_INTAKE_ELICENSE_URL="",  # unset: `huodian up` runs the stand-in
        HUODIAN_INTAKE_BACKGROUND_JOBS="true",
        HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.5",
        HUODIAN_NOTIFY_SMTP_HOST="127.0.0.1",
        HUODIAN_NOTIFY_SMTP_PORT=str(smtp.port),
        HUODIAN_NOTIFY_WORKER_POLL_SECONDS="0.2",
        HUODIAN_NOTIFY_QUIET_START="00:00",
        HUODIAN_NOTIFY_QUIET_END="00:00",
        HUODIAN_NOTIFY_STAFF_WINDOW="anytime",
    ) as urls:
        assert wait_for(lambda: _healthy(f"{elicense}/healthz"))
        yield {"urls": urls, "env": service_env(var_dir, prefix), "log": Path(urls["log"])}


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def lines_of(log: Path, request_id: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(log) if line.get("request_id") == request_id]


def test_one_application_followed_by_its_request_ids(stack: dict[str, Any], smtp: SmtpSink):
    urls, env, log = stack["urls"], stack["env"], stack["log"]
    intake, ledger, notify = urls["intake"], urls["ledger"], urls["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, "clerk-rid", "clerk", UNIT)
    add_user(ledger, admin, "dispatch-rid", "dispatcher", UNIT)
    clerk = sign_in(ledger, "clerk-rid", "clerk-rid-password-1")
    dispatcher = sign_in(ledger, "dispatch-rid", "dispatch-rid-password-1")
    issued = run_cli(
        env, "key", "add", "--name", "白山市政务服务平台", "--scope", "applications",
        "--scope", "projects", "--scope", "approvals",
    )  # fmt: skip
    keys = dict(line.split(": ", 1) for line in issued.splitlines() if ": " in line)

    with httpx.Client(
        base_url=intake, auth=PortalAuth(keys["key id"], keys["secret"]), timeout=60
    ) as portal:

        def portal_post(path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
            return portal.post(
                path, json=body, headers={"Idempotency-Key": str(uuid.uuid4()), **headers}
            )

        pushed = portal_post(
            "/portal/projects",
            PROJECT,
        )
        assert pushed.status_code == 201, pushed.text
        submitted = portal_post(
            "/portal/applications",
            APPLICATION,
            **{"X-Request-Id": SUBMITTED},
        )
        assert submitted.status_code == 201, submitted.text
        assert submitted.headers["X-Request-Id"] == SUBMITTED
        number, query_code = submitted.json()["number"], submitted.json()["query_code"]

        works = httpx.put(
            f"{intake}/applications/{number}/external-line",
            headers=clerk,
            json={"length_m": "180", "crossings": ["other_urban_road"]},
        )
        assert works.status_code == 200, works.text
        approved = portal_post(
            "/portal/approvals",
            {
                "application_number": number,
                "result": "approved",
                "approval_number": "靖审批〔2025〕第7号",
                "decided_on": time.strftime("%Y-%m-%d"),
            },
        )
        assert approved.status_code == 200, approved.text

    for stage in STAGES:
        headers = dict(clerk)
        if stage == STAGES[-1]:
            body: dict[str, str] = {"feeder": "10kV 园区线", "transformer_area": "园区2号台区"}
            headers["X-Request-Id"] = CONNECTED
        else:
            body = {"note": "按时办结"}
        if stage == STAGES[-1]:
            report = httpx.post(
                f"{intake}/applications/{number}/documents",
                headers=clerk,
                json={"kind": "工程竣工报告", "reference": "竣工-2025-007"},
            )
            assert report.status_code == 201, report.text
        done = httpx.post(
            f"{intake}/applications/{number}/stages/{stage}/complete", headers=headers, json=body
        )
        assert done.status_code == 200, done.text
    assert done.headers["X-Request-Id"] == CONNECTED

    # The submission: intake's access line, the e-license stand-in's, which intake asked to
    # check the licence under the same id, notify's, which the outbox posted the receipt
    # (受理回执) and the clerks' notice (新的网上申请待受理, its own event) to under it, and
    # ledger's, whose directory notify asked under it for the accepting unit's clerks to tell.
    def events_delivered() -> list[dict[str, Any]]:
        lines = [
            line
            for line in lines_of(log, SUBMITTED)
            if line["service"] == "notify" and line["logger"] == "huodian.access"
        ]
        return lines if len(lines) >= 2 else []

    delivered = wait_for(events_delivered)
    assert [(r["method"], r["route"], r["status"]) for r in delivered] == [
        ("POST", "/events", 200)
    ] * 2
    submit_lines = lines_of(log, SUBMITTED)
    assert {line["service"] for line in submit_lines} == {"intake", "elicense", "ledger", "notify"}
    access = [line for line in submit_lines if line["logger"] == "huodian.access"]
    assert [
        (a["service"], a["method"], a["route"], a["status"])
        for a in access
        if a["service"] == "intake"
    ] == [("intake", "POST", "/portal/applications", 201)]
    assert ("elicense", "POST") in {(a["service"], a["method"]) for a in access}
    assert ("ledger", "GET", "/directory/contacts", 200) in {
        (a["service"], a["method"], a["route"], a["status"]) for a in access
    }

    # The clerk's notice is made under the portal's id and reaches the clerk's mailbox.
    def clerk_notices() -> list[dict[str, Any]]:
        page = httpx.get(
            f"{notify}/messages", headers=admin, params={"kind": "intake.portal_submitted"}
        ).json()
        return [m for m in page["items"] if m["request_id"] == SUBMITTED]

    (notice,) = wait_for(clerk_notices)
    assert (notice["channel"], notice["recipient"]) == ("email", "clerk-rid@example.cn")
    assert wait_for(lambda: "clerk-rid@example.cn" in {to[0] for to, _ in smtp.mails()})

    # The receipt's message row keeps the portal's id too, listed and in its detail.
    def receipt_messages() -> list[dict[str, Any]]:
        page = httpx.get(
            f"{notify}/messages", headers=admin, params={"kind": "intake.received"}
        ).json()
        return [m for m in page["items"] if m["request_id"] == SUBMITTED]

    (texted,) = wait_for(receipt_messages)
    assert (texted["channel"], texted["recipient"]) == ("sms", "13943900000")
    detail = httpx.get(f"{notify}/messages/{texted['id']}", headers=admin).json()
    assert detail["request_id"] == SUBMITTED
    assert f"申请编号{number}，查询码********" in detail["body"]  # masked for an administrator
    assert query_code not in detail["body"]

    # The connection: intake's request queued the event under its id; the outbox delivered it
    # to notify with it, and notify's access line for POST /events carries it.
    def event_delivered() -> list[dict[str, Any]]:
        return [
            line
            for line in lines_of(log, CONNECTED)
            if line["service"] == "notify" and line["logger"] == "huodian.access"
        ]

    (received,) = wait_for(event_delivered)
    assert (received["method"], received["route"], received["status"]) == (
        "POST",
        "/events",
        200,
    )
    connected_intake = [line for line in lines_of(log, CONNECTED) if line["service"] == "intake"]
    assert ("POST", "/applications/{number}/stages/{stage}/complete", 200) in [
        (a["method"], a["route"], a["status"])
        for a in connected_intake
        if a["logger"] == "huodian.access"
    ]

    def subscribed() -> list[dict[str, Any]]:
        found = httpx.get(f"{notify}/subscribers", headers=admin).json()["items"]
        return [s for s in found if s["account_number"] == number]

    assert wait_for(subscribed)

    # The message: made under the announcement's id, and its send logged with it.
    start = SYSTEM_CLOCK.now() + timedelta(days=8)
    created = httpx.post(
        f"{notify}/outages",
        headers=dispatcher,
        json={
            "kind": "planned",
            "cause": "10kV 园区线检修",
            "feeders": ["10kV 园区线"],
            "planned_start": start.isoformat(),
            "etr": (start + timedelta(hours=8)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    outage = created.json()["id"]
    announced = httpx.post(
        f"{notify}/outages/{outage}/announce",
        headers={**dispatcher, "X-Request-Id": ANNOUNCED},
        json={},
    )
    assert announced.status_code == 200, announced.text
    assert wait_for(lambda: "water@example.cn" in {to[0] for to, _ in smtp.mails()})
    page = httpx.get(f"{notify}/outages/{outage}/messages", headers=dispatcher).json()
    (email,) = [m for m in page["items"] if m["channel"] == "email"]

    def sent_lines() -> list[dict[str, Any]]:
        return [
            line
            for line in lines_of(log, ANNOUNCED)
            if line["logger"] == "huodian.notify.delivery" and line.get("state") == "sent"
        ]

    (sent,) = wait_for(sent_lines)
    assert (sent["message_id"], sent["channel"], sent["service"]) == (
        email["id"],
        "email",
        "notify",
    )

    # Masked throughout: the applicant's mobile never reaches the log, nor the query code.
    assert "13943900000" not in log.read_text()
    assert query_code not in log.read_text()
