"""Notify's dispatcher pages (调度人员网页): record an outage, see it with its delivery progress
and the repeated-outage warning (一停多用), and move it on through its forms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shared.auth import Role
from shared.timeutil import BEIJING
from shared.web.session import COOKIE, csrf_token
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in
from tests.notify.outages.test_outages import customers, planned  # noqa: F401 (a fixture)


@pytest.fixture
async def staff(apps):
    users = {
        "marketing": (Role.dispatcher, ["营销部"]),
        "branch": (Role.dispatcher, ["供电分公司"]),
        "admin": (Role.admin, []),
        "viewer": (Role.viewer, []),
    }
    tokens = {}
    for name, (role, units) in users.items():
        await add_user(apps, name, role, units)
        tokens[name] = await sign_in(apps, name)
    return tokens


def browser(apps, token: str | None):
    client = client_for(apps.notify)
    if token:
        client.cookies.set(COOKIE, token)
    return client


def form(apps, token: str, **fields: str) -> dict[str, str]:
    return {"csrf": csrf_token(apps.notify.state.settings, token), **fields}


def local(days: float, hours: float = 0) -> str:
    """A ``datetime-local`` value in Beijing time, ``days`` after the frozen clock."""
    moment = (FROZEN_AT + timedelta(days=days, hours=hours)).astimezone(BEIJING)
    return moment.strftime("%Y-%m-%dT%H:%M")


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{element_id}"
    return found.group(1).strip()


async def test_a_dispatcher_records_announces_starts_and_restores(apps, staff, customers):  # noqa: F811
    token = staff["marketing"]
    async with browser(apps, token) as page:
        blank = await page.get("/ui/outages/new")
        assert blank.status_code == 200
        assert 'name="planned_start"' in blank.text
        made = await page.post(
            "/ui/outages",
            data=form(
                apps,
                token,
                kind="planned",
                cause="10kV线路检修",
                feeders="F1",
                transformer_areas="T9",
                planned_start=local(10),
                etr=local(10, 8),
            ),
        )
        assert made.status_code == 303, made.text
        url = made.headers["location"]
        outage_id = int(url.rsplit("/", 1)[1])

        shown = await page.get(url)
        assert shown.status_code == 200
        assert text_of(shown.text, "state") == "待发布"
        assert text_of(shown.text, "customers") == "5 户"  # F1's four and T9's one
        assert "受影响客户没有其他停电" in shown.text
        assert 'id="announce"' in shown.text
        assert 'id="restore"' not in shown.text

        announced = await page.post(f"{url}/announce", data=form(apps, token))
        assert announced.status_code == 303, announced.text
        shown = await page.get(announced.headers["location"])
        assert "已发布停电通知。" in shown.text
        assert text_of(shown.text, "state") == "已发布"
        queued = re.findall(r'<td class="num" data-state="queued">(\d+)</td>', shown.text)
        assert sum(int(n) for n in queued) >= 5  # one per reachable customer, by channel
        assert '<tr data-channel="sms">' in shown.text
        logged = re.findall(r'<tr data-message="\d+">', shown.text)
        assert len(logged) == sum(int(n) for n in queued)  # each notice, with its recipient
        assert "13800000001" in shown.text  # the dispatcher calls the customers: whole

        etr = await page.post(f"{url}/etr", data=form(apps, token, etr=local(10, 9), note="延长"))
        assert etr.status_code == 303, etr.text
        started = await page.post(f"{url}/start", data=form(apps, token, at=""))
        assert started.status_code == 303
        restored = await page.post(f"{url}/restore", data=form(apps, token, at=""))
        assert restored.status_code == 303
        shown = await page.get(restored.headers["location"])
        assert text_of(shown.text, "state") == "已复电"
        assert "调整预计复电时间" in shown.text
        assert "延长" in shown.text
        assert 'id="cancel"' not in shown.text  # a restored outage offers no action

    async with client_for(apps.notify, token) as api:
        outage = (await api.get(f"/outages/{outage_id}")).json()
    assert outage["state"] == "restored"
    assert outage["etr"].startswith(local(10, 9))


async def test_refusals_are_shown_and_nothing_is_written(apps, staff, customers):  # noqa: F811
    token = staff["marketing"]
    async with client_for(apps.notify, token) as api:
        outage = (await api.post("/outages", json=planned(1))).json()
    url = f"/ui/outages/{outage['id']}"
    async with browser(apps, token) as page:
        late = await page.post(f"{url}/announce", data=form(apps, token))
        assert late.status_code == 409
        assert text_of(late.text, "error").startswith("计划停电须提前")
        past = await page.post(f"{url}/etr", data=form(apps, token, etr=local(0)))
        assert past.status_code == 409  # a draft's ETR is not changed
        bad_time = await page.post(f"{url}/cancel", data=form(apps, token, reason=" "))
        assert bad_time.status_code == 422
        assert text_of(bad_time.text, "error") == "输入无效：reason"
        forged = await page.post(f"{url}/cancel", data={"csrf": "x", "reason": "改期"})
        assert forged.status_code == 403
        garbled = await page.post(
            "/ui/outages",
            data=form(
                apps, token, kind="planned", cause="检修", planned_start="明天", etr=local(2)
            ),
        )
        assert garbled.status_code == 422
        assert 'value="检修"' in garbled.text  # the form keeps what was typed
    async with client_for(apps.notify, token) as api:
        after = (await api.get(f"/outages/{outage['id']}")).json()
        listed = (await api.get("/outages")).json()
    assert after["state"] == "draft"
    assert after["updates"] == []
    assert listed["total"] == 1
    async with browser(apps, token) as page:
        late = await page.post(f"{url}/announce", data=form(apps, token, late_reason="抢修需要"))
        assert late.status_code == 303, late.text
    async with client_for(apps.notify, token) as api:
        after = (await api.get(f"/outages/{outage['id']}")).json()
    assert after["state"] == "announced"
    assert after["late_notice"] is True


async def test_late_announcement_with_a_reason_and_repeat_warning(apps, staff, customers):  # noqa: F811
    token = staff["marketing"]
    async with client_for(apps.notify, token) as api:
        first = (await api.post("/outages", json=planned(10))).json()
        assert (await api.post(f"/outages/{first['id']}/announce", json={})).status_code == 200
        second = (await api.post("/outages", json=planned(12, cause="变压器更换"))).json()
    url = f"/ui/outages/{second['id']}"
    async with browser(apps, token) as page:
        shown = await page.get(url)
        assert f'<a href="/ui/outages/{first["id"]}">' in shown.text
        assert "天内另有停电" in shown.text
        refused = await page.post(f"{url}/announce", data=form(apps, token))
        assert refused.status_code == 409
        assert "一停多用" in refused.text
        done = await page.post(f"{url}/announce", data=form(apps, token, acknowledge_overlap="1"))
        assert done.status_code == 303, done.text
        shown = await page.get(url)
        assert "发布时已确认" in shown.text


async def test_the_delivery_progress_alone_for_the_page_to_fetch(apps, staff, customers):  # noqa: F811
    token = staff["marketing"]
    async with browser(apps, token) as page:
        made = await page.post(
            "/ui/outages",
            data=form(
                apps,
                token,
                kind="planned",
                cause="10kV线路检修",
                feeders="F1",
                planned_start=local(10),
                etr=local(10, 8),
            ),
        )
        url = made.headers["location"]
        shown = await page.get(url)
        assert f'data-live="{url}/progress"' in shown.text
        assert '<script src="/ui/static/live.js" defer></script>' in shown.text
        assert 'id="refresh"' in shown.text  # without JavaScript
        before = await page.get(f"{url}/progress")
        assert before.status_code == 200, before.text
        assert "<html" not in before.text
        assert "共 0 条通知。" in before.text
        assert (await page.post(f"{url}/announce", data=form(apps, token))).status_code == 303
        after = await page.get(f"{url}/progress")
        queued = re.findall(r'<td class="num" data-state="queued">(\d+)</td>', after.text)
        assert sum(int(n) for n in queued) >= 4
        assert f"共 {sum(int(n) for n in queued)} 条通知。" in after.text
    for who, status in (("branch", 403), ("viewer", 403), (None, 401)):
        async with browser(apps, staff[who] if who else None) as other:
            refused = await other.get(f"{url}/progress")
        assert (refused.status_code, refused.text) == (status, ""), who


async def test_who_may_use_the_pages(apps, staff):
    async with client_for(apps.notify, staff["marketing"]) as api:
        outage = (await api.post("/outages", json=planned(10))).json()
    url = f"/ui/outages/{outage['id']}"
    async with browser(apps, None) as anonymous:
        assert (await anonymous.get(url)).status_code == 303
    async with browser(apps, staff["viewer"]) as viewer:
        assert (await viewer.get(url)).status_code == 403
        assert (await viewer.get("/ui/outages/new")).status_code == 403
    async with browser(apps, staff["branch"]) as other_unit:
        refused = await other_unit.get(url)
        assert refused.status_code == 403
        assert "无法打开此停电" in refused.text
        cancel = await other_unit.post(
            f"{url}/cancel", data=form(apps, staff["branch"], reason="改期")
        )
        assert cancel.status_code == 403
    async with browser(apps, staff["admin"]) as admin:
        assert (await admin.get(url)).status_code == 200
        assert (await admin.get("/ui/outages/999999")).status_code == 404
