"""Each plan's stage lists, worked through: Jingyu's item 8 (大中型企业 four merged stages,
小微企业 three, totals only) beside Dongying's Annex 1 (six for 10 kV dual supply), late 2025."""

import pytest

from services.intake.policies import service
from services.intake.policies.models import CustomerType, Stage, StageLimit
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete, complete_only
from tests.intake.conftest import JINGYU_UNIT, create
from tests.intake.documents.test_documents_api import receive
from tests.intake.documents.test_stage_gate import waive

MERGED = ["业务受理", "供电方案答复", "外部工程实施", "竣工验收及装表接电"]
SITE = {"address": "靖宇县工业园区", "area_class": "town"}


@pytest.fixture
def jingyu(other_clerk):
    """A clerk of Jingyu's branch 供电分公司."""
    return other_clerk


async def jingyu_application(client, **changes):
    body = {"jurisdiction": "jingyu", "unit": JINGYU_UNIT, "site": SITE, **changes}
    return (await create(client, **body))["application"]


async def up_to_the_merged_stage(client, clock):
    """A Jingyu 10 kV single-supply application accepted on Monday 2025-11-03, its first three
    stages done by 11-24."""
    clock.set("2025-11-03 10:00")
    application = await jingyu_application(client)
    number = application["number"]
    for when, name in (
        ("2025-11-04 10:00", "acceptance"),
        ("2025-11-10 10:00", "supply_plan"),
        ("2025-11-24 10:00", "external_works"),
    ):
        clock.set(when)
        done = await complete(client, number, name)
        assert done.status_code == 200, done.text
    return application, done.json()


class TestJingyuLargeAndMedium:
    async def test_a_10kv_application_through_the_four_stages(self, jingyu, clock):
        application, after_works = await up_to_the_merged_stage(jingyu, clock)
        number = application["number"]
        assert application["policy_code"] == "jingyu-2022"
        assert [(s["label"], s["stage"]) for s in application["stages"]] == list(
            zip(
                MERGED,
                ["acceptance", "supply_plan", "external_works", "inspection_connection"],
                strict=True,
            )
        )
        # Totals only (no per-stage limit): 22 working days from Monday 11-03 is Wednesday 12-03.
        assert application["clock"]["basis"] == "total"
        assert application["clock"]["limit_days"] == 22
        assert application["clock"]["due_date"] == "2025-12-03"
        assert all(
            s["time"] is None or s["time"]["limit_days"] is None for s in application["stages"]
        )
        assert after_works["current_stage"] == "inspection_connection"
        assert after_works["clock"]["due_date"] == "2025-12-03"

        why = await jingyu.get(f"/applications/{number}/stages/external_works/why")
        assert why.status_code == 200, why.text
        assert why.json()["stage_label"] == "外部工程实施"

        clock.set("2025-11-26 10:00")
        assert (await receive(jingyu, number, kind="竣工报告")).status_code == 201
        no_point = await complete_only(jingyu, number, "inspection_connection")
        assert (no_point.status_code, no_point.json()["code"]) == (
            422,
            "connection_point_required",
        )
        done = await complete_only(jingyu, number, "inspection_connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        connected = done.json()
        assert connected["status"] == "connected"
        assert [s["state"] for s in connected["stages"]] == ["done"] * 4
        # 11-04..11-26: 17 working days of the 22.
        assert connected["total"]["limit_days"] == 22
        assert connected["total"]["grid_days"] == 17
        assert connected["total"]["within_limit"] is True

        verified = (await jingyu.get(f"/applications/{number}/log/verify")).json()
        assert verified["valid"] is True, verified
        kpis = await jingyu.get(
            "/kpis",
            params={
                "period_start": "2025-11-01",
                "period_end": "2025-11-30",
                "jurisdiction": "jingyu",
            },
        )
        assert kpis.status_code == 200, kpis.text
        (hv10,) = kpis.json()["types"]
        assert hv10["stage_count"] == 4
        assert [s["label"] for s in hv10["stages"]] == MERGED
        assert all(s["limit_days"] is None for s in hv10["stages"])

    async def test_the_merged_stage_waits_for_the_completion_report(self, jingyu, clock):
        application, _ = await up_to_the_merged_stage(jingyu, clock)
        number = application["number"]
        clock.set("2025-11-26 10:00")
        refused = await complete_only(jingyu, number, "inspection_connection", **CONNECTION_POINT)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "stage_documents_missing"
        assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
            ("completion_report", "document_needed")
        ]
        assert "竣工验收及装表接电环节尚需“工程竣工报告" in refused.json()["errors"][0]["message"]
        still = (await jingyu.get(f"/applications/{number}")).json()
        assert (still["status"], still["current_stage"]) == ("open", "inspection_connection")

        waived = await waive(
            jingyu, number, "工程竣工报告", "改建工程未新增受电设施，营销部书面确认"
        )
        assert waived.status_code == 201, waived.text
        done = await complete_only(jingyu, number, "inspection_connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "connected"

    async def test_the_cancelled_stages_are_not_in_the_process(self, jingyu, clock):
        clock.set("2025-11-03 10:00")
        number = (await jingyu_application(jingyu, customer_type="hv35_dual"))["number"]
        for cancelled in (
            "design_review",
            "midway_inspection",
            "completion_inspection",
            "connection",
        ):
            refused = await complete_only(jingyu, number, cancelled)
            assert (refused.status_code, refused.json()["code"]) == (409, "stage_not_in_process")


class TestJingyuSmallAndMicro:
    async def test_non_three_zero_low_voltage_has_three_stages(self, jingyu, clock):
        clock.set("2025-11-03 10:00")
        application = await jingyu_application(
            jingyu, customer_type="low_voltage", capacity_kw="200"
        )
        number = application["number"]
        assert application["customer_type"] == "low_voltage"
        assert [s["label"] for s in application["stages"]] == [
            "业务受理",
            "供电方案答复",
            "装表接电",
        ]
        assert application["total"]["limit_days"] == 6
        for cancelled in ("design_review", "midway_inspection", "completion_inspection"):
            refused = await complete_only(jingyu, number, cancelled)
            assert refused.json()["code"] == "stage_not_in_process"
        clock.set("2025-11-04 10:00")
        assert (await complete(jingyu, number, "acceptance")).status_code == 200
        assert (await complete(jingyu, number, "supply_plan")).status_code == 200
        done = await complete(jingyu, number, "connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "connected"
        assert (await jingyu.get(f"/applications/{number}/log/verify")).json()["valid"] is True


class TestDongyingAnnex1Unchanged:
    async def test_10kv_dual_supply_still_has_six_stages(self, clerk, clock):
        clock.set("2025-11-03 10:00")
        application = (await create(clerk, customer_type="hv10_dual"))["application"]
        assert [s["label"] for s in application["stages"]] == [
            "业务受理",
            "供电方案答复",
            "设计审查",
            "中间检查",
            "竣工检验",
            "装表接电",
        ]
        assert application["total"]["limit_days"] == 15
        assert (application["clock"]["basis"], application["clock"]["limit_days"]) == ("stage", 1)


class TestOpenedBeforeTheChange:
    async def test_an_application_keeps_the_stages_it_was_opened_with(
        self, jingyu, clock, monkeypatch
    ):
        """One accepted while jingyu-2022 still listed 竣工检验 and 装表接电 apart goes on
        through them (its stage rows are its own) and its log verifies."""
        old_stages = [
            StageLimit(stage=s)
            for s in (
                Stage.acceptance,
                Stage.supply_plan,
                Stage.completion_inspection,
                Stage.connection,
            )
        ]
        versions = service.reference_versions()
        old = [
            v.model_copy(
                update={
                    "entries": [
                        e.model_copy(update={"stages": old_stages})
                        if e.customer_type is CustomerType.hv10_single
                        else e
                        for e in v.entries
                    ]
                }
            )
            if v.code == "jingyu-2022"
            else v
            for v in versions
        ]
        monkeypatch.setattr(service, "reference_versions", lambda: tuple(old))
        clock.set("2025-11-03 10:00")
        number = (await jingyu_application(jingyu))["number"]
        monkeypatch.undo()

        names = ("acceptance", "supply_plan", "completion_inspection", "connection")
        for when, name in zip(
            ("2025-11-04 10:00", "2025-11-10 10:00", "2025-11-24 10:00", "2025-11-26 10:00"),
            names,
            strict=True,
        ):
            clock.set(when)
            point = CONNECTION_POINT if name == "connection" else {}
            done = await complete(jingyu, number, name, **point)
            assert done.status_code == 200, done.text
        connected = done.json()
        assert [s["stage"] for s in connected["stages"]] == list(names)
        assert (connected["status"], connected["total"]["limit_days"]) == ("connected", 22)
        assert (await jingyu.get(f"/applications/{number}/log/verify")).json()["valid"] is True
        fresh = await jingyu_application(jingyu)
        assert [s["stage"] for s in fresh["stages"]][2:] == [
            "external_works",
            "inspection_connection",
        ]
