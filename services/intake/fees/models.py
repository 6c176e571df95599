"""Fee items an application carries (收费项目), as recorded by the clerk.

Two kinds: a statutory fee (政府定价收费) names the price document it is charged under; an
extended service (延伸服务) is one listed in the catalogue at its published price (明码标价) and is
charged only with the customer's consent (用户确认). Banned fees and, for a zero-investment (三零)
application, any charge for the utility's part are refused by
:func:`services.intake.rules.fees.check_fee_items`. A wrong item is voided with a reason, never
deleted.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import Column, ForeignKey, Index, Integer, Numeric, String, Text
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT
from shared.timeutil import BeijingTime


class FeeKind(StrEnum):
    statutory = "statutory"
    extended = "extended"


FEE_KIND_LABELS = {
    FeeKind.statutory: "政府定价收费",
    FeeKind.extended: "延伸服务收费",
}


class FeeApproval(StrEnum):
    """Where a fee item held for a supervisor's approval (待审核收费) stands."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


FEE_APPROVAL_LABELS = {
    FeeApproval.pending: "待监管人员审核（未计入应收）",
    FeeApproval.approved: "审核同意",
    FeeApproval.rejected: "审核不同意（不得收取）",
}


class ApplicationFee(IntakeTable, table=True):
    __tablename__ = "application_fees"
    # The supervisors' queue reads the held items only (GET /fees/pending).
    __table_args__ = (Index("ix_application_fees_approval", "approval", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    kind: FeeKind = Field(sa_column=enum_column(FeeKind))
    name: str = Field(max_length=200)
    service_code: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    basis: str | None = Field(default=None, max_length=300)
    unit: str | None = Field(default=None, max_length=20)
    unit_price: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    quantity: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    utility_side: bool = False
    consented_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    consent_recorded_by: str | None = Field(default=None, max_length=100)
    consent_evidence: str | None = Field(default=None, max_length=500)
    added_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    added_by: str = Field(max_length=100)
    voided_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    voided_by: str | None = Field(default=None, max_length=100)
    void_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    price_document: str | None = Field(default=None, max_length=300)
    """The provincial price document the clerk cites beside a statutory item's legal basis."""
    approval: FeeApproval | None = Field(
        default=None, sa_column=enum_column(FeeApproval, nullable=True)
    )
    """Set for an item on neither list, held for a supervisor's approval at the clerk's request."""
    hold_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    decided_by: str | None = Field(default=None, max_length=100)
    decision_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    @property
    def due(self) -> bool:
        """Charged to the applicant: not voided, and not held or refused by a supervisor."""
        return self.voided_at is None and self.approval in (None, FeeApproval.approved)


# ---- request shapes --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(_Body):
    """The customer's consent to an extended service, recorded now by the clerk (用户确认)."""

    evidence: str = DataField(
        min_length=1, max_length=500, description="确认凭据：签字确认单编号、线上确认记录等"
    )


class FeeHoldIn(_Body):
    """Hold an item that is on neither list for a supervisor's approval (提请监管审核)."""

    reason: str | None = DataField(default=None, max_length=2000, description="提请审核的理由")


class FeeItemIn(_Body):
    kind: FeeKind
    name: str = DataField(min_length=1, max_length=200, description="收费项目名称")
    amount: Decimal = DataField(ge=0, le=100_000_000, decimal_places=2, description="金额（元）")
    quantity: Decimal = DataField(default=Decimal(1), gt=0, le=1_000_000, decimal_places=2)
    service_code: str | None = DataField(
        default=None, min_length=1, max_length=64, description="延伸服务目录编码"
    )
    basis: str | None = DataField(
        default=None,
        min_length=1,
        max_length=300,
        description="政府定价收费：本省核定收费标准的文件（依据由清单给出）；待审核项目：收费依据",
    )
    utility_side: bool = DataField(default=False, description="供电企业投资部分（至电能表）的费用")
    consent: ConsentIn | None = None
    hold: FeeHoldIn | None = DataField(
        default=None, description="Not on the lists: hold it for a supervisor instead of refusing"
    )


class FeeItemsIn(_Body):
    items: list[FeeItemIn] = DataField(min_length=1, max_length=50)


class FeeVoid(_Body):
    reason: str = DataField(min_length=1, max_length=2000, description="作废原因")


class FeeDecisionIn(_Body):
    note: str = DataField(min_length=1, max_length=2000, description="审核意见")


# ---- response shapes -------------------------------------------------------------------------


class FeePublic(BaseModel):
    id: int
    kind: FeeKind
    kind_label: str
    name: str
    service_code: str | None
    basis: str | None
    unit: str | None
    unit_price: Decimal | None
    quantity: Decimal
    amount: Decimal
    utility_side: bool
    consented_at: BeijingTime | None
    consent_recorded_by: str | None
    consent_evidence: Annotated[str | None, FREE_TEXT]
    added_at: BeijingTime
    added_by: str
    voided_at: BeijingTime | None
    voided_by: str | None
    void_reason: Annotated[str | None, FREE_TEXT]
    price_document: str | None = None
    approval: FeeApproval | None = DataField(default=None, description="Held items only")
    approval_label: str | None = None
    hold_reason: Annotated[str | None, FREE_TEXT] = None
    decided_at: BeijingTime | None = None
    decided_by: str | None = None
    decision_note: Annotated[str | None, FREE_TEXT] = None
    due: bool = DataField(default=True, description="Charged: not voided, not held or refused")


class FeeSheet(BaseModel):
    """The fee items of an application and their totals (收费清单), voided items included."""

    zero_investment: bool = DataField(description="三零：用户不承担供电企业投资部分的费用")
    currency: Literal["CNY"] = "CNY"
    items: list[FeePublic]
    statutory_total: Decimal
    extended_total: Decimal
    total: Decimal = DataField(description="合计（不含已作废、待审核和审核不同意的项目）")
    pending_total: Decimal = DataField(
        default=Decimal("0.00"), description="待监管人员审核的金额（未计入合计）"
    )


class ApplicantFee(BaseModel):
    """A fee item as the applicant sees it."""

    name: str
    kind_label: str
    quantity: Decimal
    unit: str | None
    amount: Decimal


class PendingFee(BaseModel):
    """A held fee item waiting for a supervisor (待审核收费项目), with its application."""

    number: str
    unit: str
    supervising_unit: str
    applicant_name: str
    fee: FeePublic


class PendingFees(BaseModel):
    items: list[PendingFee]
