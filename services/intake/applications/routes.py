"""Applications over HTTP: clerks operate them, staff read them, the applicant checks progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications import pauses, reading, stages, verification, why
from services.intake.applications.clocking import Clocking
from services.intake.applications.models import (
    Application,
    ApplicationPage,
    ApplicationStatus,
    ChainCheck,
    EventPublic,
)
from services.intake.applications.query_codes import applicant_application
from services.intake.applications.requests import (
    ApplicationCreate,
    CloseRequest,
    CorrectionRequest,
    PauseRequest,
    RatingRequest,
    ResumeRequest,
    StageCompletion,
)
from services.intake.applications.why import DeadlineWhy
from services.intake.deps import Calendar, Config, CurrentClerk, CurrentStaff, Keys
from services.intake.flows import service as flows
from services.intake.flows.models import ApplicantProgress, ApplicationCreated, ApplicationDetail
from services.intake.idempotency import IdempotencyRecord
from services.intake.policies.models import Stage
from shared import idempotency
from shared.app import Session
from shared.auth import Principal
from shared.calendar import WorkingCalendar, beijing_date
from shared.clock import Now
from shared.errors import Problem
from shared.idempotency import OptionalIdempotencyKey
from shared.pagination import Paging
from shared.vocab import CustomerType

router = APIRouter(tags=["applications"])
public_router = APIRouter(tags=["applicant"])

QueryCode = Annotated[str, Header(alias="X-Query-Code", min_length=1, max_length=20)]


def _clocking(calendar: WorkingCalendar, config: Config) -> Clocking:
    return Clocking(calendar, config.at_risk_percent)


@dataclass
class ClerkChange:
    """What a clerk's change to an application needs (who, the transaction, the clock, the
    time), and its answer: the application in full, as the clerk sees it."""

    clerk: Principal
    session: AsyncSession
    calendar: WorkingCalendar
    clocking: Clocking
    now: datetime

    async def answer(self, application: Application) -> ApplicationDetail:
        return await flows.detail(
            self.session, application, self.calendar, beijing_date(self.now), unmasked=True
        )


async def _clerk_change(
    clerk: CurrentClerk, session: Session, calendar: Calendar, config: Config, now: Now
) -> ClerkChange:
    return ClerkChange(clerk, session, calendar, _clocking(calendar, config), now)


ClerkStep = Annotated[ClerkChange, Depends(_clerk_change)]


@router.post(
    "/applications",
    status_code=status.HTTP_201_CREATED,
    summary="Accept an application (受理用电报装申请)",
    response_model=ApplicationCreated,
    responses={
        409: {"model": Problem, "description": "Idempotency-Key reused (idempotency_key_reused)"}
    },
)
async def create_application(
    body: ApplicationCreate,
    clerk: CurrentClerk,
    session: Session,
    calendar: Calendar,
    config: Config,
    keys: Keys,
    now: Now,
    key: OptionalIdempotencyKey,
) -> ApplicationCreated | JSONResponse:
    """With an ``Idempotency-Key`` a retry (a lost answer, a second click) gets the first answer
    — the same number and query code — instead of a second application."""

    async def accept() -> tuple[int, ApplicationCreated]:
        created = await flows.accept_application(
            session,
            body,
            clerk=clerk,
            now=now,
            clocking=_clocking(calendar, config),
            keyring=keys,
        )
        # Shaped from the rows just written: a new application has no pauses yet.
        shown = await flows.detail(
            session,
            created.application,
            calendar,
            beijing_date(now),
            unmasked=True,
            stages=created.stages,
            pauses=[],
            accepted=created,
        )
        return status.HTTP_201_CREATED, ApplicationCreated(
            application=shown, query_code=created.query_code
        )

    if key is None:
        return (await accept())[1]
    return await idempotency.run_once(
        session,
        IdempotencyRecord,
        key_id=f"user:{clerk.user_id if clerk.user_id is not None else clerk.subject}",
        key=key,
        request_hash=idempotency.fingerprint("POST", "/applications", body.model_dump(mode="json")),
        effect=accept,
        now=now,
        keyring=keys,
    )


@router.get("/applications", summary="Applications (申请列表)")
async def list_applications(
    staff: CurrentStaff,
    session: Session,
    calendar: Calendar,
    now: Now,
    paging: Paging,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    unit: str | None = None,
    customer_type: CustomerType | None = None,
    stage: Stage | None = None,
) -> ApplicationPage:
    flt = reading.ApplicationFilter(
        status=status_, unit=unit, customer_type=customer_type, stage=stage
    )
    return await reading.list_applications(session, staff, flt, calendar, beijing_date(now), paging)


@router.get("/applications/{number}", summary="One application with its stages (申请详情)")
async def get_application(
    number: str, staff: CurrentStaff, session: Session, calendar: Calendar, now: Now
) -> ApplicationDetail:
    return await flows.read_detail(session, number, staff, calendar, beijing_date(now))


@router.get(
    "/applications/{number}/why",
    summary="Why the total stands where it does (总时长期限说明)",
)
async def application_why(
    number: str, staff: CurrentStaff, session: Session, calendar: Calendar, now: Now
) -> DeadlineWhy:
    return await why.application_why(session, number, staff, calendar, beijing_date(now))


@router.get(
    "/applications/{number}/stages/{stage}/why",
    summary="Why a stage is due when it is (环节期限说明)",
)
async def stage_why(
    number: str, stage: Stage, staff: CurrentStaff, session: Session, calendar: Calendar, now: Now
) -> DeadlineWhy:
    return await why.stage_why(session, number, stage, staff, calendar, beijing_date(now))


@router.post(
    "/applications/{number}/stages/{stage}/complete",
    summary="Complete the current stage (办结当前环节)",
)
async def complete_stage(
    number: str, stage: Stage, body: StageCompletion, step: ClerkStep
) -> ApplicationDetail:
    application = await flows.complete_stage(
        step.session, number, stage, body, actor=step.clerk, now=step.now, clocking=step.clocking
    )
    return await step.answer(application)


@router.post("/applications/{number}/pause", summary="Pause the clock for the customer (暂停计时)")
async def pause(number: str, body: PauseRequest, step: ClerkStep) -> ApplicationDetail:
    application = await flows.pause(
        step.session, number, body, actor=step.clerk, now=step.now, clocking=step.clocking
    )
    return await step.answer(application)


@router.post("/applications/{number}/resume", summary="Resume the clock (恢复计时)")
async def resume(number: str, body: ResumeRequest, step: ClerkStep) -> ApplicationDetail:
    application = await pauses.resume(
        step.session, number, body, actor=step.clerk, now=step.now, clocking=step.clocking
    )
    return await step.answer(application)


@router.post("/applications/{number}/close", summary="End without connection (终止办理)")
async def close(number: str, body: CloseRequest, step: ClerkStep) -> ApplicationDetail:
    application = await stages.close(
        step.session, number, body, actor=step.clerk, now=step.now, clocking=step.clocking
    )
    return await step.answer(application)


@router.post("/applications/{number}/corrections", summary="Correct a detail (信息更正)")
async def correct(number: str, body: CorrectionRequest, step: ClerkStep) -> ApplicationDetail:
    application = await flows.correct(
        step.session, number, body, actor=step.clerk, now=step.now, clocking=step.clocking
    )
    return await step.answer(application)


@router.get("/applications/{number}/log", summary="The stage log (环节记录)")
async def read_log(number: str, staff: CurrentStaff, session: Session) -> list[EventPublic]:
    return await reading.read_log(session, number, staff)


@router.get("/applications/{number}/log/verify", summary="Verify the log's hash chain (记录校验)")
async def verify_log(
    number: str,
    staff: CurrentStaff,
    session: Session,
    keys: Keys,
    calendar: Calendar,
    config: Config,
) -> ChainCheck:
    return await verification.verify_log(session, number, staff, keys, _clocking(calendar, config))


TOO_MANY_TRIES: dict[int | str, dict[str, Any]] = {
    429: {"model": Problem, "description": "Too many tries (尝试过多)"}
}


@public_router.get(
    "/public/applications/{number}/progress",
    summary="Check progress with the query code (办电进度查询)",
    responses=TOO_MANY_TRIES,
)
async def progress(
    number: str, query_code: QueryCode, session: Session, now: Now, request: Request
) -> ApplicantProgress:
    application = await applicant_application(request, session, number, query_code, now)
    return await flows.progress(session, application, today=beijing_date(now))


@public_router.post(
    "/public/applications/{number}/rating",
    summary="Rate the service once connected (服务线上评价)",
    responses=TOO_MANY_TRIES,
)
async def rate(
    number: str,
    body: RatingRequest,
    query_code: QueryCode,
    session: Session,
    now: Now,
    request: Request,
) -> ApplicantProgress:
    application = await applicant_application(request, session, number, query_code, now)
    # Locked and re-read: two ratings at once must not both append to the log.
    await session.refresh(application, with_for_update=True)
    return await flows.rate(session, application, body, now=now)
