"""Each scheduled job runs once per Beijing date (定时任务每日一次), across replicas and restarts.

The leader lock already keeps two replicas from scheduling at once; this record closes what the
lock cannot: a run made up after a hand-over on the same day, or a job started twice by a
trigger change. The claim is an ``INSERT … ON CONFLICT DO NOTHING``; a claimed run that never
finished (its replica died mid-run) is taken over and counted as a second attempt — the jobs
only queue messages with dedup keys, so the repeat is safe.
"""

from __future__ import annotations

import os
import socket
from datetime import date, datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.scheduler.models import ScheduledJobRun
from shared.db import insert_ignore
from shared.logs import current_request_id

REPLICA = f"{socket.gethostname()}:{os.getpid()}"


async def claim_run(session: AsyncSession, job_id: str, run_date: date, now: datetime) -> bool:
    """True if this replica should do the run of ``job_id`` for ``run_date`` now; the claim
    keeps the current request id, the run's."""
    request_id = current_request_id()
    statement = (
        insert_ignore(ScheduledJobRun, session.get_bind().dialect, conflict=["job_id", "run_date"])
        .values(
            job_id=job_id,
            run_date=run_date,
            replica=REPLICA,
            attempts=1,
            started_at=now,
            request_id=request_id,
        )
        .returning(col(ScheduledJobRun.id))
    )
    # RETURNING, not rowcount: the async drivers do not all report a row count.
    if (await session.exec(statement)).first() is not None:
        return True
    taken_over = await session.exec(
        update(ScheduledJobRun)
        .where(
            col(ScheduledJobRun.job_id) == job_id,
            col(ScheduledJobRun.run_date) == run_date,
            col(ScheduledJobRun.finished_at).is_(None),
        )
        .values(
            attempts=col(ScheduledJobRun.attempts) + 1,
            replica=REPLICA,
            started_at=now,
            request_id=request_id,
        )
        .returning(col(ScheduledJobRun.id))
    )
    return taken_over.first() is not None


async def finish_run(
    session: AsyncSession, job_id: str, run_date: date, outcome: str, now: datetime
) -> None:
    await session.exec(
        update(ScheduledJobRun)
        .where(col(ScheduledJobRun.job_id) == job_id, col(ScheduledJobRun.run_date) == run_date)
        .values(finished_at=now, outcome=outcome)
    )


async def recent_runs(session: AsyncSession, limit: int = 30) -> list[ScheduledJobRun]:
    rows = await session.exec(
        select(ScheduledJobRun)
        .order_by(col(ScheduledJobRun.run_date).desc(), col(ScheduledJobRun.job_id))
        .limit(limit)
    )
    return list(rows)
