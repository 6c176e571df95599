"""Each rule cites its own jurisdiction's plan (规则出处): Dongying's rules name
东发改能源〔2021〕122号, Jingyu's cite the Jilin local power company's plan by item, and where
Jingyu's plan has no rule of its own that is said plainly, never filled in with Dongying's."""

import importlib.util
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlmodel import col, select

from services.intake.applications.models import Application
from services.intake.external_lines.gate import mark_completed
from services.intake.external_lines.models import ExternalLineRecord
from services.intake.policies.service import reference_versions
from services.intake.rules.disclosure import (
    DisclosureTexts,
    build_disclosure,
    load_disclosure_texts,
)
from services.intake.rules.documents import DocumentCatalogue, load_document_catalogue
from services.intake.rules.external_lines import (
    NO_LOCAL_RELIEF,
    ApprovalProcedure,
    Crossing,
    ExternalLineWorks,
    decide_external_line_approval,
    load_external_line_policy,
    push_due_date,
)
from services.intake.rules.fees import FeeRules, load_fee_rules
from services.intake.rules.sources import UNLISTED_SOURCE, Sourced
from services.intake.rules.terms import VoltageClass
from services.intake.rules.three_zero import (
    Area,
    CustomerCategory,
    ThreeZeroRequest,
    ThreeZeroRules,
    assess_three_zero,
    load_three_zero_rules,
)
from shared.auth import Role
from shared.calendar import WorkingCalendar
from shared.db import create_sync_engine, database_target, session_scope
from shared.vocab import CustomerType
from tests.conftest import client_for
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, beijing, create, staff_token

DONGYING_PLAN = (
    "《东营市全面提升“获得电力”服务水平持续优化用电营商环境三年行动计划（2020—2022年）》"
)
DONGYING_NUMBER = "东发改能源〔2021〕122号"
RULES_DIR = Path(__file__).parents[3] / "services/intake/rules"
RULE_FILES = {
    FeeRules: RULES_DIR / "fees.json",
    DocumentCatalogue: RULES_DIR / "documents.json",
    ThreeZeroRules: RULES_DIR / "three_zero.json",
}
JINGYU_PLAN = "《吉林省地方电力有限公司全面提升“获得电力”服务水平优化用电营商环境三年行动方案》"
JINGYU_ITEMS = {
    item["seq"]: item["task"]
    for item in json.loads(
        (Path(__file__).parents[3] / "services/ledger/reference/jingyu-2022.json").read_text(
            encoding="utf-8"
        )
    )["items"]
}
SHORT_LOW_VOLTAGE = ExternalLineWorks(
    length_m=180, voltage=VoltageClass.low, crossings=frozenset({Crossing.other_urban_road})
)


def jingyu_item(section: str) -> str:
    """The words of Jingyu's item cited as e.g. "三、（四）13" (the items are numbered on)."""
    found = re.fullmatch(r"三、（[一二三四五]）(\d+)", section)
    assert found, f"not a section of Jingyu's 重点工作任务: {section}"
    return JINGYU_ITEMS[int(found.group(1))]


def assert_quoted(text: str, section: str) -> None:
    """Every clause of ``text`` is in the Jingyu item it cites, word for word."""
    item = jingyu_item(section)
    for clause in filter(None, re.split(r"[；。]", text)):
        assert clause in item, f"{clause!r} is not in Jingyu item {section}"


def mentions_dongying_plan(text: str) -> bool:
    return DONGYING_NUMBER in text or "东营市全面提升" in text


class TestExternalLines:
    def test_dongying_names_its_plan_and_number(self):
        policy = load_external_line_policy("dongying")
        assert policy.local_rule is True
        assert policy.plan == f"{DONGYING_PLAN}（{DONGYING_NUMBER}）"
        decision = decide_external_line_approval(SHORT_LOW_VOLTAGE, policy)
        assert decision.procedure is ApprovalProcedure.commitment
        assert DONGYING_NUMBER in decision.explanation
        assert policy.completion_push is not None
        assert push_due_date(date(2025, 9, 15), policy=policy) == date(2025, 12, 15)

    def test_jingyu_says_it_has_no_relief_and_cites_its_own_item_4(self):
        policy = load_external_line_policy("jingyu")
        assert (policy.local_rule, policy.plan) == (False, JINGYU_PLAN)
        assert [r.code for r in policy.rules] == [NO_LOCAL_RELIEF]
        rule = policy.rules[0]
        assert rule.source == "三、（一）4"
        for quoted in ("推行并联审批、限时办结", "低压、10千伏及以下高压电力工程接入审批时限"):
            assert quoted in rule.text
            assert quoted in jingyu_item(rule.source)
        decision = decide_external_line_approval(SHORT_LOW_VOLTAGE, policy)
        assert decision.procedure is ApprovalProcedure.full_approval
        assert f"{JINGYU_PLAN}三、（一）4" in decision.explanation
        assert "本方案没有电力外线接入工程免审批" in decision.explanation
        assert not mentions_dongying_plan(decision.explanation)

    def test_jingyu_has_no_push_duty_and_says_so(self):
        policy = load_external_line_policy("jingyu")
        assert policy.completion_push is None
        assert push_due_date(date(2025, 9, 15), policy=policy) is None
        assert "没有工程竣工后限期推送" in (policy.no_completion_push or "")
        assert not mentions_dongying_plan(policy.model_dump_json())

    def test_a_jurisdiction_not_entered_is_told_so(self):
        policy = load_external_line_policy("county")
        assert policy.local_rule is False
        assert "没有录入" in policy.rules[0].text
        assert not mentions_dongying_plan(policy.model_dump_json())


def reference(code: str):
    return next(v for v in reference_versions() if v.code == code)


class TestDisclosure:
    def test_dongying_cites_its_plan(self):
        disclosure = build_disclosure(reference("dongying-2020"))
        assert disclosure.source.startswith(DONGYING_PLAN)
        assert DONGYING_NUMBER in disclosure.source
        assert disclosure.source.endswith("三、（五）1；附件2第53项")
        assert (disclosure.hotline_source or "").endswith("附件2第55项")
        assert (disclosure.channels_source or "").endswith("附件2第28项")
        assert disclosure.no_local_rule == []

    def test_jingyu_cites_its_own_plan_item_by_item(self):
        disclosure = build_disclosure(reference("jingyu-2021"))
        assert disclosure.source == f"{JINGYU_PLAN}三、（四）13"
        assert_quoted(disclosure.rule, "三、（四）13")
        assert disclosure.channels_source == f"{JINGYU_PLAN}三、（二）7"
        assert_quoted(disclosure.channels_rule or "", "三、（二）7")
        assert disclosure.documents_source == f"{JINGYU_PLAN}三、（二）8"
        assert_quoted(disclosure.documents_rule or "", "三、（二）8")
        # Jingyu's plan says nothing of the hotlines: none of Dongying's words stand in.
        assert (disclosure.hotline_rule, disclosure.hotline_source) == (None, None)
        assert any("热线" in line for line in disclosure.no_local_rule)
        assert [h.number for h in disclosure.hotlines] == ["95598", "12398"]
        for field in ("source", "rule", "hotline_rule", "channels_rule", "documents_rule"):
            assert not mentions_dongying_plan(getattr(disclosure, field) or "")

    @pytest.mark.parametrize("jurisdiction", ["dongying", "jingyu"])
    def test_every_local_text_names_its_own_plan(self, jurisdiction):
        local = load_disclosure_texts().local(jurisdiction)
        plan = DONGYING_PLAN if jurisdiction == "dongying" else JINGYU_PLAN
        assert local.plan.startswith(plan)
        for section in (local.source, local.hotline_source, local.channels_source):
            if section is not None:
                assert (local.cite(section) or "").startswith(plan)


class TestOverHttp:
    async def test_public_disclosure_for_jingyu(self, anonymous, clock):
        response = await anonymous.get("/public/disclosure", params={"jurisdiction": "jingyu"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == f"{JINGYU_PLAN}三、（四）13"
        assert body["hotline_rule"] is None
        assert not mentions_dongying_plan(json.dumps(body, ensure_ascii=False).split('"fees"')[0])

    async def test_a_jingyu_external_line(self, intake, apps, clock):
        from shared.auth import Role
        from tests.conftest import client_for
        from tests.intake.conftest import staff_token

        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        async with client_for(intake, token) as jingyu_clerk:
            number = (
                await create(
                    jingyu_clerk,
                    jurisdiction="jingyu",
                    unit=JINGYU_UNIT,
                    site={"address": "靖宇县某路 1 号", "area_class": "urban"},
                )
            )["application"]["number"]
            recorded = await jingyu_clerk.put(
                f"/applications/{number}/external-line",
                json={"length_m": "180", "crossings": ["other_urban_road"]},
            )
            assert recorded.status_code == 200, recorded.text
            works = recorded.json()
            assert works["local_rule"] is False
            assert works["procedure"] == "full_approval"
            assert works["rule"]["plan"] == JINGYU_PLAN
            assert not mentions_dongying_plan(works["explanation"])
            assert works["push"] is None
            assert "没有工程竣工后限期推送" in works["push_note"]

    def test_completed_jingyu_works_get_no_push_due_date(self):
        calendar = WorkingCalendar.build(first_year=2025, last_year=2026)
        works = ExternalLineRecord(
            application_id=1,
            voltage=VoltageClass.low,
            length_m=Decimal("180"),
            crossings=[],
            procedure=ApprovalProcedure.full_approval,
            rule_code=NO_LOCAL_RELIEF,
            explanation="",
            recorded_at=beijing("2025-09-15 10:00"),
            recorded_by="clerk-li",
        )
        now = beijing("2025-09-30 10:00")
        mark_completed(works, jurisdiction="jingyu", actor="clerk-li", now=now, calendar=calendar)
        assert (works.completed_on, works.push_due_on) == (date(2025, 9, 30), None)
        mark_completed(
            works, jurisdiction="dongying", actor="clerk-wang", now=now, calendar=calendar
        )
        assert works.push_due_on == date(2025, 12, 30)


class TestThreeZeroAndTimeLimits:
    def test_each_three_zero_policy_cites_its_jurisdictions_plan(self):
        plans = {"dongying": DONGYING_PLAN, "jingyu": JINGYU_PLAN}
        policies = load_three_zero_rules().policies
        assert {p.jurisdiction for p in policies} == set(plans)
        for policy in policies:
            assert policy.source.startswith(plans[policy.jurisdiction]), policy.code

    def test_each_time_limit_version_cites_its_jurisdictions_plan(self):
        for version in reference_versions():
            if version.jurisdiction == "dongying":
                assert DONGYING_NUMBER in version.source, version.code
            else:
                assert version.jurisdiction == "jingyu"
                assert not mentions_dongying_plan(version.source), version.code


class TestJingyuPushMigration:
    async def test_open_jingyu_push_duties_lose_the_dongying_deadline(
        self, intake, apps, settings, clerk, clock
    ):
        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        numbers = {}
        async with client_for(intake, token) as jingyu_clerk:
            for jurisdiction, client, unit in (
                ("jingyu", jingyu_clerk, JINGYU_UNIT),
                ("dongying", clerk, DONGYING_UNIT),
            ):
                number = (await create(client, jurisdiction=jurisdiction, unit=unit))[
                    "application"
                ]["number"]
                recorded = await client.put(
                    f"/applications/{number}/external-line", json={"length_m": "180"}
                )
                assert recorded.status_code == 200, recorded.text
                numbers[jurisdiction] = number
        # As recorded before rules were per jurisdiction: both held to Dongying's 3 months.
        async with session_scope(intake.state.engine) as session:
            for works in (await session.exec(select(ExternalLineRecord))).all():
                works.completed_on, works.push_due_on = date(2025, 9, 30), date(2025, 12, 30)
                session.add(works)
        path = next(
            Path(__file__)
            .parents[3]
            .joinpath("services/intake/migrations/versions")
            .glob("*_jingyu_has_no_push_duty.py")
        )
        spec = importlib.util.spec_from_file_location("jingyu_has_no_push_duty", path)
        assert spec is not None
        assert spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        engine = create_sync_engine(database_target(settings, "intake"))
        try:
            with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
                migration.upgrade()
        finally:
            engine.dispose()
        async with session_scope(intake.state.engine) as session:
            rows = (
                await session.exec(
                    select(Application.number, ExternalLineRecord.push_due_on).join(
                        ExternalLineRecord,
                        col(ExternalLineRecord.application_id) == col(Application.id),
                    )
                )
            ).all()
        due = dict(rows)
        assert due[numbers["jingyu"]] is None
        assert due[numbers["dongying"]] == date(2025, 12, 30)


# ---- documents, fees and 三零: a source per jurisdiction -------------------------------------

DONGYING_ITEMS = {
    item["seq"]: re.sub(r"\s+", "", item["task"]).replace(",", "，")
    for item in json.loads(
        (Path(__file__).parents[3] / "services/ledger/reference/dongying-2021.json").read_text(
            encoding="utf-8"
        )
    )["items"]
}
"""Dongying's 附件2 (工作任务台账), item by item, spaces dropped and commas full-width."""
DONGYING_SEED = Path(__file__).parents[3].parent / "shared/seeds/dongying-action-plan-2021.txt"


def dongying_items(section: str) -> str:
    """The words of the 附件2 items a Dongying section cites ("三、（二）1；附件2第22、24项")."""
    found = re.search(r"附件2第(\d+(?:、\d+)*)项$", section)
    assert found, f"a Dongying rule must cite its 附件2 item: {section}"
    return "\n".join(DONGYING_ITEMS[int(n)] for n in found.group(1).split("、"))


def sourced_rules() -> dict[str, Sourced]:
    """Every rule of documents.json, fees.json and three_zero.json that carries sources."""
    documents = load_document_catalogue()
    fees = load_fee_rules()
    three_zero = load_three_zero_rules()
    rules: dict[str, Sourced] = {
        f"documents.requirements[{'/'.join(r.stages)}@{r.voltage}]": r
        for r in documents.requirements
    }
    rules |= {f"documents.forbidden[{f.name}]": f for f in documents.forbidden}
    rules |= {
        "documents.no_other_documents": documents.no_other_documents,
        "documents.reuse_on_change": documents.reuse_on_change,
        "fees.banned": fees.banned,
        "fees.statutory": fees.statutory,
        "fees.zero_investment": fees.zero_investment,
        "fees.extended_services": fees.extended_services,
        "three_zero.ceiling": three_zero.ceiling,
        "three_zero.whitelist": three_zero.whitelist,
    }
    return rules


RULES = sourced_rules()


def assert_quoted_dongying(text: str, section: str) -> None:
    """Every clause of ``text`` is in the Dongying 附件2 items ``section`` cites, word for word."""
    items = dongying_items(section)
    for clause in filter(None, re.split(r"[；。]", text)):
        assert clause in items, f"{clause!r} is not in Dongying's {section}"


class TestEverySourcedRule:
    @pytest.mark.parametrize("name", sorted(RULES))
    def test_dongying_cites_its_own_plan_or_says_it_has_none(self, name):
        local = RULES[name].sources["dongying"]
        source = RULES[name].source_for("dongying")
        if local.local_rule:
            assert source == f"{DONGYING_PLAN}（{DONGYING_NUMBER}）{local.section}"
            assert_quoted_dongying(local.text, local.section)
        else:
            assert "东营市行动计划没有" in local.text
            assert source.startswith(local.text)
            if local.section:
                assert DONGYING_NUMBER in source

    @pytest.mark.parametrize("name", sorted(RULES))
    def test_jingyu_cites_its_own_item_or_says_it_has_none(self, name):
        local = RULES[name].sources["jingyu"]
        source = RULES[name].source_for("jingyu")
        assert not mentions_dongying_plan(source)
        if local.local_rule:
            assert source == f"{JINGYU_PLAN}{local.section}"
            assert_quoted(local.text, local.section)
        else:
            assert local.text.startswith("本方案没有")
            if local.section:
                jingyu_item(local.section)  # a real item of Jingyu's plan
                assert source.endswith(f"（{JINGYU_PLAN}{local.section}）")

    @pytest.mark.parametrize("name", sorted(RULES))
    def test_a_jurisdiction_not_entered_is_told_so(self, name):
        source = RULES[name].source_for("county")
        assert source == UNLISTED_SOURCE
        assert not mentions_dongying_plan(source)

    def test_who_has_a_rule_of_its_own(self):
        local = {
            name: (rule.sources["dongying"].local_rule, rule.sources["jingyu"].local_rule)
            for name, rule in RULES.items()
        }
        assert local == {
            "documents.requirements[acceptance/signing@low]": (False, True),
            "documents.requirements[acceptance/signing@high]": (False, True),
            "documents.requirements[design_review@high]": (True, False),
            "documents.requirements[midway_inspection@high]": (True, False),
            "documents.requirements[completion_inspection@high]": (True, False),
            "documents.requirements[inspection_connection@high]": (False, True),
            "documents.forbidden[申请用电承诺书]": (True, False),
            "documents.no_other_documents": (True, True),
            "documents.reuse_on_change": (False, True),
            "fees.banned": (False, True),
            "fees.statutory": (True, True),
            "fees.zero_investment": (True, True),
            "fees.extended_services": (True, False),
            "three_zero.ceiling": (True, True),
            "three_zero.whitelist": (True, False),
        }

    def test_dongying_banned_fees_point_to_the_national_rule(self):
        source = load_fee_rules().banned.source_for("dongying")
        assert "国办函〔2020〕129号" in source
        assert source.endswith(f"（{DONGYING_PLAN}（{DONGYING_NUMBER}）三、（三）3；附件2第41项）")

    def test_jingyu_has_no_whitelist_and_no_priced_extended_services(self):
        assert "没有“白名单”备案机制" in load_three_zero_rules().whitelist.source_for("jingyu")
        assert "没有延伸服务收费明码标价" in (
            load_fee_rules().extended_services.source_for("jingyu")
        )


class TestStrictSources:
    def raw(self):
        return load_fee_rules().model_dump(mode="json")

    def test_a_rule_without_a_jurisdictions_source_is_refused(self):
        raw = self.raw()
        del raw["banned"]["sources"]["jingyu"]
        with pytest.raises(ValidationError, match="sources needed"):
            FeeRules.model_validate(raw)

    def test_a_local_rule_needs_its_section(self):
        raw = self.raw()
        raw["zero_investment"]["sources"]["jingyu"]["section"] = ""
        with pytest.raises(ValidationError, match="needs its section"):
            FeeRules.model_validate(raw)

    def test_no_rule_of_its_own_must_be_said_plainly(self):
        raw = self.raw()
        raw["banned"]["sources"]["dongying"]["text"] = "按国办函〔2020〕129号执行"
        with pytest.raises(ValidationError, match="say so plainly"):
            FeeRules.model_validate(raw)

    def test_an_unknown_jurisdiction_is_refused(self):
        raw = self.raw()
        raw["statutory"]["sources"]["county"] = raw["statutory"]["sources"]["jingyu"]
        with pytest.raises(ValidationError, match="sources needed"):
            FeeRules.model_validate(raw)

    @pytest.mark.parametrize(
        ("model", "path"),
        [
            (FeeRules, ("banned",)),
            (DocumentCatalogue, ("forbidden", 0)),
            (ThreeZeroRules, ("whitelist",)),
        ],
    )
    def test_a_combined_source_beside_sources_is_refused(self, model, path):
        """A rule cites each jurisdiction's own source; an old combined one is not read."""
        raw = json.loads(RULE_FILES[model].read_text(encoding="utf-8"))
        model.model_validate(raw)
        rule = raw
        for key in path:
            rule = rule[key]
        rule["source"] = DONGYING_PLAN
        with pytest.raises(ValidationError, match="source"):
            model.model_validate(raw)

    @pytest.mark.parametrize("path", sorted(RULE_FILES.values()))
    def test_no_rule_file_names_dongyings_plan_for_everyone(self, path):
        """The plan's title and number come from PLANS, per jurisdiction, never from the data."""
        assert DONGYING_NUMBER not in path.read_text(encoding="utf-8")

    def test_a_disclosure_voltage_note_without_source_says_so(self):
        raw = load_disclosure_texts().model_dump(mode="json")
        raw["jurisdictions"]["jingyu"]["voltage_note"] = "低压用户指采用380V及以下电压供电的用户。"
        with pytest.raises(ValidationError, match="voltage note"):
            DisclosureTexts.model_validate(raw)


class TestThreeZeroDecisionCitesItsJurisdiction:
    REQUEST = ThreeZeroRequest(
        category=CustomerCategory.small_micro_enterprise,
        capacity_kw=Decimal("80"),
        area=Area.urban,
        capacity_limited=True,
    )

    def test_jingyu_whitelist_reason_says_its_plan_has_none(self):
        decision = assess_three_zero(self.REQUEST, jurisdiction="jingyu", on=date(2025, 10, 9))
        assert decision.whitelist is True
        [why] = [r for r in decision.reasons if "白名单" in r]
        assert "本方案没有“白名单”备案机制" in why
        assert "纳入“白名单”备案：" not in why  # Dongying's rule is not quoted for Jingyu
        assert not mentions_dongying_plan("".join(decision.reasons))

    def test_dongying_whitelist_reason_cites_item_36(self):
        decision = assess_three_zero(self.REQUEST, jurisdiction="dongying", on=date(2025, 10, 9))
        [why] = [r for r in decision.reasons if "白名单" in r]
        assert why.endswith(f"（{DONGYING_PLAN}（{DONGYING_NUMBER}）三、（三）1；附件2第36项）")


class TestDisclosureNotes:
    def test_jingyu_voltage_note_and_customer_notes_are_its_own(self):
        disclosure = build_disclosure(reference("jingyu-2021"))
        assert disclosure.voltage_note.startswith("本方案没有界定低压用户、高压用户")
        assert disclosure.voltage_note_source is None
        assert any("电压等级" in line for line in disclosure.no_local_rule)
        assert disclosure.customer_type_notes_source == f"{JINGYU_PLAN}三、（一）5；三、（三）10"
        three_zero = next(
            p for p in disclosure.processes if p.customer_type is CustomerType.residential
        )
        assert "零上门" not in three_zero.note
        local = load_disclosure_texts().local("jingyu")
        for clause in re.split(
            r"[；。]", local.customer_type_notes[CustomerType.low_voltage_three_zero]
        ):
            clause = clause.removeprefix("实行“三零”服务的低压非居民用户：")
            if clause:
                assert clause in jingyu_item("三、（三）10"), clause
        assert disclosure.fees.banned_source == f"{JINGYU_PLAN}三、（三）12"
        assert disclosure.fees.extended_services_source.startswith("本方案没有")
        for text in (disclosure.voltage_note, disclosure.fees.statutory_source):
            assert not mentions_dongying_plan(text)

    def test_dongying_voltage_note_is_quoted_from_annex_1(self):
        disclosure = build_disclosure(reference("dongying-2020"))
        if DONGYING_SEED.exists():  # the transcribed plan, kept beside the repository
            plan = re.sub(r"\s+", "", DONGYING_SEED.read_text(encoding="utf-8"))
            assert f"注：1.{disclosure.voltage_note}" in plan
        assert disclosure.voltage_note_source == f"{DONGYING_PLAN}（{DONGYING_NUMBER}）附件1注1"
        assert "国办函〔2020〕129号" in disclosure.fees.banned_source
        assert DONGYING_NUMBER in disclosure.fees.extended_services_source


class TestAnswersOverHttp:
    async def test_fee_refusals_cite_the_applications_jurisdiction(
        self, intake, apps, clerk, clock
    ):
        banned = {"kind": "statutory", "name": "移表费", "amount": "300", "basis": "无"}
        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        async with client_for(intake, token) as jingyu_clerk:
            messages = {}
            for jurisdiction, client, unit in (
                ("jingyu", jingyu_clerk, JINGYU_UNIT),
                ("dongying", clerk, DONGYING_UNIT),
            ):
                number = (await create(client, jurisdiction=jurisdiction, unit=unit))[
                    "application"
                ]["number"]
                response = await client.post(
                    f"/applications/{number}/fees", json={"items": [banned]}
                )
                assert response.status_code == 422, response.text
                [error] = response.json()["errors"]
                assert error["code"] == "fee_banned"
                messages[jurisdiction] = error["message"]
        assert f"（出处：{JINGYU_PLAN}三、（三）12）" in messages["jingyu"]
        assert not mentions_dongying_plan(messages["jingyu"])
        assert "国办函〔2020〕129号" in messages["dongying"]
        assert DONGYING_NUMBER in messages["dongying"]

    async def test_document_refusals_cite_the_applications_jurisdiction(
        self, intake, apps, clerk, clock
    ):
        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        async with client_for(intake, token) as jingyu_clerk:
            answers = {}
            for jurisdiction, client, unit in (
                ("jingyu", jingyu_clerk, JINGYU_UNIT),
                ("dongying", clerk, DONGYING_UNIT),
            ):
                number = (await create(client, jurisdiction=jurisdiction, unit=unit))[
                    "application"
                ]["number"]
                received = await client.post(
                    f"/applications/{number}/documents", json={"kind": "申请用电承诺书"}
                )
                asked = await client.post(
                    f"/applications/{number}/documents/requests",
                    json={"documents": ["用电设备清单"], "note": ""},
                )
                for response in (received, asked):
                    assert response.status_code == 422, response.text
                answers[jurisdiction] = [r.json()["errors"][0] for r in (received, asked)]
        forbidden, extra = answers["jingyu"]
        assert forbidden["code"] == "document_forbidden"
        assert "本方案没有点名申请用电承诺书" in forbidden["message"]
        assert extra["code"] == "document_not_in_catalogue"
        assert extra["message"].endswith(f"（{JINGYU_PLAN}三、（二）8）")
        assert not mentions_dongying_plan(forbidden["message"] + extra["message"])
        forbidden, extra = answers["dongying"]
        assert forbidden["message"].endswith(
            f"（{DONGYING_PLAN}（{DONGYING_NUMBER}）三、（二）1；附件2第24项）"
        )
        assert extra["message"].endswith(
            f"（{DONGYING_PLAN}（{DONGYING_NUMBER}）三、（二）1；附件2第22、24项）"
        )

    async def test_public_disclosure_cites_jingyus_notes_and_whitelist(self, anonymous, clock):
        response = await anonymous.get("/public/disclosure", params={"jurisdiction": "jingyu"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["voltage_note_source"] is None
        assert body["voltage_note"].startswith("本方案没有")
        assert body["fees"]["banned_source"] == f"{JINGYU_PLAN}三、（三）12"
        assert body["three_zero"]["whitelist_source"].startswith("本方案没有“白名单”")
        assert body["three_zero"]["whitelist_rule"] == body["three_zero"]["whitelist_source"]
        assert not mentions_dongying_plan(json.dumps(body, ensure_ascii=False))
