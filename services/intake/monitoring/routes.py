"""Watch lists, escalations (督办) and the scan over HTTP."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.applications.clocking import Clocking, recompute_open
from services.intake.deps import Calendar, Config, CurrentAdmin, CurrentStaff, CurrentSupervisor
from services.intake.monitoring import escalations, scan, watch
from services.intake.monitoring.escalations import EscalationFilter
from services.intake.monitoring.models import (
    Acknowledgement,
    EscalationPage,
    EscalationPublic,
    EscalationState,
    RecomputeResult,
    Resolution,
    ScanResult,
    WatchLevel,
    WatchPage,
)
from services.intake.monitoring.watch import WatchFilter
from services.intake.policies.models import Stage
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.pagination import Paging
from shared.validation import Id
from shared.vocab import CustomerType

router = APIRouter(tags=["monitoring"])


@router.get("/monitoring/stages", summary="At-risk or overdue stages (预警、超期环节)")
async def watch_list(
    staff: CurrentStaff,
    session: Session,
    calendar: Calendar,
    now: Now,
    state: WatchLevel,
    paging: Paging,
    unit: str | None = None,
    customer_type: CustomerType | None = None,
    stage: Stage | None = None,
) -> WatchPage:
    flt = WatchFilter(unit=unit, customer_type=customer_type, stage=stage)
    return await watch.list_watch(session, staff, state, flt, calendar, beijing_date(now), paging)


@router.get("/escalations", summary="Escalations (督办事项)")
async def list_escalations(
    staff: CurrentStaff,
    session: Session,
    paging: Paging,
    state: EscalationState | None = None,
    unit: str | None = None,
    supervising_unit: str | None = None,
    customer_type: CustomerType | None = None,
    stage: Stage | None = None,
) -> EscalationPage:
    flt = EscalationFilter(
        state=state,
        unit=unit,
        supervising_unit=supervising_unit,
        customer_type=customer_type,
        stage=stage,
    )
    return await escalations.list_escalations(session, staff, flt, paging)


@router.get("/escalations/{escalation_id}", summary="One escalation (督办详情)")
async def get_escalation(
    escalation_id: Id, staff: CurrentStaff, session: Session
) -> EscalationPublic:
    return await escalations.get_escalation(session, escalation_id, staff)


@router.post("/escalations/{escalation_id}/acknowledge", summary="Take up an escalation (受理督办)")
async def acknowledge(
    escalation_id: Id,
    body: Acknowledgement,
    supervisor: CurrentSupervisor,
    session: Session,
    now: Now,
) -> EscalationPublic:
    return await escalations.acknowledge(
        session, escalation_id, body, principal=supervisor, now=now
    )


@router.post("/escalations/{escalation_id}/resolve", summary="Resolve an escalation (督办办结)")
async def resolve(
    escalation_id: Id,
    body: Resolution,
    supervisor: CurrentSupervisor,
    session: Session,
    now: Now,
) -> EscalationPublic:
    return await escalations.resolve(session, escalation_id, body, principal=supervisor, now=now)


@router.post("/monitoring/scan", summary="Run the watch now, in working time (立即预警扫描)")
async def run_scan(
    _admin: CurrentAdmin, session: Session, calendar: Calendar, config: Config, now: Now
) -> ScanResult:
    return await scan.scan(session, now=now, calendar=calendar, settings=config)


@router.post(
    "/monitoring/recompute",
    summary="Recompute every open clock, e.g. after the warning share changed (重算时限)",
)
async def recompute(
    _admin: CurrentAdmin, session: Session, calendar: Calendar, config: Config
) -> RecomputeResult:
    changed = await recompute_open(session, Clocking(calendar, config.at_risk_percent))
    return RecomputeResult(recomputed_applications=changed)
