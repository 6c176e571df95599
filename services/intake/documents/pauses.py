"""Pause evidence (暂停计时佐证): what the customer was asked for, when, and when it arrived.

A pause for missing material (等待客户补充资料) names what is awaited: the documents, asked
once (一次性告知) through :func:`services.intake.documents.service.ask` and linked to the pause,
or at least a note. The evidence of each pause lists its reason, who paused and resumed it and
when, and for every document asked for — with the pause or during it — when it arrived (the
first copy received after it was asked, with its source) or that it was waived. It is read per
application or per period of pause starts, and exported as .xlsx for the evaluation
(营商环境评价).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as DataField
from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications import clock
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    PauseReason,
    PauseShown,
    pause_facts,
)
from services.intake.applications.requests import PauseRequest
from services.intake.documents.models import (
    DOCUMENT_SOURCE_LABELS,
    ApplicationDocument,
    DocumentRequest,
    DocumentSource,
    DocumentWaiver,
)
from services.intake.documents.service import ask
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.rules.documents import load_document_catalogue
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar
from shared.downloads import PROVISIONAL_MARK, add_sheet, new_workbook, workbook_bytes
from shared.errors import FieldError, Unprocessable
from shared.masking import masked_unless
from shared.timeutil import BeijingTime, format_beijing

__all__ = [
    "AwaitedDocument",
    "PauseEvidence",
    "PauseEvidenceReport",
    "ask_on_pause",
    "evidence_for_application",
    "evidence_for_period",
    "evidence_xlsx",
]

MAX_PERIOD_DAYS = 366


# ---- pausing ---------------------------------------------------------------------------------


async def ask_on_pause(
    session: AsyncSession,
    application: Application,
    pause: ApplicationPause,
    data: PauseRequest,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Record what a new pause waits for: the documents asked for with it, linked to it.

    A pause for missing material without documents or a note is refused
    (422 ``pause_reason_required``).
    """
    if data.reason is PauseReason.missing_material and not (data.documents or data.note.strip()):
        raise Unprocessable(
            "a pause for missing material names the documents or what is awaited",
            code="pause_reason_required",
            errors=[
                FieldError(
                    field="documents",
                    code="pause_reason_required",
                    message="等待客户补充资料时，须列明所缺资料或写明等待的事项",
                )
            ],
        )
    if not data.documents:
        return
    await session.flush()  # the pause's id, for the link
    await ask(
        session, application, data.documents, data.note, actor=actor, now=now, pause_id=pause.id
    )


# ---- the evidence ----------------------------------------------------------------------------


class AwaitedDocument(BaseModel):
    """One document a pause waited for, and how it arrived."""

    code: str
    name: str
    asked_at: BeijingTime
    asked_by: str
    state: Literal["arrived", "waived", "outstanding"] = DataField(
        description="arrived: received after it was asked; waived: 免于提供; outstanding: 尚未提供"
    )
    arrived_at: BeijingTime | None = DataField(description="When it arrived or was waived")
    source: DocumentSource | None
    source_label: str | None
    received_by: str | None


class PauseEvidence(PauseShown):
    """One pause with what it waited for (暂停计时佐证)."""

    application: str
    unit: str
    stage_label: str
    days: int | None = DataField(description="Working days paused; null while it runs")
    provisional: bool = DataField(
        description="预测: the working days paused were counted over a year whose holiday "
        "arrangement is not published yet"
    )
    due_date: date | None = DataField(
        description="The due date the paused clock runs to: the stage's own (环节办结期限), or "
        "the whole process's (全流程期限) when only a total limit is set; moved on by every "
        "pause ended so far"
    )
    due_provisional: bool = DataField(
        description="预测: the due date was counted over a year whose arrangement is not published"
    )
    awaited: list[AwaitedDocument]


class PauseEvidenceReport(BaseModel):
    period_start: date | None
    period_end: date | None
    pauses: list[PauseEvidence]


@dataclass
class _Loaded:
    stages: dict[tuple[int, int], ApplicationStage]
    requests: dict[int, list[DocumentRequest]]
    documents: dict[int, list[ApplicationDocument]]
    waivers: dict[int, list[DocumentWaiver]]


async def _load(session: AsyncSession, ids: Sequence[int]) -> _Loaded:
    """Everything the evidence of these applications needs, in four queries."""
    loaded = _Loaded({}, defaultdict(list), defaultdict(list), defaultdict(list))
    if not ids:
        return loaded
    for stage in (
        await session.exec(
            select(ApplicationStage).where(col(ApplicationStage.application_id).in_(ids))
        )
    ).all():
        loaded.stages[(stage.application_id, stage.seq)] = stage
    for request in (
        await session.exec(
            select(DocumentRequest)
            .where(col(DocumentRequest.application_id).in_(ids))
            .order_by(col(DocumentRequest.id))
        )
    ).all():
        loaded.requests[request.application_id].append(request)
    for document in (
        await session.exec(
            select(ApplicationDocument)
            .where(col(ApplicationDocument.application_id).in_(ids))
            .order_by(col(ApplicationDocument.id))
        )
    ).all():
        loaded.documents[document.application_id].append(document)
    for waiver in (
        await session.exec(
            select(DocumentWaiver)
            .where(col(DocumentWaiver.application_id).in_(ids))
            .order_by(col(DocumentWaiver.id))
        )
    ).all():
        loaded.waivers[waiver.application_id].append(waiver)
    return loaded


def _during(pause: ApplicationPause, request: DocumentRequest) -> bool:
    if request.pause_id is not None:
        return request.pause_id == pause.id
    return request.requested_at >= pause.started_at and (
        pause.ended_at is None or request.requested_at <= pause.ended_at
    )


def _awaited(
    pause: ApplicationPause, stage: Stage, application_id: int, loaded: _Loaded
) -> list[AwaitedDocument]:
    catalogue = load_document_catalogue()
    awaited: list[AwaitedDocument] = []
    seen: set[str] = set()
    for request in loaded.requests[application_id]:
        if request.stage is not stage or not _during(pause, request):
            continue
        for code in request.kinds:
            if code in seen:
                continue
            seen.add(code)
            arrived = next(
                (
                    d
                    for d in loaded.documents[application_id]
                    if d.kind == code and d.received_at >= request.requested_at
                ),
                None,
            )
            waived = next(
                (
                    w
                    for w in loaded.waivers[application_id]
                    if w.kind == code and w.stage is stage and w.waived_at >= request.requested_at
                ),
                None,
            )
            awaited.append(
                AwaitedDocument(
                    code=code,
                    name=catalogue.kind(code).name,
                    asked_at=request.requested_at,
                    asked_by=request.requested_by,
                    state="arrived" if arrived else "waived" if waived else "outstanding",
                    arrived_at=arrived.received_at
                    if arrived
                    else waived.waived_at
                    if waived
                    else None,
                    source=arrived.source if arrived else None,
                    source_label=DOCUMENT_SOURCE_LABELS[arrived.source] if arrived else None,
                    received_by=arrived.received_by
                    if arrived
                    else waived.waived_by
                    if waived
                    else None,
                )
            )
    return awaited


def _evidence(
    rows: Sequence[tuple[ApplicationPause, Application]],
    loaded: _Loaded,
    calendar: WorkingCalendar,
) -> list[PauseEvidence]:
    shown: list[PauseEvidence] = []
    for pause, application in rows:
        assert application.id is not None
        stage_row = loaded.stages[(application.id, pause.stage_seq)]
        stage = stage_row.stage
        due = (
            clock.stage_deadline(calendar, application, stage_row)
            if application.staged
            else clock.process_deadline(calendar, application)
        )
        provisional = (
            pause.ended_day is not None
            and (clock.paused_days(calendar, pause.started_day, pause.ended_day)[1])
        )
        shown.append(
            PauseEvidence(
                application=application.number,
                unit=application.unit,
                stage=stage,
                stage_label=STAGE_LABELS[stage],
                **pause_facts(pause),
                days=pause.days if pause.ended_at is not None else None,
                provisional=provisional,
                due_date=due.due if due else None,
                due_provisional=due is not None and due.provisional,
                awaited=_awaited(pause, stage, application.id, loaded),
            )
        )
    return shown


async def evidence_for_application(
    session: AsyncSession, application: Application, calendar: WorkingCalendar, *, unmasked: bool
) -> PauseEvidenceReport:
    """Every pause of one application with its evidence; notes masked unless ``unmasked``."""
    pauses = (
        await session.exec(
            select(ApplicationPause)
            .where(col(ApplicationPause.application_id) == application.id)
            .order_by(col(ApplicationPause.id))
        )
    ).all()
    assert application.id is not None
    loaded = await _load(session, [application.id])
    report = PauseEvidenceReport(
        period_start=None,
        period_end=None,
        pauses=_evidence([(p, application) for p in pauses], loaded, calendar),
    )
    return masked_unless(report, unmasked)


def _scope(principal: Principal, unit: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if principal.role is Role.clerk:
        if unit is not None:
            units.require_covers(principal.units, unit)
        conditions.append(col(Application.unit).in_(units.covered(principal.units)))
    elif principal.role is Role.supervisor:
        conditions.append(col(Application.supervising_unit).in_(units.covered(principal.units)))
    if unit is not None:
        conditions.append(col(Application.unit).in_(units.covered([unit])))
    return conditions


async def evidence_for_period(
    session: AsyncSession,
    principal: Principal,
    period_start: date,
    period_end: date,
    calendar: WorkingCalendar,
    *,
    unit: str | None = None,
) -> PauseEvidenceReport:
    """The pauses that started in the period (Beijing days, both included) on applications the
    caller may see; notes unmasked for clerks of the unit only."""
    errors: list[FieldError] = []
    if period_end < period_start:
        errors.append(
            FieldError(field="period_end", code="period_reversed", message="截止日期早于起始日期")
        )
    elif (period_end - period_start).days >= MAX_PERIOD_DAYS:
        errors.append(
            FieldError(
                field="period_end",
                code="period_too_long",
                message=f"期间不得超过{MAX_PERIOD_DAYS}天",
            )
        )
    if errors:
        raise Unprocessable("the period is not usable", code="invalid_period", errors=errors)
    query = (
        select(ApplicationPause, Application)
        .join(Application, col(Application.id) == col(ApplicationPause.application_id))
        .where(
            col(ApplicationPause.started_day) >= period_start,
            col(ApplicationPause.started_day) <= period_end,
            *_scope(principal, unit),
        )
        .order_by(col(ApplicationPause.started_at), col(ApplicationPause.id))
    )
    rows = [(pause, application) for pause, application in (await session.exec(query)).all()]
    loaded = await _load(session, sorted({a.id for _, a in rows if a.id is not None}))
    report = PauseEvidenceReport(
        period_start=period_start,
        period_end=period_end,
        pauses=_evidence(rows, loaded, calendar),
    )
    return masked_unless(report, principal.role is Role.clerk)


# ---- the workbook ----------------------------------------------------------------------------

_HEADER = (
    "申请编号",
    "供电单位",
    "环节",
    "暂停原因",
    "等待事项",
    "暂停时间",
    "暂停人",
    "告知资料",
    "告知时间",
    "资料到达情况",
    "恢复时间",
    "恢复人",
    "暂停工作日",
    "暂停工作日预测",
    "办结期限",
    "期限预测",
)


def _arrival(document: AwaitedDocument) -> str:
    if document.state == "arrived":
        return f"{document.name}：{format_beijing(document.arrived_at)} {document.source_label}"
    if document.state == "waived":
        return f"{document.name}：{format_beijing(document.arrived_at)} 免于提供"
    return f"{document.name}：尚未提供"


def evidence_xlsx(report: PauseEvidenceReport, heading: str) -> bytes:
    """The evidence as one sheet, a pause a row, laid out to print (A4 landscape)."""
    workbook = new_workbook(heading)
    add_sheet(
        workbook,
        "暂停计时佐证",
        _HEADER,
        (
            [
                p.application,
                p.unit,
                p.stage_label,
                p.reason_label,
                p.note,
                format_beijing(p.started_at),
                p.started_by,
                "\n".join(d.name for d in p.awaited),
                "\n".join(format_beijing(d.asked_at) for d in p.awaited),
                "\n".join(_arrival(d) for d in p.awaited),
                format_beijing(p.ended_at) or "暂停中",
                p.ended_by or "",
                p.days if p.days is not None else "",
                PROVISIONAL_MARK if p.provisional else "",
                p.due_date.isoformat() if p.due_date else "",
                PROVISIONAL_MARK if p.due_provisional else "",
            ]
            for p in report.pauses
        ),
        heading=heading,
    )
    return workbook_bytes(workbook)
