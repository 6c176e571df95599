import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from services.notify.delivery.windows import DeliveryHours
from services.notify.outages import service as outages
from services.notify.outages.models import Announcement, OutageCreate, OutageKind
from services.notify.reliability.service import targets
from services.notify.settings import NotifySettings
from services.notify.subscribers.models import SubscriberSource
from services.notify.subscribers.service import upsert
from shared.calendar import BEIJING, WorkingCalendar
from shared.db import session_scope

HOURS = DeliveryHours.from_settings(NotifySettings(), WorkingCalendar.build())


def bj(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BEIJING)


class TestTargets:
    def test_pinned_to_the_plans(self):
        plans = {p.code: p for p in targets().plans}
        assert [c.value for c in targets().area_classes] == ["中心区", "市区", "城镇", "农村"]
        assert plans["dongying-2021"].saidi_hours == {
            "中心区": 1.8,
            "市区": 4,
            "城镇": 7,
            "农村": 10,
        }
        assert plans["jingyu-2022"].saidi_hours == {"中心区": 2, "市区": 5, "城镇": 9, "农村": 15}
        for plan in plans.values():
            assert plan.by_end_of == 2022
            assert plan.year_on_year_reduction_percent == 8
        assert "1.8 个、4 个、7 个、10 个小时以内" in plans["dongying-2021"].source
        assert "2个、5个、9个、15个小时以内" in plans["jingyu-2022"].source


async def record(engine, kind: OutageKind, feeders: list[str], began: datetime, ended: datetime):
    """An outage as it happened, through the same functions the API calls, at its own times."""
    body = OutageCreate(
        kind=kind,
        cause="测试",
        feeders=feeders,
        planned_start=began,
        etr=ended + timedelta(hours=1),
    )
    async with session_scope(engine) as session:
        outage = await outages.create(
            session, body, by="t", now=began - timedelta(days=10), hours=HOURS
        )
        if kind is not OutageKind.fault:
            await outages.announce(
                session,
                outage.id,
                Announcement(),
                by="t",
                now=began - timedelta(days=10),
                settings=NotifySettings(),
                hours=HOURS,
            )
            await outages.start(session, outage.id, at=began, by="t", now=began, hours=HOURS)
        await outages.restore(session, outage.id, at=ended, by="t", now=ended, hours=HOURS)


@pytest.fixture
async def history(apps):
    engine = apps.notify.state.engine
    rows = [
        {
            "account_number": f"{feeder}{i}",
            "name": "客户",
            "mobile": "13800000000",
            "feeder": feeder,
            "transformer_area": f"T{feeder}",
            "area_class": area_class,
        }
        for feeder, area_class, n in (("A", "中心区", 5), ("B", "中心区", 5), ("R", "农村", 4))
        for i in range(n)
    ]
    async with session_scope(engine) as session:
        await upsert(session, rows, SubscriberSource.import_)
    await record(engine, OutageKind.planned, ["A"], bj(2022, 3, 10, 8), bj(2022, 3, 10, 12))
    await record(engine, OutageKind.fault, ["R"], bj(2022, 7, 1, 10), bj(2022, 7, 1, 13, 30))
    # Across New Year: one hour in each year; the interruption belongs to 2021.
    await record(engine, OutageKind.fault, ["A", "B"], bj(2021, 12, 31, 23), bj(2022, 1, 1, 1))


class TestStatistics:
    async def test_per_area_class_planned_and_unplanned_apart(self, notify_admin, history):
        report = (await notify_admin.get("/reliability", params={"year": 2022})).json()
        assert report["outages_counted"] == 3
        rows = {r["area_class"]: r for r in report["area_classes"]}
        central = rows["中心区"]
        assert central["customers_served"] == 10
        assert central["planned"] == {
            "interruptions": 5,
            "customer_hours": 20.0,
            "saidi_hours": 2.0,
            "saifi": 0.5,
        }
        assert central["unplanned"]["customer_hours"] == 10.0
        assert central["unplanned"]["interruptions"] == 0
        assert central["total"]["saidi_hours"] == 3.0
        assert central["target_hours"] == 1.8
        assert central["previous_year_saidi_hours"] == 1.0
        assert central["reduction_percent"] == -200.0
        assert central["meets"] is False
        rural = rows["农村"]
        assert rural["unplanned"] == {
            "interruptions": 4,
            "customer_hours": 14.0,
            "saidi_hours": 3.5,
            "saifi": 1.0,
        }
        assert rural["meets_target_hours"] is True
        assert rows["市区"]["customers_served"] == 0

    async def test_the_year_on_year_alternative(self, apps, notify_admin, history):
        report = (await notify_admin.get("/reliability", params={"year": 2023})).json()
        central = next(r for r in report["area_classes"] if r["area_class"] == "中心区")
        assert central["total"]["saidi_hours"] == 0.0
        assert central["previous_year_saidi_hours"] == 3.0
        assert central["reduction_percent"] == 100.0
        assert central["meets_reduction"] is True

    async def test_jingyu_targets_and_unknown_plans(self, notify_admin, history):
        jingyu = await notify_admin.get(
            "/reliability", params={"year": 2022, "plan": "jingyu-2022"}
        )
        central = next(r for r in jingyu.json()["area_classes"] if r["area_class"] == "中心区")
        assert central["target_hours"] == 2
        unknown = await notify_admin.get("/reliability", params={"year": 2022, "plan": "x"})
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "plan_not_found"

    async def test_xlsx(self, notify_admin, history):
        response = await notify_admin.get("/reliability", params={"year": 2022, "format": "xlsx"})
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[2][0] == "区域类别"
        central = next(r for r in rows[3:] if r[0] == "中心区")
        assert (central[1], central[4], central[8], central[10], central[13]) == (
            10,
            2.0,
            3.0,
            1.8,
            "未达标",
        )
