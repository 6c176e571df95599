"""The scheduler's state over HTTP (定时任务状态)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlmodel import Field, SQLModel

from services.notify.deps import CurrentOperator
from services.notify.scheduler.models import scheduled_jobs
from services.notify.scheduler.runs import recent_runs
from shared.app import Session
from shared.db import fetch_all
from shared.timeutil import BeijingTime

router = APIRouter(tags=["scheduler"])


class ScheduledJob(SQLModel):
    id: str
    next_run_time: BeijingTime | None


class JobRun(SQLModel):
    job_id: str
    run_date: date
    replica: str
    attempts: int
    started_at: BeijingTime
    finished_at: BeijingTime | None
    outcome: str | None
    request_id: str | None = Field(
        default=None,
        description="请求号 of the run (its latest attempt): on its log lines and its messages",
    )


class SchedulerState(SQLModel):
    enabled: bool
    active_here: bool
    jobs: list[ScheduledJob]
    runs: list[JobRun] = Field(description="The latest runs (定时任务运行记录), newest day first")


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
