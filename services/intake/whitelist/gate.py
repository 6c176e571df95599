"""What connecting the power (装表接电) requires of the whitelist (白名单).

An application whitelisted at acceptance waits for the utility's grid upgrade (配套电网改造); the
plan turns it to connection once that is built (建设完成后及时开展报装接电工作), which is the
record's release (已转入报装接电). Until then the last stage is refused, 409 ``whitelist_pending``.

The wait is the utility's side of the work, so it is grid-side time (电网环节办理时长): the
clock is not paused for it — the plans pause it only for the customer — and a whitelisted
application can run over its limit while the upgrade is built, which is what the warnings and
escalations are for.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application
from services.intake.whitelist.models import (
    WHITELIST_STATUS_LABELS,
    WhitelistEntry,
    WhitelistStatus,
)
from shared.errors import Conflict


async def whitelist_ready_to_connect(session: AsyncSession, application: Application) -> None:
    """Refuse to connect while the application's whitelist record is not released."""
    status = (
        await session.exec(
            select(WhitelistEntry.status).where(
                col(WhitelistEntry.application_id) == application.id
            )
        )
    ).first()
    if status is None or status is WhitelistStatus.released:
        return
    raise Conflict(
        f"application {application.number} is on the whitelist "
        f"({WHITELIST_STATUS_LABELS[WhitelistStatus(status)]}); release the record "
        "(已转入报装接电) once the grid upgrade is built, then connect "
        "(白名单用户须待配套电网改造完成并转入报装接电后方可装表接电)",
        code="whitelist_pending",
    )
