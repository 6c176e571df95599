"""Notify delivers for real: ``huodian up`` with notify pointed at a real SMTP server (aiosmtpd).

A ledger deadline reminder read over HTTP from the ledger process arrives as an email; a customer
registered by an intake event and one added by a dispatcher get the outage announcement; an SMTP
outage loses nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_service_token
from shared.calendar import WorkingCalendar
from shared.clock import SYSTEM_CLOCK, today
from shared.settings import Settings
from tests.e2e.support import running_stack
from tests.notify.sinks import SmtpSink

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-admin-password"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink) -> Iterator[dict[str, str]]:
    with running_stack(
        tmp_path_factory.mktemp("e2e-notify-var"),
        f"e2en{os.getpid()}_",
        ADMIN_PASSWORD,
        HUODIAN_NOTIFY_SMTP_HOST="127.0.0.1",
        HUODIAN_NOTIFY_SMTP_PORT=str(smtp.port),
        HUODIAN_NOTIFY_WORKER_POLL_SECONDS="0.2",
        HUODIAN_NOTIFY_BACKOFF_BASE_SECONDS="1",
        # Deliver now whatever the hour and day the test runs on.
        HUODIAN_NOTIFY_QUIET_START="00:00",
        HUODIAN_NOTIFY_QUIET_END="00:00",
        HUODIAN_NOTIFY_STAFF_WINDOW="anytime",
    ) as urls:
        yield urls


def token(stack: dict[str, str], username: str, password: str) -> dict[str, str]:
    answer = httpx.post(
        f"{stack['ledger']}/auth/token", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def add_user(stack: dict[str, str], admin: dict[str, str], **user: object) -> None:
    created = httpx.post(f"{stack['ledger']}/users", headers=admin, json=user)
    assert created.status_code == 201, created.text


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_ledger_reminder_arrives_as_an_email(stack, smtp):
    ledger, notify = stack["ledger"], stack["notify"]
    admin = token(stack, "admin", ADMIN_PASSWORD)
    add_user(
        stack,
        admin,
        username="power",
        display_name="供电企业负责人",
        role="dept_head",
        email="power@example.cn",
        password="power-password-1",
        units=["各供电企业"],
    )
    calendar = WorkingCalendar.build(today=today(SYSTEM_CLOCK))
    reminder_day = calendar.next_workday(today(SYSTEM_CLOCK) + timedelta(days=1))
    # Reminded 7 working days before the due day.
    due = calendar.add_working_days(reminder_day, 7).due.isoformat()
    sheet = f"序号,分类,工作目标任务,责任单位,完成时间\n1,工作目标,推广电子证照,各供电企业,{due}\n"
    imported = httpx.post(
        f"{ledger}/ledgers/import",
        headers=admin,
        data={"code": "county-mail", "name": "某县台账"},
        files={"file": ("county.csv", sheet.encode(), "text/csv")},
    )
    assert imported.status_code == 201, imported.text

    run = httpx.post(
        f"{notify}/reminders/ledger-deadlines/run",
        headers=admin,
        params={"as_of": reminder_day.isoformat(), "days_before": 7},
        timeout=30,
    )
    assert run.status_code == 200, run.text

    subject = f"【临期提醒】county-mail 第1项将于{due}到期"
    wait_for(lambda: any(m["Subject"] == subject for _, m in smtp.mails()))
    to, mail = next((to, m) for to, m in smtp.mails() if m["Subject"] == subject)
    assert to == ["power@example.cn"]
    assert "工作任务：推广电子证照" in mail.get_content()
    listed = httpx.get(
        f"{notify}/messages", headers=admin, params={"kind": "ledger_deadline", "limit": 500}
    ).json()["items"]
    mine = next(m for m in listed if m["subject"] == subject)
    assert mine["state"] == "sent"


def test_an_outage_announcement_reaches_subscribers(stack, smtp):
    notify = stack["notify"]
    admin = token(stack, "admin", ADMIN_PASSWORD)
    add_user(
        stack,
        admin,
        username="diaodu",
        display_name="调度员",
        role="dispatcher",
        password="dispatch-password-1",
        units=["营销部"],
    )
    dispatcher = token(stack, "diaodu", "dispatch-password-1")

    # Intake registers a connected customer (as its outbox delivers events); a dispatcher adds
    # another by hand.
    settings = Settings(var_dir=Path(stack["var_dir"]))
    intake = {
        "Authorization": f"Bearer {issue_service_token(settings, 'intake', SYSTEM_CLOCK.now())}"
    }
    event = {
        "id": str(uuid4()),
        "type": "intake.application.connected",
        "source": "intake",
        "occurred_at": SYSTEM_CLOCK.now().isoformat(),
        "subject": "E2E0001",
        "data": {
            "application_number": "E2E0001",
            "name": "东营某超市",
            "mobile": "13812345678",
            "email": "shop@example.cn",
            "feeder": "10kV东城线",
            "transformer_area": "东城1号台区",
            "area_class": "urban",
        },
    }
    received = httpx.post(f"{notify}/events", headers=intake, json=event)
    assert received.status_code == 200, received.text
    added = httpx.post(
        f"{notify}/subscribers",
        headers=dispatcher,
        json={
            "account_number": "E2E0002",
            "name": "张三",
            "email": "zhang@example.cn",
            "feeder": "10kV东城线",
            "transformer_area": "东城2号台区",
            "area_class": "town",
        },
    )
    assert added.status_code == 201, added.text

    # The SMTP server is down while the outage is announced: nothing is lost.
    smtp.stop()
    start = SYSTEM_CLOCK.now() + timedelta(days=8)
    created = httpx.post(
        f"{notify}/outages",
        headers=dispatcher,
        json={
            "kind": "planned",
            "cause": "10kV东城线检修",
            "feeders": ["10kV东城线"],
            "planned_start": start.isoformat(),
            "etr": (start + timedelta(hours=8)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    outage = created.json()
    announced = httpx.post(f"{notify}/outages/{outage['id']}/announce", headers=dispatcher, json={})
    assert announced.status_code == 200, announced.text

    def log() -> list[dict]:
        page = httpx.get(f"{notify}/outages/{outage['id']}/messages", headers=dispatcher).json()
        messages: list[dict] = page["items"]
        return messages

    wait_for(lambda: any(m["state"] == "failed" for m in log() if m["channel"] == "email"))
    smtp.start()
    recipients = {"shop@example.cn", "zhang@example.cn"}
    wait_for(lambda: recipients <= {to[0] for to, _ in smtp.mails()})
    mails = [m for to, m in smtp.mails() if to[0] in recipients]
    assert all(m["Subject"].startswith("【计划停电通知】10kV东城线 ") for m in mails)
    assert len(mails) == 2
    emails = [m for m in log() if m["channel"] == "email"]
    assert {m["state"] for m in emails} == {"sent"}
    # The SMS to the intake-registered customer waits: no gateway is configured here.
    assert [(m["channel"], m["state"]) for m in log() if m["channel"] == "sms"] == [
        ("sms", "queued")
    ]
