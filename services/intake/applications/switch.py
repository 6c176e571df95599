"""Switching an open application's workflow after its 三零 decision changed (切换办理流程).

A correction of capacity_kw or area_class re-judges 三零
(:func:`services.intake.whitelist.rejudge.rejudge`). When the new decision calls for the other
low-voltage workflow — 实行“三零”服务的低压非居民用户 (受理签约 → 施工接电) instead of the
standard 低压非居民用户 (业务受理 → 供电方案答复 → 装表接电), or back — the application switches:

- the stages already completed stay as they were done: their times, who completed them and the
  limits they were judged by (history is not rewritten);
- the open stage and those not yet started are replaced by the stages of the new workflow that
  lie beyond what the completed ones covered. Each stage covers a phase of the process:
  业务受理 the acceptance (1); 供电方案答复 and 受理签约 the plan and the contract (2; 受理签约
  covers the acceptance too); 装表接电 and 施工接电 the connection (3). So with 业务受理 done,
  a switch into 三零 leaves 业务受理 (done) → 受理签约 → 施工接电; with 受理签约 done, a switch out
  of 三零 leaves 受理签约 (done) → 装表接电;
- the stage that replaces the open one keeps its start (the clock of the open stage runs on, a
  pause running in it stays in it); the new stages take the new workflow's limits from the time
  limit version the application already follows, and the application its total;
- only an open or paused application switches: the stages of a connected or closed one are
  history, only its 三零 decision is recorded anew.

The switch is a ``workflow_switched`` event of the stage log carrying the customer type, the whole
new stage list with limits and the total, so :func:`services.intake.applications.record.replay`
rebuilds the stage rows from the log and ``/log/verify`` stays valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
)
from services.intake.policies.models import PolicyEntry, Stage, StageLimit
from shared.vocab import CustomerType

__all__ = ["PHASE_END", "limits_under", "remaining_stages", "switch_workflow"]

PHASE_END: dict[Stage, int] = {
    Stage.acceptance: 1,
    Stage.supply_plan: 2,
    Stage.signing: 2,
    Stage.design_review: 3,
    Stage.midway_inspection: 3,
    Stage.completion_inspection: 3,
    Stage.external_works: 3,
    Stage.connection: 4,
    Stage.construction_connection: 4,
    Stage.inspection_connection: 4,
}
"""The last phase of the process each stage covers (acceptance 1, plan and contract 2, the
customer's works 3, connection 4)."""


def remaining_stages(completed: Sequence[Stage], entry: PolicyEntry) -> list[StageLimit]:
    """The stages of ``entry`` still to do after ``completed`` (in order) were done."""
    reached = max((PHASE_END[s] for s in completed), default=0)
    return [limit for limit in entry.stages if PHASE_END[limit.stage] > reached]


def limits_under(
    stages: Sequence[ApplicationStage], entry: PolicyEntry, staged: bool, *, switched: bool
) -> list[int | None] | None:
    """The limits ``stages`` take under ``entry`` (a time-limit version entered late), or None
    when the version changes their stages.

    The stages of an application that never switched must be the entry's. After a workflow
    switch (``switched``) they are the completed stages kept from the earlier workflow, which
    keep their limits, followed by the entry's stages beyond them, which take the entry's.
    """
    names = [s.stage for s in stages]
    if names == [limit.stage for limit in entry.stages]:
        return [limit.limit_days if staged else None for limit in entry.stages]
    if not switched:
        return None
    for kept in range(1, len(stages)):
        if stages[kept - 1].completed_at is None:
            break
        rest = remaining_stages(names[:kept], entry)
        if names[kept:] == [limit.stage for limit in rest]:
            return [
                *(s.limit_days for s in stages[:kept]),
                *(limit.limit_days if staged else None for limit in rest),
            ]
    return None


async def switch_workflow(
    session: AsyncSession,
    application: Application,
    stages: list[ApplicationStage],
    entry: PolicyEntry,
    to: CustomerType,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> list[ApplicationStage] | None:
    """Switch ``application`` (whose stage rows are ``stages``) to ``to``'s workflow ``entry``.

    Returns the new stage rows, or None when nothing switches (not open, or no stage left to
    do in the new workflow). The caller refreshes the clock's figures afterwards.
    """
    if application.status not in (ApplicationStatus.open, ApplicationStatus.paused):
        return None
    assert application.id is not None
    done = application.current_seq
    kept = stages[:done]
    remaining = remaining_stages([s.stage for s in kept], entry)
    if not remaining:
        return None
    no_works_budget = not application.has_works and entry.no_works_total_days is not None
    staged = entry.staged and not no_works_budget
    old_type = application.customer_type
    old = [[s.stage.value, s.limit_days] for s in stages]
    started_at, started_day = stages[done].started_at, stages[done].started_day
    rows = list(kept)
    for i, limit in enumerate(remaining):
        seq = done + i
        row = (
            stages[seq]
            if seq < len(stages)
            else ApplicationStage(application_id=application.id, seq=seq, stage=limit.stage)
        )
        row.stage = limit.stage
        row.limit_days = limit.limit_days if staged else None
        row.started_at, row.started_day = (started_at, started_day) if i == 0 else (None, None)
        row.completed_at = row.completed_day = row.completed_by = None
        session.add(row)
        rows.append(row)
    for extra in stages[len(rows) :]:
        await session.delete(extra)
    application.customer_type = to
    application.current_stage = rows[done].stage
    application.total_limit_days = (
        entry.no_works_total_days
        if no_works_budget and entry.no_works_total_days
        else entry.total_days
    )
    application.staged = any(s.limit_days is not None for s in rows)
    append_event(
        session,
        application,
        EventKind.workflow_switched,
        now=now,
        actor=actor,
        stage=application.current_stage,
        reason=reason,
        payload={
            "from": old_type.value,
            "to": to.value,
            "kept": done,
            "old_stages": old,
            "stages": [[s.stage.value, s.limit_days] for s in rows],
            "total_limit_days": application.total_limit_days,
            "note": f"“三零”判定改变，由“{old_type.label}”转按"
            f"“{to.label}”的环节和时限办理；已完成的环节保留",
        },
    )
    return rows
