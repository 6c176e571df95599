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

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader
from services.intake.applications.clocking import Clocking, is_live, touches_year
from services.intake.applications.loading import get_application
from services.intake.applications.log import (
    GENESIS,
    append_event,
    entry_key,
    keyring_of,
    seal_entry,
)
from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    EventKind,
)
from services.intake.due_changes.models import (
    CLEARED_LABELS,
    Cleared,
    DueChange,
    DueChangePublic,
)
from services.intake.due_changes.setwise import (
    APPLICATIONS,
    LiveDeadline,
    Moves,
    recompute_running,
    write_rows,
)
from services.intake.monitoring.models import Escalation, EscalationState
from services.intake.outbox.models import EventType, OutboxEvent, OutboxState
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS
from services.intake.workdays.models import PREDICTED_SOURCE
from shared.auth import Principal
from shared.calendar import WorkingCalendar, beijing_date
from shared.logs import current_request_id
from shared.timeutil import chinese_date
from shared.vocab import CustomerType

SYSTEM = "system"
DUE_CHANGES: Table = DueChange.__table__  # type: ignore[attr-defined]
EVENTS: Table = ApplicationEvent.__table__  # type: ignore[attr-defined]
OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]


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


class _Addressee(Protocol):
    """What the notice needs of an application (an ORM object or a row of its columns)."""

    number: str
    unit: str
    clerk: str
    customer_type: CustomerType
    applicant_name: str
    mobile: str
    email: str | None


def _event_data(
    application: _Addressee,
    old: LiveDeadline,
    new: LiveDeadline,
    year: int,
    source: str,
    cleared: list[str],
) -> dict[str, Any]:
    """``data`` of intake.application.due_changed: labels and Chinese dates for people."""
    return {
        "application_number": application.number,
        "unit": application.unit,
        "clerk": application.clerk,
        "customer_type": application.customer_type.value,
        "applicant_name": application.applicant_name[:100],
        "mobile": application.mobile,
        "email": application.email,
        "stage": STAGE_LABELS[new.stage],
        "stage_code": new.stage.value,
        "basis": new.basis,
        "old_due": old.due.isoformat(),
        "new_due": new.due.isoformat(),
        "old_due_text": chinese_date(old.due),
        "new_due_text": chinese_date(new.due),
        "provisional": new.provisional,
        "calendar_year": year,
        "calendar_source": source,
        "cleared": [CLEARED_LABELS[c] for c in cleared],
    }


def _event_payload(
    old: LiveDeadline, new: LiveDeadline, year: int, source: str, cleared: list[str]
) -> dict[str, Any]:
    """``payload`` of the stage log's ``due_changed`` entry."""
    return {
        "stage_seq": new.stage_seq,
        "basis": new.basis,
        "from": old.due.isoformat(),
        "to": new.due.isoformat(),
        "provisional": new.provisional,
        "calendar_year": year,
        "calendar_source": source,
        "cleared": cleared,
    }


def _change(
    application_id: int,
    old: LiveDeadline,
    new: LiveDeadline,
    year: int,
    source: str,
    cleared: list[str],
    *,
    now: datetime,
    actor: str,
) -> dict[str, Any]:
    """The values of a :class:`DueChange` row."""
    return {
        "application_id": application_id,
        "stage_seq": new.stage_seq,
        "stage": new.stage,
        "basis": new.basis,
        "old_due": old.due,
        "new_due": new.due,
        "old_provisional": old.provisional,
        "new_provisional": new.provisional,
        "calendar_year": year,
        "calendar_source": source,
        "cleared": cleared,
        "changed_at": now,
        "changed_by": actor,
    }


def _reason(year: int, source: str) -> str:
    return f"节假日安排调整（{year}年：{source}）"


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


_RECORD_CHUNK = 10_000  # ids per IN list (SQLite allows 32,766 variables)


async def record_moves(
    session: AsyncSession, moved: Moves, *, cause: Cause, actor: str, now: datetime
) -> int:
    """Record, clear and tell for every live deadline that moved; returns how many.

    A moved application with no warning to clear and no portal to call back is written in bulk
    (its change, log entry and notice as plain rows, a chunk at a time); the others, few, go
    through the ORM: their warnings, 督办 and the log's listeners need the objects."""
    if not moved:
        return 0
    ids = sorted(moved)
    one_by_one: list[int] = []
    for i in range(0, len(ids), _RECORD_CHUNK):
        one_by_one += await _record_in_bulk(
            session, ids[i : i + _RECORD_CHUNK], moved, cause=cause, actor=actor, now=now
        )
    for i in range(0, len(one_by_one), _RECORD_CHUNK):
        await _record_one_by_one(
            session, one_by_one[i : i + _RECORD_CHUNK], moved, cause=cause, actor=actor, now=now
        )
    await session.flush()
    return len(moved)


async def _record_in_bulk(
    session: AsyncSession, ids: list[int], moved: Moves, *, cause: Cause, actor: str, now: datetime
) -> list[int]:
    """Write the moves of ``ids`` that clear nothing and call no portal back as rows; returns
    the ids left for :func:`_record_one_by_one`."""
    a = APPLICATIONS
    rows = (
        await (await session.connection()).execute(
            sa_select(
                a.c.id,
                a.c.number,
                a.c.unit,
                a.c.clerk,
                a.c.customer_type,
                a.c.applicant_name,
                a.c.mobile,
                a.c.email,
                a.c.warned_level,
                a.c.portal_client,
                a.c.log_length,
                a.c.log_head,
            )
            .where(a.c.id.in_(ids))
            .order_by(a.c.id)
        )
    ).all()
    key = entry_key(keyring_of(session))
    request_id = current_request_id()
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    rest: list[int] = []
    for row in rows:
        if row.warned_level != 0 or row.portal_client is not None:
            rest.append(row.id)
            continue
        old, new = moved[row.id]
        year, source = cause(new)
        changes.append(_change(row.id, old, new, year, source, [], now=now, actor=actor))
        seq, prev = row.log_length + 1, row.log_head or GENESIS
        payload, reason = _event_payload(old, new, year, source, []), _reason(year, source)
        signature = seal_entry(
            key,
            row.number,
            seq,
            EventKind.due_changed,
            new.stage,
            occurred_at=now,
            actor=actor,
            reason=reason,
            payload=payload,
            prev_hash=prev,
        )
        events.append(
            {
                "application_id": row.id,
                "seq": seq,
                "kind": EventKind.due_changed,
                "stage": new.stage,
                "occurred_at": now,
                "actor": actor,
                "reason": reason,
                "payload": payload,
                "prev_hash": prev,
                "hash": signature.digest,
                "key_id": signature.key_id,
            }
        )
        heads.append({"b_id": row.id, "length": seq, "head": signature.digest})
        notices.append(
            {
                "event_id": uuid.uuid4(),
                "type": EventType.due_changed,
                "subject": row.number,
                "occurred_at": now,
                "data": _event_data(row, old, new, year, source, []),
                "state": OutboxState.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "request_id": request_id,
            }
        )
    for table, values in ((DUE_CHANGES, changes), (EVENTS, events), (OUTBOX, notices)):
        if values:
            await (await session.connection()).execute(insert(table), values)
    await write_rows(session, Application, heads, log_length="length", log_head="head")
    return rest


async def _record_one_by_one(
    session: AsyncSession, ids: list[int], moved: Moves, *, cause: Cause, actor: str, now: datetime
) -> None:
    applications = (
        await session.exec(
            select(Application).where(col(Application.id).in_(ids)).order_by(col(Application.id))
        )
    ).all()
    for application in applications:
        assert application.id is not None
        old, new = moved[application.id]
        year, source = cause(new)
        cleared = await clear_warnings(session, application, old, new, now)
        session.add(
            DueChange(
                **_change(application.id, old, new, year, source, cleared, now=now, actor=actor)
            )
        )
        append_event(
            session,
            application,
            EventKind.due_changed,
            now=now,
            actor=actor,
            stage=new.stage,
            reason=_reason(year, source),
            payload=_event_payload(old, new, year, source, cleared),
        )
        enqueue(
            session,
            EventType.due_changed,
            subject=application.number,
            data=_event_data(application, old, new, year, source, cleared),
            now=now,
        )


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
    if year is None:
        condition, cause = is_live(), start_up_cause(clocking.calendar)
    else:
        condition, cause = touches_year(year), loaded_cause(year, source)
    done = await recompute_running(session, clocking, condition)
    moved = await record_moves(session, done.moves, cause=cause, actor=actor, now=now)
    return LoadOutcome(recomputed=done.changed, moved=moved)


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
