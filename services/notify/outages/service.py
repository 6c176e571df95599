"""The life of an outage: draft → announced → started → restored (or cancelled), each change
told to the affected subscribers once (``telling.py``); the 7-day notice rule, and the
repeated-outage warning (``repeats.py``) checked before a planned outage is announced."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.outages.models import (
    Announcement,
    Outage,
    OutageChange,
    OutageCreate,
    OutageImpact,
    OutageKind,
    OutageState,
    OutageUpdate,
    number_of,
)
from services.notify.outages.repeats import repeat_warning
from services.notify.outages.scope import add_scope, at_place, scope_of
from services.notify.outages.telling import tell
from services.notify.settings import NotifySettings
from services.notify.subscribers.models import Subscriber
from services.notify.subscribers.service import served_on
from shared.db import fetch_all
from shared.errors import Conflict, NotFound, Unprocessable
from shared.timeutil import beijing_date, format_beijing


async def _count_impact(session: AsyncSession, outage: Outage) -> None:
    """Customers cut per area class (停电影响户数), as the outage starts: those served on its
    start day (Beijing), so a fault recorded afterwards still counts who was supplied then."""
    assert outage.id is not None
    assert outage.actual_start is not None
    feeders, areas = await scope_of(session, outage.id)
    rows = await fetch_all(
        session,
        sa_select(col(Subscriber.area_class), func.count())
        .where(at_place(feeders, areas), served_on(beijing_date(outage.actual_start)))
        .group_by(col(Subscriber.area_class)),
    )
    session.add_all(
        OutageImpact(outage_id=outage.id, area_class=area_class, customers=n)
        for area_class, n in rows
    )
    await session.flush()


async def get(session: AsyncSession, outage_id: int) -> Outage:
    outage = await session.get(Outage, outage_id, with_for_update=True)
    if outage is None:
        raise NotFound(f"outage {outage_id} does not exist", code="outage_not_found")
    return outage


def _require(outage: Outage, *states: OutageState, action: str) -> None:
    if outage.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise Conflict(
            f"outage {number_of(outage)} is {outage.state.value}; {action} needs it {allowed}",
            code="outage_state",
        )


async def _record_history(
    session: AsyncSession,
    data: OutageCreate,
    restored_at: datetime,
    *,
    unit: str,
    by: str,
    now: datetime,
) -> Outage:
    if restored_at > now:
        raise Unprocessable(
            "a past outage is recorded once power is back: restored_at is in the future",
            code="restored_in_future",
        )
    outage = Outage(
        kind=data.kind,
        state=OutageState.restored,
        cause=data.cause,
        planned_start=data.planned_start,
        etr=data.etr,
        actual_start=data.planned_start,
        actual_end=restored_at,
        unit=unit,
        created_by=by,
        created_at=now,
    )
    session.add(outage)
    await session.flush()
    assert outage.id is not None
    await add_scope(session, outage.id, data)
    await _count_impact(session, outage)
    note = "历史记录（未通知客户）"
    session.add_all(
        OutageUpdate(outage_id=outage.id, change=change, note=note, etr=data.etr, at=at, by=by)
        for change, at in (
            (OutageChange.started, data.planned_start),
            (OutageChange.restored, restored_at),
        )
    )
    await session.flush()
    return outage


async def create(
    session: AsyncSession,
    data: OutageCreate,
    *,
    unit: str,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    """A planned or temporary outage of ``unit`` starts as a draft (announce it next); a fault
    is under way already and is told to its customers at once, at any hour.

    With ``restored_at`` it is history (历史停电), recorded for the reliability statistics: it
    ran from ``planned_start`` to ``restored_at``, both kept as given, and nothing is sent."""
    if data.restored_at is not None:
        return await _record_history(session, data, data.restored_at, unit=unit, by=by, now=now)
    fault = data.kind is OutageKind.fault
    outage = Outage(
        kind=data.kind,
        state=OutageState.started if fault else OutageState.draft,
        cause=data.cause,
        planned_start=data.planned_start,
        etr=data.etr,
        actual_start=data.planned_start if fault else None,
        unit=unit,
        created_by=by,
        created_at=now,
        announced_at=now if fault else None,
    )
    session.add(outage)
    await session.flush()
    assert outage.id is not None
    await add_scope(session, outage.id, data)
    if fault:
        await _count_impact(session, outage)
        await tell(session, outage, OutageChange.started, by=by, now=now, hours=hours)
    return outage


async def announce(
    session: AsyncSession,
    outage: Outage,
    body: Announcement,
    *,
    by: str,
    now: datetime,
    settings: NotifySettings,
    hours: DeliveryHours,
) -> Outage:
    _require(outage, OutageState.draft, action="announcing")
    if outage.planned_start <= now:
        raise Conflict(
            f"outage {number_of(outage)} was to start {format_beijing(outage.planned_start)}, "
            "which has passed; change the start or record it as it happens",
            code="start_passed",
        )
    if outage.kind is OutageKind.planned:
        notice = outage.planned_start - now
        needed = timedelta(days=settings.planned_notice_days)
        if notice < needed:
            if not body.late_reason:
                raise Conflict(
                    f"a planned outage must be announced {settings.planned_notice_days} days "
                    f"ahead; this one starts in {notice.days} days {notice.seconds // 3600} "
                    "hours. Give late_reason to announce it anyway, flagged as late",
                    code="late_announcement",
                )
            outage.late_notice = True
            outage.late_reason = body.late_reason
        warning = await repeat_warning(session, outage, settings.repeat_window_days)
        if warning.customers_recently_cut and not body.acknowledge_overlap:
            numbers = "、".join(o.number for o in warning.outages)
            raise Conflict(
                f"{warning.customers_recently_cut} of {warning.customers_affected} customers "
                f"are also cut by {numbers} within {warning.window_days} days (一停多用); "
                "combine the work or confirm with acknowledge_overlap",
                code="repeated_outage",
            )
        outage.overlap_acknowledged = bool(warning.customers_recently_cut)
    outage.state = OutageState.announced
    outage.announced_at = now
    session.add(outage)
    await tell(session, outage, OutageChange.announced, by=by, now=now, hours=hours)
    return outage


async def start(
    session: AsyncSession,
    outage: Outage,
    *,
    at: datetime,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    _require(outage, OutageState.announced, action="starting")
    outage.state = OutageState.started
    outage.actual_start = at
    session.add(outage)
    await _count_impact(session, outage)
    await tell(session, outage, OutageChange.started, by=by, now=now, hours=hours, at=at)
    return outage


async def change_etr(
    session: AsyncSession,
    outage: Outage,
    etr: datetime,
    note: str | None,
    *,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    _require(outage, OutageState.announced, OutageState.started, action="changing the ETR")
    if etr <= (outage.actual_start or outage.planned_start):
        raise Unprocessable("the expected restoration must be after the start", code="etr_invalid")
    if etr == outage.etr:
        raise Conflict("the expected restoration is unchanged", code="etr_unchanged")
    previous, outage.etr = outage.etr, etr
    session.add(outage)
    await tell(
        session,
        outage,
        OutageChange.etr_changed,
        by=by,
        now=now,
        hours=hours,
        note=note,
        previous_etr=previous,
    )
    return outage


async def add_progress(
    session: AsyncSession,
    outage: Outage,
    note: str,
    *,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    _require(outage, OutageState.started, action="a repair progress note")
    await tell(session, outage, OutageChange.progress, by=by, now=now, hours=hours, note=note)
    return outage


async def restore(
    session: AsyncSession,
    outage: Outage,
    *,
    at: datetime,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    _require(outage, OutageState.started, action="restoring")
    assert outage.actual_start is not None
    if at < outage.actual_start:
        raise Unprocessable(
            "power cannot be restored before the outage began", code="restored_before_start"
        )
    outage.state = OutageState.restored
    outage.actual_end = at
    session.add(outage)
    await tell(session, outage, OutageChange.restored, by=by, now=now, hours=hours, at=at)
    return outage


async def cancel(
    session: AsyncSession,
    outage: Outage,
    reason: str,
    *,
    by: str,
    now: datetime,
    hours: DeliveryHours,
) -> Outage:
    assert outage.id is not None
    _require(outage, OutageState.draft, OutageState.announced, action="cancelling")
    told = outage.state is OutageState.announced
    outage.state = OutageState.cancelled
    session.add(outage)
    if told:
        await tell(
            session, outage, OutageChange.cancelled, by=by, now=now, hours=hours, note=reason
        )
    else:
        session.add(
            OutageUpdate(
                outage_id=outage.id, change=OutageChange.cancelled, note=reason, at=now, by=by
            )
        )
        await session.flush()
    return outage


async def assign_unit(session: AsyncSession, outage_id: int, unit: str) -> Outage:
    """Hand the outage to ``unit`` (an outage from before units, or one drafted for the wrong
    unit); from now on only that unit's dispatchers (and administrators) act on it."""
    outage = await get(session, outage_id)
    outage.unit = unit
    session.add(outage)
    await session.flush()
    return outage
