"""Reading the fee items of an application (收费清单); no authorisation here."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.fees.models import (
    FEE_APPROVAL_LABELS,
    FEE_KIND_LABELS,
    ApplicantFee,
    ApplicationFee,
    FeeApproval,
    FeeKind,
    FeePublic,
    FeeSheet,
)
from services.intake.whitelist.recorded import zero_investment
from shared.masking import masked_unless

ZERO = Decimal("0.00")


async def fees_of(session: AsyncSession, application_id: int | None) -> list[ApplicationFee]:
    query = (
        select(ApplicationFee)
        .where(col(ApplicationFee.application_id) == application_id)
        .order_by(col(ApplicationFee.id))
    )
    return list((await session.exec(query)).all())


def fee_public(fee: ApplicationFee) -> FeePublic:
    assert fee.id is not None
    return FeePublic(
        id=fee.id,
        kind=fee.kind,
        kind_label=FEE_KIND_LABELS[fee.kind],
        name=fee.name,
        service_code=fee.service_code,
        basis=fee.basis,
        unit=fee.unit,
        unit_price=fee.unit_price,
        quantity=fee.quantity,
        amount=fee.amount,
        utility_side=fee.utility_side,
        consented_at=fee.consented_at,
        consent_recorded_by=fee.consent_recorded_by,
        consent_evidence=fee.consent_evidence,
        added_at=fee.added_at,
        added_by=fee.added_by,
        voided_at=fee.voided_at,
        voided_by=fee.voided_by,
        void_reason=fee.void_reason,
        price_document=fee.price_document,
        approval=fee.approval,
        approval_label=FEE_APPROVAL_LABELS[fee.approval] if fee.approval else None,
        hold_reason=fee.hold_reason,
        decided_at=fee.decided_at,
        decided_by=fee.decided_by,
        decision_note=fee.decision_note,
        due=fee.due,
    )


def _sum(fees: list[ApplicationFee], kind: FeeKind | None = None) -> Decimal:
    """What is charged: held items count only once a supervisor has approved them."""
    return sum(
        (f.amount for f in fees if f.due and (kind is None or f.kind is kind)),
        ZERO,
    ).quantize(Decimal("0.01"))


def _pending(fees: list[ApplicationFee]) -> Decimal:
    return sum(
        (f.amount for f in fees if f.voided_at is None and f.approval is FeeApproval.pending),
        ZERO,
    ).quantize(Decimal("0.01"))


async def fee_sheet(
    session: AsyncSession,
    application_id: int | None,
    *,
    unmasked: bool,
    zero_investment_known: bool | None = None,
    fresh: bool = False,
) -> FeeSheet:
    """The items and totals; ID numbers and phones in free text masked unless ``unmasked``.
    ``zero_investment_known``: the 三零 decision's zero-investment flag when the caller has
    already read it (the application's detail), saving a query. ``fresh``: the application was
    just accepted, so it has no fee items yet and none are read."""
    fees = [] if fresh else await fees_of(session, application_id)
    zero = (
        zero_investment_known
        if zero_investment_known is not None
        else await zero_investment(session, application_id)
    )
    sheet = FeeSheet(
        zero_investment=zero,
        items=[fee_public(f) for f in fees],
        statutory_total=_sum(fees, FeeKind.statutory),
        extended_total=_sum(fees, FeeKind.extended),
        total=_sum(fees),
        pending_total=_pending(fees),
    )
    return masked_unless(sheet, unmasked)


async def applicant_fees(
    session: AsyncSession, application_id: int | None
) -> tuple[list[ApplicantFee], Decimal]:
    """The fee items due and their total, as the applicant sees them: an item held for a
    supervisor's approval is not shown until it is approved."""
    fees = [f for f in await fees_of(session, application_id) if f.due]
    return (
        [
            ApplicantFee(
                name=f.name,
                kind_label=FEE_KIND_LABELS[f.kind],
                quantity=f.quantity,
                unit=f.unit,
                amount=f.amount,
            )
            for f in fees
        ],
        _sum(fees),
    )
