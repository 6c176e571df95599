"""Loading an application and its stages and pauses."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationPause, ApplicationStage
from shared.errors import NotFound


async def get_application(
    session: AsyncSession, number: str, *, for_update: bool = False
) -> Application:
    query = select(Application).where(col(Application.number) == number)
    if for_update:
        query = query.with_for_update()
    application = (await session.exec(query)).first()
    if application is None:
        raise NotFound(f"there is no application {number}", code="application_not_found")
    return application


async def load_stages(session: AsyncSession, application_id: int | None) -> list[ApplicationStage]:
    query = (
        select(ApplicationStage)
        .where(col(ApplicationStage.application_id) == application_id)
        .order_by(col(ApplicationStage.seq))
    )
    return list((await session.exec(query)).all())


async def load_pauses(session: AsyncSession, application_id: int | None) -> list[ApplicationPause]:
    query = (
        select(ApplicationPause)
        .where(col(ApplicationPause.application_id) == application_id)
        .order_by(col(ApplicationPause.id))
    )
    return list((await session.exec(query)).all())
