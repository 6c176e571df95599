"""External-line works (电力外线接入工程): which approval they need, and the duty after completion.

From the Dongying plan (三、（一）2 and Annex 2 items 17–19, 21):

- a line of at most 500 m: low voltage needs no approval (免审批), high voltage is filed on a
  commitment (告知承诺备案制);
- digging or occupying an urban expressway or trunk road, a highway or highway land, or
  rerouting a highway keeps the full approval (原程序审批), whatever the length;
- digging other urban roads, occupying green land, or trees (not ancient or famous trees, 古树名木)
  is approved on a commitment (告知承诺制);
- a longer line gets no relief: full approval.

Works can meet several rules (a short low-voltage line that digs a side street). The plan lists
reliefs and the cases that keep a stricter procedure, so the strictest rule that applies decides:
the rules in ``external_lines.json`` are ordered strictest first and the first that applies wins;
every rule that applied is returned with the decision.

After completion the construction information must be pushed to the approval department within
3 months (竣工后3个月内推送施工信息): :func:`push_due_date` and :func:`push_status`.

These are Dongying's rules, and only Dongying's. Each jurisdiction has its own entry in
``external_lines.json``: Jingyu's plan has no relief for external lines and no push duty, so its
entry says so (``local_rule: false``, one rule ``no_local_relief`` naming its own item 4 on
approval times, ``no_completion_push``), and a jurisdiction not in the file gets the ``unlisted``
entry, which says that nothing was entered for it. Nothing falls back to Dongying silently.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.rules.terms import VoltageClass
from shared.calendar import WorkingCalendar, beijing_date

__all__ = [
    "ApprovalProcedure",
    "Crossing",
    "ExternalLineDecision",
    "ExternalLinePolicy",
    "ExternalLineWorks",
    "LineRule",
    "PushState",
    "PushStatus",
    "add_calendar_months",
    "decide_external_line_approval",
    "external_line_jurisdictions",
    "load_external_line_policy",
    "push_due_date",
    "push_status",
]

_DATA_FILE = Path(__file__).with_name("external_lines.json")


class ApprovalProcedure(StrEnum):
    """How the works are authorised, from the lightest to the strictest."""

    exempt = "exempt"
    """免审批"""
    commitment_filing = "commitment_filing"
    """告知承诺备案制: file on a commitment, post the filing certificate, start work."""
    commitment = "commitment"
    """告知承诺制: approved on the applicant's commitment."""
    full_approval = "full_approval"
    """原程序审批: the ordinary approval."""


class Crossing(StrEnum):
    """What the line digs, occupies or affects (涉及挖掘、占用的对象)."""

    urban_expressway = "urban_expressway"
    urban_trunk_road = "urban_trunk_road"
    highway = "highway"
    highway_land = "highway_land"
    highway_rerouting = "highway_rerouting"
    other_urban_road = "other_urban_road"
    urban_green_land = "urban_green_land"
    trees = "trees"
    ancient_or_famous_trees = "ancient_or_famous_trees"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineRule(_Data):
    """One rule of the plan: its procedure, its words and where they are."""

    code: str
    procedure: ApprovalProcedure
    text: str
    source: str


class CrossingRule(_Data):
    name: str
    rule: str


class CompletionPush(_Data):
    months: int = Field(ge=1, le=24)
    text: str
    source: str


NO_LOCAL_RELIEF = "no_local_relief"
"""The one rule of a jurisdiction without its own: the ordinary approval, said plainly."""


class ExternalLinePolicy(_Data):
    """One jurisdiction's rules for external-line works (``external_lines.json``)."""

    jurisdiction: str
    local_rule: bool
    """Whether the jurisdiction's plan has rules of its own for external-line works."""
    plan: str
    short_line_max_m: Decimal | None = Field(default=None, gt=0)
    procedures: dict[ApprovalProcedure, str]
    rules: tuple[LineRule, ...]
    """Strictest first: the first rule that applies decides."""
    crossings: dict[Crossing, CrossingRule] = Field(default_factory=dict)
    completion_push: CompletionPush | None
    no_completion_push: str | None = None
    """Without a push duty: why there is none (e.g. the plan has no such rule)."""

    @model_validator(mode="after")
    def _complete(self) -> ExternalLinePolicy:
        codes = {r.code for r in self.rules}
        if set(self.procedures) != set(ApprovalProcedure):
            raise ValueError("every procedure needs a Chinese name")
        if (self.completion_push is None) == (self.no_completion_push is None):
            raise ValueError("give either completion_push or no_completion_push")
        if not self.local_rule:
            if codes != {NO_LOCAL_RELIEF} or self.crossings or self.short_line_max_m:
                raise ValueError(f"without a local rule, the only rule is {NO_LOCAL_RELIEF}")
            return self
        needed = {"long_line", "short_low_voltage", "short_high_voltage"}
        needed |= {c.rule for c in self.crossings.values()}
        if missing := needed - codes:
            raise ValueError(f"rules missing: {sorted(missing)}")
        if set(self.crossings) != set(Crossing):
            raise ValueError("every crossing needs a rule")
        if self.short_line_max_m is None:
            raise ValueError("short_line_max_m is needed with local rules")
        return self

    def rule(self, code: str) -> LineRule | None:
        return next((r for r in self.rules if r.code == code), None)

    def cite(self, rule: LineRule | CompletionPush) -> str:
        """The rule's words with its plan and section: "…（《东营市…》（东发改能源〔2021〕122号）
        三、（一）2）" for Dongying, "…（《吉林省地方电力有限公司…》三、（一）4）" for Jingyu."""
        return f"{rule.text}（{self.plan}{rule.source}）"


class _Entry(_Data):
    local_rule: bool
    plan: str
    short_line_max_m: Decimal | None = None
    procedures: dict[ApprovalProcedure, str]
    rules: tuple[LineRule, ...]
    crossings: dict[Crossing, CrossingRule] = Field(default_factory=dict)
    completion_push: CompletionPush | None
    no_completion_push: str | None = None


class _File(_Data):
    jurisdictions: dict[str, _Entry]
    unlisted: _Entry


@cache
def _load() -> _File:
    return _File.model_validate_json(_DATA_FILE.read_bytes())


@cache
def load_external_line_policy(jurisdiction: str = "dongying") -> ExternalLinePolicy:
    """The rules of ``jurisdiction`` in ``external_lines.json``; for one not in the file, the
    ``unlisted`` entry, which says no rules were entered for it."""
    data = _load()
    entry = data.jurisdictions.get(jurisdiction, data.unlisted)
    return ExternalLinePolicy(jurisdiction=jurisdiction, **entry.model_dump())


def external_line_jurisdictions() -> tuple[str, ...]:
    """The jurisdictions with an entry of their own."""
    return tuple(_load().jurisdictions)


class ExternalLineWorks(BaseModel):
    """The facts of an external-line works that decide its approval."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    length_m: Decimal = Field(gt=0, le=1_000_000, description="管线长度（米）")
    voltage: VoltageClass
    crossings: frozenset[Crossing] = frozenset()


class ExternalLineDecision(BaseModel):
    """The procedure the works need and the rule of the plan that decided it."""

    procedure: ApprovalProcedure
    procedure_name: str
    rule: LineRule
    applicable: list[LineRule]
    """Every rule that applied, strictest first (the first is ``rule``)."""
    explanation: str
    """One Chinese sentence citing the plan."""


def decide_external_line_approval(
    works: ExternalLineWorks, policy: ExternalLinePolicy | None = None
) -> ExternalLineDecision:
    """The approval the works need under ``policy`` (default: Dongying's)."""
    policy = policy or load_external_line_policy()
    if not policy.local_rule:
        return _without_local_rule(works, policy)
    assert policy.short_line_max_m is not None
    if works.length_m > policy.short_line_max_m:
        hits = {"long_line"}
    elif works.voltage is VoltageClass.low:
        hits = {"short_low_voltage"}
    else:
        hits = {"short_high_voltage"}
    hits |= {policy.crossings[c].rule for c in works.crossings}
    applicable = [r for r in policy.rules if r.code in hits]
    decisive = applicable[0]
    facts = _facts(works, {c: policy.crossings[c].name for c in works.crossings})
    name = policy.procedures[decisive.procedure]
    return ExternalLineDecision(
        procedure=decisive.procedure,
        procedure_name=name,
        rule=decisive,
        applicable=applicable,
        explanation=f"{facts}：{name}。依据{policy.plan}{decisive.source}：{decisive.text}",
    )


_CROSSING_NAMES = {
    Crossing.urban_expressway: "城市快速路",
    Crossing.urban_trunk_road: "城市主干道",
    Crossing.highway: "公路",
    Crossing.highway_land: "公路用地",
    Crossing.highway_rerouting: "使公路改线",
    Crossing.other_urban_road: "城市其他道路",
    Crossing.urban_green_land: "城市绿地",
    Crossing.trees: "树木（不含古树名木）",
    Crossing.ancient_or_famous_trees: "城市古树名木",
}


def _facts(works: ExternalLineWorks, names: dict[Crossing, str]) -> str:
    crossed = "、".join(names.get(c, _CROSSING_NAMES[c]) for c in Crossing if c in works.crossings)
    voltage = "低压" if works.voltage is VoltageClass.low else "高压"
    facts = f"管线长度{works.length_m.normalize():f}米，{voltage}"
    return facts + (f"，涉及{crossed}" if crossed else "")


def _without_local_rule(
    works: ExternalLineWorks, policy: ExternalLinePolicy
) -> ExternalLineDecision:
    rule = policy.rules[0]
    name = policy.procedures[rule.procedure]
    return ExternalLineDecision(
        procedure=rule.procedure,
        procedure_name=name,
        rule=rule,
        applicable=[rule],
        explanation=f"{_facts(works, {})}：{name}。"
        + (policy.cite(rule) if rule.source else rule.text),
    )


# -- after completion: push the construction information within 3 months --


def add_calendar_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; the month's last day when it has no such day
    (民法典第二百零一条: 到期月的对应日为期间的最后一日；没有对应日的，月末日为最后一日)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _as_beijing_date(value: date | datetime) -> date:
    return beijing_date(value) if isinstance(value, datetime) else value


def push_due_date(
    completed: date | datetime,
    *,
    policy: ExternalLinePolicy | None = None,
    working_calendar: WorkingCalendar | None = None,
) -> date | None:
    """The last Beijing day to push the construction information after completion.

    Counted in calendar months from the completion day (a moment is taken as its Beijing date):
    completed on 15 January, due 15 April; completed on 30 November, due 28 February. With a
    ``working_calendar``, a last day that falls on a rest day moves to the next working day
    (民法典第二百零三条: 期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日).
    None where the jurisdiction has no push duty (``policy.no_completion_push`` says why).
    """
    policy = policy or load_external_line_policy()
    if policy.completion_push is None:
        return None
    due = add_calendar_months(_as_beijing_date(completed), policy.completion_push.months)
    return working_calendar.next_workday(due) if working_calendar else due


class PushState(StrEnum):
    pending = "pending"
    """Not pushed yet, still in time (待推送)."""
    overdue = "overdue"
    """Not pushed and the last day has passed (逾期未推送)."""
    pushed = "pushed"
    """Pushed on or before the last day (按期推送)."""
    pushed_late = "pushed_late"
    """Pushed after the last day (逾期推送)."""


class PushStatus(BaseModel):
    """Where the push duty of one works stands on a given day."""

    completed_on: date
    due_on: date
    pushed_on: date | None
    state: PushState
    overdue: bool
    """Not pushed and past ``due_on`` on the day asked about."""
    days_overdue: int
    """Calendar days past ``due_on``: until today if not pushed, until the push if late."""
    rule: str


def push_status(
    completed: date | datetime,
    *,
    today: date,
    pushed: date | datetime | None = None,
    policy: ExternalLinePolicy | None = None,
    working_calendar: WorkingCalendar | None = None,
) -> PushStatus | None:
    """The push duty's state on ``today`` (a Beijing date); None without a push duty."""
    policy = policy or load_external_line_policy()
    completed_on = _as_beijing_date(completed)
    due_on = push_due_date(completed_on, policy=policy, working_calendar=working_calendar)
    if due_on is None or policy.completion_push is None:
        return None
    pushed_on = _as_beijing_date(pushed) if pushed is not None else None
    if pushed_on is not None:
        late = pushed_on > due_on
        state = PushState.pushed_late if late else PushState.pushed
        days = (pushed_on - due_on).days if late else 0
    else:
        late = today > due_on
        state = PushState.overdue if late else PushState.pending
        days = (today - due_on).days if late else 0
    return PushStatus(
        completed_on=completed_on,
        due_on=due_on,
        pushed_on=pushed_on,
        state=state,
        overdue=state is PushState.overdue,
        days_overdue=days,
        rule=policy.cite(policy.completion_push),
    )
