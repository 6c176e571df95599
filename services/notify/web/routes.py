"""Server-rendered pages of notify, in the shared layout (shared.web): the outages not yet over
(当前停电), of the dispatcher's units."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from services.notify.outages import service
from services.notify.outages.access import visible_units
from services.notify.outages.models import KIND_LABELS, STATE_LABELS
from shared.app import Session
from shared.auth import Role
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")


@router.get("/", response_model=None)
async def outages(request: Request, session: Session) -> Response:
    # The roles of the outage API (services.notify.deps.Dispatcher).
    signed = await person_for(request, Role.dispatcher, Role.admin)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    found = await service.current_outages(session, units=visible_units(principal))
    return render(
        templates,
        request,
        "outages.html",
        person,
        outages=found,
        kinds=KIND_LABELS,
        states=STATE_LABELS,
        everyone=principal.role is Role.admin,
    )
