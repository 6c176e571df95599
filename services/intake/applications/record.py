"""The stage record derived from the log (由环节记录推出的办理事实).

Deadlines and KPIs are computed from the rows of ``applications``, ``application_stages`` and
``application_pauses``. Those rows are a cache of the log: every fact in them that the clock
reads (when each stage started and ended and who ended it, each pause, the limits, the status)
was written together with an event that carries it. :func:`replay` rebuilds those facts from
the events alone; :func:`compare` names every row and field that disagrees, so a stage time
moved in the database (后补流程) is caught even though the chain itself is intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
    Finding,
    PauseReason,
)
from services.intake.policies.models import Stage
from shared.calendar import beijing_date
from shared.vocab import CustomerType


class ReplayError(Exception):
    """The log itself describes an impossible process (e.g. a stage completed out of order)."""

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


@dataclass
class StageFacts:
    stage: Stage
    limit_days: int | None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None


@dataclass
class PauseFacts:
    stage_seq: int
    reason: PauseReason
    note: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None


@dataclass
class Facts:
    """What the log says the clock's inputs are."""

    accepted_at: datetime
    customer_type: CustomerType
    has_works: bool
    policy_code: str
    total_limit_days: int
    stages: list[StageFacts]
    status: ApplicationStatus = ApplicationStatus.open
    current_seq: int = 0
    ended_at: datetime | None = None
    pauses: list[PauseFacts] = field(default_factory=list)

    @property
    def staged(self) -> bool:
        return any(s.limit_days is not None for s in self.stages)

    @property
    def current_stage(self) -> Stage | None:
        return self.stages[self.current_seq].stage if self.current_seq < len(self.stages) else None


def _limits(payload: dict[str, Any]) -> list[tuple[Stage, int | None]]:
    return [(Stage(stage), limit) for stage, limit in payload["stages"]]


def _running(facts: Facts) -> PauseFacts | None:
    return next((p for p in facts.pauses if p.ended_at is None), None)


def replay(events: Sequence[ApplicationEvent]) -> Facts:
    """The clock's facts as the log tells them (raises :class:`ReplayError`)."""
    if not events or events[0].kind is not EventKind.created:
        raise ReplayError(1, "the log does not begin with the application's creation")
    first = events[0]
    try:
        facts = Facts(
            accepted_at=first.occurred_at,
            customer_type=CustomerType(first.payload["customer_type"]),
            has_works=bool(first.payload["has_works"]),
            policy_code=str(first.payload["policy"]),
            total_limit_days=int(first.payload["total_limit_days"]),
            stages=[StageFacts(stage, limit) for stage, limit in _limits(first.payload)],
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ReplayError(1, f"the creation event lacks what the clock needs ({exc})") from exc
    facts.stages[0].started_at = first.occurred_at
    for event in events[1:]:
        try:
            _apply(facts, event)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            # A validly signed entry the replay does not understand is a finding, not a 500.
            raise ReplayError(event.seq, f"the entry lacks what the clock needs ({exc})") from exc
    return facts


def _apply(facts: Facts, event: ApplicationEvent) -> None:
    at, kind = event.occurred_at, event.kind
    if kind is EventKind.stage_completed:
        current = facts.stages[facts.current_seq] if facts.current_stage else None
        if current is None or current.stage is not event.stage:
            raise ReplayError(event.seq, f"{event.stage} is completed out of order")
        current.completed_at, current.completed_by = at, event.actor
        facts.current_seq += 1
        if facts.current_seq == len(facts.stages):
            facts.status, facts.ended_at = ApplicationStatus.connected, at
        else:
            facts.stages[facts.current_seq].started_at = at
    elif kind is EventKind.paused:
        facts.pauses.append(
            PauseFacts(
                stage_seq=facts.current_seq,
                reason=PauseReason(event.payload["reason"]),
                note=event.reason or "",
                started_at=at,
                started_by=event.actor,
            )
        )
        facts.status = ApplicationStatus.paused
    elif kind is EventKind.resumed:
        running = _running(facts)
        if running is None:
            raise ReplayError(event.seq, "a resume without a pause")
        running.ended_at, running.ended_by = at, event.actor
        facts.status = ApplicationStatus.open
    elif kind is EventKind.closed:
        running = _running(facts)
        if running is not None:
            running.ended_at, running.ended_by = at, event.actor
        facts.status, facts.ended_at = ApplicationStatus.closed, at
    elif kind is EventKind.policy_rejudged:
        limits = _limits(event.payload)
        if [s for s, _ in limits] != [s.stage for s in facts.stages]:
            raise ReplayError(event.seq, "a policy re-judgement changes the stages")
        for stage, (_, limit) in zip(facts.stages, limits, strict=True):
            stage.limit_days = limit
        facts.total_limit_days = int(event.payload["total_limit_days"])
        facts.policy_code = str(event.payload["to"])
    elif kind is EventKind.workflow_switched:
        # The 三零 decision changed: completed stages stay, the open and later ones are replaced.
        limits = _limits(event.payload)
        kept = int(event.payload["kept"])
        if kept != facts.current_seq or [s for s, _ in limits[:kept]] != [
            s.stage for s in facts.stages[:kept]
        ]:
            raise ReplayError(event.seq, "a workflow switch rewrites completed stages")
        if kept >= len(limits) or facts.status not in (
            ApplicationStatus.open,
            ApplicationStatus.paused,
        ):
            raise ReplayError(event.seq, "a workflow switch of a finished application")
        started = facts.stages[kept].started_at
        facts.stages = [
            *facts.stages[:kept],
            *(StageFacts(stage, limit) for stage, limit in limits[kept:]),
        ]
        facts.stages[kept].started_at = started
        facts.customer_type = CustomerType(event.payload["to"])
        facts.total_limit_days = int(event.payload["total_limit_days"])


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def check(
        self,
        table: str,
        row: int | None,
        seq: int | None,
        name: str,
        stored: object,
        expected: object,
        what: str = "",
    ) -> None:
        if stored != expected:
            where = f"{what} " if what else ""
            self.findings.append(
                Finding(
                    table=table,
                    row=row,
                    seq=seq,
                    field=name,
                    problem=f"{table} row {row} {where}{name}: stored {_shown(stored)}, "
                    f"the log says {_shown(expected)}",
                )
            )


def _shown(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return "none" if value is None else str(value)


def _day(moment: datetime | None) -> date | None:
    return beijing_date(moment) if moment is not None else None


def compare(
    facts: Facts,
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
) -> list[Finding]:
    """Every stored fact of the clock that the log contradicts, by table, row and field."""
    found = _Collector()
    app_row = application.id
    for name, expected in (
        ("accepted_at", facts.accepted_at),
        ("accepted_day", _day(facts.accepted_at)),
        ("customer_type", facts.customer_type),
        ("has_works", facts.has_works),
        ("policy_code", facts.policy_code),
        ("staged", facts.staged),
        ("total_limit_days", facts.total_limit_days),
        ("status", facts.status),
        ("current_seq", facts.current_seq),
        ("current_stage", facts.current_stage),
        ("ended_at", facts.ended_at),
        ("ended_day", _day(facts.ended_at)),
    ):
        found.check("applications", app_row, None, name, getattr(application, name), expected)
    found.check("applications", app_row, None, "stage count", len(stages), len(facts.stages))
    for stage, expected_stage in zip(stages, facts.stages, strict=False):
        what = f"(stage {stage.seq}, {stage.stage.value})"
        for name, value in (
            ("stage", expected_stage.stage),
            ("limit_days", expected_stage.limit_days),
            ("started_at", expected_stage.started_at),
            ("started_day", _day(expected_stage.started_at)),
            ("completed_at", expected_stage.completed_at),
            ("completed_day", _day(expected_stage.completed_at)),
            ("completed_by", expected_stage.completed_by),
        ):
            found.check(
                "application_stages", stage.id, stage.seq, name, getattr(stage, name), value, what
            )
    found.check("applications", app_row, None, "pause count", len(pauses), len(facts.pauses))
    for number, (pause, expected_pause) in enumerate(
        zip(pauses, facts.pauses, strict=False), start=1
    ):
        what = f"(pause {number})"
        for name, value in (
            ("stage_seq", expected_pause.stage_seq),
            ("reason", expected_pause.reason),
            ("note", expected_pause.note),
            ("started_at", expected_pause.started_at),
            ("started_day", _day(expected_pause.started_at)),
            ("started_by", expected_pause.started_by),
            ("ended_at", expected_pause.ended_at),
            ("ended_day", _day(expected_pause.ended_at)),
            ("ended_by", expected_pause.ended_by),
        ):
            found.check(
                "application_pauses", pause.id, number, name, getattr(pause, name), value, what
            )
    return found.findings


def rebuilt(
    facts: Facts, application: Application
) -> tuple[Application, list[ApplicationStage], list[ApplicationPause]]:
    """Detached rows holding only the facts, for the clock to be applied to afresh."""
    copy = Application(
        **{
            **application.model_dump(),
            "customer_type": facts.customer_type,
            "policy_code": facts.policy_code,
            "current_stage": facts.current_stage,
        },
    )
    for name, value in {
        "accepted_at": facts.accepted_at,
        "accepted_day": beijing_date(facts.accepted_at),
        "status": facts.status,
        "current_seq": facts.current_seq,
        "staged": facts.staged,
        "total_limit_days": facts.total_limit_days,
        "paused_days": 0,
        "ended_at": facts.ended_at,
        "ended_day": _day(facts.ended_at),
    }.items():
        setattr(copy, name, value)
    stages = [
        ApplicationStage(
            application_id=application.id or 0,
            seq=seq,
            stage=s.stage,
            limit_days=s.limit_days,
            started_at=s.started_at,
            started_day=_day(s.started_at),
            completed_at=s.completed_at,
            completed_day=_day(s.completed_at),
            paused_days=0,
        )
        for seq, s in enumerate(facts.stages)
    ]
    pauses = [
        ApplicationPause(
            application_id=application.id or 0,
            stage_seq=p.stage_seq,
            reason=p.reason,
            started_at=p.started_at,
            started_day=beijing_date(p.started_at),
            started_by=p.started_by,
            ended_at=p.ended_at,
            ended_day=_day(p.ended_at),
        )
        for p in facts.pauses
    ]
    return copy, stages, pauses


def compare_derived(
    expected: tuple[Application, Sequence[ApplicationStage], Sequence[ApplicationPause]],
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
) -> list[Finding]:
    """The stored figures (due dates, working days, within limit) against the clock applied
    to the log's facts: a KPI edited in the database is named like a moved stage time."""
    found = _Collector()
    want, want_stages, want_pauses = expected
    for name in (
        "paused_days",
        "due_date",
        "at_risk_from",
        "elapsed_days",
        "grid_days",
        "within_limit",
    ):
        found.check(
            "applications",
            application.id,
            None,
            name,
            getattr(application, name),
            getattr(want, name),
        )
    for stage, other in zip(stages, want_stages, strict=False):
        what = f"(stage {stage.seq}, {stage.stage.value})"
        for name in ("due_date", "paused_days", "elapsed_days", "grid_days", "within_limit"):
            found.check(
                "application_stages",
                stage.id,
                stage.seq,
                name,
                getattr(stage, name),
                getattr(other, name),
                what,
            )
    for number, (pause, other_pause) in enumerate(zip(pauses, want_pauses, strict=False), start=1):
        found.check(
            "application_pauses",
            pause.id,
            number,
            "days",
            pause.days,
            other_pause.days,
            f"(pause {number})",
        )
    return found.findings
