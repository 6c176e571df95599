"""The whitelist (白名单) and the grid areas it is judged by: listing, transitions, report.

A whitelist record moves forward only, 待配套电网改造 → 配套电网改造完成 → 已转入报装接电, each step
stamped with who and when. Grid areas are kept by administrators and by clerks of their unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader, check_unit_filter
from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.rules.identity import mask_mobile
from services.intake.rules.three_zero import load_three_zero_rules
from services.intake.whitelist.models import (
    NEXT_STATUS,
    WHITELIST_STATUS_LABELS,
    GridArea,
    GridAreaCreate,
    GridAreaPublic,
    GridAreaUpdate,
    WhitelistCount,
    WhitelistEntry,
    WhitelistItem,
    WhitelistJurisdiction,
    WhitelistPage,
    WhitelistReport,
    WhitelistStatus,
    WhitelistTransition,
    status_of,
)
from shared import units
from shared.auth import Principal, Role
from shared.db import fetch_all
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.masking import mask_sensitive, masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page

CENT = Decimal("0.01")

# ---- grid areas (配电网接入能力) ----------------------------------------------------------------


def _check_maintainer(principal: Principal, unit: str) -> None:
    """Administrators keep every unit's areas; clerks those of their own units."""
    if principal.role is Role.admin:
        return
    if principal.role is not Role.clerk:
        raise Forbidden(
            "grid capacity is kept by administrators and the unit's clerks",
            code="grid_area_maintainer_required",
        )
    units.require_covers(principal.units, unit)


def area_public(area: GridArea) -> GridAreaPublic:
    assert area.id is not None
    return GridAreaPublic(
        id=area.id,
        unit=area.unit,
        name=area.name,
        available_kva=area.available_kva,
        capacity_limited=area.capacity_limited,
        in_grid_plan=area.in_grid_plan,
        status_label=status_of(area),
        note=area.note,
        updated_at=area.updated_at,
        updated_by=area.updated_by,
    )


async def list_areas(session: AsyncSession, unit: str | None = None) -> list[GridArea]:
    query = select(GridArea).order_by(col(GridArea.unit), col(GridArea.name))
    if unit is not None:
        query = query.where(col(GridArea.unit) == unit)
    return list((await session.exec(query)).all())


async def create_area(
    session: AsyncSession, data: GridAreaCreate, *, actor: Principal, now: datetime
) -> GridAreaPublic:
    unit, name = data.unit.strip(), data.name.strip()
    _check_maintainer(actor, unit)
    exists = await session.exec(
        select(GridArea.id).where(col(GridArea.unit) == unit, col(GridArea.name) == name)
    )
    if exists.first() is not None:
        raise Conflict(f"{unit} already has a grid area named {name}", code="grid_area_exists")
    area = GridArea(
        unit=unit,
        name=name,
        available_kva=data.available_kva.quantize(CENT),
        capacity_limited=data.capacity_limited,
        in_grid_plan=data.in_grid_plan,
        note=data.note,
        updated_at=now,
        updated_by=actor.subject,
    )
    session.add(area)
    await session.flush()
    return area_public(area)


async def update_area(
    session: AsyncSession,
    area_id: int,
    data: GridAreaUpdate,
    *,
    actor: Principal,
    now: datetime,
) -> GridAreaPublic:
    area = (
        await session.exec(select(GridArea).where(col(GridArea.id) == area_id).with_for_update())
    ).first()
    if area is None:
        raise NotFound(f"there is no grid area {area_id}", code="grid_area_not_found")
    _check_maintainer(actor, area.unit)
    changes = data.model_dump(exclude_none=True)
    if not changes:
        raise Unprocessable("give at least one field to change", code="nothing_to_update")
    if data.available_kva is not None:
        changes["available_kva"] = data.available_kva.quantize(CENT)
    for field, value in changes.items():
        setattr(area, field, value)
    area.updated_at, area.updated_by = now, actor.subject
    await session.flush()
    return area_public(area)


# ---- the whitelist ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WhitelistFilter:
    unit: str | None = None
    area: str | None = None
    status: WhitelistStatus | None = None


def _item(
    entry: WhitelistEntry, application: Application, area_name: str | None, unmasked: bool
) -> WhitelistItem:
    assert entry.id is not None
    item = WhitelistItem(
        id=entry.id,
        number=application.number,
        unit=entry.unit,
        grid_area=area_name,
        applicant_name=application.applicant_name,
        mobile=application.mobile if unmasked else mask_mobile(application.mobile),
        customer_type=application.customer_type,
        capacity_kw=application.capacity_kw,
        accepted_at=application.accepted_at,
        reason=entry.reason,
        status=entry.status,
        status_label=WHITELIST_STATUS_LABELS[entry.status],
        created_at=entry.created_at,
        upgrade_done_at=entry.upgrade_done_at,
        upgrade_done_by=entry.upgrade_done_by,
        upgrade_note=entry.upgrade_note,
        released_at=entry.released_at,
        released_by=entry.released_by,
        release_note=entry.release_note,
    )
    return masked_unless(item, unmasked)


async def list_whitelist(
    session: AsyncSession,
    principal: Principal,
    flt: WhitelistFilter,
    paging: PageParams = FIRST_PAGE,
) -> WhitelistPage:
    """Whitelist records the caller may see, oldest first: clerks their units', supervisors
    those they supervise, administrators and viewers all."""
    area = aliased(GridArea)
    query = (
        select(WhitelistEntry, Application, area.name)
        .join(Application, col(Application.id) == col(WhitelistEntry.application_id))
        .outerjoin(area, col(area.id) == col(WhitelistEntry.grid_area_id))
    )
    if principal.role is Role.clerk:
        check_unit_filter(principal, flt.unit)
        query = query.where(col(WhitelistEntry.unit).in_(units.covered(principal.units)))
    elif principal.role is Role.supervisor:
        query = query.where(col(Application.supervising_unit).in_(units.covered(principal.units)))
    if flt.unit is not None:
        query = query.where(col(WhitelistEntry.unit).in_(units.covered([flt.unit])))
    if flt.status is not None:
        query = query.where(col(WhitelistEntry.status) == flt.status.value)
    if flt.area is not None:
        query = query.where(col(area.name) == flt.area)
    total, rows = await fetch_page(session, query, paging, col(WhitelistEntry.id))
    return WhitelistPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[
            _item(entry, application, name, check_reader(application, principal))
            for entry, application, name in rows
        ],
    )


async def transition(
    session: AsyncSession,
    application: Application,
    data: WhitelistTransition,
    *,
    actor: str,
    now: datetime,
) -> WhitelistItem:
    """Move the application's record one step on, stamped now by ``actor``."""
    entry = (
        await session.exec(
            select(WhitelistEntry)
            .where(col(WhitelistEntry.application_id) == application.id)
            .with_for_update()
        )
    ).first()
    if entry is None:
        raise NotFound(
            f"application {application.number} is not on the whitelist",
            code="whitelist_entry_not_found",
        )
    expected = NEXT_STATUS.get(entry.status)
    if data.status is not expected:
        raise Conflict(
            f"the record is {WHITELIST_STATUS_LABELS[entry.status]}; it moves 待配套电网改造 → "
            "配套电网改造完成 → 已转入报装接电, one step at a time",
            code="whitelist_transition_not_allowed",
        )
    last = entry.upgrade_done_at or entry.created_at
    if now < last:
        raise Conflict(
            "the server clock is behind the last recorded step; nothing was recorded",
            code="server_clock_behind",
        )
    if data.status is WhitelistStatus.upgrade_done:
        entry.upgrade_done_at, entry.upgrade_done_by, entry.upgrade_note = now, actor, data.note
    else:
        entry.released_at, entry.released_by, entry.release_note = now, actor, data.note
    previous, entry.status = entry.status, data.status
    append_event(
        session,
        application,
        EventKind.whitelist_transition,
        now=now,
        actor=actor,
        stage=application.current_stage,
        reason=mask_sensitive(data.note) if data.note else None,
        payload={"entry_id": entry.id, "from": previous.value, "to": data.status.value},
    )
    await session.flush()
    name = (
        (
            await session.exec(select(GridArea.name).where(col(GridArea.id) == entry.grid_area_id))
        ).first()
        if entry.grid_area_id
        else None
    )
    return _item(entry, application, name, unmasked=True)


async def report(session: AsyncSession, principal: Principal) -> WhitelistReport:
    """Whitelist records per jurisdiction, unit and status (白名单统计), within what the caller
    may see; each jurisdiction's group cites its own rule and source."""
    query = (
        select(Application.jurisdiction, WhitelistEntry.unit, WhitelistEntry.status, func.count())
        .join(Application, col(Application.id) == col(WhitelistEntry.application_id))
        .group_by(
            col(Application.jurisdiction), col(WhitelistEntry.unit), col(WhitelistEntry.status)
        )
    )
    if principal.role is Role.clerk:
        query = query.where(col(WhitelistEntry.unit).in_(units.covered(principal.units)))
    elif principal.role is Role.supervisor:
        query = query.where(col(Application.supervising_unit).in_(units.covered(principal.units)))
    counts: dict[str, dict[str, dict[WhitelistStatus, int]]] = {}
    for jurisdiction, unit, status, count in await fetch_all(session, query):
        by_unit = counts.setdefault(jurisdiction, {})
        by_unit.setdefault(unit, dict.fromkeys(WhitelistStatus, 0))[WhitelistStatus(status)] = count

    def row(unit: str, by_status: dict[WhitelistStatus, int]) -> WhitelistCount:
        return WhitelistCount(
            unit=unit,
            pending_upgrade=by_status[WhitelistStatus.pending_upgrade],
            upgrade_done=by_status[WhitelistStatus.upgrade_done],
            released=by_status[WhitelistStatus.released],
            total=sum(by_status.values()),
        )

    def summed(groups: list[dict[WhitelistStatus, int]]) -> dict[WhitelistStatus, int]:
        return {s: sum(by_status[s] for by_status in groups) for s in WhitelistStatus}

    rule = load_three_zero_rules().whitelist
    every_unit = [by_status for by_unit in counts.values() for by_status in by_unit.values()]
    return WhitelistReport(
        jurisdictions=[
            WhitelistJurisdiction(
                jurisdiction=jurisdiction,
                local_rule=rule.has_local_rule(jurisdiction),
                rule=rule.rule_for(jurisdiction, rule.rule),
                source=rule.source_for(jurisdiction),
                units=[row(unit, by_unit[unit]) for unit in sorted(by_unit)],
                subtotal=row("小计", summed(list(by_unit.values()))),
            )
            for jurisdiction, by_unit in sorted(counts.items())
        ],
        overall=row("合计", summed(every_unit)),
    )
