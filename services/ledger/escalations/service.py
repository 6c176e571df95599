"""Finding stale items and recording their escalation steps (更新超期督办).

An item of a ledger in use that is not finished is *stale* once ``stale_after_days`` working days
(N, per ledger) have passed since its last status post with none after it; an item never updated
counts from the day its ledger was loaded. Then, on a working day:

1. the heads (部门负责人) of every unit answering for the item are told (``unit_head``);
2. ``escalate_after_days`` (M) working days after that step, if still no post has come, the
   supervising leaders (监管督办人员) bound to the item's lead units (牵头单位, from the 责任单位
   column of Annex 2) are told (``supervisor``).

A unit with nobody to tell goes up: the people of the level's role of its nearest ancestor
(``shared.units.nearest``) are told for it (``via_unit``). Only when no ancestor has anyone either
is it recorded as a unit with nobody (an error someone sees: the step's outcome and a dead letter
in notify). Days are counted with :class:`shared.calendar.WorkingCalendar`, so a
holiday such as National Day never counts towards N or M.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.service import reachable_people
from services.ledger.escalations.models import (
    LEVEL_LABELS,
    OUTCOME_LABELS,
    EscalationFeed,
    EscalationFeedStep,
    EscalationLevel,
    EscalationOutcome,
    EscalationPublic,
    EscalationTarget,
    StaleEscalation,
    StalePolicy,
)
from services.ledger.ledgers.models import Item, ItemUnit, Ledger, LedgerPublic, Unit
from services.ledger.ledgers.parsing import ResponsibilityRole
from services.ledger.ledgers.service import get_ledger, get_ledger_public
from services.ledger.ledgers.state import state_columns
from services.ledger.updates.models import FINISHED_STATUSES, STATUS_LABELS, TaskStatus
from shared.auth import Role
from shared.calendar import WorkingCalendar, beijing_date
from shared.db import fetch_all, insert_ignore
from shared.units import nearest

_RECIPIENT_ROLE = {
    EscalationLevel.unit_head: Role.dept_head,
    EscalationLevel.supervisor: Role.supervisor,
}


async def set_stale_policy(session: AsyncSession, code: str, policy: StalePolicy) -> LedgerPublic:
    """Change a ledger's N and M; steps already recorded stay as they were."""
    ledger = await get_ledger(session, code)
    ledger.stale_after_days = policy.stale_after_days
    ledger.escalate_after_days = policy.escalate_after_days
    session.add(ledger)
    await session.flush()
    return await get_ledger_public(session, code)


@dataclass(frozen=True)
class _Candidate:
    item_id: int
    period_start: date
    stale_after_days: int
    escalate_after_days: int


async def _candidates(session: AsyncSession, as_of: date) -> list[_Candidate]:
    """Unfinished items of ledgers in use, with the day their stale period counts from."""
    state = state_columns(as_of)
    rows = await fetch_all(
        session,
        sa_select(
            col(Item.id),
            state.latest.c.created_at,
            col(Ledger.created_at),
            col(Ledger.stale_after_days),
            col(Ledger.escalate_after_days),
        )
        .join(Ledger, col(Ledger.id) == col(Item.ledger_id))
        .outerjoin(state.latest, state.latest.c.item_id == col(Item.id))
        .where(
            col(Ledger.archived_at).is_(None),
            state.status.not_in([s.value for s in FINISHED_STATUSES]),
        )
        .order_by(col(Ledger.id), col(Item.seq)),
    )
    return [
        _Candidate(item_id, beijing_date(last_post or loaded), n, m)
        for item_id, last_post, loaded, n, m in rows
    ]


@dataclass(frozen=True)
class _Due:
    item_id: int
    level: EscalationLevel
    period_start: date
    due_on: date


def _due_steps(
    calendar: WorkingCalendar,
    candidates: Sequence[_Candidate],
    recorded: dict[tuple[int, EscalationLevel, date], date],
    as_of: date,
) -> list[_Due]:
    """The steps due on ``as_of`` and not yet recorded. ``recorded`` maps (item, level,
    period) to the day that step fired."""
    due: list[_Due] = []
    for c in candidates:
        first = (c.item_id, EscalationLevel.unit_head, c.period_start)
        if first not in recorded:
            on = calendar.add_working_days(c.period_start, c.stale_after_days).due
            if on <= as_of:
                due.append(_Due(c.item_id, EscalationLevel.unit_head, c.period_start, on))
            continue
        if (c.item_id, EscalationLevel.supervisor, c.period_start) in recorded:
            continue
        on = calendar.add_working_days(recorded[first], c.escalate_after_days).due
        if on <= as_of:
            due.append(_Due(c.item_id, EscalationLevel.supervisor, c.period_start, on))
    return due


async def _targets(
    session: AsyncSession, steps: Sequence[_Due]
) -> dict[tuple[int, EscalationLevel], list[EscalationTarget]]:
    """Whom each step tells: per unit, its active people of the level's role with an email;
    when it has none, those of its nearest ancestor that has (``via_unit``); when no ancestor
    has any either, one entry saying that the unit has nobody."""
    item_ids = {s.item_id for s in steps}
    if not item_ids:
        return {}
    links = await fetch_all(
        session,
        sa_select(col(ItemUnit.item_id), col(ItemUnit.role), col(Unit.id), col(Unit.name))
        .join(Unit, col(Unit.id) == col(ItemUnit.unit_id))
        .where(col(ItemUnit.item_id).in_(item_ids))
        .order_by(col(ItemUnit.item_id), col(ItemUnit.position)),
    )
    people = await reachable_people(
        session, {unit for _, _, _, unit in links}, list(_RECIPIENT_ROLE.values())
    )
    result: dict[tuple[int, EscalationLevel], list[EscalationTarget]] = {}
    for step in steps:
        role = _RECIPIENT_ROLE[step.level]
        of_role = {unit: users for (unit, r), users in people.items() if r is role}
        targets: list[EscalationTarget] = []
        for item_id, responsibility, unit_id, unit in links:
            if item_id != step.item_id:
                continue
            if step.level is EscalationLevel.supervisor and (
                responsibility is not ResponsibilityRole.lead
            ):
                continue
            reached = nearest(unit, of_role)
            if reached is None:
                targets.append(
                    EscalationTarget(unit_id=unit_id, unit=unit, error=_nobody(step.level, unit))
                )
                continue
            targets.extend(
                EscalationTarget(
                    unit_id=unit_id,
                    unit=unit,
                    via_unit=reached if reached != unit else None,
                    username=u.username,
                    display_name=u.display_name,
                    email=u.email,
                )
                for u in of_role[reached]
            )
        result[(step.item_id, step.level)] = targets
    return result


def _nobody(level: EscalationLevel, unit: str) -> str:
    if level is EscalationLevel.unit_head:
        return f"no active department head with an email is bound to unit '{unit}'"
    return f"no active supervising leader (supervisor) with an email is bound to lead unit '{unit}'"


def _outcome(targets: Sequence[EscalationTarget]) -> EscalationOutcome:
    told = sum(1 for t in targets if t.error is None)
    if told == len(targets):
        return EscalationOutcome.notified
    return EscalationOutcome.partly_unresolved if told else EscalationOutcome.unresolved


async def record_due_steps(
    session: AsyncSession, calendar: WorkingCalendar, *, as_of: date, now: datetime
) -> int:
    """Record the steps due on working day ``as_of``; a step already recorded for the same item,
    level and stale period is left alone (also when two runs race). Returns how many were new."""
    if not calendar.is_workday(as_of):
        return 0
    candidates = await _candidates(session, as_of)
    if not candidates:
        return 0
    ids = [c.item_id for c in candidates]
    recorded = {
        (item_id, level, start): fired
        for item_id, level, start, fired in await fetch_all(
            session,
            sa_select(
                col(StaleEscalation.item_id),
                col(StaleEscalation.level),
                col(StaleEscalation.period_start),
                col(StaleEscalation.fired_on),
            ).where(
                col(StaleEscalation.item_id).in_(ids),
                col(StaleEscalation.period_start) <= as_of,
            ),
        )
    }
    due = _due_steps(calendar, candidates, recorded, as_of)
    if not due:
        return 0
    targets = await _targets(session, due)
    rows: list[dict[str, Any]] = []
    for step in due:
        step_targets = targets[(step.item_id, step.level)]
        rows.append(
            {
                "item_id": step.item_id,
                "level": step.level,
                "period_start": step.period_start,
                "due_on": step.due_on,
                "fired_on": as_of,
                "recorded_at": now,
                "targets": [t.model_dump(exclude_none=True) for t in step_targets],
                "outcome": _outcome(step_targets),
            }
        )
    # RETURNING, not rowcount: asyncpg reports no rowcount for a many-row INSERT.
    statement = (
        insert_ignore(StaleEscalation, session.get_bind().dialect)
        .values(rows)
        .returning(col(StaleEscalation.id))
    )
    inserted = (await session.exec(statement)).all()
    await session.flush()
    return len(inserted)


async def pending_feed(
    session: AsyncSession, calendar: WorkingCalendar, *, as_of: date, now: datetime
) -> EscalationFeed:
    """Record today's steps, then list every recorded step notify has not yet queued (nothing
    on a weekend or holiday: escalations go out in working time)."""
    if not calendar.is_workday(as_of):
        return EscalationFeed(as_of=as_of, working_day=False, recorded=0, steps=[])
    recorded = await record_due_steps(session, calendar, as_of=as_of, now=now)
    state = state_columns(as_of)
    rows = await fetch_all(
        session,
        sa_select(StaleEscalation, col(Ledger.code), col(Item.seq), col(Item.task), state.status)
        .join(Item, col(Item.id) == col(StaleEscalation.item_id))
        .join(Ledger, col(Ledger.id) == col(Item.ledger_id))
        .outerjoin(state.latest, state.latest.c.item_id == col(Item.id))
        .where(
            col(StaleEscalation.queued_at).is_(None),
            col(StaleEscalation.fired_on) <= as_of,
            col(Ledger.archived_at).is_(None),
        )
        .order_by(col(StaleEscalation.id)),
    )
    steps = [
        EscalationFeedStep(
            id=step.id,
            item_id=step.item_id,
            ledger_code=code,
            seq=seq,
            task=task,
            status_label=STATUS_LABELS[TaskStatus(status)],
            level=step.level,
            level_label=LEVEL_LABELS[step.level],
            period_start=step.period_start,
            working_days_without_update=calendar.working_days_between(
                step.period_start, step.fired_on
            ).days,
            due_on=step.due_on,
            fired_on=step.fired_on,
            targets=[EscalationTarget.model_validate(t) for t in step.targets],
        )
        for step, code, seq, task, status in rows
    ]
    return EscalationFeed(as_of=as_of, working_day=True, recorded=recorded, steps=steps)


async def acknowledge(session: AsyncSession, step_ids: Sequence[int], *, now: datetime) -> int:
    """Mark steps as queued by notify; a step already marked keeps its first time."""
    if not step_ids:
        return 0
    result = await session.exec(
        update(StaleEscalation)
        .where(col(StaleEscalation.id).in_(step_ids), col(StaleEscalation.queued_at).is_(None))
        .values(queued_at=now)
    )
    await session.flush()
    return int(result.rowcount or 0)


def _to_whom(targets: Sequence[EscalationTarget]) -> str:
    def one(t: EscalationTarget) -> str:
        if t.error is not None:
            return f"{t.unit}：无人可通知"
        via = f"（无人可通知，转{t.via_unit}）" if t.via_unit else ""
        return f"{t.unit}{via}：{t.display_name}（{t.email}）"

    return "；".join(one(t) for t in targets)


async def escalations(
    session: AsyncSession,
    *,
    item_id: int | None = None,
    ledger_id: int | None = None,
    fired_from: date | None = None,
    fired_to: date | None = None,
) -> list[EscalationPublic]:
    """Recorded steps of an item, or of a ledger's items fired in a period, oldest first."""
    query = sa_select(StaleEscalation, col(Item.seq), col(Item.task)).join(
        Item, col(Item.id) == col(StaleEscalation.item_id)
    )
    if item_id is not None:
        query = query.where(col(StaleEscalation.item_id) == item_id)
    if ledger_id is not None:
        query = query.where(col(Item.ledger_id) == ledger_id)
    if fired_from is not None:
        query = query.where(col(StaleEscalation.fired_on) >= fired_from)
    if fired_to is not None:
        query = query.where(col(StaleEscalation.fired_on) <= fired_to)
    rows = await fetch_all(
        session,
        query.order_by(
            col(StaleEscalation.fired_on),
            col(Item.ledger_id),
            col(Item.seq),
            col(StaleEscalation.id),
        ),
    )
    result = []
    for step, seq, task in rows:
        targets = [EscalationTarget.model_validate(t) for t in step.targets]
        result.append(
            EscalationPublic(
                id=step.id,
                item_id=step.item_id,
                seq=seq,
                task=task,
                level=step.level,
                level_label=LEVEL_LABELS[step.level],
                period_start=step.period_start,
                due_on=step.due_on,
                fired_on=step.fired_on,
                recorded_at=step.recorded_at,
                to_whom=_to_whom(targets),
                targets=targets,
                outcome=step.outcome,
                outcome_label=OUTCOME_LABELS[step.outcome],
                queued_at=step.queued_at,
            )
        )
    return result
