"""The regulator's comparison (监管对比) over March 2026: two companies side by side, figures
checked by hand, the 通报 ranking, notify's outage hours and the page without them."""

import io

import httpx
import pytest
from openpyxl import load_workbook

from services.intake.regulator.service import companies
from shared.auth import Role
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import staff_token
from tests.intake.fees.test_fees_api import HIGH_RELIABILITY, add
from tests.intake.kpis.test_kpis_api import run
from tests.intake.test_web_monitoring import get
from tests.notify.reliability.test_reliability import companies as outages_per_company  # noqa: F401
from tests.ports import free_port

DONGYING = "国网东营供电公司"
GUANGRAO = "国网广饶县供电公司"
MARCH = {"year": 2026, "period": "h1"}


def stages(*days):
    """Stage completions on the given March 2026 days at 10:00 (Beijing)."""
    names = ("acceptance", "supply_plan", "completion_inspection", "connection")
    return [(f"2026-03-{d:02d} 10:00", n) for d, n in zip(days, names, strict=False)]


async def march(clerk, clock):
    """Accepted on Monday 2 March 2026; working days count from the next day (no holiday).

    国网东营供电公司: 1+3+1+1 = 6, 1+5+1+1 = 8 and 2+5+1+2 = 10 days; supply plan 3, 5, 5.
    国网广饶县供电公司: 1+2+1+1 = 5 days. The limit of the whole process is 8 (Annex 1)."""
    on_time = await run(clerk, clock, "2026-03-02 10:00", stages(3, 6, 9))
    clock.set("2026-03-09 11:00")
    assert (await add(clerk, on_time, HIGH_RELIABILITY)).status_code == 201
    clock.set("2026-03-10 10:00")
    assert (await complete(clerk, on_time, "connection")).status_code == 200
    await run(clerk, clock, "2026-03-02 10:00", stages(3, 10, 11, 12))
    await run(clerk, clock, "2026-03-02 10:00", stages(4, 11, 12, 16))
    await run(clerk, clock, "2026-03-02 10:00", stages(3, 5, 6, 9), unit=GUANGRAO)
    # Still open: not counted anywhere.
    await run(clerk, clock, "2026-03-02 10:00", stages(3))
    clock.set("2026-03-17 10:00")


@pytest.fixture
async def viewer(intake, apps):
    token = await staff_token(apps, "viewer-zhao", Role.viewer)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=intake),
        base_url="http://intake.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


@pytest.fixture
def notify_closed(intake, apps, settings):
    """Intake's service client pointed at a port nobody listens on."""
    reachable = intake.state.client
    closed = settings.model_copy(update={"notify_url": f"http://127.0.0.1:{free_port()}"})
    intake.state.client = apps.client_for(closed, "intake")
    yield
    intake.state.client = reachable


def by_unit(body):
    return {c["unit"]: c for c in body["companies"]}


class TestCompanies:
    def test_the_city_power_units_in_hierarchy_order(self):
        names = [u.name for u in companies()]
        assert names[:2] == [DONGYING, "国网东营市河口区供电公司"]
        assert GUANGRAO in names
        assert "国网胜利供电公司" in names
        assert "供电分公司" not in names  # Jingyu's branch is not one of the city's


class TestComparison:
    async def test_figures_per_company_checked_by_hand(self, clerk, viewer, clock):
        await march(clerk, clock)
        response = await viewer.get("/regulator/comparison", params=MARCH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["period_start"], body["period_end"]) == ("2026-01-01", "2026-06-30")
        dongying, guangrao = by_unit(body)[DONGYING], by_unit(body)[GUANGRAO]
        assert dongying["applications"] == 3
        assert dongying["procedures_mean"] == 4.0
        assert dongying["total"]["mean"] == 8.0
        assert dongying["total"]["p90"] == 10  # nearest rank ⌈0.9·3⌉ = 3
        assert (dongying["total"]["within_limit"], dongying["total"]["within_limit_share"]) == (
            2,
            0.6667,
        )
        plan = next(s for s in dongying["stages"] if s["stage"] == "supply_plan")
        assert (plan["grid"]["mean"], plan["grid"]["p90"], plan["limit_days"]) == (4.33, 5, 5)
        assert (dongying["fees_total"], dongying["fees_per_application"]) == (
            "24000.00",
            "8000.00",
        )
        assert guangrao["applications"] == 1
        assert (guangrao["total"]["mean"], guangrao["total"]["within_limit_share"]) == (5.0, 1.0)
        assert (guangrao["fees_total"], guangrao["fees_per_application"]) == ("0.00", "0.00")
        assert guangrao["parent"] == DONGYING

    async def test_whole_process_against_the_plans_limit(self, clerk, viewer, clock):
        """全流程: the mean of the stages' working days added up, against the whole-process
        limit of Annex 1 (8 working days) the applications were accepted under."""
        await march(clerk, clock)
        body = (await viewer.get("/regulator/comparison", params=MARCH)).json()
        dongying, guangrao = by_unit(body)[DONGYING], by_unit(body)[GUANGRAO]
        assert (dongying["total"]["mean"], dongying["total_limit_days"]) == (8.0, 8)
        assert dongying["total_meets_limit"] is True
        assert (guangrao["total"]["mean"], guangrao["total_limit_days"]) == (5.0, 8)
        assert guangrao["total_meets_limit"] is True
        idle = next(c for c in body["companies"] if not c["applications"])
        assert (idle["total_limit_days"], idle["total_meets_limit"]) == (None, None)

    async def test_ranked_by_the_stated_rule(self, clerk, viewer, clock):
        await march(clerk, clock)
        body = (await viewer.get("/regulator/comparison", params=MARCH)).json()
        assert "时限内办结占比从高到低" in body["ranking_rule"]
        ranked = [(c["unit"], c["rank"]) for c in body["companies"] if c["rank"] is not None]
        assert ranked == [(GUANGRAO, 1), (DONGYING, 2)]
        unranked = [c for c in body["companies"] if c["rank"] is None]
        assert unranked
        assert all(c["applications"] == 0 for c in unranked)
        assert all(c["total"]["mean"] is None for c in unranked)

    async def test_the_second_half_is_empty(self, clerk, viewer, clock):
        await march(clerk, clock)
        body = (await viewer.get("/regulator/comparison", params={**MARCH, "period": "h2"})).json()
        assert all(c["applications"] == 0 and c["rank"] is None for c in body["companies"])

    async def test_outage_hours_from_notify_against_the_targets(self, viewer, clock):
        clock.set("2026-03-17 10:00")
        body = (await viewer.get("/regulator/comparison", params=MARCH)).json()
        reliability = body["reliability"]
        assert reliability["available"] is True
        assert "东发改能源〔2021〕122号" in reliability["plan_name"]
        targets = {r["area_class"]: r["target_hours"] for r in reliability["rows"]}
        assert targets == {"central": 1.8, "urban": 4, "town": 7, "rural": 10}

    @pytest.mark.usefixtures("outages_per_company")
    async def test_outage_hours_per_company_against_the_targets(self, viewer, clock):
        """Notify's figures of 2022 (tests.notify.reliability.test_reliability.companies):
        Guangrao's own outage over its own feeder, Dongying's with Guangrao's under it."""
        clock.set("2026-03-17 10:00")
        body = (await viewer.get("/regulator/comparison", params={"year": 2022})).json()
        hours = {
            c["unit"]: {r["area_class"]: r for r in c["outage_hours"]} for c in body["companies"]
        }
        assert hours[GUANGRAO]["central"]["saidi_hours"] == 3.0
        assert hours[DONGYING]["central"]["saidi_hours"] == 3.5
        assert hours[DONGYING]["central"]["target_hours"] == 1.8
        assert hours[DONGYING]["central"]["meets"] is False
        assert hours[DONGYING]["rural"] == {
            "area_class": "rural",
            "area_class_label": "农村",
            "saidi_hours": 0.0,
            "target_hours": 10,
            "meets": True,
        }
        assert all(len(h) == 4 for h in hours.values())
        city = {r["area_class"]: r["saidi_hours"] for r in body["reliability"]["rows"]}
        assert city["central"] == 3.5  # the city: every outage over every subscriber
        assert city["rural"] == 3.0  # 营销部's outage on R counts for the city only

    async def test_notify_unreachable_leaves_the_figures(self, clerk, viewer, clock, notify_closed):
        await march(clerk, clock)
        body = (await viewer.get("/regulator/comparison", params=MARCH)).json()
        assert body["reliability"] == {
            "available": False,
            "reason": "消息通知服务暂不可用",
            "plan_name": None,
            "rows": [],
        }
        assert by_unit(body)[DONGYING]["applications"] == 3
        assert all(c["outage_hours"] == [] for c in body["companies"])

    async def test_for_regulators_not_for_clerks(self, clerk, supervisor, clock):
        clock.set("2026-03-17 10:00")
        refused = await clerk.get("/regulator/comparison", params=MARCH)
        assert refused.status_code == 403
        assert refused.json()["code"] == "regulator_required"
        assert (await supervisor.get("/regulator/comparison", params=MARCH)).status_code == 200
        wrong = await supervisor.get("/regulator/comparison", params={"year": 2026, "period": "q5"})
        assert wrong.status_code == 422


class TestWorkbook:
    async def test_ranked_sheet_with_title_widths_and_frozen_header(self, clerk, viewer, clock):
        await march(clerk, clock)
        response = await viewer.get("/regulator/comparison", params={**MARCH, "format": "xlsx"})
        assert response.status_code == 200, response.text
        book = load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["通报排名", "分环节", "户均停电时间", "说明"]
        sheet = book["通报排名"]
        assert "2026年上半年各供电单位获得电力指标通报" in sheet["A1"].value
        assert sheet.freeze_panes is not None
        assert sheet.column_dimensions["B"].width == 28
        rows = [r for r in sheet.iter_rows(values_only=True) if r[1] in (DONGYING, GUANGRAO)]
        assert rows == [
            (1, GUANGRAO, 1, 4, 5, 5, "100.0%", 0, 0, 8, "是"),
            (2, DONGYING, 3, 4, 8, 10, "66.7%", 24000, 8000, 8, "是"),
        ]


class TestPage:
    async def test_ranking_chart_and_targets(self, intake, apps, clerk, clock):
        await march(clerk, clock)
        token = await staff_token(apps, "viewer-zhao", Role.viewer)
        page = await get(intake, token, "/ui/regulator", year="2026", period="h1")
        assert page.status_code == 200, page.text
        assert "排名规则：按时限内办结占比从高到低" in page.text
        row = page.text.split(f'<tr data-unit="{DONGYING}">')[1].split("</tr>")[0]
        assert '<td class="num">2</td>' in row
        assert '<td class="num">66.7%</td>' in row
        assert '<td class="num limit">8</td><td class="meets">是</td>' in row
        assert 'class="chart"' in page.text
        assert f'data-label="{GUANGRAO}"' in page.text
        assert 'data-area="urban"' in page.text
        download = await get(
            intake, token, "/ui/regulator", year="2026", period="h1", format="xlsx"
        )
        assert download.status_code == 200
        assert load_workbook(io.BytesIO(download.content)).sheetnames[0] == "通报排名"

    async def test_notify_unreachable_shows_unavailable(self, intake, apps, clock, notify_closed):
        clock.set("2026-03-17 10:00")
        token = await staff_token(apps, "viewer-zhao", Role.viewer)
        page = await get(intake, token, "/ui/regulator")
        assert page.status_code == 200, page.text
        assert page.text.count("暂不可用") == 3

    async def test_refused_and_bad_input(self, intake, apps, clock):
        clock.set("2026-03-17 10:00")
        token = await staff_token(apps, "viewer-zhao", Role.viewer)
        for year in ("20x6", "²⁰²⁶", "２０２６"):  # '²'.isdigit() is True, int('²') fails
            bad = await get(intake, token, "/ui/regulator", year=year)
            assert bad.status_code == 422, (year, bad.text)
            assert "年度或统计期间不可用" in bad.text
        clerk = await staff_token(apps, "clerk-li", Role.clerk, (DONGYING,))
        assert (await get(intake, clerk, "/ui/regulator")).status_code == 403
        assert (await get(intake, None, "/ui/regulator")).status_code == 303
