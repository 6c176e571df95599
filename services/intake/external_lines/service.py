"""External-line works: recording them and their approval decision, the approval department's
answer, completion, and the push of the construction information (施工信息推送).

Clerks of the application's unit record the works; the rule of the plan decides the procedure
(免审批 / 告知承诺备案 / 告知承诺制 / 原程序审批) and the approval state starts from it. The
approval service posts its answer through the portal (:func:`post_approval`).

Time: the plan limits grid-side time (电网环节) and pauses the clock only while the customer is
awaited; it gives the approval department limits of its own (压减审批时限) and never takes them
off the grid's. So waiting for an approval does not pause the clock. What the approval moves on
is the connection: the last stage (装表接电 / 施工接电 / 竣工验收及装表接电) cannot be completed
while the approval is pending or refused (:mod:`.gate`); once it is approved, it can.

After completion (竣工) the construction information must reach the approval department within
3 calendar months (a last day on a rest day moves to the next working day); the due day is
stored, so the overdue list is one indexed query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_operator, check_reader, check_unit_filter
from services.intake.applications.loading import get_application
from services.intake.applications.log import append_event
from services.intake.applications.models import Application, ApplicationStatus, EventKind
from services.intake.external_lines.gate import mark_completed
from services.intake.external_lines.models import (
    APPROVAL_STATE_LABELS,
    INITIAL_STATE,
    ApprovalOutcome,
    ApprovalPublic,
    ApprovalResultIn,
    ApprovalState,
    ExternalLineIn,
    ExternalLinePage,
    ExternalLinePublic,
    ExternalLineRecord,
    PushIn,
    PushPublic,
    RulePublic,
)
from services.intake.portal.auth import PortalPrincipal
from services.intake.rules.external_lines import (
    Crossing,
    ExternalLinePolicy,
    ExternalLineWorks,
    LineRule,
    PushState,
    decide_external_line_approval,
    external_line_jurisdictions,
    load_external_line_policy,
)
from services.intake.rules.terms import voltage_of
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar, beijing_date
from shared.errors import Conflict, NotFound
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page

ENDED = (ApplicationStatus.connected, ApplicationStatus.closed)


async def _works_of(
    session: AsyncSession, application: Application, *, for_update: bool = False
) -> ExternalLineRecord | None:
    query = select(ExternalLineRecord).where(
        col(ExternalLineRecord.application_id) == application.id
    )
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def _existing_works(
    session: AsyncSession, application: Application, *, for_update: bool = False
) -> ExternalLineRecord:
    works = await _works_of(session, application, for_update=for_update)
    if works is None:
        raise NotFound(
            f"no external-line works are recorded for {application.number}",
            code="external_line_not_recorded",
        )
    return works


def _check_open(application: Application) -> None:
    if application.status in ENDED:
        raise Conflict(
            f"application {application.number} is {application.status.value}; it cannot change",
            code="application_ended",
        )


# ---- writing ---------------------------------------------------------------------------------


async def record_works(
    session: AsyncSession,
    number: str,
    data: ExternalLineIn,
    *,
    actor: Principal,
    now: datetime,
    today: date,
) -> ExternalLinePublic:
    """Record (or re-record, as redesigned) the works and decide the approval they need.

    Re-recording decides afresh: an earlier approval covered other works. Refused once the
    works are complete.
    """
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    _check_open(application)
    if not application.has_works:
        raise Conflict(
            f"application {number} has no works (无工程); there is no external line",
            code="application_has_no_works",
        )
    voltage = data.voltage or voltage_of(application.customer_type)
    length = data.length_m.quantize(Decimal("0.01"))
    crossings = frozenset(data.crossings)
    decision = decide_external_line_approval(
        ExternalLineWorks(length_m=length, voltage=voltage, crossings=crossings),
        load_external_line_policy(application.jurisdiction),
    )
    works = await _works_of(session, application, for_update=True)
    if works is not None and works.completed_at is not None:
        raise Conflict(
            "the external-line works are complete; they are not recorded again",
            code="external_line_completed",
        )
    works = works or ExternalLineRecord(
        application_id=application.id or 0,
        voltage=voltage,
        length_m=length,
        crossings=[],
        procedure=decision.procedure,
        rule_code=decision.rule.code,
        explanation=decision.explanation,
        approval_state=INITIAL_STATE[decision.procedure],
        recorded_at=now,
        recorded_by=actor.subject,
    )
    works.voltage, works.length_m = voltage, length
    works.crossings = [c.value for c in Crossing if c in crossings]
    works.procedure, works.rule_code = decision.procedure, decision.rule.code
    works.explanation = decision.explanation
    works.approval_state = INITIAL_STATE[decision.procedure]
    works.recorded_at, works.recorded_by = now, actor.subject
    works.approval_number = works.approval_decided_on = works.approval_received_at = None
    works.approval_note = works.approval_source = None
    session.add(works)
    append_event(
        session,
        application,
        EventKind.external_line_decided,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=decision.explanation,
        payload={
            "length_m": str(length),
            "voltage": voltage.value,
            "crossings": works.crossings,
            "procedure": decision.procedure.value,
            "rule": decision.rule.code,
            "approval_state": works.approval_state.value,
        },
    )
    await session.flush()
    return to_public(works, application, today)


async def post_approval(
    session: AsyncSession,
    data: ApprovalResultIn,
    *,
    caller: PortalPrincipal,
    now: datetime,
) -> ExternalLinePublic:
    """The approval department's answer (审批结果自动反馈): the works become approved or not."""
    application = await get_application(session, data.application_number, for_update=True)
    _check_open(application)
    works = await _existing_works(session, application, for_update=True)
    if works.approval_state is not ApprovalState.pending:
        raise Conflict(
            f"the works of {application.number} do not wait for an approval "
            f"({APPROVAL_STATE_LABELS[works.approval_state]})",
            code="approval_not_pending",
        )
    works.approval_state = (
        ApprovalState.approved
        if data.result is ApprovalOutcome.approved
        else ApprovalState.rejected
    )
    works.approval_number = data.approval_number.strip()
    works.approval_decided_on = data.decided_on
    works.approval_received_at = now
    works.approval_note = data.note or None
    works.approval_source = caller.key_id
    session.add(works)
    append_event(
        session,
        application,
        EventKind.external_line_approval,
        now=now,
        actor=caller.actor,
        stage=application.current_stage,
        reason=data.note or None,
        payload={
            "result": data.result.value,
            "approval_number": works.approval_number,
            "decided_on": data.decided_on.isoformat(),
        },
    )
    await session.flush()
    return to_public(works, application, beijing_date(now))


async def complete_works(
    session: AsyncSession,
    number: str,
    *,
    actor: Principal,
    now: datetime,
    calendar: WorkingCalendar,
) -> ExternalLinePublic:
    """The works are complete (竣工) now; the push duty starts. Not before any approval."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    works = await _existing_works(session, application, for_update=True)
    if works.completed_at is not None:
        raise Conflict("the works are recorded complete already", code="external_line_completed")
    if works.approval_state in (ApprovalState.pending, ApprovalState.rejected):
        raise Conflict(
            "works that wait for, or were refused, their approval are not built",
            code="external_line_not_approved",
        )
    mark_completed(
        works,
        jurisdiction=application.jurisdiction,
        actor=actor.subject,
        now=now,
        calendar=calendar,
    )
    session.add(works)
    await session.flush()
    return to_public(works, application, beijing_date(now))


async def record_push(
    session: AsyncSession,
    number: str,
    data: PushIn,
    *,
    actor: Principal,
    now: datetime,
) -> ExternalLinePublic:
    """The construction information was pushed to the approval department now."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    works = await _existing_works(session, application, for_update=True)
    if works.completed_at is None:
        raise Conflict(
            "the construction information is pushed after the works are complete",
            code="external_line_not_completed",
        )
    if works.pushed_at is not None:
        raise Conflict("the construction information was pushed already", code="already_pushed")
    works.pushed_at, works.pushed_on, works.pushed_by = now, beijing_date(now), actor.subject
    works.push_reference = data.reference.strip()
    session.add(works)
    await session.flush()
    return to_public(works, application, beijing_date(now))


# ---- reading ---------------------------------------------------------------------------------


def _push_public(
    works: ExternalLineRecord, today: date, policy: ExternalLinePolicy
) -> PushPublic | None:
    push = policy.completion_push
    if works.completed_on is None or works.push_due_on is None or push is None:
        return None
    due = works.push_due_on
    if works.pushed_on is not None:
        late = works.pushed_on > due
        state = PushState.pushed_late if late else PushState.pushed
        days = (works.pushed_on - due).days if late else 0
    else:
        state = PushState.overdue if today > due else PushState.pending
        days = (today - due).days if today > due else 0
    return PushPublic(
        completed_on=works.completed_on,
        due_on=due,
        pushed_on=works.pushed_on,
        reference=works.push_reference,
        state=state,
        overdue=state is PushState.overdue,
        days_overdue=days,
        rule=policy.cite(push),
    )


def to_public(
    works: ExternalLineRecord, application: Application, today: date
) -> ExternalLinePublic:
    policy = load_external_line_policy(application.jurisdiction)
    rule, plan = policy.rule(works.rule_code), policy.plan
    if rule is None:
        # Decided before the jurisdiction had rules of its own: the rule it was decided by.
        rule, plan = _rule_decided_by(works.rule_code)
    return ExternalLinePublic(
        application_number=application.number,
        unit=application.unit,
        voltage=works.voltage,
        length_m=works.length_m,
        crossings=[Crossing(c) for c in works.crossings],
        procedure=works.procedure,
        procedure_name=policy.procedures[works.procedure],
        rule=RulePublic(code=rule.code, text=rule.text, source=rule.source, plan=plan),
        explanation=works.explanation,
        local_rule=policy.local_rule,
        approval=ApprovalPublic(
            state=works.approval_state,
            state_label=APPROVAL_STATE_LABELS[works.approval_state],
            approval_number=works.approval_number,
            decided_on=works.approval_decided_on,
            received_at=works.approval_received_at,
            note=works.approval_note,
        ),
        recorded_at=works.recorded_at,
        recorded_by=works.recorded_by,
        completed_at=works.completed_at,
        push=_push_public(works, today, policy),
        push_note=policy.no_completion_push,
    )


def _rule_decided_by(code: str) -> tuple[LineRule, str]:
    for jurisdiction in external_line_jurisdictions():
        policy = load_external_line_policy(jurisdiction)
        if (rule := policy.rule(code)) is not None:
            return rule, policy.plan
    raise LookupError(f"no external-line rule {code!r} in external_lines.json")


async def read_works(
    session: AsyncSession, number: str, principal: Principal, today: date
) -> ExternalLinePublic:
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    works = to_public(await _existing_works(session, application), application, today)
    return masked_unless(works, unmasked)


@dataclass(frozen=True)
class ExternalLineFilter:
    unit: str | None = None
    approval_state: ApprovalState | None = None
    push_state: PushState | None = None


def _push_condition(state: PushState, today: date) -> ColumnElement[bool]:
    pushed_on, due = col(ExternalLineRecord.pushed_on), col(ExternalLineRecord.push_due_on)
    unpushed = col(ExternalLineRecord.pushed_at).is_(None)
    conditions: dict[PushState, ColumnElement[bool]] = {
        PushState.pending: and_(unpushed, due >= today),
        PushState.overdue: and_(unpushed, due < today),
        PushState.pushed: and_(pushed_on.is_not(None), pushed_on <= due),
        PushState.pushed_late: and_(pushed_on.is_not(None), pushed_on > due),
    }
    return conditions[state]


async def list_works(
    session: AsyncSession,
    principal: Principal,
    flt: ExternalLineFilter,
    today: date,
    paging: PageParams = FIRST_PAGE,
) -> ExternalLinePage:
    """Works the caller may see; with ``push_state=overdue`` the overdue push list (逾期未推送),
    the longest overdue first."""
    query: Any = select(ExternalLineRecord, Application).join(
        Application, col(Application.id) == col(ExternalLineRecord.application_id)
    )
    if principal.role is Role.clerk:
        check_unit_filter(principal, flt.unit)
        query = query.where(col(Application.unit).in_(units.covered(principal.units)))
    elif principal.role is Role.supervisor:
        query = query.where(col(Application.supervising_unit).in_(units.covered(principal.units)))
    if flt.unit is not None:
        query = query.where(col(Application.unit).in_(units.covered([flt.unit])))
    if flt.approval_state is not None:
        query = query.where(col(ExternalLineRecord.approval_state) == flt.approval_state.value)
    if flt.push_state is not None:
        query = query.where(_push_condition(flt.push_state, today))
    order = (
        (col(ExternalLineRecord.push_due_on), col(ExternalLineRecord.id))
        if flt.push_state in (PushState.pending, PushState.overdue)
        else (col(ExternalLineRecord.id).desc(),)
    )
    total, rows = await fetch_page(session, query, paging, *order)
    return ExternalLinePage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=masked_unless(
            [to_public(works, application, today) for works, application in rows],
            principal.role is Role.clerk,
        ),
    )
