"""Intake's page of one application (申请详情页): its stages, pauses, documents, fees, the 三零
decision, the stage log, and why each deadline is what it is (期限说明, applications.why).

Each part comes from the function its API route calls, masked as that route masks it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from services.intake.applications import reading, why
from services.intake.applications.models import ApplicationStatus, EventKind
from services.intake.applications.why import DeadlineWhy
from services.intake.deps import Calendar
from services.intake.documents.models import DOCUMENT_SOURCE_LABELS
from services.intake.flows import service as flows
from services.intake.policies.models import STAGE_LABELS
from services.intake.web.monitoring import STAFF, WATCH_LABELS
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

STATUS_LABELS = {
    ApplicationStatus.open: "办理中",
    ApplicationStatus.paused: "暂停计时（等待客户）",
    ApplicationStatus.connected: "已接电",
    ApplicationStatus.closed: "已终止",
}
STAGE_STATES = {"done": "已完成", "open": "办理中", "pending": "未开始"}
DOCUMENT_STATES = {
    "received": "已收取",
    "reused": "沿用已有资料",
    "waived": "免于提供",
    "needed": "尚需提供",
}
EVENT_LABELS = {
    EventKind.created: "受理",
    EventKind.stage_completed: "环节办结",
    EventKind.paused: "暂停计时",
    EventKind.resumed: "恢复计时",
    EventKind.closed: "终止",
    EventKind.corrected: "更正",
    EventKind.policy_rejudged: "按新政策重新判定",
    EventKind.rated: "客户评价",
    EventKind.escalation_opened: "发起督办",
    EventKind.escalation_acknowledged: "受理督办",
    EventKind.escalation_resolved: "督办办结",
    EventKind.external_line_decided: "外线工程判定",
    EventKind.external_line_approval: "外线工程审批",
    EventKind.document_received: "收取资料",
    EventKind.documents_requested: "一次性告知补正资料",
    EventKind.document_waived: "免于提供资料",
    EventKind.fee_added: "新增收费项目",
    EventKind.fee_voided: "作废收费项目",
    EventKind.fee_approved: "收费项目审核同意",
    EventKind.fee_rejected: "收费项目审核不同意",
    EventKind.whitelist_transition: "白名单状态变更",
    EventKind.three_zero_rejudged: "三零重新判定",
    EventKind.three_zero_overridden: "三零人工调整",
    EventKind.workflow_switched: "切换办理流程",
    EventKind.log_resealed: "记录重新封存",
    EventKind.due_changed: "时限调整",
}


@router.get("/applications/{number}", response_model=None)
async def application_page(
    request: Request, session: Session, calendar: Calendar, now: Now, number: str
) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    today = beijing_date(now)
    try:
        shown = await flows.read_detail(session, number, principal, calendar, today)
        log = await reading.read_log(session, number, principal)
        deadlines: list[tuple[str, DeadlineWhy]] = [
            ("全流程", await why.application_why(session, number, principal, calendar, today))
        ]
        for stage in shown.stages:
            if stage.started_at is not None:
                deadlines.append(
                    (
                        stage.label,
                        await why.stage_why(
                            session, number, stage.stage, principal, calendar, today
                        ),
                    )
                )
    except HuodianError as exc:
        return render(
            templates,
            request,
            "application.html",
            person,
            status_code=exc.status,
            error=exc.detail,
            number=number[:40],
        )
    return render(
        templates,
        request,
        "application.html",
        person,
        number=shown.number,
        a=shown,
        log=log,
        deadlines=deadlines,
        status_labels=STATUS_LABELS,
        stage_states=STAGE_STATES,
        document_states=DOCUMENT_STATES,
        source_labels=DOCUMENT_SOURCE_LABELS,
        event_labels=EVENT_LABELS,
        watch_labels=WATCH_LABELS,
        stage_labels=STAGE_LABELS,
    )
