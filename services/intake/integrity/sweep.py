"""Verifying the whole database (全库校验): every application, then the checkpoints.

Used by ``huodian verify`` and by the periodic job. Applications are read a batch at a time
(four queries per batch), so memory stays flat however large the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from services.intake.applications.clocking import Clocking
from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    ApplicationStage,
    ChainCheck,
    Finding,
)
from services.intake.applications.verification import check_application
from services.intake.integrity.checkpoints import against_checkpoints, read_checkpoints
from services.intake.integrity.clock_record import check_clock_record
from shared.db import session_scope
from shared.keyring import Keyring

Progress = Callable[[int, int], None]
"""Called with (applications checked, applications in all) after each batch."""

_BATCH = 200


@dataclass
class Report:
    """What a whole-database verification found."""

    applications: int = 0
    events: int = 0
    failed: list[ChainCheck] = field(default_factory=list)
    anchored: int = 0
    checkpoint: dict[str, Any] | None = None
    checkpoint_findings: list[Finding] = field(default_factory=list)
    clock_findings: list[Finding] = field(default_factory=list)
    """The calendar and the warning share (``clock_record``): the cause, named first."""
    file_problems: list[str] = field(default_factory=list)
    copy_problems: list[str] = field(default_factory=list)
    copy_note: str | None = None

    @property
    def valid(self) -> bool:
        return not (
            self.failed
            or self.clock_findings
            or self.checkpoint_findings
            or self.file_problems
            or self.copy_problems
        )

    def findings(self) -> list[Finding]:
        """Every problem, each naming its application where there is one."""
        found = list(self.clock_findings)
        found += [f for check in self.failed for f in check.findings]
        found += self.checkpoint_findings
        found += [Finding(table="checkpoints", problem=p) for p in self.file_problems]
        found += [Finding(table="checkpoints", problem=p) for p in self.copy_problems]
        return found


async def verify_all(
    engine: AsyncEngine,
    keyring: Keyring,
    clocking: Clocking,
    checkpoint_file: Path,
    *,
    copy: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Every application's log and rows, then the database against the checkpoint file, and
    the file against ``copy`` (notify's record of the last checkpoint), when given."""
    report = Report()
    async with session_scope(engine) as session:
        report.clock_findings = await check_clock_record(session, keyring)
        total = int((await session.exec(select(func.count()).select_from(Application))).one())
    after = 0
    while True:
        async with session_scope(engine) as session:
            applications = list(
                (
                    await session.exec(
                        select(Application)
                        .where(col(Application.id) > after)
                        .order_by(col(Application.id))
                        .limit(_BATCH)
                    )
                ).all()
            )
            if not applications:
                break
            ids = [a.id for a in applications]
            events: dict[int, list[ApplicationEvent]] = defaultdict(list)
            for event in await session.exec(
                select(ApplicationEvent)
                .where(col(ApplicationEvent.application_id).in_(ids))
                .order_by(col(ApplicationEvent.application_id), col(ApplicationEvent.seq))
            ):
                events[event.application_id].append(event)
            stages: dict[int, list[ApplicationStage]] = defaultdict(list)
            for stage in await session.exec(
                select(ApplicationStage)
                .where(col(ApplicationStage.application_id).in_(ids))
                .order_by(col(ApplicationStage.application_id), col(ApplicationStage.seq))
            ):
                stages[stage.application_id].append(stage)
            pauses: dict[int, list[ApplicationPause]] = defaultdict(list)
            for pause in await session.exec(
                select(ApplicationPause)
                .where(col(ApplicationPause.application_id).in_(ids))
                .order_by(col(ApplicationPause.id))
            ):
                pauses[pause.application_id].append(pause)
            for application in applications:
                assert application.id is not None
                own = events[application.id]
                report.events += len(own)
                check = check_application(
                    keyring,
                    application,
                    own,
                    stages[application.id],
                    pauses[application.id],
                    clocking,
                )
                if not check.valid:
                    report.failed.append(check)
            report.applications += len(applications)
            after = applications[-1].id or after
        if progress:
            progress(report.applications, max(total, report.applications))
    state = read_checkpoints(checkpoint_file, keyring)
    report.file_problems = state.problems
    report.checkpoint = state.last
    report.anchored = len(state.heads)
    async with session_scope(engine) as session:
        report.checkpoint_findings = await against_checkpoints(session, state.heads)
    if copy is not None:
        _against_copy(report, copy)
    return report


def _against_copy(report: Report, copy: dict[str, Any]) -> None:
    """The file's last checkpoint against the copy notify keeps: a truncated or replaced file
    shows here even when every line left in it verifies."""
    last = report.checkpoint
    seq = int(copy.get("seq", 0))
    if last is None or int(last["seq"]) < seq:
        have = last["seq"] if last else 0
        report.copy_problems.append(
            f"notify holds checkpoint {seq}, but the checkpoint file ends at {have}: "
            "the file was cut back or replaced"
        )
    elif int(last["seq"]) == seq and last["root"] != copy.get("root"):
        report.copy_problems.append(
            f"checkpoint {seq} in the file differs from the copy notify holds"
        )
