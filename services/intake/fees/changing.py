"""What every change to an application's fee items starts with: the application still open,
and the item itself, locked."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationStatus
from services.intake.fees.models import ApplicationFee
from shared.errors import Conflict, NotFound


def check_open(application: Application) -> None:
    """A connected or closed application's fee items are final."""
    if application.status in (ApplicationStatus.connected, ApplicationStatus.closed):
        raise Conflict(
            f"application {application.number} is {application.status.value}; "
            "its fee items cannot change",
            code="application_ended",
        )


async def locked_fee(
    session: AsyncSession, application: Application, fee_id: int
) -> ApplicationFee:
    """The application's fee item ``fee_id``, locked for the change; 404 if it has none, 409
    if it is voided."""
    query = select(ApplicationFee).where(
        col(ApplicationFee.id) == fee_id, col(ApplicationFee.application_id) == application.id
    )
    fee = (await session.exec(query.with_for_update())).first()
    if fee is None:
        raise NotFound(
            f"application {application.number} has no fee item {fee_id}", code="fee_not_found"
        )
    if fee.voided_at is not None:
        raise Conflict("the fee item is already voided", code="fee_already_voided")
    return fee
