"""Documents that arrive without the customer (零证办电 / 一证受理).

When the e-license service (电子证照) has confirmed the applicant's licence — 营业执照 or 身份证 —
and the site's property certificate (不动产登记), those count as the identity and property
proofs received on the application, with ``source`` ``elicense``; when the project approval
platform (工程建设项目审批平台) has pushed the application's project, its approval counts as
the project approval document, with ``source`` ``portal``. Such a copy is never asked of the
customer again (:mod:`.service`). Each is logged like a document taken at the counter, with its
source, so an evidence bundle binds it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application
from services.intake.documents.models import DocumentSource
from services.intake.documents.on_file import current_stage
from services.intake.documents.service import record_document
from services.intake.policies.models import Stage
from services.intake.rules.documents import load_document_catalogue, required_documents

__all__ = ["VerifiedLicence", "record_project_pushed", "record_verified_licences"]

IDENTITY, PROPERTY, PROJECT = "identity_proof", "property_proof", "project_approval"


@dataclass(frozen=True)
class VerifiedLicence:
    """A licence the e-license service answered ``valid`` for."""

    kind: str
    """``identity_proof`` (营业执照, 身份证) or ``property_proof`` (不动产权证书)."""
    number: str
    """As it may be stored: an ID card number is masked."""
    issuer: str | None
    expires_on: date | None


def _required_somewhere(application: Application, code: str) -> bool:
    return any(
        code in {k.code for k in required_documents(application.customer_type, stage)}
        for stage in Stage
    )


async def record_verified_licences(
    session: AsyncSession,
    application: Application,
    licences: list[VerifiedLicence],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Count each licence verified online as received at the current stage."""
    stage = current_stage(application)
    if stage is None:
        return
    catalogue = load_document_catalogue()
    for licence in licences:
        if not _required_somewhere(application, licence.kind):
            continue
        await record_document(
            session,
            application,
            catalogue.kind(licence.kind),
            stage=stage,
            reference=licence.number,
            valid_until=licence.expires_on,
            note=f"电子证照核验有效（发证机关：{licence.issuer}）"
            if licence.issuer
            else "电子证照核验有效",
            source=DocumentSource.elicense,
            actor=actor,
            now=now,
        )


async def record_project_pushed(
    session: AsyncSession,
    application: Application,
    *,
    project_code: str,
    project_name: str,
    source_key_id: str,
    now: datetime,
) -> None:
    """Count the project the approval platform pushed as the project approval document, for an
    open application whose customer type requires one (高压用户)."""
    stage = current_stage(application)
    if stage is None or not _required_somewhere(application, PROJECT):
        return
    await record_document(
        session,
        application,
        load_document_catalogue().kind(PROJECT),
        stage=stage,
        reference=project_code,
        valid_until=None,
        note=f"工程建设项目审批平台推送：{project_name}",
        source=DocumentSource.portal,
        actor=f"portal:{source_key_id}",
        now=now,
    )
