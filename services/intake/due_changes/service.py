"""A calendar change reaching people (节假日调整通知): record, clear and tell, once per change.

:func:`recompute_and_record` wraps the recomputation a calendar load does, and the one a
process does at start-up when the calendar it starts with (a newer package, a year's holidays
predicted) moves deadlines computed under another
(:func:`services.intake.jobs.restore_calendar`). It reads every open or paused application's
live deadline (the current stage's, or the whole budget's where only a total is set) before
and after, in set queries, and for each one that moved, in the load's transaction:

- stores a :class:`DueChange` (old → new, the arrangement's year and source);
- clears the warnings that no longer apply: an at-risk mark whose first at-risk day is now
  later than today, an overdue mark and its open 督办 when the new due date is today or later
  (the scan warns again if the new deadline comes near);
- appends a ``due_changed`` entry to the stage log, which queues the portal's callback
  (:mod:`services.intake.portal.webhooks`);
- queues ``intake.application.due_changed`` for notify, which tells the clerk, the unit's heads
  and the applicant.

A load that moves nothing (the same arrangement loaded again, a year no open clock touches),
or a start with the calendar unchanged, writes nothing. Only the date moving counts: a due date
that merely stops being provisional is shown as such on every surface, but nobody is messaged
about an unchanged date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import and_
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader
from services.intake.applications.clocking import Clocking, recompute_for_year, recompute_live
from services.intake.applications.loading import get_application
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
)
from services.intake.due_changes.models import (
    CLEARED_LABELS,
    Cleared,
    DueChange,
    DueChangePublic,
)
from services.intake.monitoring.models import Escalation, EscalationState
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.workdays.models import PREDICTED_SOURCE
from shared.auth import Principal
from shared.calendar import WorkingCalendar, beijing_date
from shared.db import fetch_all
from shared.timeutil import chinese_date

SYSTEM = "system"


@dataclass(frozen=True)
class LiveDeadline:
    """The deadline an application is being watched against right now."""

    stage_seq: int
    stage: Stage
    basis: str
    due: date
    provisional: bool


async def live_deadlines(session: AsyncSession, year: int | None) -> dict[int, LiveDeadline]:
    """The live deadline of every open or paused application whose time may touch ``year``
    (every one with ``year`` None)."""
    query = (
        sa_select(
            col(Application.id),
            col(Application.staged),
            col(Application.due_date),
            col(Application.due_provisional),
            col(ApplicationStage.seq),
            col(ApplicationStage.stage),
            col(ApplicationStage.due_date),
            col(ApplicationStage.provisional),
        )
        .join(
            ApplicationStage,
            and_(
                col(ApplicationStage.application_id) == col(Application.id),
                col(ApplicationStage.seq) == col(Application.current_seq),
            ),
        )
        .where(
            col(Application.status).in_(
                [ApplicationStatus.open.value, ApplicationStatus.paused.value]
            ),
        )
    )
    if year is not None:
        first, last = date(year, 1, 1), date(year, 12, 31)
        query = query.where(
            col(Application.accepted_day) <= last,
            col(Application.ended_day).is_(None) | (col(Application.ended_day) >= first),
        )
    found: dict[int, LiveDeadline] = {}
    for app_id, staged, due, due_prov, seq, stage, stage_due, stage_prov in await fetch_all(
        session, query
    ):
        if staged and stage_due is not None:
            found[app_id] = LiveDeadline(seq, Stage(stage), "stage", stage_due, bool(stage_prov))
        elif not staged and due is not None:
            found[app_id] = LiveDeadline(seq, Stage(stage), "total", due, bool(due_prov))
    return found


async def _withdraw_escalations(
    session: AsyncSession,
    application: Application,
    live: LiveDeadline,
    now: datetime,
    resolution: str,
) -> bool:
    """Resolve the application's unresolved 督办 of the moved deadline; True if there was one."""
    query = select(Escalation).where(
        col(Escalation.application_id) == application.id,
        col(Escalation.state) != EscalationState.resolved.value,
    )
    if live.basis == "stage":
        query = query.where(col(Escalation.stage_seq) == live.stage_seq)
    withdrawn = False
    for escalation in (await session.exec(query)).all():
        escalation.state = EscalationState.resolved
        escalation.resolved_at, escalation.resolved_by = now, SYSTEM
        escalation.resolution = resolution
        withdrawn = True
    return withdrawn


async def clear_warnings(
    session: AsyncSession,
    application: Application,
    old: LiveDeadline,
    new: LiveDeadline,
    now: datetime,
) -> list[str]:
    """Undo the warnings the moved deadline makes obsolete; returns which were cleared."""
    today = beijing_date(now)
    cleared: list[str] = []
    at_risk_from = application.at_risk_from  # None while paused
    if application.warned_level >= 2 and new.due >= today:
        resolution = (
            f"节假日安排调整：时限由{chinese_date(old.due)}改为{chinese_date(new.due)}，"
            "不再超期，督办自动撤销"
        )
        cleared.append("overdue")
        if await _withdraw_escalations(session, application, new, now, resolution):
            cleared.append("escalation")
        still_at_risk = at_risk_from is not None and at_risk_from <= today
        application.warned_level = 1 if still_at_risk else 0
        if not still_at_risk:
            cleared.insert(0, "at_risk")
    elif application.warned_level == 1 and at_risk_from is not None and at_risk_from > today:
        application.warned_level = 0
        cleared.append("at_risk")
    return cleared


def _event_data(application: Application, change: DueChange, cleared: list[str]) -> dict[str, Any]:
    """``data`` of intake.application.due_changed: labels and Chinese dates for people."""
    return {
        "application_number": application.number,
        "unit": application.unit,
        "clerk": application.clerk,
        "customer_type": application.customer_type.value,
        "applicant_name": application.applicant_name[:100],
        "mobile": application.mobile,
        "email": application.email,
        "stage": STAGE_LABELS[change.stage],
        "stage_code": change.stage.value,
        "basis": change.basis,
        "old_due": change.old_due.isoformat(),
        "new_due": change.new_due.isoformat(),
        "old_due_text": chinese_date(change.old_due),
        "new_due_text": chinese_date(change.new_due),
        "provisional": change.new_provisional,
        "calendar_year": change.calendar_year,
        "calendar_source": change.calendar_source,
        "cleared": [CLEARED_LABELS[c] for c in cleared],
    }


Cause = Callable[[LiveDeadline], tuple[int, str]]
"""The calendar year and its source a moved deadline is put down to (its new one given)."""


def loaded_cause(year: int, source: str) -> Cause:
    """A load: every move is put down to the year loaded and its arrangement's source."""

    def cause(_new: LiveDeadline) -> tuple[int, str]:
        return year, source

    return cause


def start_up_cause(calendar: WorkingCalendar) -> Cause:
    """At start-up the year that moved a deadline is not known (the calendar it was computed
    under is gone): a move is put down to the year of its new due date, with that year's source
    in ``calendar`` (published, loaded, or predicted)."""

    def cause(new: LiveDeadline) -> tuple[int, str]:
        year = new.due.year
        return year, calendar.source_of(year) or PREDICTED_SOURCE

    return cause


async def record_moves(
    session: AsyncSession,
    before: dict[int, LiveDeadline],
    after: dict[int, LiveDeadline],
    *,
    cause: Cause,
    actor: str,
    now: datetime,
) -> int:
    """Record, clear and tell for every live deadline whose date moved; returns how many."""
    moved = {
        app_id: (old, after[app_id])
        for app_id, old in before.items()
        if app_id in after and after[app_id].due != old.due
    }
    if not moved:
        return 0
    applications = (
        await session.exec(
            select(Application)
            .where(col(Application.id).in_(list(moved)))
            .order_by(col(Application.id))
        )
    ).all()
    for application in applications:
        assert application.id is not None
        old, new = moved[application.id]
        year, source = cause(new)
        cleared = await clear_warnings(session, application, old, new, now)
        change = DueChange(
            application_id=application.id,
            stage_seq=new.stage_seq,
            stage=new.stage,
            basis=new.basis,
            old_due=old.due,
            new_due=new.due,
            old_provisional=old.provisional,
            new_provisional=new.provisional,
            calendar_year=year,
            calendar_source=source,
            cleared=cleared,
            changed_at=now,
            changed_by=actor,
        )
        session.add(change)
        append_event(
            session,
            application,
            EventKind.due_changed,
            now=now,
            actor=actor,
            stage=new.stage,
            reason=f"节假日安排调整（{year}年：{source}）",
            payload={
                "stage_seq": new.stage_seq,
                "basis": new.basis,
                "from": old.due.isoformat(),
                "to": new.due.isoformat(),
                "provisional": new.provisional,
                "calendar_year": year,
                "calendar_source": source,
                "cleared": cleared,
            },
        )
        enqueue(
            session,
            EventType.due_changed,
            subject=application.number,
            data=_event_data(application, change, cleared),
            now=now,
        )
    await session.flush()
    return len(moved)


@dataclass
class LoadOutcome:
    recomputed: int = 0
    moved: int = 0


async def recompute_and_record(
    session: AsyncSession,
    clocking: Clocking,
    year: int | None,
    *,
    source: str = "",
    actor: str,
    now: datetime,
) -> LoadOutcome:
    """Recompute what depends on ``year`` and record/tell each live deadline that moved.

    A load gives its ``year`` and the arrangement's ``source``. ``year`` None (start-up)
    recomputes every live clock under ``clocking.calendar`` and puts each move down to the year
    of its new due date (:func:`start_up_cause`)."""
    before = await live_deadlines(session, year)
    if year is None:
        recomputed = await recompute_live(session, clocking)
        cause = start_up_cause(clocking.calendar)
    else:
        recomputed = await recompute_for_year(session, clocking, year)
        cause = loaded_cause(year, source)
    after = await live_deadlines(session, year)
    moved = await record_moves(session, before, after, cause=cause, actor=actor, now=now)
    return LoadOutcome(recomputed=recomputed, moved=moved)


def to_public(change: DueChange) -> DueChangePublic:
    return DueChangePublic(
        stage=change.stage,
        stage_label=STAGE_LABELS[change.stage],
        basis="total" if change.basis == "total" else "stage",
        old_due=change.old_due,
        new_due=change.new_due,
        old_provisional=change.old_provisional,
        new_provisional=change.new_provisional,
        calendar_year=change.calendar_year,
        calendar_source=change.calendar_source,
        cleared=[cast(Cleared, c) for c in change.cleared if c in CLEARED_LABELS],
        cleared_labels=[CLEARED_LABELS[c] for c in change.cleared if c in CLEARED_LABELS],
        changed_at=change.changed_at,
        changed_by=change.changed_by,
    )


async def list_changes(
    session: AsyncSession, number: str, principal: Principal
) -> list[DueChangePublic]:
    """The application's moved deadlines, oldest first (who may read the application)."""
    application = await get_application(session, number)
    check_reader(application, principal)
    rows = (
        await session.exec(
            select(DueChange)
            .where(col(DueChange.application_id) == application.id)
            .order_by(col(DueChange.id))
        )
    ).all()
    return [to_public(r) for r in rows]
