"""Policy changes: applications judged again by a time-limit policy (时限政策) entered late."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.loading import load_pauses, load_stages
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationStage,
    EventKind,
)
from services.intake.applications.switch import limits_under
from services.intake.policies.models import PolicyVersionPublic
from services.intake.policies.service import list_versions
from shared.errors import Conflict


async def rejudge_for_policy(
    session: AsyncSession,
    version: PolicyVersionPublic,
    *,
    actor: str,
    now: datetime,
    clocking: Clocking,
) -> int:
    """Judge again, by ``version``, the applications accepted while it is in force.

    A version may start on a past date (entered late): the applications accepted since then
    take its limits; their facts — stage times and pauses — stay as they are. Refused with
    ``policy_conflicts_with_applications`` if it would change the stages of any of them.
    """
    versions = await list_versions(session, version.jurisdiction)
    later = [v.effective_from for v in versions if v.effective_from > version.effective_from]
    query = select(Application).where(
        col(Application.jurisdiction) == version.jurisdiction,
        col(Application.accepted_day) >= version.effective_from,
    )
    if later:
        query = query.where(col(Application.accepted_day) < min(later))
    applications = list((await session.exec(query.order_by(col(Application.id)))).all())
    conflicts: list[str] = []
    plans: list[tuple[Application, list[ApplicationStage], list[int | None]]] = []
    for application in applications:
        stages = await load_stages(session, application.id)
        entry = version.entry_for(application.customer_type)
        no_works_budget = not application.has_works and entry.no_works_total_days is not None
        limits = limits_under(
            stages,
            entry,
            entry.staged and not no_works_budget,
            switched=await _switched(session, application.id),
        )
        if limits is None:
            conflicts.append(application.number)
        else:
            plans.append((application, stages, limits))
    if conflicts:
        shown = ", ".join(conflicts[:5])
        raise Conflict(
            f"the version changes the stages of {len(conflicts)} application(s) accepted "
            f"while it would be in force ({shown}); nothing was stored",
            code="policy_conflicts_with_applications",
        )
    for application, stages, limits in plans:
        entry = version.entry_for(application.customer_type)
        no_works_budget = not application.has_works and entry.no_works_total_days is not None
        old = application.policy_code
        application.policy_code = version.code
        application.supervising_unit = version.supervising_unit
        application.staged = any(limit is not None for limit in limits)
        application.total_limit_days = (
            entry.no_works_total_days
            if no_works_budget and entry.no_works_total_days
            else entry.total_days
        )
        for stage, limit_days in zip(stages, limits, strict=True):
            stage.limit_days = limit_days
        refresh(application, stages, await load_pauses(session, application.id), clocking)
        append_event(
            session,
            application,
            EventKind.policy_rejudged,
            now=now,
            actor=actor,
            stage=application.current_stage,
            reason=f"时限政策 {version.code} 自 {version.effective_from.isoformat()} 起施行",
            payload={
                "from": old,
                "to": version.code,
                "stages": [[s.stage.value, s.limit_days] for s in stages],
                "total_limit_days": application.total_limit_days,
            },
        )
    await session.flush()
    return len(plans)


async def _switched(session: AsyncSession, application_id: int | None) -> bool:
    """Whether the application's workflow was switched after a 三零 re-judgement."""
    query = select(ApplicationEvent.id).where(
        col(ApplicationEvent.application_id) == application_id,
        col(ApplicationEvent.kind) == EventKind.workflow_switched,
    )
    return (await session.exec(query.limit(1))).first() is not None
