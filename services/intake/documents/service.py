"""Recording the documents a customer gives and asking for the ones a stage still needs.

Both happen at the application's current stage and are stamped by the server. Nothing beyond
what the stage requires is received or asked for (不得增加申请资料): refusals are
:class:`services.intake.rules.documents.DocumentNotAllowed` (422 ``document_not_allowed``), each
item named with its own code. The caller has been checked to operate the application.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.documents.models import (
    ApplicationDocument,
    DocumentReceipt,
    DocumentRequest,
    DocumentRequestIn,
    DocumentsView,
)
from services.intake.documents.on_file import (
    current_stage,
    documents_view,
    holdings,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.rules.documents import (
    DocumentKind,
    DocumentNotAllowed,
    check_document_request,
    load_document_catalogue,
    required_documents,
)
from shared.calendar import beijing_date
from shared.errors import Conflict, FieldError, Unprocessable
from shared.masking import mask_sensitive


def _stage_now(application: Application) -> Stage:
    stage = current_stage(application)
    if stage is None:
        raise Conflict(
            f"application {application.number} is {application.status.value}; "
            "it takes no more documents",
            code="application_ended",
        )
    return stage


def _receivable(application: Application, stage: Stage, name: str) -> DocumentKind:
    """The catalogue entry of ``name`` if ``stage`` requires it of this customer type."""
    catalogue = load_document_catalogue()
    kind = catalogue.find(name)
    rule = catalogue.no_other_documents.rule
    if kind is None:
        forbidden = catalogue.forbidden_match(name)
        error = (
            FieldError(
                field="kind",
                code="document_forbidden",
                message=f"不得要求提供“{name}”：{forbidden.rule}（{forbidden.source}）",
            )
            if forbidden
            else FieldError(
                field="kind",
                code="document_not_in_catalogue",
                message=f"“{name}”不在申请资料目录中，不得收取：{rule}",
            )
        )
        raise DocumentNotAllowed(f"'{name}' is not a document this process takes", errors=[error])
    if kind not in required_documents(application.customer_type, stage):
        raise DocumentNotAllowed(
            f"{STAGE_LABELS[stage]} does not take '{kind.name}'",
            errors=[
                FieldError(
                    field="kind",
                    code="document_not_required_at_stage",
                    message=f"{STAGE_LABELS[stage]}环节不需要“{kind.name}”，不得额外收取：{rule}",
                )
            ],
        )
    return kind


async def receive(
    session: AsyncSession,
    application: Application,
    data: DocumentReceipt,
    *,
    actor: str,
    now: datetime,
) -> DocumentsView:
    """Record a document received now at the current stage (收取资料)."""
    stage = _stage_now(application)
    kind = _receivable(application, stage, data.kind)
    today = beijing_date(now)
    if data.valid_until is not None and data.valid_until < today:
        raise Unprocessable(
            f"'{kind.name}' expired on {data.valid_until.isoformat()}",
            code="document_expired",
            errors=[
                FieldError(
                    field="valid_until",
                    code="document_expired",
                    message=f"“{kind.name}”已于{data.valid_until.isoformat()}过期，请提供有效证明",
                )
            ],
        )
    assert application.id is not None
    reference = data.reference.strip()
    document = ApplicationDocument(
        application_id=application.id,
        stage=stage,
        kind=kind.code,
        reference=reference,
        valid_until=data.valid_until,
        note=data.note,
        received_at=now,
        received_by=actor,
    )
    session.add(document)
    await session.flush()
    # The log binds the exact reference by its digest and shows it masked only.
    append_event(
        session,
        application,
        EventKind.document_received,
        now=now,
        actor=actor,
        stage=stage,
        reason=mask_sensitive(data.note) if data.note else None,
        payload={
            "document_id": document.id,
            "kind": kind.code,
            "name": kind.name,
            "reference": mask_sensitive(reference),
            "reference_sha256": hashlib.sha256(reference.encode()).hexdigest(),
            "valid_until": data.valid_until.isoformat() if data.valid_until else None,
        },
    )
    await session.flush()
    return await documents_view(session, application, today, unmasked=True)


async def request_documents(
    session: AsyncSession,
    application: Application,
    data: DocumentRequestIn,
    *,
    actor: str,
    now: datetime,
) -> DocumentsView:
    """Ask the customer, once (一次性告知), for documents the current stage still needs.

    Refused, item by item: a document the plans forbid, one outside the catalogue, one the stage
    does not require, one whose valid copy is already on file (given on this application, or
    reused for a change of use).
    """
    stage = _stage_now(application)
    today = beijing_date(now)
    held = await holdings(session, application)
    received, archived = held.on_file()
    kinds = check_document_request(
        application.customer_type,
        stage,
        data.documents,
        received=received,
        archived=archived,
        change_of_use=held.change_of_use,
        today=today,
        field="documents",
    )
    assert application.id is not None
    request = DocumentRequest(
        application_id=application.id,
        stage=stage,
        kinds=[k.code for k in kinds],
        note=data.note,
        requested_at=now,
        requested_by=actor,
    )
    session.add(request)
    await session.flush()
    append_event(
        session,
        application,
        EventKind.documents_requested,
        now=now,
        actor=actor,
        stage=stage,
        reason=mask_sensitive(data.note) if data.note else None,
        payload={"request_id": request.id, "kinds": request.kinds},
    )
    await session.flush()
    return await documents_view(session, application, today, unmasked=True)
