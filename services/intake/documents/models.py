"""Documents on file per application (申请资料): what was received, what was asked for.

A clerk records each document the customer gives, at the application's current stage, with its
reference and validity; the server stamps when. A change-of-use application (变更用电) is linked
to the earlier application of the same customer, and valid documents of that customer already on
file are reused instead of being asked for again. Which documents a stage may ask for at all is
the rule of :mod:`services.intake.rules.documents`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.policies.models import Stage
from shared.db import UTCDateTime, enum_column
from shared.masking import FreeText
from shared.timeutil import BeijingTime
from shared.validation import Day

# ---- tables ----------------------------------------------------------------------------------


class DocumentSource(StrEnum):
    """Where a document on file came from (资料来源).

    ``elicense``: verified online with the e-license service (电子证照核验, 零证办电);
    ``portal``: pushed by a government platform, e.g. the project approval platform's project
    (工程建设项目审批平台推送); ``counter``: given by the customer to a clerk (窗口收取).
    What came online counts as received and is never asked of the customer again.
    """

    counter = "counter"
    elicense = "elicense"
    portal = "portal"


DOCUMENT_SOURCE_LABELS = {
    DocumentSource.counter: "窗口收取",
    DocumentSource.elicense: "电子证照在线核验",
    DocumentSource.portal: "政务平台推送",
}
ONLINE_SOURCES = (DocumentSource.elicense, DocumentSource.portal)


class ApplicationDocument(IntakeTable, table=True):
    """A document received on an application (已收资料)."""

    __tablename__ = "application_documents"
    __table_args__ = (Index("ix_application_documents_application", "application_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    stage: Stage = Field(sa_column=enum_column(Stage))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    reference: str = Field(default="", max_length=200)
    valid_until: date | None = None
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    received_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_by: str = Field(max_length=100)
    source: DocumentSource = Field(
        default=DocumentSource.counter,
        sa_column=Column(
            enum_column(DocumentSource).type,
            nullable=False,
            server_default=DocumentSource.counter.value,
        ),
    )


class DocumentRequest(IntakeTable, table=True):
    """Documents a clerk asked the customer for (一次性告知), each one allowed by the rules."""

    __tablename__ = "document_requests"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    stage: Stage = Field(sa_column=enum_column(Stage))
    kinds: list[str] = Field(sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    requested_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    requested_by: str = Field(max_length=100)
    pause_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("application_pauses.id"), nullable=True, index=True),
    )
    """The pause this request made the clock wait for (暂停计时所等待的资料), if any."""


class DocumentWaiver(IntakeTable, table=True):
    """A document a stage requires, waived with a recorded reason (免于提供): who, why, when."""

    __tablename__ = "document_waivers"
    __table_args__ = (
        UniqueConstraint("application_id", "stage", "kind", name="uq_document_waivers_kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    stage: Stage = Field(sa_column=enum_column(Stage))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    waived_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    waived_by: str = Field(max_length=100)


class ChangeOfUseLink(IntakeTable, table=True):
    """A change-of-use application (变更用电) and the earlier application it changes."""

    __tablename__ = "change_of_use_links"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, unique=True)
    )
    previous_application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    linked_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    linked_by: str = Field(max_length=100)


# ---- request shapes --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentReceipt(_Body):
    """A document the customer gave, recorded at the current stage (收取资料)."""

    kind: str = DataField(
        min_length=1, max_length=100, description="资料目录编码或名称，如 identity_proof、身份证"
    )
    reference: str = DataField(
        default="", max_length=200, description="证照编号、文件编号或电子证照标识"
    )
    valid_until: Day | None = DataField(default=None, description="有效期至（含）；空为长期有效")
    note: str = DataField(default="", max_length=2000)


class DocumentWaiverIn(_Body):
    """Waive a document the current stage requires, with the reason (免于提供及原因)."""

    kind: str = DataField(min_length=1, max_length=100, description="资料目录编码或名称")
    reason: str = DataField(min_length=1, max_length=2000, description="免于提供的原因")


class DocumentRequestIn(_Body):
    """Documents to ask the customer for (一次性告知所需资料)."""

    documents: list[str] = DataField(min_length=1, max_length=20)
    note: str = DataField(default="", max_length=2000)


# ---- response shapes -------------------------------------------------------------------------


class DocumentPublic(BaseModel):
    id: int
    kind: str
    name: str
    stage: Stage
    stage_label: str
    reference: FreeText = DataField(description="ID numbers and phones in it are masked for others")
    valid_until: date | None
    valid: bool = DataField(description="Valid today (在有效期内)")
    note: FreeText
    received_at: BeijingTime
    received_by: str
    source: DocumentSource
    source_label: str


class DocumentWaiverPublic(BaseModel):
    id: int
    kind: str
    name: str
    stage: Stage
    stage_label: str
    reason: FreeText
    waived_at: BeijingTime
    waived_by: str


class RequiredDocument(BaseModel):
    """One document the current stage requires, and how it stands."""

    code: str
    name: str
    state: Literal["received", "reused", "waived", "needed"] = DataField(
        description="received: given on this application (at the counter, verified online or "
        "pushed by a platform); reused: a valid copy on file from an earlier application "
        "(变更用电); waived: not required, with a recorded reason (免于提供); needed: still to "
        "be given"
    )
    source: DocumentSource | None = DataField(
        default=None, description="Where the copy that counts came from (received only)"
    )
    expired: bool = DataField(description="Needed because the copy on file has expired")
    reused_from: str | None = DataField(
        default=None, description="The earlier application whose copy is reused"
    )


class RequestedDocument(BaseModel):
    code: str
    name: str


class DocumentRequestPublic(BaseModel):
    id: int
    stage: Stage
    stage_label: str
    documents: list[RequestedDocument]
    note: FreeText
    requested_at: BeijingTime
    requested_by: str
    pause_id: int | None = DataField(
        default=None, description="The pause it made the clock wait for"
    )


class DocumentsView(BaseModel):
    """The documents of an application at its current stage (申请资料情况)."""

    stage: Stage | None
    stage_label: str | None
    change_of_use: bool = DataField(description="变更用电")
    changes_application: str | None = DataField(description="The earlier application changed")
    required: list[RequiredDocument]
    needed: list[str] = DataField(description="Names still to be given (尚需提供)")
    on_file: list[DocumentPublic]
    requests: list[DocumentRequestPublic]
    waivers: list[DocumentWaiverPublic]
