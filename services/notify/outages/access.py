"""Which outages a caller may see and act on: those of their units (单位) and of the units below.

An outage belongs to one unit, taken from the drafting dispatcher's units. A dispatcher reads,
changes, announces, cancels and restores only the outages of their units; an administrator may
do all. Another unit's outage is refused with ``403 not_your_unit``, as intake refuses another
unit's application and ledger another unit's item: outage numbers are sequential and announced
to the public, so hiding that one exists (a 404) would protect nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.outages.models import Outage
from services.notify.outages.service import get
from shared import units
from shared.auth import Principal, Role
from shared.errors import FieldError, Forbidden, Unprocessable


class NoUnits(Forbidden):
    code = "no_units"


class UnitRequired(Unprocessable):
    code = "unit_required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[FieldError(field="unit", code=self.code, message=detail)])


def unit_for_new_outage(staff: Principal, asked: str | None) -> str:
    """The unit a new outage drafted by ``staff`` belongs to: a dispatcher's own unit (the one
    they name, if they have several); an administrator names any unit."""
    if staff.role is Role.admin:
        if asked is None:
            raise UnitRequired("an administrator names the unit the outage belongs to")
        return asked
    if not staff.units:
        raise NoUnits("you are bound to no unit; an outage must belong to one of your units")
    if asked is None:
        if len(staff.units) > 1:
            raise UnitRequired(f"you act for several units; name one: {', '.join(staff.units)}")
        return staff.units[0]
    units.require_covers(staff.units, asked)
    return asked


def visible_units(staff: Principal) -> Sequence[str] | None:
    """The units whose outages ``staff`` may list; ``None`` for all of them (administrators)."""
    return None if staff.role is Role.admin else units.covered(staff.units)


def check_unit(outage: Outage, staff: Principal) -> None:
    """Refuse ``staff`` an outage of a unit they do not act for."""
    if staff.role is Role.admin:
        return
    owner = outage.unit or "no unit yet (an administrator assigns one)"
    units.require_covers(
        staff.units, outage.unit, f"outage {outage.id} belongs to {owner}, not to your units"
    )


async def outage_for(session: AsyncSession, outage_id: int, staff: Principal) -> Outage:
    """The outage, locked for the request's changes, if ``staff`` may act on it."""
    outage = await get(session, outage_id)
    check_unit(outage, staff)
    return outage


def sees_notes_whole(viewer: Principal) -> bool:
    """Dispatchers type the outage notes and call the customers: they see them whole; anyone
    else (administrators) gets ID numbers and phones masked."""
    return viewer.role is Role.dispatcher
