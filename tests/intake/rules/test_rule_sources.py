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
from sqlmodel import col, select

from services.intake.applications.models import Application
from services.intake.external_lines.gate import mark_completed
from services.intake.external_lines.models import ExternalLineRecord
from services.intake.policies.service import reference_versions
from services.intake.rules.disclosure import build_disclosure, load_disclosure_texts
from services.intake.rules.external_lines import (
    NO_LOCAL_RELIEF,
    ApprovalProcedure,
    Crossing,
    ExternalLineWorks,
    decide_external_line_approval,
    load_external_line_policy,
    push_due_date,
)
from services.intake.rules.terms import VoltageClass
from services.intake.rules.three_zero import load_three_zero_rules
from shared.auth import Role
from shared.calendar import WorkingCalendar
from shared.db import create_sync_engine, database_target, session_scope
from tests.conftest import client_for
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, beijing, create, staff_token

DONGYING_PLAN = (
    "《东营市全面提升“获得电力”服务水平持续优化用电营商环境三年行动计划（2020—2022年）》"
)
DONGYING_NUMBER = "东发改能源〔2021〕122号"
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
