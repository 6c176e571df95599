"""Documents on file over HTTP: clerks record and request them, staff read them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from services.intake.access import OperatedApplication, check_reader
from services.intake.applications.loading import get_application
from services.intake.deps import Calendar, CurrentStaff
from services.intake.documents import pauses, service
from services.intake.documents.models import (
    DocumentReceipt,
    DocumentRequestIn,
    DocumentsView,
    DocumentWaiverIn,
)
from services.intake.documents.on_file import documents_view
from services.intake.documents.pauses import PauseEvidenceReport
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE, attachment
from shared.errors import Problem
from shared.validation import Day

router = APIRouter(tags=["documents"])

Format = Annotated[Literal["json", "xlsx"], Query(alias="format")]
_XLSX: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX_MEDIA_TYPE: {}}}}
_CONFLICTS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "document_verified_online: verified online or pushed by a platform, "
        "not asked for or taken again (零证办电); application_ended",
    }
}


@router.get(
    "/applications/{number}/documents",
    summary="Documents required, on file and still needed (申请资料情况)",
)
async def read_documents(
    number: str, staff: CurrentStaff, session: Session, now: Now
) -> DocumentsView:
    application = await get_application(session, number)
    unmasked = check_reader(application, staff)
    return await documents_view(session, application, beijing_date(now), unmasked=unmasked)


@router.post(
    "/applications/{number}/documents",
    status_code=status.HTTP_201_CREATED,
    summary="Record a document received at the current stage (收取资料)",
    responses=_CONFLICTS,
)
async def receive_document(body: DocumentReceipt, at: OperatedApplication) -> DocumentsView:
    return await service.receive(
        at.session, at.application, body, actor=at.clerk.subject, now=at.now
    )


@router.post(
    "/applications/{number}/documents/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Ask the customer for documents the stage still needs (一次性告知)",
    responses=_CONFLICTS,
)
async def request_documents(body: DocumentRequestIn, at: OperatedApplication) -> DocumentsView:
    return await service.request_documents(
        at.session, at.application, body, actor=at.clerk.subject, now=at.now
    )


@router.post(
    "/applications/{number}/documents/waivers",
    status_code=status.HTTP_201_CREATED,
    summary="Waive a required document for the current stage, with the reason (免于提供)",
    responses={
        409: {
            "model": Problem,
            "description": "document_not_needed: already received, reused or waived",
        }
    },
)
async def waive_document(body: DocumentWaiverIn, at: OperatedApplication) -> DocumentsView:
    return await service.waive(at.session, at.application, body, actor=at.clerk.subject, now=at.now)


@router.get(
    "/applications/{number}/pauses/evidence",
    summary="Each pause with what was asked and when it arrived (暂停计时佐证)",
    response_model=PauseEvidenceReport,
    responses=_XLSX,
)
async def application_pause_evidence(
    number: str, staff: CurrentStaff, session: Session, calendar: Calendar, fmt: Format = "json"
) -> PauseEvidenceReport | Response:
    application = await get_application(session, number)
    unmasked = check_reader(application, staff)
    report = await pauses.evidence_for_application(
        session, application, calendar, unmasked=unmasked
    )
    if fmt == "json":
        return report
    content = pauses.evidence_xlsx(report, f"暂停计时佐证（{application.number}）")
    return attachment(content, XLSX_MEDIA_TYPE, f"pause-evidence-{application.number}.xlsx")


@router.get(
    "/pauses/evidence",
    summary="Pauses started in a period with their evidence, for the evaluation (暂停计时佐证)",
    response_model=PauseEvidenceReport,
    responses=_XLSX,
)
async def period_pause_evidence(
    staff: CurrentStaff,
    session: Session,
    calendar: Calendar,
    period_start: Annotated[Day, Query(description="暂停开始日期起（北京时间）")],
    period_end: Annotated[Day, Query(description="暂停开始日期止（含）")],
    unit: str | None = None,
    fmt: Format = "json",
) -> PauseEvidenceReport | Response:
    report = await pauses.evidence_for_period(
        session, staff, period_start, period_end, calendar, unit=unit
    )
    if fmt == "json":
        return report
    content = pauses.evidence_xlsx(report, f"暂停计时佐证（{period_start}至{period_end}）")
    return attachment(content, XLSX_MEDIA_TYPE, f"pause-evidence-{period_start}-{period_end}.xlsx")
