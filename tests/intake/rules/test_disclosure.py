"""The public disclosure content: processes, documents, limits, fees and both hotlines."""

from datetime import date

import pytest
from pydantic import ValidationError

from services.intake.policies.models import PolicyVersionCreate, Stage
from services.intake.policies.service import reference_versions
from services.intake.rules.disclosure import (
    DisclosureTexts,
    build_disclosure,
    load_disclosure_texts,
)
from shared.vocab import CustomerType

POLICY = PolicyVersionCreate.model_validate(
    {
        "code": "county-2025",
        "jurisdiction": "county",
        "jurisdiction_name": "某县",
        "title": "某县时限",
        "source": "某县文件",
        "effective_from": "2025-01-01",
        "supervising_unit": "县发展改革局",
        "entries": [
            {
                "customer_type": "residential",
                "stages": [{"stage": "signing"}, {"stage": "construction_connection"}],
                "total_days": 5,
                "no_works_total_days": 1,
            },
            {
                "customer_type": "hv10_dual",
                "stages": [
                    {"stage": "acceptance", "limit_days": 1},
                    {"stage": "supply_plan", "limit_days": 7},
                    {"stage": "design_review", "limit_days": 3},
                    {"stage": "midway_inspection", "limit_days": 2},
                    {"stage": "completion_inspection", "limit_days": 1},
                    {"stage": "connection", "limit_days": 1},
                ],
                "total_days": 15,
            },
        ],
    }
)


def dongying():
    return next(v for v in reference_versions() if v.code == "dongying-2020")


class TestTexts:
    def test_hotlines_published_together(self):
        texts = load_disclosure_texts()
        assert [(h.number, h.name) for h in texts.hotline_numbers] == [
            ("95598", "供电服务热线"),
            ("12398", "能源监管热线"),
        ]
        assert "同步、同对象公布到位" in (texts.local("dongying").hotline_rule or "")

    @pytest.mark.parametrize("keep", ["95598", "12398"])
    def test_one_hotline_alone_is_refused(self, keep):
        raw = load_disclosure_texts().model_dump(mode="json")
        raw["hotline_numbers"] = [h for h in raw["hotline_numbers"] if h["number"] == keep]
        with pytest.raises(ValidationError, match="published together"):
            DisclosureTexts.model_validate(raw)

    def test_every_customer_type_has_a_note(self):
        raw = load_disclosure_texts().model_dump(mode="json")
        del raw["jurisdictions"]["jingyu"]["customer_type_notes"]["hv35_dual"]
        with pytest.raises(ValidationError, match="every customer type"):
            DisclosureTexts.model_validate(raw)


class TestBuildDisclosure:
    def test_processes_follow_the_policy(self):
        disclosure = build_disclosure(POLICY)
        assert (disclosure.jurisdiction, disclosure.policy_code) == ("county", "county-2025")
        assert disclosure.effective_from == date(2025, 1, 1)
        assert [p.customer_type for p in disclosure.processes] == [
            CustomerType.residential,
            CustomerType.hv10_dual,
        ]
        residential, dual = disclosure.processes
        assert residential.name == "居民用户"
        assert [(s.name, s.limit_text) for s in residential.stages] == [
            ("受理签约", "计入合计时限"),
            ("施工接电", "计入合计时限"),
        ]
        assert residential.time_limit_text == "电网环节办理时长不超过5个工作日"
        assert residential.no_works_text == "对无工程的低压用户，实行“当日申请，次日接电”。"
        assert dual.stage_count == 6
        assert dual.no_works_text is None
        assert [s.limit_days for s in dual.stages] == [1, 7, 3, 2, 1, 1]

    def test_documents_per_stage(self):
        residential, dual = build_disclosure(POLICY).processes
        assert [d.name for d in residential.stages[0].documents] == ["有效身份证明", "产权证明"]
        assert residential.stages[1].documents == []
        by_stage = {s.stage: [d.name for d in s.documents] for s in dual.stages}
        assert by_stage == {
            Stage.acceptance: ["有效身份证明", "产权证明", "项目批准文件"],
            Stage.supply_plan: [],
            Stage.design_review: ["设计单位资质证明材料", "用电工程设计及说明书"],
            Stage.midway_inspection: ["施工单位资质证明材料", "隐蔽工程施工及试验记录"],
            Stage.completion_inspection: ["工程竣工报告（含竣工图纸）"],
            Stage.connection: [],
        }

    def test_fees_and_hotlines(self):
        disclosure = build_disclosure(POLICY)
        assert disclosure.fees.banned[0] == "移表费"
        assert len(disclosure.fees.banned) == 12
        assert all(f.price > 0 for f in disclosure.fees.extended_services)
        assert "明码标价" in disclosure.fees.extended_services_rule
        assert [h.number for h in disclosure.hotlines] == ["95598", "12398"]
        # "county" has no plan entered: that is said, and no other jurisdiction's rule is quoted.
        assert disclosure.channels_rule is None
        assert disclosure.no_local_rule
        assert "不得加以限定" in (build_disclosure(dongying()).channels_rule or "")

    def test_dongying_reference_policy(self):
        disclosure = build_disclosure(dongying())
        totals = {p.customer_type: p.total_days for p in disclosure.processes}
        assert totals == {
            CustomerType.residential: 3,
            CustomerType.low_voltage_three_zero: 5,
            CustomerType.low_voltage: 3,
            CustomerType.hv10_single: 8,
            CustomerType.hv10_dual: 15,
            CustomerType.hv35_single: 22,
            CustomerType.hv35_dual: 32,
        }
        hv35 = next(p for p in disclosure.processes if p.customer_type is CustomerType.hv35_dual)
        assert [s.limit_text for s in hv35.stages] == [
            "1个工作日",
            "20个工作日",
            "3个工作日",
            "2个工作日",
            "3个工作日",
            "3个工作日",
        ]

    def test_is_json_serialisable(self):
        payload = build_disclosure(dongying()).model_dump(mode="json")
        assert payload["hotlines"][1]["number"] == "12398"
        assert payload["fees"]["extended_services"][0]["price"] == "1800.00"
