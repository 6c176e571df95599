"""The life of an outage: draft → announced → started → restored (or cancelled), each change
told to the affected subscribers once; the 7-day notice rule and the repeated-outage warning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, union, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import DeliveryWindow, Message, MessageState
from services.notify.outages.fanout import at_place, count_in_scope, fan_out, in_scope
from services.notify.outages.models import (
    CURRENT_STATES,
    KIND_LABELS,
    Announcement,
    Outage,
    OutageChange,
    OutageCreate,
    OutageImpact,
    OutageKind,
    OutagePage,
    OutagePublic,
    OutageScope,
    OutageState,
    OutageUpdate,
    OutageUpdatePublic,
    OverlapOutage,
    RepeatWarning,
    ScopeKind,
)
from services.notify.settings import NotifySettings
from services.notify.subscribers.models import Subscriber
from services.notify.subscribers.service import served_on
from shared.auth import Principal, Role
from shared.db import fetch_all
from shared.errors import Conflict, NotFound, Unprocessable
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.timeutil import BEIJING, beijing_date, format_beijing


def number_of(outage: Outage) -> str:
    """The outage number (停电编号) people quote, e.g. TD202500012."""
    return f"TD{outage.planned_start.astimezone(BEIJING).year}{outage.id:05d}"


def _scope_text(feeders: Sequence[str], areas: Sequence[str]) -> str:
    def listed(names: Sequence[str], unit: str) -> str:
        shown = "、".join(names[:3])
        return f"{shown}等{len(names)}{unit}" if len(names) > 3 else shown

    parts = []
    if feeders:
        parts.append(listed(feeders, "条线路"))
    if areas:
        parts.append("台区 " + listed(areas, "个台区"))
    return "；".join(parts)


async def _scope(session: AsyncSession, outage_id: int) -> tuple[list[str], list[str]]:
    rows = await session.exec(
        select(OutageScope.kind, OutageScope.name)
        .where(col(OutageScope.outage_id) == outage_id)
        .order_by(col(OutageScope.id))
    )
    feeders: list[str] = []
    areas: list[str] = []
    for kind, name in rows:
        (feeders if kind is ScopeKind.feeder else areas).append(name)
    return feeders, areas


# A change replaces the messages of these earlier changes that have not gone out yet (to the
# same subscriber and channel): its own text says what they said, and more recently.
REPLACES: dict[OutageChange, tuple[OutageChange, ...]] = {
    OutageChange.announced: (),
    OutageChange.started: (OutageChange.announced, OutageChange.etr_changed),
    OutageChange.etr_changed: (OutageChange.etr_changed,),
    OutageChange.progress: (OutageChange.progress,),
    OutageChange.restored: (
        OutageChange.announced,
        OutageChange.started,
        OutageChange.etr_changed,
        OutageChange.progress,
    ),
    OutageChange.cancelled: (OutageChange.announced, OutageChange.etr_changed),
}
_UNSENT = (MessageState.queued, MessageState.failed, MessageState.sending)


def _window(outage: Outage, hours: DeliveryHours, now: datetime) -> DeliveryWindow:
    """Faults, outages under way and outages that start before the quiet hours (免打扰) now in
    force or next to come are over go at any hour (held up by nothing, not even a channel that
    comes back at night); other notices, and news of a restoration, wait for waking hours."""
    if outage.kind is OutageKind.fault or outage.state is OutageState.started:
        return DeliveryWindow.anytime
    if outage.state is OutageState.restored:
        return DeliveryWindow.waking_hours
    if outage.planned_start <= hours.quiet_end_after(now):
        return DeliveryWindow.anytime
    return DeliveryWindow.waking_hours


async def _supersede(
    session: AsyncSession, outage_id: int, change: OutageChange, new_prefix: str
) -> None:
    """Mark the unsent messages this change replaces ``superseded`` (they are never sent).

    A cancellation replaces them for everybody; other changes only where the new message goes
    (the same subscriber and channel). A message a worker is sending right now is marked too:
    if its send succeeds it is recorded ``sent`` all the same (what happened), if it fails it
    is not retried."""
    kinds = [f"outage.{c.value}" for c in REPLACES[change]]
    if not kinds:
        return
    new = aliased(Message)
    statement = (
        update(Message)
        .where(
            col(Message.outage_id) == outage_id,
            col(Message.kind).in_(kinds),
            col(Message.state).in_(_UNSENT),
            ~col(Message.dedup_key).startswith(new_prefix),
        )
        .values(state=MessageState.superseded)
        .execution_options(synchronize_session=False)
    )
    if change is not OutageChange.cancelled:
        statement = statement.where(
            exists().where(
                col(new.outage_id) == outage_id,
                col(new.dedup_key).startswith(new_prefix),
                col(new.subscriber_id) == col(Message.subscriber_id),
                col(new.channel) == col(Message.channel),
            )
        )
    await session.exec(statement)


def _template_data(
    outage: Outage, feeders: Sequence[str], areas: Sequence[str], **extra: Any
) -> dict[str, Any]:
    return {
        "outage": {
            "number": number_of(outage),
            "kind": outage.kind.value,
            "kind_label": KIND_LABELS[outage.kind],
            "cause": outage.cause,
            "scope": _scope_text(feeders, areas),
            "start": format_beijing(outage.actual_start or outage.planned_start),
            "etr": format_beijing(outage.etr),
            "restored_at": format_beijing(outage.actual_end),
        },
        "customer_name": "",
        "note": None,
        "previous_etr": None,
        **extra,
    }


async def _tell(
    session: AsyncSession,
    outage: Outage,
    change: OutageChange,
    *,
    by: str,
    now: datetime,
    hours: DeliveryHours,
    at: datetime | None = None,
    note: str | None = None,
    previous_etr: datetime | None = None,
) -> OutageUpdate:
    """Record a change (``at``: when it happened, now if not given) and queue it to every
    affected subscriber, once per change, replacing what it supersedes (:data:`REPLACES`).
    A cancellation goes only to those who may have heard of the outage (a message of it sent or
    being sent on that channel): nobody is told of an outage cancelled before they heard of it."""
    assert outage.id is not None
    record = OutageUpdate(
        outage_id=outage.id,
        change=change,
        note=note,
        etr=outage.etr,
        at=at or now,
        by=by,
    )
    session.add(record)
    await session.flush()
    feeders, areas = await _scope(session, outage.id)
    window = _window(outage, hours, now)
    prefix = f"outage:{outage.id}:u{record.id}:"
    record.messages_queued = await fan_out(
        session,
        kind=f"outage.{change.value}",
        data=_template_data(
            outage,
            feeders,
            areas,
            note=note,
            previous_etr=format_beijing(previous_etr) if previous_etr else None,
        ),
        feeders=feeders,
        areas=areas,
        dedup_prefix=prefix,
        window=window,
        due=hours.earliest(window, now),
        now=now,
        outage_id=outage.id,
        only_told=change is OutageChange.cancelled,
    )
    await _supersede(session, outage.id, change, prefix)
    session.add(record)
    await session.flush()
    return record


async def _count_impact(session: AsyncSession, outage: Outage) -> None:
    """Customers cut per area class (停电影响户数), as the outage starts: those served on its
    start day (Beijing), so a fault recorded afterwards still counts who was supplied then."""
    assert outage.id is not None
    assert outage.actual_start is not None
    feeders, areas = await _scope(session, outage.id)
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


async def _add_scope(session: AsyncSession, outage_id: int, data: OutageCreate) -> None:
    scopes = [(ScopeKind.feeder, n) for n in dict.fromkeys(data.feeders)]
    scopes += [(ScopeKind.area, n) for n in dict.fromkeys(data.transformer_areas)]
    session.add_all(OutageScope(outage_id=outage_id, kind=k, name=n) for k, n in scopes)
    await session.flush()


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
    await _add_scope(session, outage.id, data)
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
    await _add_scope(session, outage.id, data)
    if fault:
        await _count_impact(session, outage)
        await _tell(session, outage, OutageChange.started, by=by, now=now, hours=hours)
    return outage


async def repeat_warning(session: AsyncSession, outage: Outage, window_days: int) -> RepeatWarning:
    """Customers this outage cuts who had, or will have, another outage within ``window_days``
    of its start (一停多用 — 规避重复停电), and those other outages."""
    assert outage.id is not None
    feeders, areas = await _scope(session, outage.id)
    mine = in_scope(feeders, areas)
    other_start = func.coalesce(col(Outage.actual_start), col(Outage.planned_start))
    window = timedelta(days=window_days)
    touches = or_(
        and_(
            col(OutageScope.kind) == ScopeKind.feeder,
            col(OutageScope.name) == col(Subscriber.feeder),
        ),
        and_(
            col(OutageScope.kind) == ScopeKind.area,
            col(OutageScope.name) == col(Subscriber.transformer_area),
        ),
    )
    overlapping = (
        sa_select(col(Outage.id).label("outage_id"), col(Subscriber.id).label("subscriber_id"))
        .select_from(Subscriber)
        .join(OutageScope, touches)
        .join(Outage, col(Outage.id) == col(OutageScope.outage_id))
        .where(
            mine,
            col(Outage.id) != outage.id,
            col(Outage.state).in_(
                [OutageState.announced, OutageState.started, OutageState.restored]
            ),
            other_start >= outage.planned_start - window,
            other_start <= outage.planned_start + window,
        )
        .distinct()
        .subquery()
    )
    per_outage = await fetch_all(
        session,
        sa_select(
            overlapping.c.outage_id, func.count(func.distinct(overlapping.c.subscriber_id))
        ).group_by(overlapping.c.outage_id),
    )
    distinct_customers = await fetch_all(
        session, sa_select(func.count(func.distinct(overlapping.c.subscriber_id)))
    )
    others = {row[0]: row[1] for row in per_outage}
    listed: list[OverlapOutage] = []
    if others:
        found = await session.exec(
            select(Outage).where(col(Outage.id).in_(list(others))).order_by(col(Outage.id))
        )
        listed = [
            OverlapOutage(
                id=o.id or 0,
                number=number_of(o),
                kind=o.kind,
                start=o.actual_start or o.planned_start,
                cause=o.cause,
                customers=others[o.id or 0],
            )
            for o in found
        ]
    return RepeatWarning(
        window_days=window_days,
        customers_affected=await count_in_scope(session, feeders, areas),
        customers_recently_cut=distinct_customers[0][0],
        outages=listed,
    )


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
    await _tell(session, outage, OutageChange.announced, by=by, now=now, hours=hours)
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
    await _tell(session, outage, OutageChange.started, by=by, now=now, hours=hours, at=at)
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
    await _tell(
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
    await _tell(session, outage, OutageChange.progress, by=by, now=now, hours=hours, note=note)
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
    await _tell(session, outage, OutageChange.restored, by=by, now=now, hours=hours, at=at)
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
        await _tell(
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


async def to_public(session: AsyncSession, outage: Outage, *, viewer: Principal) -> OutagePublic:
    """The outage as ``viewer`` may see it: the notes dispatchers typed (抢修进度, reasons) are
    masked (ID numbers, phones) for anyone but dispatchers."""
    return (await to_public_many(session, [outage], viewer=viewer))[0]


async def to_public_many(
    session: AsyncSession, outages: Sequence[Outage], *, viewer: Principal
) -> list[OutagePublic]:
    """:func:`to_public` of several outages in a fixed number of queries (five), whatever
    their number: scopes, changes, counted impacts, deliveries, and the subscribers in scope of
    those not yet counted."""
    ids = [outage.id for outage in outages if outage.id is not None]
    if not ids:
        return []
    scopes: dict[int, tuple[list[str], list[str]]] = {i: ([], []) for i in ids}
    for outage_id, kind, name in await session.exec(
        select(OutageScope.outage_id, OutageScope.kind, OutageScope.name)
        .where(col(OutageScope.outage_id).in_(ids))
        .order_by(col(OutageScope.id))
    ):
        feeders, areas = scopes[outage_id]
        (feeders if kind is ScopeKind.feeder else areas).append(name)
    updates: dict[int, list[OutageUpdatePublic]] = {i: [] for i in ids}
    for update_row in await session.exec(
        select(OutageUpdate)
        .where(col(OutageUpdate.outage_id).in_(ids))
        .order_by(col(OutageUpdate.id))
    ):
        updates[update_row.outage_id].append(
            OutageUpdatePublic.model_validate(update_row, from_attributes=True)
        )
    counted: dict[int, int] = dict(
        await fetch_all(
            session,
            sa_select(col(OutageImpact.outage_id), func.sum(OutageImpact.customers))
            .where(col(OutageImpact.outage_id).in_(ids))
            .group_by(col(OutageImpact.outage_id)),
        )
    )
    deliveries: dict[int, dict[str, int]] = {i: {} for i in ids}
    for outage_id, state, n in await fetch_all(
        session,
        sa_select(col(Message.outage_id), col(Message.state), func.count())
        .where(col(Message.outage_id).in_(ids))
        .group_by(col(Message.outage_id), col(Message.state)),
    ):
        deliveries[outage_id][str(state)] = n
    in_scope_now = await _count_in_scopes(session, [i for i in ids if i not in counted])
    whole = sees_notes_whole(viewer)
    shown = []
    for outage in outages:
        assert outage.id is not None
        feeders, areas = scopes[outage.id]
        public = OutagePublic(
            **outage.model_dump(),
            number=number_of(outage),
            feeders=feeders,
            transformer_areas=areas,
            customers_affected=counted.get(outage.id, in_scope_now.get(outage.id, 0)),
            updates=updates[outage.id],
            deliveries=deliveries[outage.id],
        )
        shown.append(masked_unless(public, whole))
    return shown


async def _count_in_scopes(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    """Current subscribers in the scope of each outage (:func:`count_in_scope`), in one query:
    a subscriber on a feeder and in an area of the same outage counts once."""
    if not ids:
        return {}

    def reached(kind: ScopeKind, place: Any) -> Any:
        return (
            sa_select(col(OutageScope.outage_id).label("outage_id"), col(Subscriber.id))
            .select_from(OutageScope)
            .join(Subscriber, place == col(OutageScope.name))
            .where(
                col(OutageScope.outage_id).in_(ids),
                col(OutageScope.kind) == kind,
                col(Subscriber.served_until).is_(None),
            )
        )

    pairs = union(
        reached(ScopeKind.feeder, col(Subscriber.feeder)),
        reached(ScopeKind.area, col(Subscriber.transformer_area)),
    ).subquery()
    rows = await fetch_all(
        session,
        sa_select(pairs.c.outage_id, func.count()).group_by(pairs.c.outage_id),
    )
    return dict(rows)


def sees_notes_whole(viewer: Principal) -> bool:
    """Dispatchers type the outage notes and call the customers: they see them whole; anyone
    else (administrators) gets ID numbers and phones masked."""
    return viewer.role is Role.dispatcher


async def assign_unit(session: AsyncSession, outage_id: int, unit: str) -> Outage:
    """Hand the outage to ``unit`` (an outage from before units, or one drafted for the wrong
    unit); from now on only that unit's dispatchers (and administrators) act on it."""
    outage = await get(session, outage_id)
    outage.unit = unit
    session.add(outage)
    await session.flush()
    return outage


async def list_outages(
    session: AsyncSession,
    *,
    units: Sequence[str] | None,
    state: OutageState | None,
    kind: OutageKind | None,
    viewer: Principal,
    paging: PageParams = FIRST_PAGE,
) -> OutagePage:
    """Outages newest first, as ``viewer`` may see them; of ``units`` only, unless ``units`` is
    None (all of them)."""
    query = select(Outage)
    if units is not None:
        query = query.where(col(Outage.unit).in_(units))
    if state is not None:
        query = query.where(col(Outage.state) == state)
    if kind is not None:
        query = query.where(col(Outage.kind) == kind)
    total, rows = await fetch_page(
        session, query, paging, col(Outage.planned_start).desc(), col(Outage.id).desc()
    )
    return OutagePage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=await to_public_many(session, rows, viewer=viewer),
    )


async def current_outages(session: AsyncSession, *, units: Sequence[str] | None) -> list[Outage]:
    """Outages not yet over (待发布、已发布、停电中), soonest first; of ``units`` only, unless
    ``units`` is None (all of them)."""
    query = select(Outage).where(col(Outage.state).in_(CURRENT_STATES))
    if units is not None:
        query = query.where(col(Outage.unit).in_(units))
    found = await session.exec(query.order_by(col(Outage.planned_start), col(Outage.id)))
    return list(found)
