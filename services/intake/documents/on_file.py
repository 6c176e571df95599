"""The documents an application holds and still needs, and the change-of-use link (变更用电).

The matching key for reuse is the customer's identity as recorded on the applications: the kind
of identifier and the validated number (公民身份号码 or 统一社会信用代码). A change-of-use
application names the earlier application it changes, which must carry the same identity and be
connected; its documents on file are then the documents received on every other application of
that customer, and the valid ones of a kind the rules mark reusable are not asked for again.

No authorisation here: :mod:`services.intake.flows` calls this module while
accepting and reading applications, and :mod:`.service` after checking the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationStatus
from services.intake.applications.requests import ApplicationCreate
from services.intake.documents.models import (
    DOCUMENT_SOURCE_LABELS,
    ApplicationDocument,
    ChangeOfUseLink,
    DocumentPublic,
    DocumentRequest,
    DocumentRequestPublic,
    DocumentSource,
    DocumentsView,
    DocumentWaiver,
    DocumentWaiverPublic,
    RequestedDocument,
    RequiredDocument,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.rules.documents import (
    DocumentNeeds,
    DocumentOnFile,
    documents_still_needed,
    load_document_catalogue,
)
from services.intake.rules.identity import FieldErrors
from shared.masking import masked_unless

_OPEN = (ApplicationStatus.open, ApplicationStatus.paused)


# ---- the change-of-use link ------------------------------------------------------------------


async def check_change_of_use(
    session: AsyncSession, data: ApplicationCreate, id_number: str | None, errors: FieldErrors
) -> Application | None:
    """The earlier application a change-of-use application changes; refusals go to ``errors``.

    Refused: an unknown number (``change_of_use_unknown_application``), another customer's
    application (``change_of_use_other_customer``), one not connected yet
    (``change_of_use_not_connected``).
    """
    if data.changes_application is None:
        return None
    number = data.changes_application.strip()
    earlier = (
        await session.exec(select(Application).where(col(Application.number) == number))
    ).first()
    field = "changes_application"
    if earlier is None:
        errors.add(field, "change_of_use_unknown_application", f"没有编号为{number}的用电申请")
        return None
    if id_number is None:
        return None  # the identity itself is refused; nothing to compare
    if earlier.id_kind is not data.applicant.id_kind or earlier.id_number != id_number:
        errors.add(
            field,
            "change_of_use_other_customer",
            "变更用电须为同一客户：原申请的客户证件号码与本次申请不一致",
        )
        return None
    if earlier.status is not ApplicationStatus.connected:
        errors.add(
            field, "change_of_use_not_connected", f"原申请{number}尚未接电，不能办理变更用电"
        )
        return None
    return earlier


def link_change_of_use(
    session: AsyncSession,
    application: Application,
    earlier: Application,
    *,
    actor: str,
    now: datetime,
) -> None:
    assert application.id is not None
    assert earlier.id is not None
    session.add(
        ChangeOfUseLink(
            application_id=application.id,
            previous_application_id=earlier.id,
            linked_at=now,
            linked_by=actor,
        )
    )


# ---- what is held ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    """The documents of one application and, for a change of use, of its customer."""

    received: list[ApplicationDocument]
    archived: list[tuple[ApplicationDocument, str]]
    """Documents received on the customer's other applications, with their numbers."""
    changes_application: str | None
    waivers: list[DocumentWaiver]

    def waived_at(self, stage: Stage | None) -> list[str]:
        """Codes waived for ``stage`` (免于提供)."""
        return [w.kind for w in self.waivers if w.stage is stage]

    def counted_copy(self, kind: str, today: date) -> ApplicationDocument | None:
        """The valid copy of ``kind`` received on this application, the latest first."""
        valid = [
            d
            for d in self.received
            if d.kind == kind and (d.valid_until is None or d.valid_until >= today)
        ]
        return valid[-1] if valid else None

    @property
    def change_of_use(self) -> bool:
        return self.changes_application is not None

    def online(self, today: date) -> dict[str, ApplicationDocument]:
        """Valid copies verified online or pushed by a platform, by code (零证办电)."""
        found: dict[str, ApplicationDocument] = {}
        for document in self.received:
            if document.source is not DocumentSource.counter and (
                document.valid_until is None or document.valid_until >= today
            ):
                found[document.kind] = document
        return found

    def on_file(self) -> tuple[list[DocumentOnFile], list[DocumentOnFile]]:
        """(received, archived) as the rules take them; the reference is the holder's number."""
        return (
            [DocumentOnFile(d.kind, d.valid_until, str(d.id)) for d in self.received],
            [DocumentOnFile(d.kind, d.valid_until, number) for d, number in self.archived],
        )


async def holdings(session: AsyncSession, application: Application) -> Holdings:
    received = list(
        (
            await session.exec(
                select(ApplicationDocument)
                .where(col(ApplicationDocument.application_id) == application.id)
                .order_by(col(ApplicationDocument.id))
            )
        ).all()
    )
    earlier = aliased(Application)
    link = (
        await session.exec(
            select(earlier.number)
            .join(ChangeOfUseLink, col(ChangeOfUseLink.previous_application_id) == earlier.id)
            .where(col(ChangeOfUseLink.application_id) == application.id)
        )
    ).first()
    archived: list[tuple[ApplicationDocument, str]] = []
    if link is not None:
        rows = await session.exec(
            select(ApplicationDocument, Application.number)
            .join(Application, col(Application.id) == col(ApplicationDocument.application_id))
            .where(
                col(Application.id_kind) == application.id_kind.value,
                col(Application.id_number) == application.id_number,
                col(Application.id) != application.id,
            )
            .order_by(col(ApplicationDocument.id))
        )
        archived = [(document, number) for document, number in rows.all()]
    waivers = list(
        (
            await session.exec(
                select(DocumentWaiver)
                .where(col(DocumentWaiver.application_id) == application.id)
                .order_by(col(DocumentWaiver.id))
            )
        ).all()
    )
    return Holdings(received, archived, link, waivers)


def current_stage(application: Application) -> Stage | None:
    """The stage documents are given at now; None once the application has ended."""
    return application.current_stage if application.status in _OPEN else None


def needs_of(application: Application, held: Holdings, today: date) -> DocumentNeeds | None:
    stage = current_stage(application)
    if stage is None:
        return None
    received, archived = held.on_file()
    return documents_still_needed(
        application.customer_type,
        stage,
        received=received,
        archived=archived,
        change_of_use=held.change_of_use,
        waived=held.waived_at(stage),
        today=today,
    )


# ---- reading ---------------------------------------------------------------------------------


async def _requests(session: AsyncSession, application_id: int | None) -> list[DocumentRequest]:
    query = (
        select(DocumentRequest)
        .where(col(DocumentRequest.application_id) == application_id)
        .order_by(col(DocumentRequest.id))
    )
    return list((await session.exec(query)).all())


def _document_public(document: ApplicationDocument, today: date) -> DocumentPublic:
    catalogue = load_document_catalogue()
    assert document.id is not None
    return DocumentPublic(
        id=document.id,
        kind=document.kind,
        name=catalogue.kind(document.kind).name,
        stage=document.stage,
        stage_label=STAGE_LABELS[document.stage],
        reference=document.reference,
        valid_until=document.valid_until,
        valid=document.valid_until is None or document.valid_until >= today,
        note=document.note,
        received_at=document.received_at,
        received_by=document.received_by,
        source=document.source,
        source_label=DOCUMENT_SOURCE_LABELS[document.source],
    )


def _waiver_public(waiver: DocumentWaiver) -> DocumentWaiverPublic:
    assert waiver.id is not None
    return DocumentWaiverPublic(
        id=waiver.id,
        kind=waiver.kind,
        name=load_document_catalogue().kind(waiver.kind).name,
        stage=waiver.stage,
        stage_label=STAGE_LABELS[waiver.stage],
        reason=waiver.reason,
        waived_at=waiver.waived_at,
        waived_by=waiver.waived_by,
    )


def _reused_from(held: Holdings, kind: str, today: date) -> str | None:
    valid = [
        number
        for d, number in held.archived
        if d.kind == kind and (d.valid_until is None or d.valid_until >= today)
    ]
    return valid[-1] if valid else None


async def documents_view(
    session: AsyncSession,
    application: Application,
    today: date,
    *,
    unmasked: bool,
    fresh: bool = False,
) -> DocumentsView:
    """What the current stage requires, what is held, what is still needed, what was asked;
    free text masked unless ``unmasked`` (:func:`shared.masking.masked_unless`). ``fresh``: the
    caller has just accepted the application and it brought nothing (no pre-application joined,
    no change of use), so it holds and was asked nothing and nothing is read."""
    catalogue = load_document_catalogue()
    held = Holdings([], [], None, []) if fresh else await holdings(session, application)
    needs = needs_of(application, held, today)
    required: list[RequiredDocument] = []
    if needs is not None:
        for code in needs.required:
            state = (
                "received"
                if code in needs.received
                else "reused"
                if code in needs.reused
                else "waived"
                if code in needs.waived
                else "needed"
            )
            copy = held.counted_copy(code, today) if state == "received" else None
            required.append(
                RequiredDocument(
                    code=code,
                    name=catalogue.kind(code).name,
                    state=state,
                    expired=code in needs.expired,
                    reused_from=_reused_from(held, code, today) if state == "reused" else None,
                    source=copy.source if copy is not None else None,
                )
            )
    stage = current_stage(application)
    view = DocumentsView(
        stage=stage,
        stage_label=STAGE_LABELS[stage] if stage else None,
        change_of_use=held.change_of_use,
        changes_application=held.changes_application,
        required=required,
        needed=[r.name for r in required if r.state == "needed"],
        on_file=[_document_public(d, today) for d in held.received],
        requests=[
            DocumentRequestPublic(
                id=r.id or 0,
                stage=r.stage,
                stage_label=STAGE_LABELS[r.stage],
                documents=[RequestedDocument(code=k, name=catalogue.kind(k).name) for k in r.kinds],
                note=r.note,
                requested_at=r.requested_at,
                requested_by=r.requested_by,
                pause_id=r.pause_id,
            )
            for r in ([] if fresh else await _requests(session, application.id))
        ],
        waivers=[_waiver_public(w) for w in held.waivers],
    )
    return masked_unless(view, unmasked)
