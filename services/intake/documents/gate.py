"""A stage completes only with its documents (资料齐全方可办结).

What the rules require of the current stage (:mod:`services.intake.rules.documents`) must each
be received — at the counter, verified online or pushed by a platform — reused from an earlier
application on a change of use, or waived with a recorded reason (免于提供). Otherwise the stage
is refused: :class:`.errors.StageDocumentsMissing` (409 ``stage_documents_missing``), one error
per missing document.
"""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application
from services.intake.documents.errors import StageDocumentsMissing
from services.intake.documents.on_file import current_stage, holdings, needs_of
from services.intake.policies.models import STAGE_LABELS
from services.intake.rules.documents import load_document_catalogue
from shared.errors import FieldError

__all__ = ["check_stage_documents"]


async def check_stage_documents(
    session: AsyncSession, application: Application, today: date
) -> None:
    """Refuse to complete the current stage while a document it requires is still needed."""
    stage = current_stage(application)
    if stage is None:
        return
    needs = needs_of(application, await holdings(session, application), today)
    if needs is None or not needs.needed:
        return
    catalogue = load_document_catalogue()
    names = [catalogue.kind(code).name for code in needs.needed]
    raise StageDocumentsMissing(
        f"{STAGE_LABELS[stage]} needs {', '.join(needs.needed)} before it completes",
        errors=[
            FieldError(
                field=code,
                code="document_expired" if code in needs.expired else "document_needed",
                message=f"{STAGE_LABELS[stage]}环节尚需“{name}”"
                + ("（存档的已过期）" if code in needs.expired else "")
                + "：请收取，或登记免于提供的原因",
            )
            for code, name in zip(needs.needed, names, strict=True)
        ],
    )
