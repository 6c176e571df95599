"""Server-rendered pages of intake, in the shared layout (shared.web): the applications still
being handled, counted by stage."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from services.intake.applications import service
from services.intake.policies.models import STAGE_LABELS
from shared.app import Session
from shared.auth import Role
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

# The roles that may read applications (services.intake.deps.Staff).
STAFF = (Role.clerk, Role.supervisor, Role.admin, Role.viewer)
# Whose applications a role sees (services.intake.applications.service._visible_to).
SCOPES = {Role.clerk: "本单位受理的申请", Role.supervisor: "本单位监管的申请"}


@router.get("/", response_model=None)
async def applications(request: Request, session: Session) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    counts = await service.open_by_stage(session, principal)
    return render(
        templates,
        request,
        "applications.html",
        person,
        counts=[(STAGE_LABELS[c.stage], c.open, c.paused) for c in counts],
        total_open=sum(c.open for c in counts),
        total_paused=sum(c.paused for c in counts),
        scope=SCOPES.get(person.role, "全部申请"),
    )
