"""Time-limit policies over HTTP: public reading (信息公开), versions added by administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.intake.applications.clocking import Clocking
from services.intake.applications.policy_changes import rejudge_for_policy
from services.intake.deps import Calendar, Config, CurrentAdmin
from services.intake.policies import service
from services.intake.policies.models import (
    PolicyVersionAdded,
    PolicyVersionCreate,
    PolicyVersionPublic,
)
from shared.app import Session
from shared.clock import Now
from shared.validation import Day

router = APIRouter(tags=["policies"])


@router.get("/policies", summary="Time-limit policy versions (办理时限政策)")
async def list_policies(
    session: Session, jurisdiction: str | None = None
) -> list[PolicyVersionPublic]:
    return await service.list_versions(session, jurisdiction)


@router.get("/policies/in-force", summary="The version in force on a day (现行时限)")
async def policy_in_force(
    session: Session,
    jurisdiction: str,
    on: Annotated[Day, Query(description="Beijing date of acceptance (受理日期)")],
) -> PolicyVersionPublic:
    return await service.version_in_force(session, jurisdiction, on)


@router.get("/policies/{code}", summary="One policy version (时限政策版本)")
async def get_policy(code: str, session: Session) -> PolicyVersionPublic:
    return await service.get_version(session, code)


@router.post(
    "/policies",
    status_code=status.HTTP_201_CREATED,
    summary="Add a policy version (新增时限政策版本)",
)
async def add_policy(
    body: PolicyVersionCreate,
    admin: CurrentAdmin,
    session: Session,
    calendar: Calendar,
    config: Config,
    now: Now,
) -> PolicyVersionAdded:
    """A version starting on a past date re-judges the applications accepted since then."""
    version = await service.add_version(session, body, actor=admin.subject, now=now)
    rejudged = await rejudge_for_policy(
        session,
        version,
        actor=admin.subject,
        now=now,
        clocking=Clocking(calendar, config.at_risk_percent),
    )
    return PolicyVersionAdded(**version.model_dump(), rejudged_applications=rejudged)
