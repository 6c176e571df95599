"""Applications submitted through the government portal (政务服务平台报装, 零证办电).

The portal acts for the customer: the application is accepted at once with channel ``portal``,
by the unit serving the site's region, and its author in the stage log is the portal
(``portal:<key id>``). The applicant's licence — 营业执照 for an organisation, 身份证 for a
person — and, when given, the property certificate (不动产登记) are checked with the e-license
service; any check that fails refuses the whole application (422, naming the field), and an
unreachable e-license service is a 502 that stores nothing, so the portal's retry tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking
from services.intake.applications.loading import get_application
from services.intake.applications.models import Application, Channel, IdKind
from services.intake.applications.requests import ApplicationCreate
from services.intake.applications.why import ApplicantWhy, applicant_why
from services.intake.documents.online import VerifiedLicence, record_verified_licences
from services.intake.flows.service import accept_application
from services.intake.portal.areas import ServiceAreas
from services.intake.portal.auth import PortalPrincipal
from services.intake.portal.models import (
    LicenceCheck,
    LicenceCheckPublic,
    PortalApplicationCreated,
    PortalApplicationIn,
    PreApplication,
)
from services.intake.rules.identity import mask_id_number
from services.intake.standins.elicense import ELicenseClient, LicenceOutcome, LicenceType
from services.intake.standins.elicense import LicenceCheck as ELicenceAnswer
from shared.auth import Principal
from shared.calendar import WorkingCalendar
from shared.errors import FieldError, NotFound, Unprocessable
from shared.keyring import Keyring

_REFUSALS = {
    LicenceOutcome.not_found: ("licence_not_found", "电子证照库中没有查到该证照"),
    LicenceOutcome.expired: ("licence_expired", "证照已超过有效期"),
    LicenceOutcome.revoked: ("licence_revoked", "证照已被吊销、注销或作废"),
    LicenceOutcome.holder_mismatch: ("licence_holder_mismatch", "证照上的持有人与填写的名称不一致"),
}


@dataclass(frozen=True)
class _Check:
    number_field: str
    holder_field: str
    answer: ELicenceAnswer


def _refusal(check: _Check) -> FieldError | None:
    if check.answer.outcome is LicenceOutcome.valid:
        return None
    code, message = _REFUSALS[check.answer.outcome]
    field = (
        check.holder_field
        if check.answer.outcome is LicenceOutcome.holder_mismatch
        else check.number_field
    )
    return FieldError(field=field, code=code, message=message)


async def _check_licences(
    elicense: ELicenseClient, data: PortalApplicationIn, application: Application
) -> list[_Check]:
    identity = (
        LicenceType.business_licence
        if application.id_kind is IdKind.credit_code
        else LicenceType.id_card
    )
    checks = [
        _Check(
            "applicant.id_number",
            "applicant.name",
            await elicense.verify(
                identity,
                application.id_number,
                application.applicant_name,
                field="applicant.id_number",
                holder_field="applicant.name",
            ),
        )
    ]
    if data.property_certificate is not None:
        holder_field = (
            "property_certificate.holder" if data.property_certificate.holder else "applicant.name"
        )
        checks.append(
            _Check(
                "property_certificate.number",
                holder_field,
                await elicense.verify(
                    LicenceType.real_estate,
                    data.property_certificate.number.strip(),
                    (data.property_certificate.holder or application.applicant_name).strip(),
                    field="property_certificate.number",
                    holder_field=holder_field,
                ),
            )
        )
    return checks


async def submit_application(
    session: AsyncSession,
    data: PortalApplicationIn,
    *,
    caller: PortalPrincipal,
    areas: ServiceAreas,
    elicense: ELicenseClient,
    now: datetime,
    clocking: Clocking,
    keyring: Keyring,
) -> PortalApplicationCreated:
    """Accept a portal application after its e-license checks; joins its project if pushed."""
    area = areas.of_region(data.region_code)
    if area is None:
        raise Unprocessable(
            f"region {data.region_code} is not served here",
            code="region_not_served",
            errors=[
                FieldError(
                    field="region_code",
                    code="region_not_served",
                    message=f"行政区划 {data.region_code} 不在本系统的供电服务区域内",
                )
            ],
        )
    accepting = Principal(subject=caller.actor, units=(area.unit,))
    accepted = await accept_application(
        session,
        ApplicationCreate(
            jurisdiction=area.jurisdiction,
            unit=area.unit,
            channel=Channel.portal,
            customer_type=data.customer_type,
            has_works=data.has_works,
            applicant=data.applicant,
            site=data.site,
            capacity_kw=data.capacity_kw,
            project_code=data.project_code,
        ),
        clerk=accepting,
        now=now,
        clocking=clocking,
        keyring=keyring,
        portal_client=caller.key_id,
    )
    application, query_code = accepted.application, accepted.query_code
    # Checked after the application's own validation, so a malformed number is named the
    # same way as at the counter; a refusal rolls the application back with the transaction.
    checks = await _check_licences(elicense, data, application)
    refusals = [r for r in map(_refusal, checks) if r is not None]
    if refusals:
        fields = ", ".join(r.field for r in refusals)
        raise Unprocessable(
            f"the e-license check failed: {fields}", code="licence_check_failed", errors=refusals
        )
    assert application.id is not None
    session.add_all(
        LicenceCheck(
            application_id=application.id,
            licence_type=c.answer.type,
            number=mask_id_number(c.answer.number)
            if c.answer.type is LicenceType.id_card
            else c.answer.number,
            outcome=c.answer.outcome,
            issuer=c.answer.issuer,
            expires_on=c.answer.expires_on,
            checked_at=now,
        )
        for c in checks
    )
    await record_verified_licences(
        session,
        application,
        [
            VerifiedLicence(
                kind="property_proof"
                if c.answer.type is LicenceType.real_estate
                else "identity_proof",
                number=mask_id_number(c.answer.number)
                if c.answer.type is LicenceType.id_card
                else c.answer.number,
                issuer=c.answer.issuer,
                expires_on=c.answer.expires_on,
            )
            for c in checks
        ],
        actor=caller.actor,
        now=now,
    )
    joined = (
        await session.exec(
            select(PreApplication.id).where(col(PreApplication.application_id) == application.id)
        )
    ).first()
    await session.flush()
    return PortalApplicationCreated(
        number=application.number,
        query_code=query_code,
        status=application.status,
        unit=application.unit,
        jurisdiction=application.jurisdiction,
        customer_type=application.customer_type,
        accepted_at=application.accepted_at,
        current_stage=application.current_stage,
        due_date=application.due_date,
        due_provisional=application.due_provisional,
        project_code=application.project_code,
        pre_application_joined=joined is not None,
        licences=[
            LicenceCheckPublic(
                field=c.number_field,
                licence_type=c.answer.type,
                outcome=c.answer.outcome,
                issuer=c.answer.issuer,
                expires_on=c.answer.expires_on,
            )
            for c in checks
        ],
    )


async def portal_application_why(
    session: AsyncSession,
    number: str,
    caller: PortalPrincipal,
    calendar: WorkingCalendar,
    today: date,
) -> ApplicantWhy:
    """期限说明 of an application the calling portal submitted, as its applicant sees it; any
    other application is not found for it, as if there were none (no number is confirmed)."""
    application = await get_application(session, number)
    if application.portal_client != caller.key_id:
        raise NotFound(f"there is no application {number}", code="application_not_found")
    return await applicant_why(session, application, calendar, today)
