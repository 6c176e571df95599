"""Corrections (更正) of a recorded detail; the log keeps the old value (masked), the reason
and the author."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.creating import check_three_zero, validated_identity
from services.intake.applications.loading import load_pauses, load_stages
from services.intake.applications.log import append_event
from services.intake.applications.models import Application, ApplicationStatus, EventKind
from services.intake.applications.requests import CorrectionRequest
from services.intake.applications.stages import connected_event_data
from services.intake.applications.switch import switch_workflow
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.service import get_version
from services.intake.rules.identity import FieldErrors, mask_id_number, mask_mobile
from shared.auth import Principal
from shared.calendar import beijing_date
from shared.errors import Unprocessable
from shared.vocab import AreaClass, CustomerType, parse_mobile

_EMAIL = TypeAdapter(EmailStr)
_SUBSCRIBER_FIELDS = {
    "applicant_name",
    "mobile",
    "email",
    "feeder",
    "transformer_area",
    "area_class",
}
_MASKED = {"id_number": mask_id_number, "mobile": mask_mobile}
THREE_ZERO_FIELDS = {"capacity_kw", "area_class"}
"""Corrections that re-judge 三零 (:func:`services.intake.whitelist.rejudge.rejudge`)."""


def _corrected_value(
    application: Application,
    field: str,
    raw: str,
    today: date,
    declared: CustomerType | None = None,
) -> Any:
    errors = FieldErrors()
    value: Any = raw.strip()
    if field == "id_number":
        value = validated_identity(errors, "value", application.id_kind, raw, today)
    elif field == "mobile":
        value = errors.check("value", parse_mobile, raw)
    elif field == "email":
        try:
            value = _EMAIL.validate_python(raw.strip()) if raw.strip() else None
        except ValidationError:
            errors.add("value", "invalid_email", "电子邮箱格式不正确")
    elif field == "area_class":
        if value not in AreaClass.__members__:
            errors.add("value", "invalid_area_class", "区域分类为 central/urban/town/rural")
        else:
            value = AreaClass(value)
    elif field == "capacity_kw":
        try:
            value = Decimal(value).quantize(Decimal("0.01"))
            if not Decimal(0) < value <= Decimal(1_000_000):
                raise InvalidOperation
        except InvalidOperation:
            errors.add("value", "invalid_capacity", "容量应为大于0的数值（千瓦）")
        else:
            check_three_zero(errors, declared or application.customer_type, value)
    elif not value:
        errors.add("value", "required", "更正后的内容不能为空")
    errors.raise_if_any()
    return value


def _for_log(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _MASKED:
        return _MASKED[field](str(value))
    return str(value)


def apply_correction(
    session: AsyncSession,
    application: Application,
    data: CorrectionRequest,
    *,
    actor: Principal,
    now: datetime,
    declared: CustomerType | None,
) -> None:
    """Correct a recorded detail; the log keeps the old value (masked), the reason and author.

    ``declared`` is the customer type declared at acceptance, for a correction that re-judges
    三零 (:data:`THREE_ZERO_FIELDS`).
    """
    value = _corrected_value(application, data.field, data.value, beijing_date(now), declared)
    old = getattr(application, data.field)
    if value == old:
        raise Unprocessable("the value is already recorded", code="nothing_to_correct")
    setattr(application, data.field, value)
    append_event(
        session,
        application,
        EventKind.corrected,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.reason,
        payload={
            "field": data.field,
            "old": _for_log(data.field, old),
            "new": _for_log(data.field, value),
        },
    )


def tell_subscriber(
    session: AsyncSession, application: Application, field: str, *, now: datetime
) -> None:
    """A connected customer's subscriber details corrected: tell notify again."""
    if application.status is ApplicationStatus.connected and field in _SUBSCRIBER_FIELDS:
        # notify keeps the customer as a subscriber keyed by the number: tell it again.
        enqueue(
            session,
            EventType.application_connected,
            subject=application.number,
            data=connected_event_data(application),
            now=now,
        )


async def switch_to(
    session: AsyncSession,
    application: Application,
    to: CustomerType,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking | None,
) -> None:
    stages = await load_stages(session, application.id)
    version = await get_version(session, application.policy_code)
    rows = await switch_workflow(
        session,
        application,
        stages,
        version.entry_for(to),
        to,
        actor=actor.subject,
        reason="“三零”重新判定后转换办理流程",
        now=now,
    )
    if rows is not None and clocking is not None:
        refresh(application, rows, await load_pauses(session, application.id), clocking)
