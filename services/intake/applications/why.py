"""Why a due date or an elapsed figure is what it is (期限说明), for a stage or the whole process.

Each answer is computed with the clock's own functions (:mod:`.clock` over
:class:`shared.calendar.WorkingCalendar`) and then every day of the span is explained with
:func:`shared.deadline_why.explain_span`, so the days it counts always add up to the figure the
clock gives: the due date is the last day of the due span, the elapsed and grid days
(用时 / 电网环节用时) are its working and counted days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader
from services.intake.applications import clock
from services.intake.applications.checks import ENDED
from services.intake.applications.loading import get_application, load_pauses, load_stages
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
    PauseShown,
    pause_facts,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.policies.service import get_version
from shared.auth import Principal
from shared.calendar import WorkingCalendar
from shared.deadline_why import (
    CalendarYearUsed,
    PauseWindow,
    SpanWhy,
    calendar_years_used,
    explain_span,
    span_lines,
)
from shared.errors import Conflict
from shared.masking import FREE_TEXT, masked_unless
from shared.timeutil import BeijingTime, format_beijing

__all__ = ["ApplicantWhy", "DeadlineWhy", "applicant_why", "application_why", "stage_why"]


EndReason = Literal["completed", "connected", "closed", "today"]


class PauseWhy(PauseShown):
    """A pause for the customer (暂停计时): who, why, from, to, and the working days it took."""

    stage_label: str
    from_day: date
    """Beijing day the pause began; the working days after it, up to ``to_day``, are paused."""
    to_day: date
    """Beijing day it ended, or the day asked about while it runs."""
    working_days: int
    running: bool


class PolicyUsed(BaseModel):
    """The time-limit policy version (时限政策版本) the application is judged by."""

    code: str
    title: str
    source: str
    effective_from: date


class DeadlineWhy(BaseModel):
    """The answer to "why this date, why this many days" (期限说明)."""

    number: str
    subject: Literal["stage", "total"]
    stage: Stage | None
    stage_label: str | None
    started_at: BeijingTime
    """When the clock started: the acceptance (受理) or the end of the stage before."""
    start_day: date
    """Its Beijing date; that day itself is never counted."""
    limit_days: int | None
    due_date: date | None
    """The due date the clock gives; ``due.to_day``."""
    due: SpanWhy | None
    """From ``start_day`` to the due date: ``limit_days`` + the working days paused."""
    end_day: date
    end_reason: EndReason
    elapsed_days: int
    paused_days: int
    grid_days: int
    """Elapsed less paused: the days the grid answers for (电网环节用时)."""
    within_limit: bool | None
    elapsed: SpanWhy
    """From ``start_day`` to ``end_day``: its working days are ``elapsed_days``, its counted
    days ``grid_days``."""
    pauses: list[PauseWhy]
    policy: PolicyUsed
    calendar: list[CalendarYearUsed]
    provisional: bool
    lines: Annotated[list[str], FREE_TEXT]
    """The same, as Chinese lines for a page."""


def _windows(pauses: Sequence[ApplicationPause], end: date) -> list[PauseWindow]:
    return [PauseWindow(p.started_day, p.ended_day or end) for p in pauses]


def _pause_why(
    pause: ApplicationPause, stage_of: dict[int, Stage], calendar: WorkingCalendar, end: date
) -> PauseWhy:
    to_day = pause.ended_day or end
    days, _ = clock.paused_days(calendar, pause.started_day, to_day)
    stage = stage_of[pause.stage_seq]
    return PauseWhy(
        stage=stage,
        stage_label=STAGE_LABELS[stage],
        **pause_facts(pause),
        from_day=pause.started_day,
        to_day=to_day,
        working_days=days,
        running=pause.ended_day is None,
    )


def _end(
    application: Application, completed_day: date | None, today: date
) -> tuple[date, EndReason]:
    if completed_day is not None:
        return completed_day, "completed"
    if application.ended_day is not None:
        connected = application.status is ApplicationStatus.connected
        return application.ended_day, "connected" if connected else "closed"
    return today, "today"


def _pause_line(p: PauseWhy) -> str:
    who = f"{p.started_by}暂停" + (f"、{p.ended_by}恢复" if p.ended_by else "，尚未恢复")
    why = p.reason_label + (f"（{p.note}）" if p.note else "")
    until = p.to_day.isoformat() + ("（至今）" if p.running else "")
    return (
        f"暂停计时：{p.from_day.isoformat()}至{until}，{why}，{who}，"
        f"{p.working_days}个工作日不计入时限（{p.stage_label}环节）。"
    )


def _explain(
    *,
    application: Application,
    subject: Literal["stage", "total"],
    stage: ApplicationStage | None,
    started_at: datetime,
    start: date,
    limit: int | None,
    with_due: bool,
    completed_day: date | None,
    pauses: Sequence[ApplicationPause],
    stage_of: dict[int, Stage],
    policy: PolicyUsed,
    calendar: WorkingCalendar,
    today: date,
) -> DeadlineWhy:
    end, end_reason = _end(application, completed_day, today)
    ended_paused = sum(
        clock.paused_days(calendar, p.started_day, p.ended_day)[0]
        for p in pauses
        if p.ended_day is not None
    )
    due_span: SpanWhy | None = None
    if with_due and limit is not None:
        # The due date exactly as refresh() computes it: limit + the working days paused so far.
        deadline = calendar.add_working_days(start, limit + ended_paused)
        ended = [p for p in pauses if p.ended_day is not None]
        due_span = explain_span(calendar, start, deadline.due, _windows(ended, end))
    running_days, running_provisional = next(
        (clock.paused_days(calendar, p.started_day, end) for p in pauses if p.ended_day is None),
        (0, False),
    )
    so_far = clock.spent(calendar, start, end, ended_paused + running_days, running_provisional)
    elapsed = explain_span(calendar, start, end, _windows(pauses, end))
    explained_pauses = [_pause_why(p, stage_of, calendar, end) for p in pauses]
    within = (
        so_far.grid <= limit
        if limit is not None and end_reason in ("completed", "connected")
        else None
    )
    years = {start.year, end.year} | {d.day.year for d in elapsed.days}
    if due_span is not None:
        years |= {d.day.year for d in due_span.days}
    provisional = so_far.provisional or (due_span is not None and due_span.provisional)

    what = f"{STAGE_LABELS[stage.stage]}环节" if stage is not None else "办电全流程（总时长）"
    lines = [
        f"{what}：时限{limit}个工作日，依据{policy.title}（{policy.code}，{policy.source}）。"
        if limit is not None
        else f"{what}：本环节不单独设时限，按总时长计时；依据{policy.title}（{policy.code}）。",
        f"起算：北京时间{format_beijing(started_at)}"
        f"{'受理' if stage is None or stage.seq == 0 else '开始本环节'}，"
        f"起算日为{start.isoformat()}，当日不计入，自次日起按工作日计算。",
    ]
    if due_span is not None:
        lines.append(
            f"到期日：{due_span.to_day.isoformat()}，即起算日后第{due_span.working_days}个工作日"
            f"（时限{limit}个工作日"
            + (f"，暂停顺延{ended_paused}个工作日" if ended_paused else "")
            + "）。推算如下："
        )
        lines += span_lines(due_span)
    if running_days or any(p.ended_day is None for p in pauses):
        lines.append("目前暂停计时中：恢复计时后，到期日按暂停的工作日顺延。")
    closing = {
        "completed": "办结",
        "connected": "接电",
        "closed": "终止",
        "today": "今日",
    }[end_reason]
    lines.append(
        f"用时：截至{end.isoformat()}（{closing}）共{so_far.elapsed}个工作日，"
        f"扣除暂停{so_far.paused}个工作日，计入时限{so_far.grid}个工作日"
        + ("，未超时限。" if within else "，超出时限。" if within is False else "。")
        + "逐日如下："
    )
    lines += span_lines(elapsed)
    lines += [_pause_line(p) for p in explained_pauses]
    used = calendar_years_used(calendar, years)
    lines.append("工作日历：" + "；".join(f"{y.year}年：{y.source}" for y in used) + "。")
    if provisional:
        lines.append("注意：部分日期所在年份的放假安排尚未公布，以上结果为暂定，公布后自动重算。")
    return DeadlineWhy(
        number=application.number,
        subject=subject,
        stage=stage.stage if stage is not None else None,
        stage_label=STAGE_LABELS[stage.stage] if stage is not None else None,
        started_at=started_at,
        start_day=start,
        limit_days=limit,
        due_date=due_span.to_day if due_span is not None else None,
        due=due_span,
        end_day=end,
        end_reason=end_reason,
        elapsed_days=so_far.elapsed,
        paused_days=so_far.paused,
        grid_days=so_far.grid,
        within_limit=within,
        elapsed=elapsed,
        pauses=explained_pauses,
        policy=policy,
        calendar=used,
        provisional=provisional,
        lines=lines,
    )


async def _policy(session: AsyncSession, application: Application) -> PolicyUsed:
    version = await get_version(session, application.policy_code)
    return PolicyUsed(
        code=version.code,
        title=version.title,
        source=version.source,
        effective_from=version.effective_from,
    )


class ApplicantWhy(BaseModel):
    """The why of the total and of each stage begun, as the applicant sees it (办电进度的期限说明):
    free text masked as for any reader outside the accepting unit."""

    number: str
    total: DeadlineWhy
    stages: list[DeadlineWhy]
    """The stages whose clock has started, in process order."""


def _started(stage: ApplicationStage) -> bool:
    return stage.started_day is not None and stage.started_at is not None


async def _stage_explained(
    session: AsyncSession,
    application: Application,
    stages: Sequence[ApplicationStage],
    target: ApplicationStage,
    calendar: WorkingCalendar,
    today: date,
) -> DeadlineWhy:
    assert target.started_at is not None
    assert target.started_day is not None
    pauses = [p for p in await load_pauses(session, application.id) if p.stage_seq == target.seq]
    return _explain(
        application=application,
        subject="stage",
        stage=target,
        started_at=target.started_at,
        start=target.started_day,
        limit=target.limit_days,
        with_due=application.staged,
        completed_day=target.completed_day,
        pauses=pauses,
        stage_of={s.seq: s.stage for s in stages},
        policy=await _policy(session, application),
        calendar=calendar,
        today=today,
    )


async def _total_explained(
    session: AsyncSession,
    application: Application,
    stages: Sequence[ApplicationStage],
    calendar: WorkingCalendar,
    today: date,
) -> DeadlineWhy:
    return _explain(
        application=application,
        subject="total",
        stage=None,
        started_at=application.accepted_at,
        start=application.accepted_day,
        limit=application.total_limit_days,
        # Staged processes are watched stage by stage; only an unstaged one has a total due date.
        with_due=not application.staged and application.status not in ENDED,
        completed_day=None,
        pauses=await load_pauses(session, application.id),
        stage_of={s.seq: s.stage for s in stages},
        policy=await _policy(session, application),
        calendar=calendar,
        today=today,
    )


async def stage_why(
    session: AsyncSession,
    number: str,
    stage: Stage,
    principal: Principal,
    calendar: WorkingCalendar,
    today: date,
) -> DeadlineWhy:
    """Why a stage is due when it is, and why it has taken the working days it has."""
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    stages = await load_stages(session, application.id)
    target = next((s for s in stages if s.stage is stage), None)
    if target is None:
        raise Conflict(
            f"{STAGE_LABELS[stage]} is not a stage of this application", code="stage_not_in_process"
        )
    if not _started(target):
        raise Conflict(
            f"{STAGE_LABELS[stage]} has not started; its clock has not run yet",
            code="stage_not_started",
        )
    why = await _stage_explained(session, application, stages, target, calendar, today)
    return masked_unless(why, unmasked)


async def application_why(
    session: AsyncSession,
    number: str,
    principal: Principal,
    calendar: WorkingCalendar,
    today: date,
) -> DeadlineWhy:
    """Why the whole process (总时长) stands where it does, and its due date when it has one."""
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    stages = await load_stages(session, application.id)
    why = await _total_explained(session, application, stages, calendar, today)
    return masked_unless(why, unmasked)


async def applicant_why(
    session: AsyncSession, application: Application, calendar: WorkingCalendar, today: date
) -> ApplicantWhy:
    """The total's and each begun stage's why for an application its caller was already shown
    (the progress page's number and query code, or the portal that submitted it)."""
    stages = await load_stages(session, application.id)
    why = ApplicantWhy(
        number=application.number,
        total=await _total_explained(session, application, stages, calendar, today),
        stages=[
            await _stage_explained(session, application, stages, s, calendar, today)
            for s in stages
            if _started(s)
        ],
    )
    return masked_unless(why, False)
