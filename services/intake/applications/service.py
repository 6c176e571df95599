"""Applications (用电报装): creation, the stage transitions, pauses, closing, corrections, reads.

Every transition is stamped with the server's time, passed in as ``now``: callers cannot
backdate (后补流程), re-run (重走流程) or skip a stage. Each change appends to the stage log.
Derived values are recomputed from the stored facts by :func:`refresh`, the one place the clock
is applied, whether after a transition, a calendar load or a policy change.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications import clock
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    PAUSE_REASON_LABELS,
    ApplicantProgress,
    ApplicantPublic,
    Application,
    ApplicationCreate,
    ApplicationDetail,
    ApplicationEvent,
    ApplicationPage,
    ApplicationPause,
    ApplicationPublic,
    ApplicationStage,
    ApplicationStatus,
    ClockPublic,
    CloseRequest,
    CorrectionRequest,
    EventKind,
    EventPublic,
    IdKind,
    PausePublic,
    PauseRequest,
    ProgressStage,
    RatingRequest,
    ResumeRequest,
    SitePublic,
    StageCompletion,
    StagePublic,
    TimeSpent,
    WatchState,
)
from services.intake.applications.query_codes import query_code_digest
from services.intake.applications.switch import limits_under, switch_workflow
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
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import (
    LOW_VOLTAGE_TYPES,
    STAGE_LABELS,
    PolicyVersionPublic,
    Stage,
)
from services.intake.policies.service import get_version, list_versions, version_in_force
from services.intake.portal.pre_applications import join_application
from services.intake.rules.documents import load_document_catalogue, required_documents
from services.intake.rules.identity import (
    FieldErrors,
    mask_id_number,
    mask_mobile,
    parse_credit_code,
    parse_resident_id,
)
from services.intake.rules.three_zero import load_three_zero_rules
from services.intake.whitelist import assess as three_zero
from services.intake.whitelist.gate import whitelist_ready_to_connect
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar, beijing_date
from shared.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from shared.events import seal_query_code
from shared.keyring import Keyring
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.timeutil import chinese_date
from shared.vocab import AreaClass, CustomerType, parse_mobile

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_QUERY_CODE_LENGTH = 8
STATUS_LABELS = {
    ApplicationStatus.open: "办理中",
    ApplicationStatus.paused: "暂停计时（等待您办理）",
    ApplicationStatus.connected: "已接电",
    ApplicationStatus.closed: "已终止",
}
ENDED = (ApplicationStatus.connected, ApplicationStatus.closed)


@dataclass(frozen=True)
class Clocking:
    """What applying the clock needs besides the facts: the calendar and the warning share."""

    calendar: WorkingCalendar
    at_risk_percent: int


# ---- loading ---------------------------------------------------------------------------------


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


async def _stages(session: AsyncSession, application_id: int | None) -> list[ApplicationStage]:
    query = (
        select(ApplicationStage)
        .where(col(ApplicationStage.application_id) == application_id)
        .order_by(col(ApplicationStage.seq))
    )
    return list((await session.exec(query)).all())


async def _pauses(session: AsyncSession, application_id: int | None) -> list[ApplicationPause]:
    query = (
        select(ApplicationPause)
        .where(col(ApplicationPause.application_id) == application_id)
        .order_by(col(ApplicationPause.id))
    )
    return list((await session.exec(query)).all())


# ---- the clock applied -----------------------------------------------------------------------


def refresh(
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
    clocking: Clocking,
) -> None:
    """Recompute every derived value of one application from its facts."""
    calendar = clocking.calendar
    paused_by_stage: dict[int, int] = defaultdict(int)
    provisional_by_stage: dict[int, bool] = defaultdict(bool)
    for pause in pauses:
        if pause.ended_day is None:
            continue
        days, provisional = clock.paused_days(calendar, pause.started_day, pause.ended_day)
        pause.days = days
        paused_by_stage[pause.stage_seq] += days
        provisional_by_stage[pause.stage_seq] |= provisional
    application.paused_days = sum(paused_by_stage.values())
    for stage in stages:
        stage.paused_days = paused_by_stage[stage.seq]
        if stage.started_day is None:
            stage.due_date = None
            continue
        deadline = clock.stage_deadline(calendar, application, stage)
        stage.due_date = deadline.due if deadline else None
        # An open stage is provisional if its due date is; a closed one if its count was.
        stage.provisional = (deadline is not None and deadline.provisional) or provisional_by_stage[
            stage.seq
        ]
        if stage.completed_day is not None:
            time = clock.spent(
                calendar,
                stage.started_day,
                stage.completed_day,
                stage.paused_days,
                provisional_by_stage[stage.seq],
            )
            stage.elapsed_days = time.elapsed
            stage.grid_days = time.grid
            stage.within_limit = (
                time.grid <= stage.limit_days if stage.limit_days is not None else None
            )
            stage.provisional = time.provisional
    application.elapsed_days = application.grid_days = application.within_limit = None
    if application.status is ApplicationStatus.connected:
        assert application.ended_day is not None
        whole = clock.spent(
            calendar,
            application.accepted_day,
            application.ended_day,
            application.paused_days,
            any(provisional_by_stage.values()),
        )
        application.elapsed_days, application.grid_days = whole.elapsed, whole.grid
        application.within_limit = whole.grid <= application.total_limit_days
    if application.status is not ApplicationStatus.open:
        application.due_date = application.at_risk_from = None
        application.due_provisional = False
        return
    current = stages[application.current_seq]
    assert current.started_day is not None
    if application.staged:
        assert current.limit_days is not None
        start, limit, paused = current.started_day, current.limit_days, current.paused_days
    else:
        start, limit = application.accepted_day, application.total_limit_days
        paused = application.paused_days
    running = clock.watch(calendar, start, limit, paused, clocking.at_risk_percent)
    application.due_date = running.due
    application.at_risk_from = running.at_risk_from
    application.due_provisional = running.provisional


def watch_state(application: Application, today: date) -> WatchState | None:
    if application.status is ApplicationStatus.paused:
        return WatchState.paused
    if application.status is not ApplicationStatus.open or application.due_date is None:
        return None
    if today > application.due_date:
        return WatchState.overdue
    assert application.at_risk_from is not None
    return WatchState.at_risk if today >= application.at_risk_from else WatchState.on_time


async def refresh_applications(
    session: AsyncSession, ids: Sequence[int], clocking: Clocking
) -> int:
    """Recompute the given applications; returns how many of them changed."""
    if not ids:
        return 0
    applications = (
        await session.exec(select(Application).where(col(Application.id).in_(ids)))
    ).all()
    stages: dict[int, list[ApplicationStage]] = defaultdict(list)
    for stage in (
        await session.exec(
            select(ApplicationStage)
            .where(col(ApplicationStage.application_id).in_(ids))
            .order_by(col(ApplicationStage.application_id), col(ApplicationStage.seq))
        )
    ).all():
        stages[stage.application_id].append(stage)
    pauses: dict[int, list[ApplicationPause]] = defaultdict(list)
    for pause in (
        await session.exec(
            select(ApplicationPause)
            .where(col(ApplicationPause.application_id).in_(ids))
            .order_by(col(ApplicationPause.id))
        )
    ).all():
        pauses[pause.application_id].append(pause)
    changed = 0
    for application in applications:
        assert application.id is not None
        own = stages[application.id]
        before = _derived(application, own)
        refresh(application, own, pauses[application.id], clocking)
        changed += _derived(application, own) != before
    await session.flush()
    return changed


def _derived(application: Application, stages: Sequence[ApplicationStage]) -> tuple[Any, ...]:
    return (
        application.due_date,
        application.at_risk_from,
        application.due_provisional,
        application.paused_days,
        application.grid_days,
        tuple(
            (s.due_date, s.elapsed_days, s.grid_days, s.within_limit, s.provisional) for s in stages
        ),
    )


_BATCH = 500


async def _recompute_where(
    session: AsyncSession, clocking: Clocking, condition: ColumnElement[bool]
) -> int:
    """Recompute the applications matching ``condition``, a batch of ids at a time."""
    changed, after = 0, 0
    while True:
        ids = [
            i
            for i in (
                await session.exec(
                    select(Application.id)
                    .where(col(Application.id) > after, condition)
                    .order_by(col(Application.id))
                    .limit(_BATCH)
                )
            ).all()
            if i is not None
        ]
        if not ids:
            return changed
        changed += await refresh_applications(session, ids, clocking)
        after = ids[-1]


async def recompute_for_year(session: AsyncSession, clocking: Clocking, year: int) -> int:
    """Recompute every application whose time may touch ``year`` (after a calendar load)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    touches_year = and_(
        col(Application.accepted_day) <= last,
        col(Application.ended_day).is_(None) | (col(Application.ended_day) >= first),
    )
    return await _recompute_where(session, clocking, touches_year)


async def recompute_live(session: AsyncSession, clocking: Clocking) -> int:
    """Recompute every open or paused application (the calendar a process starts with)."""
    is_live = col(Application.status).in_(
        [ApplicationStatus.open.value, ApplicationStatus.paused.value]
    )
    return await _recompute_where(session, clocking, is_live)


async def recompute_open(session: AsyncSession, clocking: Clocking) -> int:
    """Recompute the running clock of every open application (after a settings change)."""
    is_open = col(Application.status) == ApplicationStatus.open.value
    return await _recompute_where(session, clocking, is_open)


# ---- who may do what -------------------------------------------------------------------------


def check_operator(application: Application, principal: Principal) -> None:
    """Only a clerk of the application's unit operates it."""
    if principal.role is not Role.clerk:
        raise Forbidden("this action is for clerks (受理人员)", code="clerk_required")
    if not units.covers(principal.units, application.unit):
        raise Forbidden(
            f"application {application.number} belongs to {application.unit}, not your units",
            code="not_your_unit",
        )


def check_reader(application: Application, principal: Principal) -> bool:
    """Whether the caller may read the application, and unmasked (its unit's clerks) or not."""
    if principal.role is Role.clerk:
        check_operator(application, principal)
        return True
    if principal.role is Role.supervisor and not units.covers(
        principal.units, application.supervising_unit
    ):
        raise Forbidden(
            f"application {application.number} is supervised by {application.supervising_unit}",
            code="not_your_unit",
        )
    return False


def _check_not_before(moment: datetime | None, now: datetime) -> None:
    if moment is not None and now < moment:
        raise Conflict(
            "the server clock is behind the last recorded step; nothing was recorded",
            code="server_clock_behind",
        )


def _check_changeable(application: Application) -> None:
    if application.status in ENDED:
        raise Conflict(
            f"application {application.number} is {application.status.value}; it cannot change",
            code="application_ended",
        )


# ---- creating --------------------------------------------------------------------------------


def _validated_identity(
    errors: FieldErrors, field: str, kind: IdKind, value: str, today: date
) -> str | None:
    if kind is IdKind.resident_id:
        person = errors.check(field, lambda v: parse_resident_id(v, today=today), value)
        return person.number if person else None
    organisation = errors.check(field, parse_credit_code, value)
    return organisation.code if organisation else None


def _check_three_zero(errors: FieldErrors, customer_type: CustomerType, capacity: Decimal) -> None:
    ceiling = load_three_zero_rules().ceiling.limit_kw
    if customer_type is CustomerType.low_voltage_three_zero and capacity > ceiling:
        errors.add(
            "capacity_kw",
            "three_zero_over_160kw",
            f"实行“三零”服务的低压非居民用户报装容量不超过{ceiling.normalize():f}千瓦",
        )


async def create_application(
    session: AsyncSession,
    data: ApplicationCreate,
    *,
    clerk: Principal,
    now: datetime,
    clocking: Clocking,
    keyring: Keyring,
    portal_client: str | None = None,
) -> tuple[Application, str]:
    """Accept an application (受理) now; returns it with the applicant's query code (查询码).

    ``clerk`` is whoever accepts it: a clerk of the unit, or for an application submitted
    through the government portal a principal standing for that portal (``portal_client`` its
    key id). An application naming a project code joins the project's pre-application.
    """
    if not units.covers(clerk.units, data.unit):
        raise Forbidden(f"you do not act for {data.unit}", code="not_your_unit")
    today = beijing_date(now)
    errors = FieldErrors()
    id_number = _validated_identity(
        errors, "applicant.id_number", data.applicant.id_kind, data.applicant.id_number, today
    )
    mobile = errors.check("applicant.mobile", parse_mobile, data.applicant.mobile)
    if not data.has_works and data.customer_type not in LOW_VOLTAGE_TYPES:
        errors.add("has_works", "no_works_not_low_voltage", "只有低压用户可以无工程直接接电")
    _check_three_zero(errors, data.customer_type, data.capacity_kw)
    assessed = await three_zero.assess(session, data, today, errors, actor=clerk.subject)
    earlier = await check_change_of_use(session, data, id_number, errors)
    errors.raise_if_any()
    if assessed.customer_type is not None:  # the facts' 三零 decision picks the workflow
        data = data.model_copy(update={"customer_type": assessed.customer_type})
    assert id_number is not None
    assert mobile is not None
    policy = await version_in_force(session, data.jurisdiction, today)
    entry = policy.entry_for(data.customer_type)
    no_works_budget = not data.has_works and entry.no_works_total_days is not None
    staged = entry.staged and not no_works_budget
    application = Application(
        number=f"tmp-{secrets.token_hex(10)}",
        query_code_hash="",
        jurisdiction=data.jurisdiction,
        policy_code=policy.code,
        customer_type=data.customer_type,
        has_works=data.has_works,
        channel=data.channel,
        unit=data.unit,
        supervising_unit=policy.supervising_unit,
        clerk=clerk.subject,
        applicant_name=data.applicant.name.strip(),
        id_kind=data.applicant.id_kind,
        id_number=id_number,
        mobile=mobile,
        email=data.applicant.email,
        site_address=data.site.address.strip(),
        area_class=data.site.area_class,
        capacity_kw=data.capacity_kw,
        feeder=data.site.feeder,
        transformer_area=data.site.transformer_area,
        project_code=data.project_code,
        portal_client=portal_client,
        accepted_at=now,
        accepted_day=today,
        status=ApplicationStatus.open,
        current_stage=entry.stages[0].stage,
        current_seq=0,
        staged=staged,
        total_limit_days=entry.no_works_total_days
        if no_works_budget and entry.no_works_total_days
        else entry.total_days,
    )
    session.add(application)
    await session.flush()
    assert application.id is not None
    application.number = f"BZ{today:%Y%m%d}{application.id:06d}"
    query_code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_QUERY_CODE_LENGTH))
    application.query_code_hash = query_code_digest(keyring, application.number, query_code)
    stages = [
        ApplicationStage(
            application_id=application.id,
            seq=i,
            stage=limit.stage,
            limit_days=limit.limit_days if staged else None,
        )
        for i, limit in enumerate(entry.stages)
    ]
    stages[0].started_at, stages[0].started_day = now, today
    session.add_all(stages)
    refresh(application, stages, [], clocking)
    payload: dict[str, Any] = {
        "channel": data.channel.value,
        "customer_type": data.customer_type.value,
        "unit": data.unit,
        "policy": policy.code,
        "has_works": data.has_works,
        "stages": [[s.stage.value, s.limit_days] for s in stages],
        "total_limit_days": application.total_limit_days,
    }
    if data.project_code:
        payload["project_code"] = data.project_code
    if portal_client:
        payload["portal_client"] = portal_client
    append_event(
        session,
        application,
        EventKind.created,
        now=now,
        actor=clerk.subject,
        stage=stages[0].stage,
        payload=payload,
    )
    await join_application(session, application, now)
    three_zero.record(session, application, assessed, now=now)
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
    await session.flush()
    return application, query_code


def received_event_data(
    application: Application, query_code: str, keyring: Keyring
) -> dict[str, Any]:
    """``data`` of intake.application.received (受理回执): notify texts the applicant the
    number, the query code that opens the progress page (sealed, see
    :func:`shared.events.seal_query_code`) and the due date, with 预测 when it is provisional."""
    due = application.due_date
    return {
        "application_number": application.number,
        "unit": application.unit,
        "customer_type": application.customer_type.value,
        "channel": application.channel.value,
        "applicant_name": application.applicant_name[:100],
        "mobile": application.mobile,
        "accepted_on_text": chinese_date(application.accepted_day),
        "staged": application.staged,
        "stage": STAGE_LABELS[application.current_stage] if application.current_stage else None,
        "due_date": due.isoformat() if due else None,
        "due_text": chinese_date(due) if due else None,
        "due_provisional": application.due_provisional,
        "query_code_sealed": seal_query_code(keyring, application.number, query_code),
    }


# ---- moving on -------------------------------------------------------------------------------


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
    """Close the current stage now and open the next one (or record the connection, 接电)."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    _check_changeable(application)
    if application.status is ApplicationStatus.paused:
        raise Conflict(
            "the clock is paused for the customer; resume it first", code="application_paused"
        )
    stages = await _stages(session, application.id)
    target = next((s for s in stages if s.stage is stage), None)
    if target is None:
        raise Conflict(
            f"{STAGE_LABELS[stage]} is not a stage of this application", code="stage_not_in_process"
        )
    if target.seq < application.current_seq:
        raise Conflict(
            f"{STAGE_LABELS[stage]} is completed; a stage is never run again (不得重走流程)",
            code="stage_already_completed",
        )
    if target.seq > application.current_seq:
        current = STAGE_LABELS[stages[application.current_seq].stage]
        raise Conflict(
            f"the current stage is {current}; stages are not skipped (不得跳过环节)",
            code="stage_not_reached",
        )
    _check_not_before(target.started_at, now)
    await check_stage_documents(session, application, beijing_date(now))
    application.feeder = data.feeder or application.feeder
    application.transformer_area = data.transformer_area or application.transformer_area
    last = target.seq == len(stages) - 1
    if last and not (application.feeder and application.transformer_area):
        raise Unprocessable(
            "record the feeder (线路) and transformer area (台区) before connecting",
            code="connection_point_required",
            errors=[
                FieldError(field=f, code="required", message="接电前须填写")
                for f in ("feeder", "transformer_area")
                if not getattr(application, f)
            ],
        )
    today = beijing_date(now)
    if last:
        await whitelist_ready_to_connect(session, application)
        await external_line_ready_to_connect(
            session, application, actor=actor.subject, now=now, calendar=clocking.calendar
        )
    target.completed_at, target.completed_day, target.completed_by = now, today, actor.subject
    if last:
        application.status = ApplicationStatus.connected
        application.current_stage = None
        application.current_seq = len(stages)
        application.ended_at, application.ended_day = now, today
    else:
        following = stages[target.seq + 1]
        following.started_at, following.started_day = now, today
        application.current_stage = following.stage
        application.current_seq = following.seq
        if application.staged:  # a new stage clock; a total budget keeps its warnings
            application.warned_level = 0
    pauses = await _pauses(session, application.id)
    refresh(application, stages, pauses, clocking)
    append_event(
        session,
        application,
        EventKind.stage_completed,
        now=now,
        actor=actor.subject,
        stage=stage,
        payload={
            "next_stage": application.current_stage.value if application.current_stage else None,
            "elapsed_days": target.elapsed_days,
            "paused_days": target.paused_days,
            "grid_days": target.grid_days,
            "within_limit": target.within_limit,
            "note": data.note,
            "feeder": data.feeder,
            "transformer_area": data.transformer_area,
        },
    )
    if last:
        enqueue(
            session,
            EventType.application_connected,
            subject=application.number,
            data=connected_event_data(application),
            now=now,
        )
    await session.flush()
    return application


def connected_event_data(application: Application) -> dict[str, Any]:
    """``data`` of intake.application.connected: notify registers the new customer as an
    outage subscriber of its feeder and transformer area (停电信息订阅)."""
    return {
        "application_number": application.number,
        "name": application.applicant_name[:100],
        "mobile": application.mobile,
        "email": application.email,
        "feeder": application.feeder,
        "transformer_area": application.transformer_area,
        "area_class": application.area_class.value,
    }


async def pause(
    session: AsyncSession,
    number: str,
    data: PauseRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Stop the clock while the customer is awaited (暂停计时), with the reason."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    _check_changeable(application)
    if application.status is ApplicationStatus.paused:
        raise Conflict("the clock is already paused", code="application_paused")
    stages = await _stages(session, application.id)
    _check_not_before(stages[application.current_seq].started_at, now)
    pauses = await _pauses(session, application.id)
    _check_not_before(max((p.ended_at for p in pauses if p.ended_at), default=None), now)
    new = ApplicationPause(
        application_id=application.id or 0,
        stage_seq=application.current_seq,
        reason=data.reason,
        note=data.note,
        started_at=now,
        started_day=beijing_date(now),
        started_by=actor.subject,
    )
    session.add(new)
    await ask_on_pause(session, application, new, data, actor=actor.subject, now=now)
    application.status = ApplicationStatus.paused
    refresh(application, stages, [*pauses, new], clocking)
    append_event(
        session,
        application,
        EventKind.paused,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.note or None,
        payload={"reason": data.reason.value},
    )
    await session.flush()
    return application


def _end_pause(
    pauses: Sequence[ApplicationPause], actor: Principal, now: datetime
) -> ApplicationPause:
    running = next(p for p in pauses if p.ended_at is None)
    _check_not_before(running.started_at, now)
    running.ended_at, running.ended_day, running.ended_by = now, beijing_date(now), actor.subject
    return running


async def resume(
    session: AsyncSession,
    number: str,
    data: ResumeRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Restart the clock once the customer has acted (恢复计时)."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    _check_changeable(application)
    if application.status is not ApplicationStatus.paused:
        raise Conflict("the clock is not paused", code="application_not_paused")
    pauses = await _pauses(session, application.id)
    ended = _end_pause(pauses, actor, now)
    application.status = ApplicationStatus.open
    refresh(application, await _stages(session, application.id), pauses, clocking)
    append_event(
        session,
        application,
        EventKind.resumed,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.note or None,
        payload={"paused_days": ended.days},
    )
    await session.flush()
    return application


async def close(
    session: AsyncSession,
    number: str,
    data: CloseRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """End an application without connection (终止, e.g. withdrawn by the customer)."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    _check_changeable(application)
    stages = await _stages(session, application.id)
    _check_not_before(stages[application.current_seq].started_at, now)
    pauses = await _pauses(session, application.id)
    if application.status is ApplicationStatus.paused:
        _end_pause(pauses, actor, now)
    application.status = ApplicationStatus.closed
    application.ended_at, application.ended_day = now, beijing_date(now)
    refresh(application, stages, pauses, clocking)
    append_event(
        session,
        application,
        EventKind.closed,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.reason,
        payload={"paused_days": application.paused_days},
    )
    await session.flush()
    return application


# ---- corrections -----------------------------------------------------------------------------

_EMAIL = TypeAdapter(EmailStr)
_SUBSCRIBER_FIELDS = {
    "applicant_name",
    "mobile",
    "email",
    "feeder",
    "transformer_area",
    "area_class",
}
_MASKED = {"id_number": mask_id_number, "mobile": mask_mobile}
_THREE_ZERO_FIELDS = {"capacity_kw", "area_class"}
"""Corrections that re-judge 三零 (:func:`services.intake.whitelist.assess.rejudge`)."""


def _corrected_value(
    application: Application,
    field: str,
    raw: str,
    today: date,
    declared: CustomerType | None = None,
) -> Any:
    errors = FieldErrors()
    value: Any = raw.strip()
    if field == "id_number":
        value = _validated_identity(errors, "value", application.id_kind, raw, today)
    elif field == "mobile":
        value = errors.check("value", parse_mobile, raw)
    elif field == "email":
        try:
            value = _EMAIL.validate_python(raw.strip()) if raw.strip() else None
        except ValidationError:
            errors.add("value", "invalid_email", "电子邮箱格式不正确")
    elif field == "area_class":
        if value not in AreaClass.__members__:
            errors.add("value", "invalid_area_class", "区域分类为 central/urban/town/rural")
        else:
            value = AreaClass(value)
    elif field == "capacity_kw":
        try:
            value = Decimal(value).quantize(Decimal("0.01"))
            if not Decimal(0) < value <= Decimal(1_000_000):
                raise InvalidOperation
        except InvalidOperation:
            errors.add("value", "invalid_capacity", "容量应为大于0的数值（千瓦）")
        else:
            _check_three_zero(errors, declared or application.customer_type, value)
    elif not value:
        errors.add("value", "required", "更正后的内容不能为空")
    errors.raise_if_any()
    return value


def _for_log(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _MASKED:
        return _MASKED[field](str(value))
    return str(value)


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
    _check_not_before(application.accepted_at, now)
    declared = (
        await three_zero.declared_type(session, application.id)
        if data.field in _THREE_ZERO_FIELDS
        else None
    )
    value = _corrected_value(application, data.field, data.value, beijing_date(now), declared)
    old = getattr(application, data.field)
    if value == old:
        raise Unprocessable("the value is already recorded", code="nothing_to_correct")
    setattr(application, data.field, value)
    append_event(
        session,
        application,
        EventKind.corrected,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.reason,
        payload={
            "field": data.field,
            "old": _for_log(data.field, old),
            "new": _for_log(data.field, value),
        },
    )
    if data.field in _THREE_ZERO_FIELDS:
        applied = await three_zero.rejudge(
            session,
            application,
            trigger=data.field,
            actor=actor.subject,
            reason=data.reason,
            now=now,
        )
        if applied is not application.customer_type:
            await _switch(session, application, applied, actor=actor, now=now, clocking=clocking)
    if application.status is ApplicationStatus.connected and data.field in _SUBSCRIBER_FIELDS:
        # notify keeps the customer as a subscriber keyed by the number: tell it again.
        enqueue(
            session,
            EventType.application_connected,
            subject=application.number,
            data=connected_event_data(application),
            now=now,
        )
    await session.flush()
    return application


async def _switch(
    session: AsyncSession,
    application: Application,
    to: CustomerType,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking | None,
) -> None:
    stages = await _stages(session, application.id)
    version = await get_version(session, application.policy_code)
    rows = await switch_workflow(
        session,
        application,
        stages,
        version.entry_for(to),
        to,
        actor=actor.subject,
        reason="“三零”重新判定后转换办理流程",
        now=now,
    )
    if rows is not None and clocking is not None:
        refresh(application, rows, await _pauses(session, application.id), clocking)


# ---- policy changes --------------------------------------------------------------------------


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
        stages = await _stages(session, application.id)
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
        refresh(application, stages, await _pauses(session, application.id), clocking)
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


# ---- reading ---------------------------------------------------------------------------------


def _open_pause_days(
    pauses: Sequence[ApplicationPause], calendar: WorkingCalendar, today: date
) -> tuple[int, bool]:
    running = next((p for p in pauses if p.ended_day is None), None)
    if running is None:
        return 0, False
    return clock.paused_days(calendar, running.started_day, today)


def _stage_public(
    stage: ApplicationStage,
    application: Application,
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
) -> StagePublic:
    state: Any = (
        "done"
        if stage.completed_at is not None
        else "open"
        if stage.started_at is not None and application.status not in ENDED
        else "pending"
    )
    time: TimeSpent | None = None
    if stage.completed_day is not None:
        assert stage.elapsed_days is not None
        assert stage.grid_days is not None
        time = TimeSpent(
            limit_days=stage.limit_days,
            elapsed_days=stage.elapsed_days,
            paused_days=stage.paused_days,
            grid_days=stage.grid_days,
            within_limit=stage.within_limit,
            provisional=stage.provisional,
        )
    elif stage.started_day is not None:
        end = application.ended_day or today
        running, running_provisional = (
            _open_pause_days(pauses, calendar, end) if state == "open" else (0, False)
        )
        so_far = clock.spent(
            calendar, stage.started_day, end, stage.paused_days + running, running_provisional
        )
        time = TimeSpent(
            limit_days=stage.limit_days,
            elapsed_days=so_far.elapsed,
            paused_days=so_far.paused,
            grid_days=so_far.grid,
            within_limit=None,
            provisional=so_far.provisional,
        )
    return StagePublic(
        seq=stage.seq,
        stage=stage.stage,
        label=STAGE_LABELS[stage.stage],
        state=state,
        started_at=stage.started_at,
        completed_at=stage.completed_at,
        completed_by=stage.completed_by,
        due_date=stage.due_date,
        time=time,
    )


def _total(
    application: Application,
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
) -> TimeSpent:
    end = application.ended_day or today
    running, running_provisional = _open_pause_days(pauses, calendar, end)
    so_far = clock.spent(
        calendar,
        application.accepted_day,
        end,
        application.paused_days + running,
        running_provisional,
    )
    connected = application.status is ApplicationStatus.connected
    return TimeSpent(
        limit_days=application.total_limit_days,
        elapsed_days=so_far.elapsed,
        paused_days=so_far.paused,
        grid_days=so_far.grid,
        within_limit=so_far.grid <= application.total_limit_days if connected else None,
        provisional=so_far.provisional,
    )


def _clock_public(
    application: Application,
    stages: Sequence[ApplicationStage],
    calendar: WorkingCalendar,
    today: date,
) -> ClockPublic | None:
    state = watch_state(application, today)
    if state is None or state is WatchState.paused or application.due_date is None:
        return None
    assert application.at_risk_from is not None
    limit = (
        stages[application.current_seq].limit_days
        if application.staged
        else application.total_limit_days
    )
    assert limit is not None
    return ClockPublic(
        basis="stage" if application.staged else "total",
        limit_days=limit,
        due_date=application.due_date,
        at_risk_from=application.at_risk_from,
        provisional=application.due_provisional,
        state=state,
        remaining_days=calendar.working_days_between(today, application.due_date).days,
    )


def to_public(
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
    *,
    unmasked: bool,
) -> ApplicationPublic:
    return ApplicationPublic(
        number=application.number,
        jurisdiction=application.jurisdiction,
        policy_code=application.policy_code,
        customer_type=application.customer_type,
        has_works=application.has_works,
        channel=application.channel,
        unit=application.unit,
        supervising_unit=application.supervising_unit,
        clerk=application.clerk,
        applicant=ApplicantPublic(
            name=application.applicant_name,
            id_kind=application.id_kind,
            id_number=application.id_number if unmasked else mask_id_number(application.id_number),
            mobile=application.mobile if unmasked else mask_mobile(application.mobile),
            email=application.email,
        ),
        site=SitePublic(
            address=application.site_address,
            area_class=application.area_class,
            feeder=application.feeder,
            transformer_area=application.transformer_area,
        ),
        capacity_kw=application.capacity_kw,
        accepted_at=application.accepted_at,
        status=application.status,
        current_stage=application.current_stage,
        current_stage_label=STAGE_LABELS[application.current_stage]
        if application.current_stage
        else None,
        clock=_clock_public(application, stages, calendar, today),
        total=_total(application, pauses, calendar, today),
        ended_at=application.ended_at,
        rating=application.rating,
        project_code=application.project_code,
    )


def _pause_public(
    pause: ApplicationPause, stages: dict[int, Stage], calendar: WorkingCalendar, until: date
) -> PausePublic:
    """A pause with its working days (so far, if running) and whether they are provisional."""
    days, provisional = clock.paused_days(calendar, pause.started_day, pause.ended_day or until)
    return PausePublic(
        stage=stages[pause.stage_seq],
        reason=pause.reason,
        reason_label=PAUSE_REASON_LABELS[pause.reason],
        note=pause.note,
        started_at=pause.started_at,
        started_by=pause.started_by,
        ended_at=pause.ended_at,
        ended_by=pause.ended_by,
        days=pause.days if pause.days is not None else days,
        provisional=provisional,
    )


async def detail(
    session: AsyncSession,
    application: Application,
    calendar: WorkingCalendar,
    today: date,
    *,
    unmasked: bool,
) -> ApplicationDetail:
    stages = await _stages(session, application.id)
    pauses = await _pauses(session, application.id)
    public = to_public(application, stages, pauses, calendar, today, unmasked=unmasked)
    by_seq = {s.seq: s.stage for s in stages}
    shaped = ApplicationDetail(
        **public.model_dump(),
        stages=[_stage_public(s, application, pauses, calendar, today) for s in stages],
        pauses=[_pause_public(p, by_seq, calendar, application.ended_day or today) for p in pauses],
        three_zero=await three_zero.three_zero_of(session, application.id),
        documents=await documents_view(session, application, today, unmasked=unmasked),
        fees=await fee_sheet(session, application.id, unmasked=unmasked),
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


@dataclass(frozen=True)
class ApplicationFilter:
    status: ApplicationStatus | None = None
    unit: str | None = None
    customer_type: CustomerType | None = None
    stage: Stage | None = None


def _visible_to(query: Any, principal: Principal) -> Any:
    """``query`` narrowed to the applications ``principal`` may see: a clerk those of their units,
    a supervisor those their units supervise, administrators and viewers all."""
    if principal.role is Role.clerk:
        return query.where(col(Application.unit).in_(units.covered(principal.units)))
    if principal.role is Role.supervisor:
        return query.where(col(Application.supervising_unit).in_(units.covered(principal.units)))
    return query


@dataclass(frozen=True)
class StageCount:
    """How many applications the caller may see stand in one stage (在办环节统计)."""

    stage: Stage
    open: int  # 办理中
    paused: int  # 暂停计时（等待客户）


async def open_by_stage(session: AsyncSession, principal: Principal) -> list[StageCount]:
    """The caller's applications still being handled, counted by current stage, in the order
    the stages run; one query."""
    query = _visible_to(
        select(Application.current_stage, Application.status, func.count()),
        principal,
    )
    rows = await session.exec(
        query.where(
            col(Application.status).in_([ApplicationStatus.open, ApplicationStatus.paused]),
            col(Application.current_stage).is_not(None),
        ).group_by(col(Application.current_stage), col(Application.status))
    )
    counts: dict[Stage, dict[ApplicationStatus, int]] = defaultdict(dict)
    for stage, status, count in rows.all():
        counts[Stage(stage)][ApplicationStatus(status)] = count
    return [
        StageCount(
            stage,
            counts[stage].get(ApplicationStatus.open, 0),
            counts[stage].get(ApplicationStatus.paused, 0),
        )
        for stage in Stage
        if stage in counts
    ]


async def list_applications(
    session: AsyncSession,
    principal: Principal,
    flt: ApplicationFilter,
    calendar: WorkingCalendar,
    today: date,
    paging: PageParams = FIRST_PAGE,
) -> ApplicationPage:
    """Applications the caller may see, newest first."""
    if principal.role is Role.clerk and flt.unit is not None:
        if not units.covers(principal.units, flt.unit):
            raise Forbidden(f"you do not act for {flt.unit}", code="not_your_unit")
    query = _visible_to(select(Application), principal)
    if flt.status is not None:
        query = query.where(col(Application.status) == flt.status.value)
    if flt.unit is not None:
        query = query.where(col(Application.unit).in_(units.covered([flt.unit])))
    if flt.customer_type is not None:
        query = query.where(col(Application.customer_type) == flt.customer_type.value)
    if flt.stage is not None:
        query = query.where(col(Application.current_stage) == flt.stage.value)
    total, rows = await fetch_page(session, query, paging, col(Application.id).desc())
    ids = [a.id for a in rows]
    stages: dict[int | None, list[ApplicationStage]] = defaultdict(list)
    pauses: dict[int | None, list[ApplicationPause]] = defaultdict(list)
    if ids:
        for stage in (
            await session.exec(
                select(ApplicationStage)
                .where(col(ApplicationStage.application_id).in_(ids))
                .order_by(col(ApplicationStage.seq))
            )
        ).all():
            stages[stage.application_id].append(stage)
        for p in (
            await session.exec(
                select(ApplicationPause).where(col(ApplicationPause.application_id).in_(ids))
            )
        ).all():
            pauses[p.application_id].append(p)
    return ApplicationPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[
            to_public(
                a,
                stages[a.id],
                pauses[a.id],
                calendar,
                today,
                unmasked=principal.role is Role.clerk,
            )
            for a in rows
        ],
    )


async def events(session: AsyncSession, application: Application) -> list[ApplicationEvent]:
    query = (
        select(ApplicationEvent)
        .where(col(ApplicationEvent.application_id) == application.id)
        .order_by(col(ApplicationEvent.seq))
    )
    return list((await session.exec(query)).all())


async def read_log(session: AsyncSession, number: str, principal: Principal) -> list[EventPublic]:
    """The stage log; reasons and payloads (notes, corrected values) masked for other roles."""
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    return masked_unless(
        [
            EventPublic.model_validate(e, from_attributes=True)
            for e in await events(session, application)
        ],
        unmasked,
    )


# ---- the applicant ---------------------------------------------------------------------------


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
    stages = await _stages(session, application.id)
    pauses = await _pauses(session, application.id)
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
    """The applicant's rating of the service once connected (服务线上评价), once."""
    if application.status is not ApplicationStatus.connected:
        raise Conflict("the service can be rated once the power is connected", code="not_connected")
    if application.rating is not None:
        raise Conflict("this application has been rated", code="already_rated")
    application.rating, application.rating_comment, application.rated_at = (
        data.score,
        data.comment,
        now,
    )
    append_event(
        session,
        application,
        EventKind.rated,
        now=now,
        actor="applicant",
        reason=data.comment or None,
        payload={"score": data.score},
    )
    await session.flush()
    return await progress(session, application, today=beijing_date(now))
