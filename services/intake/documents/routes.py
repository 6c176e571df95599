"""Documents on file over HTTP: clerks record and request them, staff read them."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.intake.applications.service import check_operator, check_reader, get_application
from services.intake.deps import CurrentClerk, Staff
from services.intake.documents import service
from services.intake.documents.models import DocumentReceipt, DocumentRequestIn, DocumentsView
from services.intake.documents.on_file import documents_view
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now

router = APIRouter(tags=["documents"])


@router.get(
    "/applications/{number}/documents",
    summary="Documents required, on file and still needed (申请资料情况)",
)
async def read_documents(number: str, staff: Staff, session: Session, now: Now) -> DocumentsView:
    application = await get_application(session, number)
    unmasked = check_reader(application, staff)
    return await documents_view(session, application, beijing_date(now), unmasked=unmasked)


@router.post(
    "/applications/{number}/documents",
    status_code=status.HTTP_201_CREATED,
    summary="Record a document received at the current stage (收取资料)",
)
async def receive_document(
    number: str, body: DocumentReceipt, clerk: CurrentClerk, session: Session, now: Now
) -> DocumentsView:
    application = await get_application(session, number, for_update=True)
    check_operator(application, clerk)
    return await service.receive(session, application, body, actor=clerk.subject, now=now)


@router.post(
    "/applications/{number}/documents/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Ask the customer for documents the stage still needs (一次性告知)",
)
async def request_documents(
    number: str, body: DocumentRequestIn, clerk: CurrentClerk, session: Session, now: Now
) -> DocumentsView:
    application = await get_application(session, number, for_update=True)
    check_operator(application, clerk)
    return await service.request_documents(session, application, body, actor=clerk.subject, now=now)
