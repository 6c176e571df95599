"""Creating an application (受理): identity checks, the workflow chosen by the policy in force,
the first stage started, the query code (查询码)."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
    IdKind,
)
from services.intake.applications.query_codes import query_code_digest
from services.intake.applications.requests import ApplicationCreate
from services.intake.policies.models import LOW_VOLTAGE_TYPES, STAGE_LABELS
from services.intake.policies.service import version_in_force
from services.intake.rules.identity import FieldErrors, parse_credit_code, parse_resident_id
from services.intake.rules.three_zero import load_three_zero_rules
from shared.auth import Principal
from shared.calendar import beijing_date
from shared.events import seal_query_code
from shared.keyring import Keyring
from shared.timeutil import chinese_date
from shared.vocab import CustomerType, parse_mobile

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_QUERY_CODE_LENGTH = 8


class Created(NamedTuple):
    """A new application, the applicant's query code (查询码, shown once) and its stages, as
    written: the answer is shaped from these rows instead of reading them back."""

    application: Application
    query_code: str
    stages: list[ApplicationStage]


def validated_identity(
    errors: FieldErrors, field: str, kind: IdKind, value: str, today: date
) -> str | None:
    if kind is IdKind.resident_id:
        person = errors.check(field, lambda v: parse_resident_id(v, today=today), value)
        return person.number if person else None
    organisation = errors.check(field, parse_credit_code, value)
    return organisation.code if organisation else None


def check_three_zero(errors: FieldErrors, customer_type: CustomerType, capacity: Decimal) -> None:
    ceiling = load_three_zero_rules().ceiling.limit_kw
    if customer_type is CustomerType.low_voltage_three_zero and capacity > ceiling:
        errors.add(
            "capacity_kw",
            "three_zero_over_160kw",
            f"实行“三零”服务的低压非居民用户报装容量不超过{ceiling.normalize():f}千瓦",
        )


def check_new(
    errors: FieldErrors, data: ApplicationCreate, today: date
) -> tuple[str | None, str | None]:
    """The applicant's identity number and mobile, normalised; the form's faults in ``errors``."""
    id_number = validated_identity(
        errors, "applicant.id_number", data.applicant.id_kind, data.applicant.id_number, today
    )
    mobile = errors.check("applicant.mobile", parse_mobile, data.applicant.mobile)
    if not data.has_works and data.customer_type not in LOW_VOLTAGE_TYPES:
        errors.add("has_works", "no_works_not_low_voltage", "只有低压用户可以无工程直接接电")
    check_three_zero(errors, data.customer_type, data.capacity_kw)
    return id_number, mobile


async def create_application(
    session: AsyncSession,
    data: ApplicationCreate,
    *,
    id_number: str,
    mobile: str,
    clerk: Principal,
    now: datetime,
    clocking: Clocking,
    keyring: Keyring,
    portal_client: str | None = None,
) -> Created:
    """Store a checked application with its stages, the first one started, and its first log
    entry; returns it with the applicant's query code (查询码) and its stages. The whole process
    of accepting one (受理) is :func:`services.intake.flows.service.accept_application`."""
    today = beijing_date(now)
    policy = await version_in_force(session, data.jurisdiction, today)
    entry = policy.entry_for(data.customer_type)
    no_works_budget = not data.has_works and entry.no_works_total_days is not None
    staged = entry.staged and not no_works_budget
    application = Application(
        number=f"tmp-{secrets.token_hex(10)}",
        query_code_hash="",
        jurisdiction=data.jurisdiction,
        policy_code=policy.code,
        customer_type=data.customer_type,
        has_works=data.has_works,
        channel=data.channel,
        unit=data.unit,
        supervising_unit=policy.supervising_unit,
        clerk=clerk.subject,
        applicant_name=data.applicant.name.strip(),
        id_kind=data.applicant.id_kind,
        id_number=id_number,
        mobile=mobile,
        email=data.applicant.email,
        site_address=data.site.address.strip(),
        area_class=data.site.area_class,
        capacity_kw=data.capacity_kw,
        feeder=data.site.feeder,
        transformer_area=data.site.transformer_area,
        project_code=data.project_code,
        portal_client=portal_client,
        accepted_at=now,
        accepted_day=today,
        status=ApplicationStatus.open,
        current_stage=entry.stages[0].stage,
        current_seq=0,
        staged=staged,
        total_limit_days=entry.no_works_total_days
        if no_works_budget and entry.no_works_total_days
        else entry.total_days,
    )
    session.add(application)
    await session.flush()
    assert application.id is not None
    application.number = f"BZ{today:%Y%m%d}{application.id:06d}"
    query_code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_QUERY_CODE_LENGTH))
    application.query_code_hash = query_code_digest(keyring, application.number, query_code)
    stages = [
        ApplicationStage(
            application_id=application.id,
            seq=i,
            stage=limit.stage,
            limit_days=limit.limit_days if staged else None,
        )
        for i, limit in enumerate(entry.stages)
    ]
    stages[0].started_at, stages[0].started_day = now, today
    session.add_all(stages)
    refresh(application, stages, [], clocking)
    payload: dict[str, Any] = {
        "channel": data.channel.value,
        "customer_type": data.customer_type.value,
        "unit": data.unit,
        "policy": policy.code,
        "has_works": data.has_works,
        "stages": [[s.stage.value, s.limit_days] for s in stages],
        "total_limit_days": application.total_limit_days,
    }
    if data.project_code:
        payload["project_code"] = data.project_code
    if portal_client:
        payload["portal_client"] = portal_client
    append_event(
        session,
        application,
        EventKind.created,
        now=now,
        actor=clerk.subject,
        stage=stages[0].stage,
        payload=payload,
    )
    return Created(application, query_code, stages)


def submitted_event_data(application: Application) -> dict[str, Any]:
    """``data`` of intake.portal.submitted (网上申请待受理): what the accepting unit's clerks are
    told of an application the portal filed; no applicant data (see received_event_data)."""
    due = application.due_date
    return {
        "application_number": application.number,
        "unit": application.unit,
        "customer_type": application.customer_type.value,
        "channel": application.channel.value,
        "accepted_on_text": chinese_date(application.accepted_day),
        "staged": application.staged,
        "stage": STAGE_LABELS[application.current_stage] if application.current_stage else None,
        "due_date": due.isoformat() if due else None,
        "due_text": chinese_date(due) if due else None,
        "due_provisional": application.due_provisional,
    }


def received_event_data(
    application: Application, query_code: str, keyring: Keyring
) -> dict[str, Any]:
    """``data`` of intake.application.received (受理回执): notify texts the applicant the
    number, the query code that opens the progress page (sealed, see
    :func:`shared.events.seal_query_code`) and the due date, with 预测 when it is provisional."""
    return {
        **submitted_event_data(application),
        "applicant_name": application.applicant_name[:100],
        "mobile": application.mobile,
        "query_code_sealed": seal_query_code(keyring, application.number, query_code),
        # The clerks of a portal application are told by intake.portal.submitted, not by this.
        "clerks_told_apart": True,
    }
