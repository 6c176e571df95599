"""Outages as callers see them (停电列表): the public shape of several outages in a fixed number
of queries, a page of them, and the ones not yet over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, union
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.models import Message
from services.notify.outages.access import sees_notes_whole
from services.notify.outages.models import (
    CURRENT_STATES,
    Outage,
    OutageImpact,
    OutageKind,
    OutagePage,
    OutagePublic,
    OutageScope,
    OutageState,
    OutageUpdate,
    OutageUpdatePublic,
    ScopeKind,
    number_of,
)
from services.notify.subscribers.models import Subscriber
from shared.auth import Principal
from shared.db import fetch_all
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page


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
