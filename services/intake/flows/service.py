"""Processes that span intake's domains (as dispatch's ``flows.py``).

Accepting an application (受理) assesses 三零 (whitelist), reuses documents on file on a change
of use (documents) and joins a project's pre-application (portal); completing a stage checks the
documents and the connection gates; a pause asks for documents; a correction may re-judge 三零;
the detail and the applicant's page gather documents and fees. The domains below know nothing of
the ones above them: :mod:`services.intake.applications` imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_operator, check_reader
from services.intake.applications.checks import ENDED, check_not_before
from services.intake.applications.clocking import Clocking
from services.intake.applications.corrections import (
    THREE_ZERO_FIELDS,
    apply_correction,
    switch_to,
    tell_subscriber,
)
from services.intake.applications.creating import (
    check_new,
    create_application,
    received_event_data,
    submitted_event_data,
)
from services.intake.applications.loading import get_application, load_pauses, load_stages
from services.intake.applications.models import (
    PAUSE_REASON_LABELS,
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
    Channel,
    ProgressStage,
)
from services.intake.applications.pauses import open_pause, stop_clock
from services.intake.applications.rating import record_rating
from services.intake.applications.reading import pause_public, stage_public, to_public
from services.intake.applications.requests import (
    ApplicationCreate,
    CorrectionRequest,
    PauseRequest,
    RatingRequest,
    StageCompletion,
)
from services.intake.applications.stages import complete, record_connection_point, stage_to_complete
from services.intake.documents.gate import check_stage_documents
from services.intake.documents.on_file import (
    check_change_of_use,
    documents_view,
    holdings,
    link_change_of_use,
    needs_of,
)
from services.intake.documents.pauses import ask_on_pause
from services.intake.external_lines.gate import external_line_ready_to_connect
from services.intake.fees.sheet import applicant_fees, fee_sheet
from services.intake.flows.models import ApplicantProgress, ApplicationDetail
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.portal.pre_applications import join_application
from services.intake.rules.documents import load_document_catalogue, required_documents
from services.intake.rules.identity import FieldErrors
from services.intake.whitelist import assess as three_zero
from services.intake.whitelist.gate import whitelist_ready_to_connect
from services.intake.whitelist.models import ThreeZeroPublic
from services.intake.whitelist.recorded import declared_type, three_zero_of
from services.intake.whitelist.rejudge import rejudge
from shared import units
from shared.auth import Principal
from shared.calendar import WorkingCalendar, beijing_date
from shared.keyring import Keyring
from shared.masking import masked_unless

STATUS_LABELS = {
    ApplicationStatus.open: "办理中",
    ApplicationStatus.paused: "暂停计时（等待您办理）",
    ApplicationStatus.connected: "已接电",
    ApplicationStatus.closed: "已终止",
}


class Accepted(NamedTuple):
    """A new application as written: the answer to its acceptance is shaped from these rows
    (:func:`detail`) instead of reading them back."""

    application: Application
    query_code: str
    """The applicant's query code (查询码), shown once."""
    stages: list[ApplicationStage]
    three_zero: ThreeZeroPublic
    fresh: bool
    """It brought nothing with it (no pre-application joined, no change of use): no documents,
    requests, waivers or fees to read."""


async def accept_application(
    session: AsyncSession,
    data: ApplicationCreate,
    *,
    clerk: Principal,
    now: datetime,
    clocking: Clocking,
    keyring: Keyring,
    portal_client: str | None = None,
) -> Accepted:
    """Accept an application (受理) now; returns it with the applicant's query code (查询码),
    its stages and its 三零 decision.

    ``clerk`` is whoever accepts it: a clerk of the unit, or for an application submitted
    through the government portal a principal standing for that portal (``portal_client`` its
    key id). An application naming a project code joins the project's pre-application.
    """
    units.require_covers(clerk.units, data.unit)
    today = beijing_date(now)
    errors = FieldErrors()
    id_number, mobile = check_new(errors, data, today)
    assessed = await three_zero.assess(session, data, today, errors, actor=clerk.subject)
    earlier = await check_change_of_use(session, data, id_number, errors)
    errors.raise_if_any()
    if assessed.customer_type is not None:  # the facts' 三零 decision picks the workflow
        data = data.model_copy(update={"customer_type": assessed.customer_type})
    assert id_number is not None
    assert mobile is not None
    created = await create_application(
        session,
        data,
        id_number=id_number,
        mobile=mobile,
        clerk=clerk,
        now=now,
        clocking=clocking,
        keyring=keyring,
        portal_client=portal_client,
    )
    application, query_code = created.application, created.query_code
    joined = await join_application(session, application, now)
    decision = three_zero.record(session, application, assessed, now=now)
    if earlier is not None:
        link_change_of_use(session, application, earlier, actor=clerk.subject, now=now)
    if application.mobile:
        enqueue(
            session,
            EventType.application_received,
            subject=application.number,
            data=received_event_data(application, query_code, keyring),
            now=now,
        )
    if application.channel is Channel.portal:
        enqueue(
            session,
            EventType.portal_submitted,
            subject=application.number,
            data=submitted_event_data(application),
            now=now,
        )
    await session.flush()
    return Accepted(
        application,
        query_code,
        created.stages,
        decision,
        fresh=not joined and earlier is None,
    )


async def complete_stage(
    session: AsyncSession,
    number: str,
    stage: Stage,
    data: StageCompletion,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Close the current stage now and open the next one (or record the connection, 接电),
    once its documents are in and, to connect, the 三零 and external-line gates are passed."""
    application = await get_application(session, number, for_update=True)
    stages, target = await stage_to_complete(session, application, stage, actor=actor, now=now)
    await check_stage_documents(session, application, beijing_date(now))
    last = target.seq == len(stages) - 1
    record_connection_point(application, data, last=last)
    if last:
        await whitelist_ready_to_connect(session, application)
        await external_line_ready_to_connect(
            session, application, actor=actor.subject, now=now, calendar=clocking.calendar
        )
    return await complete(
        session, application, stages, target, data, actor=actor, now=now, clocking=clocking
    )


async def pause(
    session: AsyncSession,
    number: str,
    data: PauseRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Stop the clock while the customer is awaited (暂停计时), with the reason; a pause for
    documents asks the customer for them."""
    application = await get_application(session, number, for_update=True)
    stages, pauses, new = await open_pause(session, application, data, actor=actor, now=now)
    await ask_on_pause(session, application, new, data, actor=actor.subject, now=now)
    return await stop_clock(
        session, application, stages, pauses, new, data, actor=actor, now=now, clocking=clocking
    )


async def correct(
    session: AsyncSession,
    number: str,
    data: CorrectionRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking | None = None,
) -> Application:
    """Correct a recorded detail; the log keeps the old value (masked), the reason and author.

    A correction that changes the 三零 decision switches an open application's workflow
    (:mod:`services.intake.applications.switch`); ``clocking`` then recomputes its deadlines.
    """
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    check_not_before(application.accepted_at, now)
    declared = (
        await declared_type(session, application.id) if data.field in THREE_ZERO_FIELDS else None
    )
    apply_correction(session, application, data, actor=actor, now=now, declared=declared)
    if data.field in THREE_ZERO_FIELDS:
        applied = await rejudge(
            session,
            application,
            trigger=data.field,
            actor=actor.subject,
            reason=data.reason,
            now=now,
        )
        if applied is not application.customer_type:
            await switch_to(session, application, applied, actor=actor, now=now, clocking=clocking)
    tell_subscriber(session, application, data.field, now=now)
    await session.flush()
    return application


async def detail(
    session: AsyncSession,
    application: Application,
    calendar: WorkingCalendar,
    today: date,
    *,
    unmasked: bool,
    stages: Sequence[ApplicationStage] | None = None,
    pauses: Sequence[ApplicationPause] | None = None,
    accepted: Accepted | None = None,
) -> ApplicationDetail:
    """``stages`` and ``pauses``: the application's rows when the caller holds them (it has
    just written them), else they are read. ``accepted``: the application was just accepted;
    its 三零 decision is taken from it and, when it brought nothing, its (empty) documents and
    fees are not read."""
    if stages is None:
        stages = await load_stages(session, application.id)
    if pauses is None:
        pauses = await load_pauses(session, application.id)
    public = to_public(application, stages, pauses, calendar, today, unmasked=unmasked)
    by_seq = {s.seq: s.stage for s in stages}
    decision = (
        accepted.three_zero
        if accepted is not None
        else await three_zero_of(session, application.id)
    )
    fresh = accepted is not None and accepted.fresh
    shaped = ApplicationDetail(
        **public.model_dump(),
        stages=[stage_public(s, application, pauses, calendar, today) for s in stages],
        pauses=[pause_public(p, by_seq, calendar, application.ended_day or today) for p in pauses],
        three_zero=decision,
        documents=await documents_view(session, application, today, unmasked=unmasked, fresh=fresh),
        # No decision row reads as not zero-investment, as zero_investment() does.
        fees=await fee_sheet(
            session,
            application.id,
            unmasked=unmasked,
            zero_investment_known=decision.zero_investment if decision else False,
            fresh=fresh,
        ),
    )
    # Pause notes and every other free text in it (documents, fees), for the caller's role.
    return masked_unless(shaped, unmasked)


async def read_detail(
    session: AsyncSession,
    number: str,
    principal: Principal,
    calendar: WorkingCalendar,
    today: date,
) -> ApplicationDetail:
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    return await detail(session, application, calendar, today, unmasked=unmasked)


def _awaiting(application: Application, pauses: Sequence[ApplicationPause]) -> list[str]:
    if application.status is not ApplicationStatus.paused:
        return []
    running = next(p for p in pauses if p.ended_at is None)
    return [f"{PAUSE_REASON_LABELS[running.reason]}：{running.note}".rstrip("：")]


async def progress(
    session: AsyncSession, application: Application, *, today: date
) -> ApplicantProgress:
    """What the applicant may see with the number and query code (no login; the code checked
    by :func:`services.intake.applications.query_codes.applicant_application`)."""
    needs = needs_of(application, await holdings(session, application), today)
    fees, fee_total = await applicant_fees(session, application.id)
    stages = await load_stages(session, application.id)
    pauses = await load_pauses(session, application.id)
    current = application.current_stage if application.status not in ENDED else None
    return ApplicantProgress(
        number=application.number,
        customer_type_label=application.customer_type.label,
        status=application.status,
        status_label=STATUS_LABELS[application.status],
        accepted_at=application.accepted_at,
        current_stage_label=STAGE_LABELS[current] if current else None,
        due_date=application.due_date,
        due_provisional=application.due_provisional,
        stages=[
            ProgressStage(
                stage=s.stage,
                label=STAGE_LABELS[s.stage],
                state="done"
                if s.completed_at
                else "open"
                if s.seq == application.current_seq and current
                else "pending",
                started_at=s.started_at,
                completed_at=s.completed_at,
                due_date=s.due_date,
                due_provisional=s.provisional,
            )
            for s in stages
        ],
        awaiting_you=_awaiting(application, pauses),
        documents=[k.name for k in required_documents(application.customer_type, current)]
        if current
        else [],
        documents_needed=[load_document_catalogue().kind(c).name for c in needs.needed]
        if needs
        else [],
        fees=fees,
        fee_total=fee_total,
        can_rate=application.status is ApplicationStatus.connected and application.rating is None,
        rating=application.rating,
    )


async def rate(
    session: AsyncSession, application: Application, data: RatingRequest, *, now: datetime
) -> ApplicantProgress:
    """The applicant's rating once connected (服务线上评价), once; returns their page after it."""
    await record_rating(session, application, data, now=now)
    return await progress(session, application, today=beijing_date(now))
