"""Information disclosure (信息公开): public, no sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.intake.disclosure import service
from services.intake.disclosure.models import CapacityDisclosure, PublicDisclosure
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.validation import Day

router = APIRouter(tags=["disclosure"])


@router.get(
    "/public/disclosure",
    summary="Processes, time limits, documents, fees and hotlines (用电报装信息公开)",
)
async def read_disclosure(
    session: Session,
    now: Now,
    jurisdiction: Annotated[str, Query(min_length=2, max_length=40, description="如 dongying")],
    on: Annotated[Day | None, Query(description="北京日期；默认今天")] = None,
) -> PublicDisclosure:
    return await service.disclosure(session, jurisdiction, on or beijing_date(now))


@router.get(
    "/public/capacity",
    summary="Open grid capacity per area, capacity-limited areas (配电网接入能力)",
)
async def read_capacity(session: Session, unit: str | None = None) -> CapacityDisclosure:
    return await service.capacity(session, unit)
