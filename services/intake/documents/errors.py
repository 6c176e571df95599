"""The refusals of the documents domain that are conflicts with what is already on record."""

from __future__ import annotations

from shared.errors import Conflict

__all__ = ["DocumentNotNeeded", "DocumentVerifiedOnline", "StageDocumentsMissing"]


class DocumentVerifiedOnline(Conflict):
    """The document was verified online or pushed by a platform; it is not asked for or taken
    again (零证办电 / 一证受理)."""

    code = "document_verified_online"
    title = "Document verified online"


class DocumentNotNeeded(Conflict):
    """A waiver for a document that is already received, reused or waived."""

    code = "document_not_needed"
    title = "Document not needed"


class StageDocumentsMissing(Conflict):
    """A stage completed before what the rules require for it was received or waived; each
    missing document is one error, its catalogue code as the field."""

    code = "stage_documents_missing"
    title = "Stage documents missing"
