"""The scheduler's job store table (定时任务) and the record of its runs, in notify's own database
and migrations.

Its shape is APScheduler 3's ``SQLAlchemyJobStore`` table; the store finds it present and uses it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Column,
    Date,
    Float,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime

JOBS_TABLE = "scheduled_jobs"

scheduled_jobs = Table(
    JOBS_TABLE,
    NotifyTable.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class ScheduledJobRun(NotifyTable, table=True):
    """One run of a scheduled job for one Beijing date (定时任务运行记录): claimed before the job
    works, finished after. The unique (job, date) makes a second run that day a no-op, whichever
    replica leads then; ``attempts`` counts the claims, so a run taken over from a leader that died
    mid-run shows as 2."""

    __tablename__ = "scheduled_job_runs"
    __table_args__ = (UniqueConstraint("job_id", "run_date", name="uq_scheduled_job_runs_day"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(sa_column=Column(String(64), nullable=False))
    run_date: date = Field(sa_column=Column(Date, nullable=False))
    replica: str = Field(sa_column=Column(String(128), nullable=False))
    attempts: int = 1
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The run's own request id (shared.logs.job_run), of its latest attempt: on its log lines
    # and on the messages it queued.
    request_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


# API shapes.


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
