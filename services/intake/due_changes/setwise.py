"""A calendar change over every open deadline as set work (issue 14, target 4b).

:func:`recompute_running` reads the running clock's inputs of the applications a change may
touch as columns, a keyset chunk at a time, computes the new due dates with
:meth:`WorkingCalendar.due_dates` for the whole chunk, and writes the rows that changed with one
statement per chunk and table. It returns the live deadlines that moved, before and after,
from the rows in hand, so nobody reads them twice.

The columns carry the common case: an open application with no pause whose stages before the
current one are completed (their due dates and the time they took are recounted too).
Everything else (a pause ended or running, a paused or connected application, a stored value
the clock would not produce) goes through
:func:`services.intake.applications.clocking.refresh_applications`, the ORM path that applies
:func:`~services.intake.applications.clocking.refresh` to one application at a time; its
results are the reference the columns must agree with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, or_, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking, refresh_applications
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
)
from services.intake.policies.models import Stage
from shared.calendar import WorkingCalendar

CHUNK = 50_000
_REFRESH_BATCH = 500
_LIVE_BATCH = 10_000  # ids per IN list (SQLite allows 32,766 variables)
_LIVE = (ApplicationStatus.open.value, ApplicationStatus.paused.value)

APPLICATIONS: Table = Application.__table__  # type: ignore[attr-defined]
STAGES: Table = ApplicationStage.__table__  # type: ignore[attr-defined]
PAUSES: Table = ApplicationPause.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LiveDeadline:
    """The deadline an application is watched against (its current stage's, or the total)."""

    stage_seq: int
    stage: Stage
    basis: str
    due: date
    provisional: bool


Moves = dict[int, tuple[LiveDeadline, LiveDeadline]]
"""Live deadlines whose date moved, by application id: (before, after)."""


@dataclass
class Recomputed:
    """How many applications changed, and the live deadlines that moved."""

    changed: int = 0
    moves: Moves = field(default_factory=dict)


def _chunk_query(condition: ColumnElement[bool], after: int) -> Any:
    a, cur = APPLICATIONS, STAGES.alias("cur")
    other = STAGES.alias("other")
    has_pause = exists().where(PAUSES.c.application_id == a.c.id)
    # Another stage the columns do not compute (running beside the current one, paused in,
    # or dated without having started): the ORM path. Completed ones: :func:`_done_query`.
    has_other = exists().where(
        other.c.application_id == a.c.id,
        other.c.seq != a.c.current_seq,
        or_(
            other.c.started_day.is_not(None)
            & (other.c.completed_day.is_(None) | (other.c.paused_days != 0)),
            other.c.started_day.is_(None) & other.c.due_date.is_not(None),
        ),
    )
    return (
        sa_select(
            a.c.id,
            a.c.status,
            a.c.staged,
            a.c.accepted_day,
            a.c.total_limit_days,
            a.c.paused_days,
            a.c.due_date,
            a.c.at_risk_from,
            a.c.due_provisional,
            (a.c.elapsed_days.is_(None) & a.c.grid_days.is_(None) & a.c.within_limit.is_(None)),
            cur.c.id,
            cur.c.seq,
            cur.c.stage,
            cur.c.started_day,
            cur.c.completed_day,
            cur.c.limit_days,
            cur.c.paused_days,
            cur.c.due_date,
            cur.c.provisional,
            has_pause,
            has_other,
        )
        .select_from(
            a.outerjoin(cur, and_(cur.c.application_id == a.c.id, cur.c.seq == a.c.current_seq))
        )
        .where(a.c.id > after, condition)
        .order_by(a.c.id)
        .limit(CHUNK)
    )


def _done_query(first: int, last: int) -> Any:
    """The completed stages other than the current one of the applications ``first..last``."""
    a, s = APPLICATIONS, STAGES
    return (
        sa_select(
            s.c.id,
            s.c.application_id,
            s.c.started_day,
            s.c.completed_day,
            s.c.limit_days,
            s.c.due_date,
            s.c.provisional,
            s.c.elapsed_days,
            s.c.grid_days,
            s.c.within_limit,
        )
        .select_from(s.join(a, a.c.id == s.c.application_id))
        .where(
            s.c.application_id >= first,
            s.c.application_id <= last,
            s.c.seq != a.c.current_seq,
            s.c.started_day.is_not(None),
        )
    )


def _recount_done(
    calendar: WorkingCalendar, staged: dict[int, bool], done: Sequence[Any]
) -> tuple[list[dict[str, Any]], set[int]]:
    """What :func:`refresh` gives a completed stage with no pause (its due date, and the time it
    took), for the stages of the applications in ``staged``; returns the rows that changed and
    their applications."""
    mine = [d for d in done if d[1] in staged]
    dated = [d for d in mine if staged[d[1]] and d[4] is not None]
    deadlines = dict(
        zip(
            (d[0] for d in dated),
            calendar.due_dates([d[2] for d in dated], [d[4] for d in dated]),
            strict=True,
        )
    )
    rows: list[dict[str, Any]] = []
    owners: set[int] = set()
    for stage_id, app_id, started, completed, limit, due, prov, elapsed, grid, within in mine:
        deadline = deadlines.get(stage_id)
        took = calendar.working_days_between(started, completed)
        new = (
            deadline.due if deadline else None,
            took.provisional,
            took.days,
            took.days,
            took.days <= limit if limit is not None else None,
        )
        if new != (due, prov, elapsed, grid, within):
            rows.append(
                dict(
                    zip(
                        ("b_id", "due", "prov", "elapsed", "grid", "within"),
                        (stage_id, *new),
                        strict=True,
                    )
                )
            )
            owners.add(app_id)
    return rows, owners


def _live(
    status: str,
    staged: bool,
    seq: int,
    stage: str,
    due: date | None,
    prov: bool,
    stage_due: date | None,
    stage_prov: bool,
) -> LiveDeadline | None:
    """The live deadline of an application with these values (None: not watched)."""
    if status not in _LIVE:
        return None
    if staged and stage_due is not None:
        return LiveDeadline(seq, Stage(stage), "stage", stage_due, bool(stage_prov))
    if not staged and due is not None:
        return LiveDeadline(seq, Stage(stage), "total", due, bool(prov))
    return None


def _in_columns(row: Sequence[Any]) -> bool:
    """Whether the columns compute this row exactly as :func:`refresh` would: an open
    application, no pause, only its current stage started and still running, nothing paused
    or counted as spent stored, a limit of at least one working day."""
    staged = row[2]
    return (
        row[1] == ApplicationStatus.open.value
        and not row[19]  # has a pause
        and not row[20]  # has another stage with a date
        and bool(row[9])  # elapsed, grid days and within-limit unset
        and row[5] == 0
        and row[10] is not None
        and row[13] is not None
        and row[14] is None
        and row[16] == 0
        and ((row[15] or 0) >= 1 if staged else row[4] >= 1)
    )


async def recompute_running(
    session: AsyncSession, clocking: Clocking, condition: ColumnElement[bool]
) -> Recomputed:
    """Recompute every application matching ``condition`` (a clause on ``applications``)."""
    await session.flush()
    calendar, percent = clocking.calendar, clocking.at_risk_percent
    outcome = Recomputed()
    after = 0
    while True:
        connection = await session.connection()
        rows = (await connection.execute(_chunk_query(condition, after))).all()
        if not rows:
            return outcome
        after = rows[-1][0]
        fast: list[Any] = []
        slow: list[Any] = []
        for r in rows:
            (fast if _in_columns(r) else slow).append(r)
        starts = [r[13] if r[2] else r[3] for r in fast]
        limits = [r[15] if r[2] else r[4] for r in fast]
        dues = calendar.due_dates(starts, limits)
        # ceil(limit × percent / 100) used, or one working day left (clock.watch).
        by_share = calendar.due_dates(starts, [-(-n * percent // 100) for n in limits])
        last_day = calendar.due_dates(starts, [n - 1 for n in limits])
        one_day = timedelta(days=1)
        app_rows: list[dict[str, Any]] = []
        stage_rows: list[dict[str, Any]] = []
        for r, due, share, last in zip(fast, dues, by_share, last_day, strict=True):
            risk = min(share.due, last.due + one_day)
            staged = r[2]
            stage_due, stage_prov = (due.due, due.provisional) if staged else (None, False)
            if (due.due, risk, due.provisional) != (r[6], r[7], r[8]):
                app_rows.append(
                    {"b_id": r[0], "due": due.due, "risk": risk, "prov": due.provisional}
                )
            if (stage_due, stage_prov) != (r[17], r[18]):
                stage_rows.append({"b_id": r[10], "due": stage_due, "prov": stage_prov})
            old_due, old_prov = (r[17], r[18]) if staged else (r[6], r[8])
            if old_due is not None and old_due != due.due:
                basis = "stage" if staged else "total"
                outcome.moves[r[0]] = (
                    LiveDeadline(r[11], Stage(r[12]), basis, old_due, bool(old_prov)),
                    LiveDeadline(r[11], Stage(r[12]), basis, due.due, due.provisional),
                )
        done_rows, done_owners = _recount_done(
            calendar,
            {r[0]: r[2] for r in fast},
            (await connection.execute(_done_query(rows[0][0], after))).all() if fast else [],
        )
        moved_stages = {s["b_id"] for s in stage_rows}
        outcome.changed += len(
            {row["b_id"] for row in app_rows}
            | {r[0] for r in fast if r[10] in moved_stages}
            | done_owners
        )
        await write_rows(
            session,
            ApplicationStage,
            done_rows,
            due_date="due",
            provisional="prov",
            elapsed_days="elapsed",
            grid_days="grid",
            within_limit="within",
        )
        await write_rows(
            session,
            Application,
            app_rows,
            due_date="due",
            at_risk_from="risk",
            due_provisional="prov",
        )
        await write_rows(session, ApplicationStage, stage_rows, due_date="due", provisional="prov")
        slow_ids = [r[0] for r in slow]
        for i in range(0, len(slow_ids), _REFRESH_BATCH):
            outcome.changed += await refresh_applications(
                session, slow_ids[i : i + _REFRESH_BATCH], clocking
            )
        before = {
            r[0]: _live(r[1], r[2], r[11], r[12], r[6], r[8], r[17], r[18])
            for r in slow
            if r[10] is not None
        }
        live_slow = [app_id for app_id, old in before.items() if old is not None]
        for i in range(0, len(live_slow), _LIVE_BATCH):
            for app_id, new in (await _live_now(session, live_slow[i : i + _LIVE_BATCH])).items():
                old = before[app_id]
                if old is not None and old.due != new.due:
                    outcome.moves[app_id] = (old, new)


async def _live_now(session: AsyncSession, ids: list[int]) -> dict[int, LiveDeadline]:
    """The stored live deadlines of ``ids`` (after the ORM path wrote them)."""
    a, cur = APPLICATIONS, STAGES
    query = (
        sa_select(
            a.c.id,
            a.c.status,
            a.c.staged,
            cur.c.seq,
            cur.c.stage,
            a.c.due_date,
            a.c.due_provisional,
            cur.c.due_date,
            cur.c.provisional,
        )
        .select_from(
            a.join(cur, and_(cur.c.application_id == a.c.id, cur.c.seq == a.c.current_seq))
        )
        .where(a.c.id.in_(ids))
    )
    found: dict[int, LiveDeadline] = {}
    for app_id, *values in (await (await session.connection()).execute(query)).all():
        live = _live(*values)
        if live is not None:
            found[app_id] = live
    return found


_PG_TYPES = {
    "due_date": "date",
    "at_risk_from": "date",
    "due_provisional": "boolean",
    "provisional": "boolean",
    "log_length": "integer",
    "log_head": "text",
    "warned_level": "integer",
    "elapsed_days": "integer",
    "grid_days": "integer",
    "within_limit": "boolean",
}


async def write_rows(
    session: AsyncSession, model: type[Any], rows: list[dict[str, Any]], **columns: str
) -> None:
    """``UPDATE table SET column = value … WHERE id = b_id`` for every row, in one statement
    on PostgreSQL (the values as arrays through ``unnest``: a ``VALUES`` list of 50,000 rows
    would pass PostgreSQL's 65,535 bind parameters) and as an executemany on SQLite. The
    objects of ``model`` the session holds are given the values written past the ORM."""
    if not rows:
        return
    await _update(session, model.__table__, rows, columns)
    _sync_held(session, model, rows, columns)


async def _update(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], columns: dict[str, str]
) -> None:
    if session.get_bind().dialect.name == "postgresql":
        keys = list(columns.values())
        arrays = ", ".join(
            ["CAST(:b_id AS integer[])"]
            + [f"CAST(:{key} AS {_PG_TYPES[name]}[])" for name, key in columns.items()]
        )
        sets = ", ".join(f"{name} = v.{key}" for name, key in columns.items())
        statement = text(
            f"UPDATE {table.name} AS t SET {sets} "
            f"FROM unnest({arrays}) AS v(b_id, {', '.join(keys)}) WHERE t.id = v.b_id"
        )
        params = {"b_id": [r["b_id"] for r in rows]} | {key: [r[key] for r in rows] for key in keys}
        await (await session.connection()).execute(statement, params)
        return
    await (await session.connection()).execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(key) for name, key in columns.items()}),
        rows,
    )


def _sync_held(
    session: AsyncSession, model: type[Any], rows: list[dict[str, Any]], columns: dict[str, str]
) -> None:
    """Give the objects the session already holds the values just written past the ORM."""
    held = [o for o in session.sync_session.identity_map.values() if isinstance(o, model)]
    if not held or not rows:
        return
    by_id = {r["b_id"]: r for r in rows}
    for obj in held:
        row = by_id.get(obj.id)
        if row is not None:
            for name, key in columns.items():
                set_committed_value(obj, name, row[key])
