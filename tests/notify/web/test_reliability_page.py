"""The reliability page (供电可靠性网页): outage hours per customer by area class, drawn as an SVG
chart on the server against the plan's targets, and the same figures in a table."""

from __future__ import annotations

import re
from datetime import datetime

from shared.auth import Role
from shared.calendar import BEIJING
from shared.web.charts import BarRow, bar_chart
from shared.web.session import COOKIE
from tests.conftest import add_user, client_for, sign_in
from tests.notify.outages.test_outages import customers  # noqa: F401 (a fixture)


def cells(html: str, area: str) -> list[str]:
    row = html.split(f'<tr data-area="{area}">')[1].split("</tr>")[0]
    return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


async def test_the_chart_and_table_against_the_targets(apps, customers):  # noqa: F811
    await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
    token = await sign_in(apps, "diaodu")
    began = datetime(2026, 11, 26, 0, 0, tzinfo=BEIJING)
    async with client_for(apps.notify, token) as api:
        history = await api.post(
            "/outages",
            json={
                "kind": "fault",
                "cause": "线路故障",
                "feeders": ["F1"],
                "planned_start": began.isoformat(),
                "etr": began.replace(hour=9).isoformat(),
                "restored_at": began.replace(hour=9).isoformat(),
            },
        )
        assert history.status_code == 201, history.text
        api_report = (await api.get("/reliability", params={"year": 2026})).json()
    figures = {c["area_class"]: c for c in api_report["area_classes"]}

    page = client_for(apps.notify)
    page.cookies.set(COOKIE, token)
    async with page:
        shown = await page.get("/ui/reliability")  # this year, the Dongying plan
        assert shown.status_code == 200, shown.text
        other = await page.get("/ui/reliability", params={"year": 2026, "plan": "jingyu-2022"})
        unknown = await page.get("/ui/reliability", params={"plan": "nowhere"})
    html = shown.text
    assert "<svg" in html
    assert "2026年户均停电时间与目标" in html
    town = cells(html, "town")
    assert town[0] == "城镇"
    assert float(town[2]) == round(figures["town"]["total"]["saidi_hours"], 2)
    assert float(town[2]) > 7  # the fault cut the town's customers nine hours
    assert town[6] == "7.0"
    assert town[-1] == "未达标"
    assert cells(html, "central")[-1] == "达标"
    # The town's bar is drawn red, past its target's line.
    bar = html.split('data-label="城镇"')[1].split("</g>")[0]
    width = float(re.search(r'<rect class="bar" x="150" y="[\d.]+" width="([\d.]+)"', bar).group(1))
    target = float(re.search(r'<line class="limit" x1="([\d.]+)"', bar).group(1))
    assert 150 + width > target
    assert "#b00020" in bar
    assert cells(other.text, "town")[6] == "9.0"
    assert unknown.status_code == 404
    assert "nowhere" in unknown.text


def test_the_chart_scales_to_the_largest_value_or_target():
    rows = [BarRow("甲", 2.0, limit=4.0), BarRow("乙", 8.0, limit=4.0), BarRow("丙", 0.0)]
    first, second, third = bar_chart("图", rows, unit="小时").rows
    assert second.width == 300  # the longest bar fills the bar area
    assert first.width == 75
    assert first.limit_x == second.limit_x == 150 + 150
    assert (first.over, second.over, third.over) == (False, True, False)
    assert third.limit_x is None
    assert second.text == "8小时 / 4"
    assert bar_chart("空", [BarRow("甲", 0.0)], unit="小时").rows[0].width == 0


async def test_who_may_see_it(apps):
    await add_user(apps, "viewer", Role.viewer, [])
    page = client_for(apps.notify)
    page.cookies.set(COOKIE, await sign_in(apps, "viewer"))
    async with page:
        assert (await page.get("/ui/reliability")).status_code == 403
    async with client_for(apps.notify) as anonymous:
        assert (await anonymous.get("/ui/reliability")).status_code == 303
