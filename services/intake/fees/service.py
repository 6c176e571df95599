"""Adding fee items to an application and voiding wrong ones.

Every item passes :func:`services.intake.rules.fees.check_fee_items` with the application's
zero-investment decision (三零, taken when it was accepted), so the rule codes are the ones the
caller sees: ``fee_banned``, ``fee_banned_similar``, ``fee_zero_investment`` for any item, and for
an extended service ``fee_not_listed``, ``fee_price_mismatch``, ``fee_consent_missing``. A
statutory fee comes from the statutory list, which gives its legal basis (the clerk's ``basis`` is
kept only as the provincial price document); a name on neither list is ``fee_not_listed``, and a
listed extended service entered as statutory ``fee_listed_as_extended``.
An item on neither list may instead be held for a supervisor's approval when the clerk asks
(``hold`` with a reason, :mod:`services.intake.fees.approval`); banned names never can.
One refused item refuses the whole request (422 ``fee_refused``, each item named as
``items[i]``); nothing is stored then. The caller has been checked to operate the application.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.fees.approval import held_fee, hold_not_needed
from services.intake.fees.changing import check_open, locked_fee
from services.intake.fees.models import (
    ApplicationFee,
    FeeItemIn,
    FeeItemsIn,
    FeeKind,
    FeeSheet,
    FeeVoid,
)
from services.intake.fees.sheet import fee_sheet
from services.intake.rules.fees import (
    CustomerConsent,
    FeeItem,
    FeeRefused,
    check_fee_items,
    check_statutory_item,
)
from services.intake.whitelist.recorded import zero_investment
from shared.errors import FieldError


def _logged(fee: ApplicationFee) -> dict[str, Any]:
    """A fee item as the stage log keeps it (what the customer is asked to pay, and why)."""
    return {
        "fee_id": fee.id,
        "kind": fee.kind.value,
        "name": fee.name,
        "service_code": fee.service_code,
        "basis": fee.basis,
        "quantity": str(fee.quantity),
        "amount": str(fee.amount),
        "utility_side": fee.utility_side,
        "consented": fee.consented_at is not None,
        **(
            {"approval": fee.approval.value, "hold_reason": fee.hold_reason}
            if fee.approval is not None
            else {}
        ),
        **({"price_document": fee.price_document} if fee.price_document else {}),
    }


def _extended(
    item: FeeItemIn, zero: bool, jurisdiction: str, application_id: int, actor: str, now: datetime
) -> ApplicationFee:
    consent = (
        CustomerConsent(consented_at=now, recorded_by=actor, evidence=item.consent.evidence)
        if item.consent
        else None
    )
    accepted = check_fee_items(
        [
            FeeItem(
                name=item.name,
                amount=item.amount,
                quantity=item.quantity,
                service_code=item.service_code,
                utility_side=item.utility_side,
                consent=consent,
            )
        ],
        zero_investment=zero,
        jurisdiction=jurisdiction,
    )[0]
    return ApplicationFee(
        application_id=application_id,
        kind=FeeKind.extended,
        name=accepted.name,
        service_code=accepted.service_code,
        basis=item.basis,
        unit=accepted.unit,
        unit_price=accepted.unit_price,
        quantity=accepted.quantity,
        amount=accepted.amount,
        utility_side=item.utility_side,
        consented_at=accepted.consented_at,
        consent_recorded_by=accepted.recorded_by,
        consent_evidence=consent.evidence if consent else None,
        added_at=now,
        added_by=actor,
    )


def _statutory(
    item: FeeItemIn, zero: bool, jurisdiction: str, application_id: int, actor: str, now: datetime
) -> ApplicationFee:
    listed = check_statutory_item(
        FeeItem(
            name=item.name,
            amount=item.amount,
            quantity=item.quantity,
            service_code=item.service_code,
            utility_side=item.utility_side,
        ),
        zero_investment=zero,
        jurisdiction=jurisdiction,
    )
    return ApplicationFee(
        application_id=application_id,
        kind=FeeKind.statutory,
        name=listed.name,
        service_code=listed.code,
        basis=listed.basis,
        price_document=item.basis.strip() if item.basis else None,
        quantity=item.quantity,
        amount=item.amount,
        utility_side=item.utility_side,
        consented_at=now if item.consent else None,
        consent_recorded_by=actor if item.consent else None,
        consent_evidence=item.consent.evidence if item.consent else None,
        added_at=now,
        added_by=actor,
    )


async def add_fees(
    session: AsyncSession,
    application: Application,
    data: FeeItemsIn,
    *,
    actor: str,
    now: datetime,
) -> FeeSheet:
    """Add fee items to ``application``: all of them, or none if any is refused."""
    assert application.id is not None
    check_open(application)
    zero = await zero_investment(session, application.id)
    rows: list[ApplicationFee] = []
    errors: list[FieldError] = []
    for i, item in enumerate(data.items):
        build = _extended if item.kind is FeeKind.extended else _statutory
        try:
            try:
                fee = build(item, zero, application.jurisdiction, application.id, actor, now)
            except FeeRefused as exc:
                if item.hold is None:
                    raise
                fee = held_fee(item, exc, application.id, actor, now)
            else:
                if item.hold is not None:
                    raise hold_not_needed(item)
            rows.append(fee)
        except FeeRefused as exc:
            errors.extend(
                FieldError(field=f"items[{i}]", code=e.code, message=e.message) for e in exc.errors
            )
    if errors:
        raise FeeRefused(f"{len(errors)} fee item(s) refused (收费项目不合规)", errors=errors)
    session.add_all(rows)
    await session.flush()
    append_event(
        session,
        application,
        EventKind.fee_added,
        now=now,
        actor=actor,
        stage=application.current_stage,
        payload={"items": [_logged(fee) for fee in rows], "zero_investment": zero},
    )
    await session.flush()
    return await fee_sheet(session, application.id, unmasked=True)


async def void_fee(
    session: AsyncSession,
    application: Application,
    fee_id: int,
    data: FeeVoid,
    *,
    actor: str,
    now: datetime,
) -> FeeSheet:
    """Void a wrongly recorded item (作废), keeping it with who, when and why."""
    check_open(application)
    fee = await locked_fee(session, application, fee_id)
    fee.voided_at, fee.voided_by, fee.void_reason = now, actor, data.reason
    append_event(
        session,
        application,
        EventKind.fee_voided,
        now=now,
        actor=actor,
        stage=application.current_stage,
        reason=data.reason,
        payload=_logged(fee),
    )
    await session.flush()
    return await fee_sheet(session, application.id, unmasked=True)
