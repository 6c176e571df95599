"""Fee items held for a supervisor's approval (待审核收费项目).

An item on neither the statutory list nor the extended-service catalogue is refused
(``fee_not_listed``) unless the clerk asks to hold it (``hold`` with a reason). A held item is
stored as ``pending``: it is not charged, not in the totals and not shown to the applicant until a
supervisor (监管督办人员) of the application's supervising unit, or an administrator, approves it;
a rejected item is never charged. Each step is a stage-log event with who, when and why.

Only "not listed" can be held: a banned name or a similar one (``fee_banned``,
``fee_banned_similar``), a charge for the utility's part under 三零, a wrong price or a missing
consent is refused whatever the clerk asks. A held statutory item needs the basis the clerk
relies on (``fee_basis_missing``), a held extended service the customer's consent
(``fee_consent_missing``), and the hold a reason (``fee_hold_reason_required``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.fees.changing import check_open, locked_fee
from services.intake.fees.models import (
    ApplicationFee,
    FeeApproval,
    FeeDecisionIn,
    FeeItemIn,
    FeeKind,
    FeeSheet,
    PendingFee,
    PendingFees,
)
from services.intake.fees.sheet import fee_public, fee_sheet
from services.intake.rules.fees import FeeRefused
from shared.auth import Principal, Role
from shared.errors import Conflict, FieldError
from shared.masking import masked_unless

HOLDABLE = "fee_not_listed"


def _refused(code: str, message: str) -> FeeRefused:
    return FeeRefused(message, errors=[FieldError(field="", code=code, message=message)])


def hold_not_needed(item: FeeItemIn) -> FeeRefused:
    """A hold asked for an item the lists allow: it is added as it is, not held."""
    return _refused("fee_hold_not_needed", f"“{item.name}”在收费清单中，直接登记即可，无需提请审核")


def held_fee(
    item: FeeItemIn, refusal: FeeRefused, application_id: int, actor: str, now: datetime
) -> ApplicationFee:
    """The item stored as pending, or ``refusal`` (or the hold's own) raised when it may not be
    held."""
    if any(e.code != HOLDABLE for e in refusal.errors):
        raise refusal
    reason = (item.hold.reason or "").strip() if item.hold else ""
    if not reason:
        raise _refused("fee_hold_reason_required", f"提请审核“{item.name}”须填写理由")
    basis = item.basis.strip() if item.basis else ""
    if item.kind is FeeKind.statutory and not basis:
        raise _refused("fee_basis_missing", f"提请审核的政府定价收费“{item.name}”须注明收费依据")
    if item.kind is FeeKind.extended and item.consent is None:
        raise _refused(
            "fee_consent_missing",
            f"延伸服务“{item.name}”须经用户确认后方可提请审核（保障用户的知情权和选择权）",
        )
    return ApplicationFee(
        application_id=application_id,
        kind=item.kind,
        name=item.name.strip(),
        basis=basis or None,
        quantity=item.quantity,
        amount=item.amount,
        utility_side=item.utility_side,
        consented_at=now if item.consent else None,
        consent_recorded_by=actor if item.consent else None,
        consent_evidence=item.consent.evidence if item.consent else None,
        added_at=now,
        added_by=actor,
        approval=FeeApproval.pending,
        hold_reason=reason,
    )


def _logged(fee: ApplicationFee) -> dict[str, Any]:
    return {
        "fee_id": fee.id,
        "kind": fee.kind.value,
        "name": fee.name,
        "amount": str(fee.amount),
        "hold_reason": fee.hold_reason,
        "approval": fee.approval.value if fee.approval else None,
    }


async def decide(
    session: AsyncSession,
    application: Application,
    fee_id: int,
    data: FeeDecisionIn,
    *,
    approve: bool,
    actor: str,
    now: datetime,
) -> FeeSheet:
    """Approve or reject a held item (审核同意/不同意), recording who, when and the note."""
    check_open(application)
    fee = await locked_fee(session, application, fee_id)
    if fee.approval is None:
        raise Conflict("the fee item was not held for approval", code="fee_not_held")
    if fee.approval is not FeeApproval.pending:
        raise Conflict(f"the fee item was already {fee.approval.value}", code="fee_already_decided")
    fee.approval = FeeApproval.approved if approve else FeeApproval.rejected
    fee.decided_at, fee.decided_by, fee.decision_note = now, actor, data.note
    session.add(fee)
    append_event(
        session,
        application,
        EventKind.fee_approved if approve else EventKind.fee_rejected,
        now=now,
        actor=actor,
        stage=application.current_stage,
        reason=data.note,
        payload=_logged(fee),
    )
    await session.flush()
    return await fee_sheet(session, application.id, unmasked=False)


async def pending_fees(session: AsyncSession, principal: Principal, *, limit: int) -> PendingFees:
    """The held items waiting for a decision, oldest first: for a supervisor those of the
    applications their units supervise, for an administrator all. Free text is masked."""
    query = (
        select(ApplicationFee, Application)
        .join(Application, col(Application.id) == col(ApplicationFee.application_id))
        .where(
            col(ApplicationFee.approval) == FeeApproval.pending,
            col(ApplicationFee.voided_at).is_(None),
        )
        .order_by(col(ApplicationFee.id))
        .limit(limit)
    )
    if principal.role is not Role.admin:
        query = query.where(col(Application.supervising_unit).in_(principal.units))
    rows = (await session.exec(query)).all()
    found = PendingFees(
        items=[
            PendingFee(
                number=application.number,
                unit=application.unit,
                supervising_unit=application.supervising_unit,
                applicant_name=application.applicant_name,
                fee=fee_public(fee),
            )
            for fee, application in rows
        ]
    )
    return masked_unless(found, False)
