import io
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from openpyxl import load_workbook

from services.notify.delivery.windows import DeliveryHours
from services.notify.outages import service as outages
from services.notify.outages.models import Announcement, OutageCreate, OutageKind
from services.notify.reliability.service import targets
from services.notify.settings import NotifySettings
from services.notify.subscribers.models import SubscriberSource
from services.notify.subscribers.service import upsert
from shared.auth import Role
from shared.calendar import BEIJING, WorkingCalendar
from shared.db import session_scope
from tests.conftest import FROZEN_AT, add_user, client_for, service_client, sign_in

HOURS = DeliveryHours.from_settings(NotifySettings(), WorkingCalendar.build(last_year=2028))


def bj(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BEIJING)


class TestTargets:
    def test_pinned_to_the_plans(self):
        plans = {p.code: p for p in targets().plans}
        assert [c.value for c in targets().area_classes] == ["central", "urban", "town", "rural"]
        assert plans["dongying-2021"].saidi_hours == {
            "central": 1.8,
            "urban": 4,
            "town": 7,
            "rural": 10,
        }
        assert plans["jingyu-2022"].saidi_hours == {
            "central": 2,
            "urban": 5,
            "town": 9,
            "rural": 15,
        }
        for plan in plans.values():
            assert plan.by_end_of == 2022
            assert plan.year_on_year_reduction_percent == 8
        assert "1.8 个、4 个、7 个、10 个小时以内" in plans["dongying-2021"].source
        assert "2个、5个、9个、15个小时以内" in plans["jingyu-2022"].source


async def record(
    engine,
    kind: OutageKind,
    feeders: list[str],
    began: datetime,
    ended: datetime,
    unit: str = "营销部",
):
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
            session, body, unit=unit, by="t", now=began - timedelta(days=10), hours=HOURS
        )
        if kind is not OutageKind.fault:
            await outages.announce(
                session,
                outage,
                Announcement(),
                by="t",
                now=began - timedelta(days=10),
                settings=NotifySettings(),
                hours=HOURS,
            )
            await outages.start(session, outage, at=began, by="t", now=began, hours=HOURS)
        await outages.restore(session, outage, at=ended, by="t", now=ended, hours=HOURS)


async def served_since_2020(engine, *feeders: tuple[str, str, int]) -> None:
    """``n`` customers of an area class on each feeder (its transformer area T<feeder>)."""
    rows = [
        {
            "account_number": f"{feeder}{i}",
            "name": "客户",
            "mobile": "13800000000",
            "feeder": feeder,
            "transformer_area": f"T{feeder}",
            "area_class": area_class,
            "served_since": date(2020, 1, 1),
        }
        for feeder, area_class, n in feeders
        for i in range(n)
    ]
    async with session_scope(engine) as session:
        await upsert(session, rows, SubscriberSource.import_, now=FROZEN_AT)


@pytest.fixture
async def history(apps):
    engine = apps.notify.state.engine
    await served_since_2020(engine, ("A", "central", 5), ("B", "central", 5), ("R", "rural", 4))
    await record(engine, OutageKind.planned, ["A"], bj(2022, 3, 10, 8), bj(2022, 3, 10, 12))
    await record(engine, OutageKind.fault, ["R"], bj(2022, 7, 1, 10), bj(2022, 7, 1, 13, 30))
    # Across New Year: one hour in each year; the interruption belongs to 2021.
    await record(engine, OutageKind.fault, ["A", "B"], bj(2021, 12, 31, 23), bj(2022, 1, 1, 1))


class TestStatistics:
    async def test_per_area_class_planned_and_unplanned_apart(self, notify_admin, history):
        report = (await notify_admin.get("/reliability", params={"year": 2022})).json()
        assert report["outages_counted"] == 3
        rows = {r["area_class"]: r for r in report["area_classes"]}
        central = rows["central"]
        assert central["area_class_label"] == "中心区"
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
        rural = rows["rural"]
        assert rural["unplanned"] == {
            "interruptions": 4,
            "customer_hours": 14.0,
            "saidi_hours": 3.5,
            "saifi": 1.0,
        }
        assert rural["meets_target_hours"] is True
        assert rows["urban"]["customers_served"] == 0

    async def test_the_year_on_year_alternative(self, apps, notify_admin, history):
        report = (await notify_admin.get("/reliability", params={"year": 2023})).json()
        central = next(r for r in report["area_classes"] if r["area_class"] == "central")
        assert central["total"]["saidi_hours"] == 0.0
        assert central["previous_year_saidi_hours"] == 3.0
        assert central["reduction_percent"] == 100.0
        assert central["meets_reduction"] is True

    async def test_jingyu_targets_and_unknown_plans(self, notify_admin, history):
        jingyu = await notify_admin.get(
            "/reliability", params={"year": 2022, "plan": "jingyu-2022"}
        )
        central = next(r for r in jingyu.json()["area_classes"] if r["area_class"] == "central")
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
        assert (central[1], central[2], central[5], central[9], central[11], central[14]) == (
            10,
            "按用户档案",
            2.0,
            3.0,
            1.8,
            "未达标",
        )


def customers(feeder: str, area_class: str, n: int, since: date, start: int = 0) -> list[dict]:
    return [
        {
            "account_number": f"{feeder}-{since.year}-{i}",
            "name": "客户",
            "mobile": "13800000000",
            "feeder": feeder,
            "transformer_area": f"T{feeder}",
            "area_class": area_class,
            "served_since": since,
        }
        for i in range(start, start + n)
    ]


async def connect(engine, rows: list[dict]) -> None:
    async with session_scope(engine) as session:
        await upsert(session, rows, SubscriberSource.import_, now=FROZEN_AT)


async def central(client, year: int, plan: str = "dongying-2021") -> dict:
    response = await client.get("/reliability", params={"year": year, "plan": plan})
    assert response.status_code == 200, response.text
    return next(r for r in response.json()["area_classes"] if r["area_class"] == "central")


async def end_service(client, feeder: str, count: int, ended_on: date) -> None:
    listed = (await client.get("/subscribers", params={"feeder": feeder})).json()
    for subscriber in listed["items"][:count]:
        removed = await client.delete(
            f"/subscribers/{subscriber['id']}", params={"ended_on": ended_on.isoformat()}
        )
        assert removed.status_code == 204, removed.text


DONGYING = "国网东营供电公司"
GUANGRAO = "国网广饶县供电公司"  # a county company under Dongying's


@pytest.fixture
async def companies(apps):
    """Feeder A is Dongying's, G Guangrao's (5 central customers each), R Jingyu's (4 rural)."""
    engine = apps.notify.state.engine
    await served_since_2020(engine, ("A", "central", 5), ("G", "central", 5), ("R", "rural", 4))
    four_hours = (bj(2022, 3, 10, 8), bj(2022, 3, 10, 12))
    await record(engine, OutageKind.planned, ["A"], *four_hours, unit=DONGYING)
    three_hours = (bj(2022, 7, 1, 10), bj(2022, 7, 1, 13))
    await record(engine, OutageKind.fault, ["G"], *three_hours, unit=GUANGRAO)
    await record(engine, OutageKind.fault, ["R"], *three_hours)


class TestPerCompany:
    async def test_a_county_company_its_own_outages_over_its_own_customers(
        self, notify_admin, companies
    ):
        response = await notify_admin.get("/reliability", params={"year": 2022, "unit": GUANGRAO})
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["unit"], report["outages_counted"]) == (GUANGRAO, 1)
        rows = {r["area_class"]: r for r in report["area_classes"]}
        assert rows["central"]["customers_served"] == 5  # feeder G
        assert rows["central"]["customers_served_source"] == "subscribers"
        assert rows["central"]["total"]["saidi_hours"] == 3.0  # 3 h x 5 / 5
        assert rows["rural"]["customers_served"] == 0

    async def test_a_company_with_the_units_under_it(self, notify_admin, companies):
        report = (
            await notify_admin.get("/reliability", params={"year": 2022, "unit": DONGYING})
        ).json()
        assert report["outages_counted"] == 2
        central = next(r for r in report["area_classes"] if r["area_class"] == "central")
        assert central["customers_served"] == 10
        assert central["total"]["saidi_hours"] == 3.5  # (4 h x 5 + 3 h x 5) / 10
        city = (await notify_admin.get("/reliability", params={"year": 2022})).json()
        assert (city["unit"], city["outages_counted"]) == (None, 3)

    async def test_official_counts_are_the_citys(self, notify_admin, companies):
        put = await notify_admin.put(
            "/reliability/customer-counts/2022/central", json={"customers": 1000}
        )
        assert put.status_code == 200, put.text
        report = (
            await notify_admin.get("/reliability", params={"year": 2022, "unit": GUANGRAO})
        ).json()
        central = next(r for r in report["area_classes"] if r["area_class"] == "central")
        assert (central["customers_served"], central["customers_served_source"]) == (
            5,
            "subscribers",
        )

    async def test_an_unknown_unit_is_refused(self, notify_admin, companies):
        for unit in ("某某供电公司", ""):
            response = await notify_admin.get("/reliability", params={"year": 2022, "unit": unit})
            assert response.status_code == 422
        unknown = await notify_admin.get(
            "/reliability", params={"year": 2022, "unit": "某某供电公司"}
        )
        assert unknown.json()["code"] == "unknown_unit"


class TestCustomersServedIsHistorical:
    """服务户数 of a year is the subscribers served on its 31 December, whenever asked."""

    async def test_a_past_year_does_not_move_when_customers_come_and_go(self, apps, notify_admin):
        engine = apps.notify.state.engine
        await connect(engine, customers("A", "central", 8, date(2020, 5, 1)))
        # Connected on New Year's Day 2023: not served on 31 December 2022.
        await connect(engine, customers("A", "central", 2, date(2023, 1, 1), start=100))
        await record(engine, OutageKind.fault, ["A"], bj(2022, 6, 1, 9), bj(2022, 6, 1, 11))
        before = await central(notify_admin, 2022)
        assert before["customers_served"] == 8
        assert before["customers_served_source"] == "subscribers"
        assert before["total"]["customer_hours"] == 16.0  # 8 customers cut for 2 hours
        assert before["total"]["saidi_hours"] == 2.0
        assert before["total"]["saifi"] == 1.0

        # In 2023 three customers leave (one on New Year's Day) and four more connect.
        await end_service(notify_admin, "A", 1, date(2023, 1, 1))
        await end_service(notify_admin, "A", 2, date(2023, 8, 15))
        await connect(engine, customers("A", "central", 4, date(2023, 9, 1), start=200))
        assert await central(notify_admin, 2022) == before
        assert (await central(notify_admin, 2023))["customers_served"] == 8 + 2 - 3 + 4
        # A customer whose service ended on 1 January was still served on 31 December.
        assert (await central(notify_admin, 2021))["customers_served"] == 8

    async def test_a_reimport_without_dates_keeps_the_connection_date(self, apps, notify_admin):
        engine = apps.notify.state.engine
        rows = customers("A", "central", 3, date(2021, 2, 1))
        await connect(engine, rows)
        undated = [{k: v for k, v in r.items() if k != "served_since"} for r in rows]
        await connect(engine, undated)
        assert (await central(notify_admin, 2021))["customers_served"] == 3
        listed = (await notify_admin.get("/subscribers", params={"feeder": "A"})).json()
        assert {s["served_since"] for s in listed["items"]} == {"2021-02-01"}
        # A corrected, earlier date moves it back.
        assert (await central(notify_admin, 2019))["customers_served"] == 0
        await connect(engine, [{**r, "served_since": date(2019, 12, 1)} for r in rows])
        assert (await central(notify_admin, 2019))["customers_served"] == 3

    async def test_customers_cut_are_those_served_when_the_outage_began(self, apps, notify_admin):
        engine = apps.notify.state.engine
        await connect(engine, customers("A", "central", 5, date(2020, 1, 1)))
        await connect(engine, customers("A", "central", 3, date(2022, 7, 1)))  # after the fault
        await end_service(notify_admin, "A", 1, date(2022, 2, 1))  # before the fault
        await record(engine, OutageKind.fault, ["A"], bj(2022, 3, 1, 8), bj(2022, 3, 1, 9))
        row = await central(notify_admin, 2022)
        assert row["unplanned"]["interruptions"] == 4
        assert row["customers_served"] == 4 + 3
        outage = (await notify_admin.get("/outages")).json()["items"][0]
        assert outage["customers_affected"] == 4

    async def test_the_previous_year_is_divided_by_its_own_customers(self, apps, notify_admin):
        engine = apps.notify.state.engine
        await connect(engine, customers("A", "central", 4, date(2020, 1, 1)))
        await record(engine, OutageKind.fault, ["A"], bj(2022, 5, 1, 8), bj(2022, 5, 1, 11))
        await connect(engine, customers("A", "central", 8, date(2023, 1, 1)))
        await record(engine, OutageKind.fault, ["A"], bj(2023, 5, 1, 8), bj(2023, 5, 1, 9))
        row = await central(notify_admin, 2023)
        assert row["total"]["saidi_hours"] == 1.0  # 12 customers × 1 h ÷ 12
        assert row["previous_year_saidi_hours"] == 3.0  # 4 × 3 h ÷ 4, not ÷ 12
        assert row["reduction_percent"] == 66.67


class TestEndingService:
    async def test_delete_ends_the_service_and_the_account_may_return(self, apps, notify_admin):
        await connect(apps.notify.state.engine, customers("A", "central", 1, date(2021, 1, 1)))
        sid = (await notify_admin.get("/subscribers")).json()["items"][0]["id"]
        future = await notify_admin.delete(f"/subscribers/{sid}", params={"ended_on": "2099-01-01"})
        assert (future.status_code, future.json()["code"]) == (422, "ended_in_future")
        early = await notify_admin.delete(f"/subscribers/{sid}", params={"ended_on": "2020-12-31"})
        assert (early.status_code, early.json()["code"]) == (422, "ended_before_served")
        assert (await notify_admin.delete(f"/subscribers/{sid}")).status_code == 204
        assert (await notify_admin.get(f"/subscribers/{sid}")).status_code == 404
        assert (await notify_admin.delete(f"/subscribers/{sid}")).status_code == 404
        assert (await notify_admin.get("/subscribers")).json()["total"] == 0
        again = await notify_admin.post(
            "/subscribers",
            json={
                "account_number": "A-2021-0",
                "name": "客户",
                "mobile": "13800000000",
                "feeder": "A",
                "transformer_area": "TA",
                "area_class": "central",
                "served_since": "2026-01-05",
            },
        )
        assert again.status_code == 201, again.text
        assert (again.json()["served_since"], again.json()["served_until"]) == ("2026-01-05", None)
        assert (await central(notify_admin, 2025))["customers_served"] == 1  # the former one

    async def test_the_connection_date_can_be_corrected(self, apps, notify_admin):
        await connect(apps.notify.state.engine, customers("A", "central", 2, date(2024, 3, 1)))
        sid = (await notify_admin.get("/subscribers")).json()["items"][0]["id"]
        assert (await central(notify_admin, 2023))["customers_served"] == 0
        moved = await notify_admin.patch(f"/subscribers/{sid}", json={"served_since": "2023-05-01"})
        assert moved.json()["served_since"] == "2023-05-01"
        assert (await central(notify_admin, 2023))["customers_served"] == 1
        emptied = await notify_admin.patch(f"/subscribers/{sid}", json={"served_since": None})
        assert (emptied.status_code, emptied.json()["code"]) == (422, "validation_failed")
        assert (await notify_admin.get(f"/subscribers/{sid}")).json()[
            "served_since"
        ] == "2023-05-01"

    async def test_a_former_subscriber_gets_no_outage_messages(self, apps, notify_admin):
        await connect(apps.notify.state.engine, customers("A", "central", 3, date(2021, 1, 1)))
        await end_service(notify_admin, "A", 1, date(2024, 1, 1))
        start = datetime.now(UTC) - timedelta(minutes=5)
        fault = await notify_admin.post(
            "/outages",
            json={
                "kind": "fault",
                "unit": "营销部",
                "cause": "线路故障",
                "feeders": ["A"],
                "planned_start": start.isoformat(),
                "etr": (start + timedelta(hours=2)).isoformat(),
            },
        )
        assert fault.status_code == 201, fault.text
        assert fault.json()["customers_affected"] == 2
        assert fault.json()["updates"][0]["messages_queued"] == 2

    async def test_an_intake_customer_is_served_from_the_beijing_day_it_was_connected(
        self, apps, settings, notify_admin
    ):
        data = {
            "application_number": "DY2025123101",
            "name": "东营某超市",
            "mobile": "13812345678",
            "feeder": "A",
            "transformer_area": "TA",
            "area_class": "central",
        }
        sent = {
            "id": str(uuid4()),
            "type": "intake.application.connected",
            "source": "intake",
            # 31 December 2025, 17:30 UTC = 1 January 2026, 01:30 in Beijing.
            "occurred_at": datetime(2025, 12, 31, 17, 30, tzinfo=UTC).isoformat(),
            "subject": data["application_number"],
            "data": data,
        }
        async with service_client(apps, settings, "notify", "intake") as intake:
            assert (await intake.post("/events", json=sent)).status_code == 200
        listed = (await notify_admin.get("/subscribers")).json()["items"]
        assert listed[0]["served_since"] == "2026-01-01"
        assert (await central(notify_admin, 2025))["customers_served"] == 0
        assert (await central(notify_admin, 2026))["customers_served"] == 1


class TestOfficialCustomerCounts:
    async def test_an_official_figure_takes_precedence_and_says_so(self, apps, notify_admin):
        engine = apps.notify.state.engine
        await connect(engine, customers("A", "central", 4, date(2020, 1, 1)))
        await record(engine, OutageKind.fault, ["A"], bj(2022, 5, 1, 8), bj(2022, 5, 1, 11))
        put = await notify_admin.put(
            "/reliability/customer-counts/2022/central",
            json={"customers": 6, "note": "2022年可靠性统计年报"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["recorded_by"]
        row = await central(notify_admin, 2022)
        assert (row["customers_served"], row["customers_served_source"]) == (6, "official")
        assert row["customers_served_derived"] == 4
        assert row["total"]["saidi_hours"] == 2.0  # 4 customers × 3 h ÷ 6
        assert (await central(notify_admin, 2023))["customers_served_source"] == "subscribers"

        corrected = await notify_admin.put(
            "/reliability/customer-counts/2022/central", json={"customers": 12}
        )
        assert corrected.json()["customers"] == 12
        listed = await notify_admin.get("/reliability/customer-counts", params={"year": 2022})
        assert [(c["area_class"], c["customers"]) for c in listed.json()] == [("central", 12)]
        assert (await central(notify_admin, 2022))["total"]["saidi_hours"] == 1.0

        report = await notify_admin.get("/reliability", params={"year": 2022, "format": "xlsx"})
        rows = list(load_workbook(io.BytesIO(report.content)).active.iter_rows(values_only=True))
        assert rows[2][2] == "服务户数来源"
        assert next(r for r in rows[3:] if r[0] == "中心区")[1:3] == (12, "官方用户数")

        gone = await notify_admin.delete("/reliability/customer-counts/2022/central")
        assert gone.status_code == 204
        assert (await central(notify_admin, 2022))["customers_served_source"] == "subscribers"
        again = await notify_admin.delete("/reliability/customer-counts/2022/central")
        assert (again.status_code, again.json()["code"]) == (404, "official_count_not_found")

    async def test_bad_figures_and_who_may_record_them(self, apps, notify_admin):
        for path, body in (
            ("/reliability/customer-counts/2022/郊区", {"customers": 5}),
            ("/reliability/customer-counts/1900/central", {"customers": 5}),
            ("/reliability/customer-counts/2022/central", {"customers": 0}),
            ("/reliability/customer-counts/2022/central", {"customers": "many"}),
        ):
            refused = await notify_admin.put(path, json=body)
            assert refused.status_code == 422, (path, body)
        await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
        async with client_for(apps.notify, await sign_in(apps, "diaodu")) as dispatcher:
            denied = await dispatcher.put(
                "/reliability/customer-counts/2022/central", json={"customers": 5}
            )
            assert denied.status_code == 403
            assert (await dispatcher.get("/reliability/customer-counts")).status_code == 200
        assert (await notify_admin.get("/reliability/customer-counts")).json() == []
