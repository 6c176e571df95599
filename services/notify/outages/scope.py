"""An outage's scope (停电范围): the feeders (线路) and transformer areas (台区) it cuts, and the
subscribers supplied through them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.outages.models import OutageCreate, OutageScope, ScopeKind
from services.notify.subscribers.models import Subscriber


async def scope_of(session: AsyncSession, outage_id: int) -> tuple[list[str], list[str]]:
    """The feeders and the transformer areas ``outage_id`` cuts, in the order given."""
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


async def add_scope(session: AsyncSession, outage_id: int, data: OutageCreate) -> None:
    """Record the feeders and areas ``data`` names, each once."""
    scopes = [(ScopeKind.feeder, n) for n in dict.fromkeys(data.feeders)]
    scopes += [(ScopeKind.area, n) for n in dict.fromkeys(data.transformer_areas)]
    session.add_all(OutageScope(outage_id=outage_id, kind=k, name=n) for k, n in scopes)
    await session.flush()


def at_place(feeders: Sequence[str], areas: Sequence[str]) -> ColumnElement[bool]:
    """Subscribers, current or former, supplied through one of the feeders or areas."""
    clauses = []
    if feeders:
        clauses.append(col(Subscriber.feeder).in_(list(feeders)))
    if areas:
        clauses.append(col(Subscriber.transformer_area).in_(list(areas)))
    return or_(*clauses) if clauses else literal(False)


def in_scope(feeders: Sequence[str], areas: Sequence[str]) -> ColumnElement[bool]:
    """Current subscribers supplied through one of the feeders or transformer areas."""
    return and_(at_place(feeders, areas), col(Subscriber.served_until).is_(None))


async def count_in_scope(
    session: AsyncSession, feeders: Sequence[str], areas: Sequence[str]
) -> int:
    """How many current subscribers the feeders and areas reach, each once."""
    found = await session.exec(
        select(func.count()).select_from(Subscriber).where(in_scope(feeders, areas))
    )
    return found.one()
