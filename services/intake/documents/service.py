"""Recording the documents a customer gives and asking for the ones a stage still needs.

Both happen at the application's current stage and are stamped by the server. Nothing beyond
what the stage requires is received or asked for (不得增加申请资料): refusals are
:class:`services.intake.rules.documents.DocumentNotAllowed` (422 ``document_not_allowed``), each
item named with its own code. What was verified online or pushed by a platform is neither asked
for nor taken again (:class:`.errors.DocumentVerifiedOnline`, 409). A required document may be
waived for the stage with a recorded reason (免于提供, :func:`waive`). The caller has been
checked to operate the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.documents.errors import DocumentNotNeeded, DocumentVerifiedOnline
from services.intake.documents.models import (
    DOCUMENT_SOURCE_LABELS,
    ApplicationDocument,
    DocumentReceipt,
    DocumentRequest,
    DocumentRequestIn,
    DocumentSource,
    DocumentsView,
    DocumentWaiver,
    DocumentWaiverIn,
)
from services.intake.documents.on_file import (
    Holdings,
    current_stage,
    documents_view,
    holdings,
    needs_of,
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
    cited = catalogue.no_other_documents
    rule = f"{cited.rule}（{cited.source_for(application.jurisdiction)}）"
    if kind is None:
        forbidden = catalogue.forbidden_match(name)
        error = (
            FieldError(
                field="kind",
                code="document_forbidden",
                message=(
                    f"不得要求提供“{name}”：{forbidden.rule}"
                    f"（{forbidden.source_for(application.jurisdiction)}）"
                ),
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


def _verified_online(
    held: Holdings, names: Sequence[str], today: date, field: str, *, indexed: bool = True
) -> None:
    """Refuse (409) any of ``names`` whose valid copy came online (零证办电); each refused item
    is ``{field}[i]``, or ``field`` itself when not ``indexed``."""
    catalogue = load_document_catalogue()
    online = held.online(today)
    errors: list[FieldError] = []
    for i, name in enumerate(names):
        kind = catalogue.find(name)
        copy = online.get(kind.code) if kind is not None else None
        if kind is None or copy is None:
            continue
        errors.append(
            FieldError(
                field=f"{field}[{i}]" if indexed else field,
                code="document_verified_online",
                message=f"“{kind.name}”已由{DOCUMENT_SOURCE_LABELS[copy.source]}取得"
                f"（{copy.received_at:%Y-%m-%d %H:%M}），视为已收取，不得再向客户索要",
            )
        )
    if errors:
        raise DocumentVerifiedOnline(
            f"{len(errors)} document(s) were verified online or pushed by a platform "
            "and count as received (零证办电)",
            errors=errors,
        )


async def record_document(
    session: AsyncSession,
    application: Application,
    kind: DocumentKind,
    *,
    stage: Stage,
    reference: str,
    valid_until: date | None,
    note: str,
    source: DocumentSource,
    actor: str,
    now: datetime,
) -> ApplicationDocument:
    """Store a document received now and log it (the log binds the reference by its digest)."""
    assert application.id is not None
    document = ApplicationDocument(
        application_id=application.id,
        stage=stage,
        kind=kind.code,
        reference=reference,
        valid_until=valid_until,
        note=note,
        received_at=now,
        received_by=actor,
        source=source,
    )
    session.add(document)
    await session.flush()
    payload = {
        "document_id": document.id,
        "kind": kind.code,
        "name": kind.name,
        "reference": mask_sensitive(reference),
        "reference_sha256": hashlib.sha256(reference.encode()).hexdigest(),
        "valid_until": valid_until.isoformat() if valid_until else None,
    }
    if source is not DocumentSource.counter:
        payload["source"] = source.value
    append_event(
        session,
        application,
        EventKind.document_received,
        now=now,
        actor=actor,
        stage=stage,
        reason=mask_sensitive(note) if note else None,
        payload=payload,
    )
    await session.flush()
    return document


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
    _verified_online(
        await holdings(session, application), [data.kind], today, "kind", indexed=False
    )
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
    await record_document(
        session,
        application,
        kind,
        stage=stage,
        reference=data.reference.strip(),
        valid_until=data.valid_until,
        note=data.note,
        source=DocumentSource.counter,
        actor=actor,
        now=now,
    )
    return await documents_view(session, application, today, unmasked=True)


async def waive(
    session: AsyncSession,
    application: Application,
    data: DocumentWaiverIn,
    *,
    actor: str,
    now: datetime,
) -> DocumentsView:
    """Waive, for the current stage, a document it requires and still needs (免于提供), with
    the reason; who and when are stamped and logged."""
    stage = _stage_now(application)
    kind = _receivable(application, stage, data.kind)
    today = beijing_date(now)
    held = await holdings(session, application)
    needs = needs_of(application, held, today)
    if needs is None or kind.code not in needs.needed:
        raise DocumentNotNeeded(
            f"'{kind.name}' is not needed any more at this stage",
            errors=[
                FieldError(
                    field="kind",
                    code="document_not_needed",
                    message=f"“{kind.name}”已收取、沿用或已免于提供，无需登记免于提供",
                )
            ],
        )
    reason = data.reason.strip()
    if not reason:
        raise Unprocessable(
            "a waiver needs its reason",
            code="waiver_reason_required",
            errors=[FieldError(field="reason", code="required", message="请填写免于提供的原因")],
        )
    assert application.id is not None
    waiver = DocumentWaiver(
        application_id=application.id,
        stage=stage,
        kind=kind.code,
        reason=reason,
        waived_at=now,
        waived_by=actor,
    )
    session.add(waiver)
    await session.flush()
    append_event(
        session,
        application,
        EventKind.document_waived,
        now=now,
        actor=actor,
        stage=stage,
        reason=mask_sensitive(reason),
        payload={"waiver_id": waiver.id, "kind": kind.code, "name": kind.name},
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
    await ask(session, application, data.documents, data.note, actor=actor, now=now)
    return await documents_view(session, application, beijing_date(now), unmasked=True)


async def ask(
    session: AsyncSession,
    application: Application,
    names: Sequence[str],
    note: str,
    *,
    actor: str,
    now: datetime,
    pause_id: int | None = None,
) -> DocumentRequest:
    """Check and record one request for ``names`` at the current stage (see
    :func:`request_documents`); ``pause_id`` links it to the pause it makes the clock wait for."""
    stage = _stage_now(application)
    today = beijing_date(now)
    held = await holdings(session, application)
    _verified_online(held, names, today, "documents")
    received, archived = held.on_file()
    kinds = check_document_request(
        application.customer_type,
        stage,
        names,
        received=received,
        archived=archived,
        change_of_use=held.change_of_use,
        waived=held.waived_at(stage),
        today=today,
        field="documents",
        jurisdiction=application.jurisdiction,
    )
    assert application.id is not None
    request = DocumentRequest(
        application_id=application.id,
        stage=stage,
        kinds=[k.code for k in kinds],
        note=note,
        requested_at=now,
        requested_by=actor,
        pause_id=pause_id,
    )
    session.add(request)
    await session.flush()
    payload: dict[str, object] = {"request_id": request.id, "kinds": request.kinds}
    if pause_id is not None:
        payload["pause_id"] = pause_id
    append_event(
        session,
        application,
        EventKind.documents_requested,
        now=now,
        actor=actor,
        stage=stage,
        reason=mask_sensitive(note) if note else None,
        payload=payload,
    )
    await session.flush()
    return request
