"""The scheduler's job store table (定时任务), in notify's own database and migrations.

Its shape is APScheduler 3's ``SQLAlchemyJobStore`` table; the store finds it present and uses it.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, LargeBinary, Table, Unicode

from services.notify.db import NotifyTable

JOBS_TABLE = "scheduled_jobs"

scheduled_jobs = Table(
    JOBS_TABLE,
    NotifyTable.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
