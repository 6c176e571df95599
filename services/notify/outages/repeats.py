"""The repeated-outage warning (一停多用 — 规避重复停电): customers an outage cuts who had, or
will have, another outage within a few days of it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.outages.models import (
    Outage,
    OutageScope,
    OutageState,
    OverlapOutage,
    RepeatWarning,
    ScopeKind,
    number_of,
)
from services.notify.outages.scope import count_in_scope, in_scope, scope_of
from services.notify.subscribers.models import Subscriber
from shared.db import fetch_all


async def repeat_warning(session: AsyncSession, outage: Outage, window_days: int) -> RepeatWarning:
    """Customers this outage cuts who had, or will have, another outage within ``window_days``
    of its start (一停多用 — 规避重复停电), and those other outages."""
    assert outage.id is not None
    feeders, areas = await scope_of(session, outage.id)
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
