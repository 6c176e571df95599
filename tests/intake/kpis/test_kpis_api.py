"""Getting Electricity figures for October 2025, across the National Day holiday."""

import io

from openpyxl import load_workbook

from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import create, valid_resident_id

SITE = {"address": "东营区", "area_class": "urban", **CONNECTION_POINT}
OCTOBER = {"period_start": "2025-10-01", "period_end": "2025-10-31"}


async def run(clerk, clock, accepted, steps, **changes):
    """Create at ``accepted`` and complete each stage at the given Beijing times."""
    clock.set(accepted)
    number = (await create(clerk, site=SITE, **changes))["application"]["number"]
    for when, action in steps:
        clock.set(when)
        if action == "pause":
            response = await clerk.post(
                f"/applications/{number}/pause",
                json={"reason": "missing_material", "note": "等待客户补充资料"},
            )
        elif action == "resume":
            response = await clerk.post(f"/applications/{number}/resume", json={})
        else:
            response = await complete(clerk, number, action)
        assert response.status_code == 200, response.text
    return number


async def october(clerk, clock):
    first = await run(
        clerk,
        clock,
        "2025-09-30 10:00",
        [
            ("2025-10-09 10:00", "acceptance"),
            ("2025-10-15 10:00", "supply_plan"),
            ("2025-10-16 10:00", "completion_inspection"),
            ("2025-10-17 10:00", "connection"),
        ],
    )
    late = await run(
        clerk,
        clock,
        "2025-09-30 11:00",
        [
            ("2025-10-09 11:00", "acceptance"),
            ("2025-10-16 11:00", "supply_plan"),
            ("2025-10-17 11:00", "completion_inspection"),
            ("2025-10-20 11:00", "connection"),
        ],
    )
    paused = await run(
        clerk,
        clock,
        "2025-10-09 09:00",
        [
            ("2025-10-09 09:30", "pause"),
            ("2025-10-10 09:00", "resume"),
            ("2025-10-10 10:00", "acceptance"),
            ("2025-10-13 10:00", "supply_plan"),
            ("2025-10-14 10:00", "completion_inspection"),
            ("2025-10-15 10:00", "connection"),
        ],
    )
    person = {
        "name": "张三",
        "id_kind": "resident_id",
        "id_number": valid_resident_id(),
        "mobile": "13700000000",
    }
    await run(
        clerk,
        clock,
        "2025-10-13 10:00",
        [
            ("2025-10-14 10:00", "signing"),
            ("2025-10-16 10:00", "construction_connection"),
        ],
        customer_type="residential",
        applicant=person,
        capacity_kw="8",
    )
    # Not in the figures: still open, and connected in November.
    await run(clerk, clock, "2025-10-20 10:00", [("2025-10-21 10:00", "acceptance")])
    await run(
        clerk,
        clock,
        "2025-10-30 10:00",
        [
            ("2025-10-31 10:00", "acceptance"),
            ("2025-11-03 10:00", "supply_plan"),
            ("2025-11-04 10:00", "completion_inspection"),
            ("2025-11-05 10:00", "connection"),
        ],
    )
    return first, late, paused


class TestFigures:
    async def test_per_type_per_stage_and_the_worst_cases(self, clerk, clock):
        first, late, paused = await october(clerk, clock)
        response = await clerk.get("/kpis", params=OCTOBER)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["applications"] == 4
        residential, hv10 = body["types"]
        assert (residential["label"], residential["applications"]) == ("居民用户", 1)
        assert residential["total"]["max"] == 3
        assert residential["stage_count"] == 2

        assert hv10["label"] == "10千伏单电源用户"
        assert hv10["stage_count"] == 4
        # Grid-side totals: 8 (on the limit), 9 (a day late), 4 (5 elapsed less 1 paused).
        assert hv10["total"] == {
            "count": 3,
            "mean": 7.0,
            "median": 8.0,
            "p90": 9,
            "max": 9,
            "within_limit": 2,
            "within_limit_share": 0.6667,
        }
        assert hv10["elapsed_mean"] == 7.33
        assert (hv10["paused_applications"], hv10["pauses"], hv10["paused_days_mean"]) == (
            1,
            1,
            0.33,
        )
        plan = next(s for s in hv10["stages"] if s["stage"] == "supply_plan")
        assert plan["limit_days"] == 5
        assert plan["grid"] == {
            "count": 3,
            "mean": 4.33,
            "median": 5.0,
            "p90": 6,
            "max": 6,
            "within_limit": 2,
            "within_limit_share": 0.6667,
        }
        assert [s["label"] for s in hv10["stages"]] == [
            "业务受理",
            "供电方案答复",
            "竣工检验",
            "装表接电",
        ]
        assert [(w["number"], w["grid_days"]) for w in hv10["worst"]] == [
            (late, 9),
            (first, 8),
            (paused, 4),
        ]
        assert hv10["worst"][2]["paused_days"] == 1

    async def test_an_even_count_has_the_mean_of_the_middle_two_as_median(self, clerk, clock):
        await october(clerk, clock)
        body = (await clerk.get("/kpis", params={**OCTOBER, "period_end": "2025-10-17"})).json()
        hv10 = next(t for t in body["types"] if t["customer_type"] == "hv10_single")
        assert hv10["total"]["count"] == 2  # 8 and 4
        assert hv10["total"]["median"] == 6.0

    async def test_scoped_to_the_callers_units(self, clerk, other_clerk, supervisor, clock):
        await october(clerk, clock)
        assert (await other_clerk.get("/kpis", params=OCTOBER)).json()["applications"] == 0
        assert (await supervisor.get("/kpis", params=OCTOBER)).json()["applications"] == 4
        refused = await other_clerk.get("/kpis", params={**OCTOBER, "unit": "国网东营供电公司"})
        assert refused.status_code == 403
        by_jurisdiction = await clerk.get("/kpis", params={**OCTOBER, "jurisdiction": "jingyu"})
        assert by_jurisdiction.json()["types"] == []

    async def test_as_a_workbook(self, clerk, clock):
        await october(clerk, clock)
        response = await clerk.get("/kpis", params={**OCTOBER, "format": "xlsx"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        workbook = load_workbook(io.BytesIO(response.content))
        assert workbook.sheetnames == ["汇总", "分环节", "最长用时", "说明"]
        summary = [list(r) for r in workbook["汇总"].iter_rows(values_only=True)]
        assert summary[0][0].startswith("获得电力指标汇总")
        assert summary[2][:3] == ["居民用户", 1, 2]
        assert summary[3][:4] == ["10千伏单电源用户", 3, 4, 7]
        assert summary[3][8] == "66.7%"
        assert len(list(workbook["最长用时"].iter_rows())) == 1 + 1 + 1 + 3

    async def test_a_backwards_period(self, clerk):
        response = await clerk.get(
            "/kpis", params={"period_start": "2025-10-31", "period_end": "2025-10-01"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_period"


class TestProvisionalDueDates:
    """2027's holiday arrangement is not in the shipped calendar (its holidays are predicted): a
    due date counted into 2027 is marked 预测 in the figures and the workbook."""

    async def test_a_due_date_in_2027_is_provisional_one_in_2026_is_not(self, clerk, clock):
        late = await run(
            clerk,
            clock,
            "2026-12-28 10:00",
            [
                ("2026-12-29 10:00", "acceptance"),
                ("2026-12-30 10:00", "supply_plan"),
                ("2026-12-31 10:00", "completion_inspection"),
                ("2027-01-04 10:00", "connection"),
            ],
        )
        early = await run(
            clerk,
            clock,
            "2026-12-01 10:00",
            [
                ("2026-12-02 10:00", "acceptance"),
                ("2026-12-03 10:00", "supply_plan"),
                ("2026-12-04 10:00", "completion_inspection"),
                ("2026-12-07 10:00", "connection"),
            ],
        )
        period = {"period_start": "2026-12-01", "period_end": "2027-01-31"}
        body = (await clerk.get("/kpis", params=period)).json()
        [hv10] = [t for t in body["types"] if t["customer_type"] == "hv10_single"]
        worst = {w["number"]: w for w in hv10["worst"]}
        assert worst[late]["due_date"].startswith("2027-")
        assert worst[late]["due_provisional"] is True
        assert worst[early]["due_date"].startswith("2026-12-")
        assert worst[early]["due_provisional"] is False

        response = await clerk.get("/kpis", params={**period, "format": "xlsx"})
        rows = list(
            load_workbook(io.BytesIO(response.content))["最长用时"].iter_rows(values_only=True)
        )
        header = rows[1]
        due, mark = header.index("全流程期限"), header.index("期限预测")
        cells = {row[1]: row for row in rows[2:]}
        assert (cells[late][due], cells[late][mark]) == (worst[late]["due_date"], "预测")
        assert cells[early][due] == worst[early]["due_date"]
        assert cells[early][mark] in ("", None)
