"""Responsible units (责任单位) as the ledgers name them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.models import Unit
from shared.errors import NotFound


async def unit_ids_by_name(session: AsyncSession, names: Sequence[str]) -> dict[str, int]:
    """Ids of the named units, creating those not yet known."""
    wanted = set(names)
    found = await session.exec(select(Unit).where(col(Unit.name).in_(wanted)))
    ids = {u.name: u.id for u in found if u.id is not None}
    for name in sorted(wanted - ids.keys()):
        unit = Unit(name=name)
        session.add(unit)
        await session.flush()
        assert unit.id is not None
        ids[name] = unit.id
    return ids


async def get_unit(session: AsyncSession, unit_id: int) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id} does not exist", code="unit_not_found")
    return unit


async def list_units(session: AsyncSession) -> list[Unit]:
    return list((await session.exec(select(Unit).order_by(col(Unit.name)))).all())
