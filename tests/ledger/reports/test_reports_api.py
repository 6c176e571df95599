import io
from datetime import datetime

from openpyxl import load_workbook

from shared.calendar import BEIJING
from tests.ledger.ledgers.test_items_api import item_id


class TestHalfYearReport:
    async def test_as_of_period_end(self, viewer, seeded):
        response = await viewer.get(
            "/ledgers/dongying-2021/reports/half_year", params={"year": 2021}
        )
        assert response.status_code == 200
        report = response.json()
        assert report["period_end"] == "2021-06-30"
        assert report["submission_due"] == "2021-06-25"
        assert report["as_of"] == "2021-06-30"
        assert len(report["items"]) == 68
        assert sorted(i["seq"] for i in report["overdue"]) == [32, 61, 62, 63]
        # The 22 items already achieved (已实现，持续巩固提升) start as 持续巩固, the rest 未开始.
        assert report["status_totals"]["consolidating"] == 22
        assert report["status_totals"]["not_started"] == 46
        achieved = [i["seq"] for i in report["items"] if i["status"] == "consolidating"]
        assert achieved == [
            2,
            3,
            4,
            6,
            8,
            12,
            13,
            15,
            16,
            22,
            23,
            24,
            26,
            28,
            29,
            37,
            41,
            42,
            53,
            55,
            57,
            58,
        ]
        units = {u["unit"]: u for u in report["units"]}
        assert units["各供电企业"]["overdue"] == 3
        assert units["各电力主管部门"]["overdue"] == 3  # items 32 (各市… folded), 61, 63
        assert report["units"][0]["unit"] == "各供电企业"

    async def test_period_not_started(self, viewer, seeded):
        response = await viewer.get(
            "/ledgers/dongying-2021/reports/annual", params={"year": 2031, "as_of": "2030-06-01"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "period_not_started"

    async def test_unknown_kind_is_422(self, viewer, seeded):
        response = await viewer.get("/ledgers/dongying-2021/reports/monthly", params={"year": 2021})
        assert response.status_code == 422


class TestAnnualReport:
    async def test_due_on_4_january_and_overdue_list(self, viewer, seeded):
        report = (
            await viewer.get("/ledgers/dongying-2021/reports/annual", params={"year": 2021})
        ).json()
        assert report["submission_due"] == "2022-01-04"
        assert len(report["overdue"]) == 16
        assert report["title"].endswith("2021年年度工作情况报告")

    async def test_running_year_shows_latest_updates(self, power_head, seeded, frozen):
        # The update is posted on 2026-11-25 (Beijing); the report is asked for as of 11-27.
        frozen.move_to(datetime(2026, 11, 25, 9, 0, tzinfo=BEIJING))
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(
            f"/items/{target}/updates",
            data={"status": "done", "progress": "100", "narrative": "全面推广"},
        )
        report = (
            await power_head.get(
                "/ledgers/dongying-2021/reports/annual",
                params={"year": 2026, "as_of": "2026-11-27"},
            )
        ).json()
        assert report["as_of"] == "2026-11-27"
        item_7 = next(i for i in report["items"] if i["seq"] == 7)
        assert item_7["status"] == "done"
        assert item_7["latest_narrative"] == "全面推广"
        assert report["status_totals"]["done"] == 1
        assert 7 not in {i["seq"] for i in report["overdue"]}

    async def test_xlsx(self, viewer, seeded):
        response = await viewer.get(
            "/ledgers/dongying-2021/reports/annual", params={"year": 2021, "format": "xlsx"}
        )
        assert response.status_code == 200
        workbook = load_workbook(io.BytesIO(response.content))
        assert workbook.sheetnames == ["汇总", "任务进展", "单位汇总", "逾期事项", "更新超期督办"]
        assert workbook["任务进展"].max_row == 2 + 68  # title, header, the items
        assert workbook["逾期事项"].max_row == 2 + 16
        summary = {r[0].value: r[1].value for r in workbook["汇总"].iter_rows(min_row=3)}
        assert summary["报送期限"] == "2022-01-04"
        assert summary["逾期事项"] == 16
        assert summary["更新超期督办"] == 0
        assert workbook["更新超期督办"].max_row == 2  # title, header: no escalation recorded


class TestDashboardAndRanking:
    async def test_unit_dashboard(self, viewer, power_head, seeded):
        units = {u["name"]: u["id"] for u in (await viewer.get("/units")).json()}
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(
            f"/items/{target}/updates",
            data={"status": "blocked", "progress": "10", "narrative": "等待系统改造"},
        )
        board = (
            await viewer.get(
                f"/units/{units['市发展改革委']}/dashboard", params={"as_of": "2021-07-01"}
            )
        ).json()
        assert board["total"] == 4
        assert board["overdue_count"] == 0
        board = (
            await viewer.get(
                f"/units/{units['各供电企业']}/dashboard", params={"ledger": "dongying-2021"}
            )
        ).json()
        by_status = {s["status"]: s["count"] for s in board["by_status"]}
        assert board["total"] == sum(by_status.values())
        assert by_status["blocked"] == 1
        assert board["overdue_count"] == len(board["overdue"])
        assert 7 in {i["seq"] for i in board["overdue"]}

    async def test_unknown_unit_is_404(self, viewer, seeded):
        assert (await viewer.get("/units/99999/dashboard")).status_code == 404

    async def test_ranking_orders_by_overdue_then_stale(self, viewer, seeded):
        ranking = (
            await viewer.get(
                "/ranking",
                params={"ledger": "dongying-2021", "as_of": "2021-07-01", "stale_days": 30},
            )
        ).json()
        assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
        overdue = [r["overdue"] for r in ranking]
        assert overdue == sorted(overdue, reverse=True)
        by_unit = {r["unit"]: r for r in ranking}
        assert by_unit["市发展改革委"]["overdue"] == 0
        # 29 and 57 are already achieved (持续巩固, finished): only 65 and 68 (持续推进) are stale.
        assert by_unit["市发展改革委"]["stale"] == 2
        assert ranking[-1]["unit"] == "市发展改革委"

    async def test_fresh_update_is_not_stale(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 14)
        before = {
            r["unit"]: r
            for r in (
                await power_head.get(
                    "/ranking", params={"ledger": "dongying-2021", "stale_days": 30}
                )
            ).json()
        }
        await power_head.post(
            f"/items/{target}/updates",
            data={"status": "in_progress", "progress": "40", "narrative": "推进中"},
        )
        after = {
            r["unit"]: r
            for r in (
                await power_head.get(
                    "/ranking", params={"ledger": "dongying-2021", "stale_days": 30}
                )
            ).json()
        }
        assert after["各供电企业"]["stale"] == before["各供电企业"]["stale"] - 1
