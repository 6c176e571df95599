"""A ledger item explains its deadline (事项期限说明): the days between its due date and the day
asked about, each weekend and holiday named, the working days counted by the shared calendar."""

from datetime import date

from shared.calendar import WorkingCalendar
from shared.web.session import COOKIE
from tests.conftest import client_for, sign_in
from tests.ledger.ledgers.test_spreadsheet_api import import_xlsx, xlsx

ROWS = [
    ("序号", "分类", "工作目标任务", "责任单位", "完成时间"),
    (1, "工作目标", "全县低压小微企业用电报装“三零”服务。", "县供电公司", "2025年9月30日前"),
    (2, "工作目标", "压减高压用户办电时间。", "县供电公司", "2026年2月28日前"),
    (3, "保障措施", "建立工作进展情况报送制度。", "县发展改革局", "持续推进"),
]
CALENDAR = WorkingCalendar.build(first_year=2025, last_year=2027)


async def items_by_seq(client) -> dict[int, int]:
    page = (await client.get("/items", params={"ledger": "county-2026"})).json()
    return {i["seq"]: i["id"] for i in page["items"]}


async def imported(admin) -> dict[int, int]:
    response = await import_xlsx(admin, xlsx(ROWS), code="county-2026")
    assert response.status_code == 201, response.text
    return await items_by_seq(admin)


class TestItemWhy:
    async def test_overdue_across_national_day_2025(self, admin, viewer, seeded):
        ids = await imported(admin)
        why = (await viewer.get(f"/items/{ids[1]}/why", params={"as_of": "2025-10-13"})).json()
        item = (await viewer.get(f"/items/{ids[1]}", params={"as_of": "2025-10-13"})).json()
        assert why["figure"] == "overdue"
        assert why["due_date"] == item["due_date"] == "2025-09-30"
        assert why["calendar_days"] == item["days_overdue"] == 13
        expected = CALENDAR.working_days_between(date(2025, 9, 30), date(2025, 10, 13)).days
        assert why["working_days"] == expected == 4  # 10-09, 10-10, the make-up 10-11, 10-13
        assert sum(d["counted"] for d in why["span"]["days"]) == why["working_days"]
        assert why["span"]["skipped_holiday_days"] == 8
        assert "2025-10-01（周三）至2025-10-05（周日）：国庆节放假，跳过5天" in why["lines"]
        assert why["calendar"][0]["source"].startswith("chinesecalendar")
        assert why["plan"]["name"] == "某县任务台账"
        assert any(line.startswith("依据：某县任务台账") for line in why["lines"])

    async def test_due_soon_over_the_spring_festival_2026(self, admin, viewer, seeded):
        ids = await imported(admin)
        why = (await viewer.get(f"/items/{ids[2]}/why", params={"as_of": "2026-02-14"})).json()
        assert why["figure"] == "due_soon"
        assert why["calendar_days"] == 14
        expected = CALENDAR.working_days_between(date(2026, 2, 14), date(2026, 2, 28)).days
        assert why["working_days"] == expected == 5  # 02-24..02-27 and the make-up 02-28
        makeup = next(d for d in why["span"]["days"] if d["day"] == "2026-02-28")
        assert (makeup["kind"], makeup["holiday_name"]) == ("makeup_workday", "春节")
        assert any("临期" in line for line in why["lines"])

    async def test_undated_items_are_never_overdue(self, admin, viewer, seeded):
        ids = await imported(admin)
        ongoing = (await viewer.get(f"/items/{ids[3]}/why", params={"as_of": "2026-03-02"})).json()
        assert (ongoing["figure"], ongoing["span"]) == ("no_date", None)
        assert "持续推进" in ongoing["lines"][1]

    async def test_years_overdue_are_summed_up_not_listed_day_by_day(self, viewer, seeded):
        page = (await viewer.get("/items", params={"ledger": "dongying-2021", "limit": 500})).json()
        item = next(i for i in page["items"] if i["seq"] == 32)  # due 2021-03-31
        why = (await viewer.get(f"/items/{item['id']}/why", params={"as_of": "2026-03-02"})).json()
        assert why["calendar_days"] == (date(2026, 3, 2) - date(2021, 3, 31)).days
        assert "东发改能源〔2021〕122号" in why["plan"]["document_no"]
        assert why["working_days"] == sum(d["counted"] for d in why["span"]["days"])
        assert len(why["lines"]) < 200
        assert any(line.startswith("2021-03-31（不含）至2026-03-02") for line in why["lines"])

    async def test_missing_item_is_404(self, viewer, seeded):
        missing = await viewer.get("/items/999999/why")
        assert missing.status_code == 404
        assert missing.json()["code"] == "item_not_found"


class TestItemPage:
    async def test_the_item_page_lists_the_explanation(self, apps, admin, viewer, seeded):
        ids = await imported(admin)
        async with client_for(apps.ledger) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, "viewer"), path="/ui")
            page = await browser.get(f"/ui/items/{ids[2]}")
        assert page.status_code == 200, page.text
        explained = page.text.split('<ol id="why">')[1].split("</ol>")[0]
        assert "<li>完成时间：“2026年2月28日前”。</li>" in explained
        assert "已逾期" in explained  # the app's clock is past 2026-02-28
        assert "工作日历：" in explained
