"""Pre-applications (超前对接): projects the approval platform pushes before the customer applies.

The 工程建设项目审批平台 pushes a project once it has its project code (项目赋码) — builder, site,
expected load and date — so the power company can plan the grid side early. The project is
assigned to a unit by the region in its project code (:mod:`.areas`); clerks of that unit and
administrators see it. When the formal application comes with the same project code — from the
portal or from a clerk — the two are joined: the pre-application points to the application and
the application carries the project code. A project pushed after its application joins at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationStatus
from services.intake.documents.online import record_project_pushed
from services.intake.portal.areas import ServiceAreas
from services.intake.portal.auth import PortalPrincipal
from services.intake.portal.models import (
    PRE_APPLICATION_STATUS_LABELS,
    PreApplication,
    PreApplicationPage,
    PreApplicationPublic,
    PreApplicationStatus,
    ProjectPush,
)
from services.intake.rules.identity import FieldErrors, parse_credit_code
from shared import units
from shared.auth import Principal, Role
from shared.db import fetch_all
from shared.errors import Conflict, Forbidden, NotFound

KW = Decimal("0.01")
OPEN = (ApplicationStatus.open.value, ApplicationStatus.paused.value)


def region_of(project_code: str) -> str:
    """The 6-digit administrative region inside a project code (2025-370502-44-03-012345)."""
    return project_code.split("-")[1]


async def push_project(
    session: AsyncSession,
    data: ProjectPush,
    *,
    caller: PortalPrincipal,
    areas: ServiceAreas,
    now: datetime,
) -> tuple[PreApplicationPublic, bool]:
    """Record or update a pushed project; True if it is new.

    A project already joined to its application is not changed any more (409).
    """
    errors = FieldErrors()
    credit = errors.check("builder_credit_code", parse_credit_code, data.builder_credit_code)
    area = areas.of_region(region_of(data.project_code))
    if area is None:
        errors.add(
            "project_code",
            "region_not_served",
            f"项目代码中的行政区划 {region_of(data.project_code)} 不在本系统的供电服务区域内",
        )
    errors.raise_if_any()
    assert credit is not None
    assert area is not None
    pre = (
        await session.exec(
            select(PreApplication)
            .where(col(PreApplication.project_code) == data.project_code)
            .with_for_update()
        )
    ).first()
    created = pre is None
    if pre is None:
        pre = PreApplication(
            project_code=data.project_code,
            region_code=area.region_code,
            jurisdiction=area.jurisdiction,
            unit=area.unit,
            status=PreApplicationStatus.awaiting,
            source_key_id=caller.key_id,
            received_at=now,
            updated_at=now,
            project_name="",
            builder_name="",
            builder_credit_code="",
            site_address="",
            expected_load_kw=data.expected_load_kw,
            expected_connection_date=data.expected_connection_date,
        )
    elif pre.status is PreApplicationStatus.joined:
        raise Conflict(
            f"project {data.project_code} has been joined to its application; "
            "changes go through the application",
            code="project_already_joined",
        )
    pre.project_name = data.project_name.strip()
    pre.builder_name = data.builder_name.strip()
    pre.builder_credit_code = credit.code
    pre.site_address = data.site_address.strip()
    pre.expected_load_kw = data.expected_load_kw.quantize(KW)
    pre.expected_connection_date = data.expected_connection_date
    pre.updated_at = now
    session.add(pre)
    await session.flush()
    waiting = (
        await session.exec(
            select(Application)
            .where(
                col(Application.project_code) == data.project_code,
                col(Application.unit) == pre.unit,
                col(Application.status).in_(OPEN),
            )
            .order_by(col(Application.id))
            .limit(1)
        )
    ).first()
    if waiting is not None and not await _is_joined(session, waiting):
        _join(pre, waiting, now)
        await session.flush()
        await _count_project_approval(session, pre, waiting, now)
    return await to_public(session, pre, areas), created


async def _is_joined(session: AsyncSession, application: Application) -> bool:
    found = await session.exec(
        select(PreApplication.id).where(col(PreApplication.application_id) == application.id)
    )
    return found.first() is not None


async def _count_project_approval(
    session: AsyncSession, pre: PreApplication, application: Application, now: datetime
) -> None:
    """The pushed project is the application's project approval document (零证办电)."""
    await record_project_pushed(
        session,
        application,
        project_code=pre.project_code,
        project_name=pre.project_name,
        source_key_id=pre.source_key_id,
        now=now,
    )


def _join(pre: PreApplication, application: Application, now: datetime) -> None:
    pre.application_id = application.id
    pre.status = PreApplicationStatus.joined
    pre.joined_at = now


async def join_application(session: AsyncSession, application: Application, now: datetime) -> bool:
    """Join a new application that names a project code to that project's pre-application;
    whether it joined one (and so holds its project approval document).

    Nothing to join if the project has not been pushed (it joins when it is). Refused if the
    project belongs to another unit or is joined to another application already.
    """
    if application.project_code is None:
        return False
    pre = (
        await session.exec(
            select(PreApplication)
            .where(col(PreApplication.project_code) == application.project_code)
            .with_for_update()
        )
    ).first()
    if pre is None:
        return False
    if pre.unit != application.unit:
        raise Conflict(
            f"project {pre.project_code} is in the service area of {pre.unit}",
            code="project_unit_mismatch",
        )
    if pre.status is PreApplicationStatus.joined:
        raise Conflict(
            f"project {pre.project_code} is joined to another application already",
            code="project_already_joined",
        )
    _join(pre, application, now)
    session.add(pre)
    await session.flush()
    await _count_project_approval(session, pre, application, now)
    return True


async def to_public(
    session: AsyncSession, pre: PreApplication, areas: ServiceAreas
) -> PreApplicationPublic:
    number = None
    if pre.application_id is not None:
        number = (
            await session.exec(
                select(Application.number).where(col(Application.id) == pre.application_id)
            )
        ).one()
    return _public(pre, number, areas)


def _public(
    pre: PreApplication, application_number: str | None, areas: ServiceAreas
) -> PreApplicationPublic:
    area = areas.of_region(pre.region_code)
    return PreApplicationPublic(
        project_code=pre.project_code,
        project_name=pre.project_name,
        builder_name=pre.builder_name,
        builder_credit_code=pre.builder_credit_code,
        site_address=pre.site_address,
        region_code=pre.region_code,
        region=area.region if area else pre.region_code,
        jurisdiction=pre.jurisdiction,
        unit=pre.unit,
        expected_load_kw=pre.expected_load_kw,
        expected_connection_date=pre.expected_connection_date,
        status=pre.status,
        status_label=PRE_APPLICATION_STATUS_LABELS[pre.status],
        source_key_id=pre.source_key_id,
        received_at=pre.received_at,
        updated_at=pre.updated_at,
        application_number=application_number,
        joined_at=pre.joined_at,
    )


# ---- staff reading ---------------------------------------------------------------------------


def _check_reader(principal: Principal, unit: str | None) -> None:
    if principal.role is Role.admin:
        return
    if principal.role is not Role.clerk:
        raise Forbidden(
            "pre-applications are for clerks (受理人员) and administrators",
            code="clerk_or_admin_required",
        )
    if unit is not None:
        units.require_covers(principal.units, unit)


@dataclass(frozen=True)
class PreApplicationFilter:
    unit: str | None = None
    status: PreApplicationStatus | None = None


async def list_pre_applications(
    session: AsyncSession,
    principal: Principal,
    flt: PreApplicationFilter,
    areas: ServiceAreas,
    *,
    limit: int = 50,
    offset: int = 0,
) -> PreApplicationPage:
    """Pre-applications the caller may see, soonest expected connection first."""
    _check_reader(principal, flt.unit)
    conditions: list[ColumnElement[bool]] = []
    if principal.role is Role.clerk:
        conditions.append(col(PreApplication.unit).in_(units.covered(principal.units)))
    if flt.unit is not None:
        conditions.append(col(PreApplication.unit).in_(units.covered([flt.unit])))
    if flt.status is not None:
        conditions.append(col(PreApplication.status) == flt.status.value)
    total = (
        await session.exec(select(func.count()).select_from(PreApplication).where(*conditions))
    ).one()
    page = (
        sa_select(PreApplication, col(Application.number))
        .outerjoin(Application, col(Application.id) == col(PreApplication.application_id))
        .where(*conditions)
        .order_by(col(PreApplication.expected_connection_date), col(PreApplication.id))
        .limit(limit)
        .offset(offset)
    )
    rows = await fetch_all(session, page)
    return PreApplicationPage(
        total=total,
        limit=limit,
        offset=offset,
        pre_applications=[_public(pre, number, areas) for pre, number in rows],
    )


async def read_pre_application(
    session: AsyncSession, project_code: str, principal: Principal, areas: ServiceAreas
) -> PreApplicationPublic:
    _check_reader(principal, None)
    pre = (
        await session.exec(
            select(PreApplication).where(col(PreApplication.project_code) == project_code)
        )
    ).first()
    if pre is None:
        raise NotFound(f"there is no pre-application {project_code}", code="project_not_found")
    # Another unit's project is refused, not hidden, as intake refuses another unit's
    # application (403 not_your_unit): project codes are public, so a 404 would hide nothing.
    if principal.role is Role.clerk:
        units.require_covers(
            principal.units,
            pre.unit,
            f"pre-application {project_code} belongs to {pre.unit}, not your units",
        )
    return await to_public(session, pre, areas)
