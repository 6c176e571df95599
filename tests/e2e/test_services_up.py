"""``huodian up`` starts the three real services; they talk to each other over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shared.calendar import WorkingCalendar
from shared.clock import SYSTEM_CLOCK, today
from tests.e2e.support import stack_fixture

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-admin-password"


stack = stack_fixture("e2e", ADMIN_PASSWORD)


def test_all_three_are_up(stack):
    for name in ("intake", "ledger", "notify"):
        assert httpx.get(f"{stack[name]}/healthz").json()["service"] == name


def test_department_head_update_reaches_notify(stack):
    ledger, notify = stack["ledger"], stack["notify"]
    token = httpx.post(
        f"{ledger}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{ledger}/users",
        headers=admin,
        json={
            "username": "power",
            "display_name": "供电企业负责人",
            "role": "dept_head",
            "email": "power@example.cn",
            "password": "power-password-1",
            "units": ["各供电企业"],
        },
    )
    assert created.status_code == 201, created.text
    head_token = httpx.post(
        f"{ledger}/auth/token", json={"username": "power", "password": "power-password-1"}
    ).json()["access_token"]
    head = {"Authorization": f"Bearer {head_token}"}

    # A county ledger with two items due 7 working days after the next working day.
    calendar = WorkingCalendar.build(today=today(SYSTEM_CLOCK))
    reminder_day = calendar.next_workday(today(SYSTEM_CLOCK) + timedelta(days=1))
    due = calendar.add_working_days(reminder_day, 7).due.isoformat()
    sheet = (
        f"序号,分类,工作目标任务,责任单位,完成时间\n"
        f"1,工作目标,推广电子证照,各供电企业,{due}\n"
        f"2,工作目标,公开配电网接入能力,各供电企业,{due}\n"
    )
    imported = httpx.post(
        f"{ledger}/ledgers/import",
        headers=admin,
        data={"code": "county-e2e", "name": "某县台账"},
        files={"file": ("county.csv", sheet.encode(), "text/csv")},
    )
    assert imported.status_code == 201, imported.text
    items = httpx.get(f"{ledger}/items", headers=head, params={"ledger": "county-e2e"}).json()
    done = next(i for i in items["items"] if i["seq"] == 2)
    posted = httpx.post(
        f"{ledger}/items/{done['id']}/updates",
        headers=head,
        data={"status": "done", "progress": "100", "narrative": "已公开"},
    )
    assert posted.status_code == 201, posted.text

    # notify reads ledger's deadline feed over HTTP with its own service token.
    run = httpx.post(
        f"{notify}/reminders/ledger-deadlines/run",
        headers=admin,
        params={"as_of": reminder_day.isoformat(), "days_before": 7},
        timeout=30,
    )
    assert run.status_code == 200, run.text
    assert run.json()["working_day"] is True
    messages = httpx.get(
        f"{notify}/messages", headers=admin, params={"state": "queued", "limit": 500}
    ).json()["items"]
    county = [m for m in messages if "county-e2e" in m["subject"]]
    assert [(m["recipient"], m["subject"]) for m in county] == [
        ("power@example.cn", f"【临期提醒】county-e2e 第1项将于{due}到期")
    ]
    again = httpx.post(
        f"{notify}/reminders/ledger-deadlines/run",
        headers=admin,
        params={"as_of": reminder_day.isoformat(), "days_before": 7},
        timeout=30,
    )
    assert again.json()["queued"] == 0


def test_service_tokens_are_not_user_tokens(stack):
    response = httpx.get(
        f"{stack['ledger']}/feed/deadlines", headers={"Authorization": "Bearer forged"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
