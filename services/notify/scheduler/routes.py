"""The scheduler's state over HTTP (定时任务状态)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from sqlalchemy import select

from services.notify.deps import CurrentOperator
from services.notify.scheduler.models import JobRun, ScheduledJob, SchedulerState, scheduled_jobs
from services.notify.scheduler.runs import recent_runs
from shared.app import Session
from shared.db import fetch_all

router = APIRouter(tags=["scheduler"])


@router.get("/scheduler", summary="Scheduled jobs and whether this replica runs them")
async def scheduler_state(
    _operator: CurrentOperator, session: Session, request: Request
) -> SchedulerState:
    scheduler = request.app.state.scheduler
    rows = await fetch_all(
        session,
        select(scheduled_jobs.c.id, scheduled_jobs.c.next_run_time).order_by(scheduled_jobs.c.id),
    )
    return SchedulerState(
        enabled=scheduler is not None,
        active_here=scheduler is not None and scheduler.active,
        jobs=[
            ScheduledJob(
                id=job_id,
                next_run_time=datetime.fromtimestamp(at, UTC) if at is not None else None,
            )
            for job_id, at in rows
        ],
        runs=[
            JobRun.model_validate(run, from_attributes=True) for run in await recent_runs(session)
        ],
    )
