"""Intake's figures page (获得电力指标页): SVG charts drawn by the server."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from shared.auth import Role
from shared.web.charts import BAR_AREA, BarRow, bar_chart
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, staff_token
from tests.intake.kpis.test_kpis_api import OCTOBER, october
from tests.intake.test_web_monitoring import get

SVG = "{http://www.w3.org/2000/svg}"


def svgs(html: str) -> list[ElementTree.Element]:
    return [ElementTree.fromstring(s) for s in re.findall(r"<svg.*?</svg>", html, re.S)]


class TestBarChart:
    def test_scaled_to_the_largest_figure_and_over_the_limit_marked(self):
        chart = bar_chart(
            "t", [BarRow("甲", 2, behind=4, limit=3), BarRow("乙", 6, limit=3), BarRow("丙", None)]
        )
        first, second, third = chart.rows
        assert second.width == BAR_AREA  # the largest figure fills the area
        assert first.width == BAR_AREA / 3
        assert first.behind_width == BAR_AREA * 4 / 6
        assert (first.over, second.over, third.over) == (False, True, False)
        assert first.limit_x == second.limit_x == chart.label_width + BAR_AREA / 2
        assert (first.text, third.text, third.width) == ("2 / 3", "—", 0)

    def test_nothing_to_draw(self):
        assert bar_chart("t", [BarRow("甲", None)]).rows[0].width == 0


class TestKpiPage:
    async def test_the_apis_figures_per_type_with_a_chart(self, intake, apps, clerk, clock):
        await october(clerk, clock)
        api = (await clerk.get("/kpis", params=OCTOBER)).json()
        token = await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        page = await get(intake, token, "/ui/kpis", **OCTOBER)
        assert page.status_code == 200, page.text
        assert "接电 4 件" in page.text
        charts = svgs(page.text)
        assert len(charts) == len(api["types"]) == 2
        for figures, chart in zip(api["types"], charts, strict=True):
            rows = chart.findall(f"{SVG}g")
            assert [g.get("data-label") for g in rows] == [s["label"] for s in figures["stages"]]
            for stage, g in zip(figures["stages"], rows, strict=True):
                limit = g.findall(f"{SVG}line")
                assert bool(limit) == (stage["limit_days"] is not None)
                over = stage["grid"]["mean"] > (stage["limit_days"] or 10**6)
                assert ("over" in g.get("class", "")) == over
                section = page.text.split(f'data-type="{figures["customer_type"]}"')[1]
                row = section.split(f'data-stage="{stage["stage"]}">')[1].split("</tr>")[0]
                assert f'<td class="num">{stage["grid"]["count"]}</td>' in row
        assert "<script" not in page.text

    async def test_scoped_and_refused_in_chinese(self, intake, apps, clerk, clock):
        await october(clerk, clock)
        li = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        theirs = await get(intake, li, "/ui/kpis", **OCTOBER)
        assert "接电 0 件" in theirs.text
        assert "该时段没有已接电的申请。" in theirs.text
        refused = await get(intake, li, "/ui/kpis", unit=DONGYING_UNIT, **OCTOBER)
        assert refused.status_code == 403
        assert 'id="error"' in refused.text
        backwards = await get(
            intake, li, "/ui/kpis", period_start="2025-10-31", period_end="2025-10-01"
        )
        assert backwards.status_code == 422
        assert "时段的结束早于开始" in backwards.text
        garbled = await get(intake, li, "/ui/kpis", period_start="2025-13-40")
        assert garbled.status_code == 422
        assert "时段不可用" in garbled.text

    async def test_the_default_period_is_this_year_so_far(self, intake, apps, clock):
        clock.set("2025-10-10 10:00")
        viewer = await staff_token(apps, "viewer", Role.viewer)
        page = await get(intake, viewer, "/ui/kpis")
        assert page.status_code == 200
        assert "2025-01-01 至 2025-10-10" in page.text
        assert (await get(intake, None, "/ui/kpis")).status_code == 303
        disp = await staff_token(apps, "disp", Role.dispatcher, ("营销部",))
        assert (await get(intake, disp, "/ui/kpis")).status_code == 403
