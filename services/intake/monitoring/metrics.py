"""Intake's figures on ``/metrics``: open, at-risk and overdue stages by stage, and the outbox's
lag (how long the oldest event has waited to reach notify). Counted in SQL at scrape time."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import col, select

from services.intake.applications.models import Application, ApplicationStatus
from services.intake.monitoring.models import WatchLevel
from services.intake.monitoring.watch import watch_condition
from services.intake.outbox.models import OutboxEvent, OutboxState
from shared.clock import today
from shared.db import session_scope
from shared.metrics import Figure


async def intake_figures(app: FastAPI) -> list[Figure]:
    on = today(app.state.clock)
    now = app.state.clock.now()
    stage = col(Application.current_stage)
    figures: list[Figure] = []
    async with session_scope(app.state.engine) as session:
        counts = [
            ("open", col(Application.status) == ApplicationStatus.open.value),
            ("at_risk", watch_condition(WatchLevel.at_risk, on)),
            ("overdue", watch_condition(WatchLevel.overdue, on)),
        ]
        for state, condition in counts:
            rows = await session.exec(select(stage, func.count()).where(condition).group_by(stage))
            figures += [
                Figure(
                    "intake_stages",
                    "Open stage clocks by state (open, at_risk, overdue) and stage",
                    float(count),
                    {"state": state, "stage": str(name.value if name else "none")},
                )
                for name, count in rows.all()
            ]
        pending = col(OutboxEvent.state) == OutboxState.pending.value
        waiting, oldest = (
            await session.exec(
                select(func.count(), func.min(col(OutboxEvent.occurred_at))).where(pending)
            )
        ).one()
    figures.append(Figure("intake_outbox_pending", "Events not yet delivered to notify", waiting))
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    figures.append(
        Figure("intake_outbox_lag_seconds", "Age of the oldest undelivered event", max(lag, 0.0))
    )
    return figures
