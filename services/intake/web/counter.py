"""The counter form (窗口受理): a clerk accepts an application as POST /applications does
(flows.service.accept_application), asking only what that body takes and showing, per
customer type, the only documents the acceptance may ask for (一证受理, rules/documents.py).

Refusals are shown next to the field they concern, in Chinese: pydantic's errors through
shared.errors.field_errors, the service's through its ``FieldError`` list; nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from services.intake.applications.clocking import Clocking
from services.intake.applications.models import Channel, IdKind
from services.intake.applications.requests import ApplicationCreate
from services.intake.deps import Calendar, Config, Keys
from services.intake.flows import service as flows
from services.intake.policies.models import Stage
from services.intake.policies.service import list_versions
from services.intake.rules.documents import required_documents
from shared.app import Session
from shared.auth import Principal, Role
from shared.clock import Now
from shared.errors import FieldError, HuodianError
from shared.vocab import AreaClass, CustomerType
from shared.web.pages import Person, Refusal, person_for, render, submit_form, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

ID_KIND_LABELS = {IdKind.resident_id: "公民身份号码", IdKind.credit_code: "统一社会信用代码"}
# The form's fields, named as the API body's (dotted below applicant and site).
TEXT_FIELDS = (
    "jurisdiction",
    "unit",
    "customer_type",
    "capacity_kw",
    "applicant.name",
    "applicant.id_kind",
    "applicant.id_number",
    "applicant.mobile",
    "applicant.email",
    "site.address",
    "site.area_class",
    "site.feeder",
    "site.transformer_area",
    "project_code",
)


def acceptance_documents() -> list[tuple[str, list[str]]]:
    """Per customer type, the only documents its first stage may ask (一证受理)."""
    shown = []
    for ct in CustomerType:
        kinds = required_documents(ct, Stage.acceptance) or required_documents(ct, Stage.signing)
        shown.append((ct.label, [k.name for k in kinds]))
    return shown


def application_body(form: dict[str, str]) -> dict[str, Any]:
    """The API body of a posted form: empty optional fields left out, as an API client would."""
    body: dict[str, Any] = {"channel": Channel.counter.value, "applicant": {}, "site": {}}
    for name in TEXT_FIELDS:
        value = form.get(name, "").strip()
        if not value:
            continue
        head, _, tail = name.partition(".")
        if tail:
            body[head][tail] = value
        else:
            body[head] = value
    body["has_works"] = form.get("no_works") != "1"
    return body


async def _form(
    request: Request,
    session: Session,
    principal: Principal,
    person: Person,
    form: dict[str, str],
    *,
    status_code: int = 200,
    errors: list[FieldError] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    by_field: dict[str, list[str]] = {}
    for e in errors or []:
        by_field.setdefault(e.field, []).append(e.message)
    jurisdictions = {v.jurisdiction: v.jurisdiction_name for v in await list_versions(session)}
    return render(
        templates,
        request,
        "counter.html",
        person,
        status_code=status_code,
        form=form,
        field_errors=by_field,
        error=error,
        jurisdictions=sorted(jurisdictions.items()),
        units=principal.units,
        customer_types=[(c.value, c.label) for c in CustomerType],
        id_kinds=[(k.value, v) for k, v in ID_KIND_LABELS.items()],
        area_classes=[(a.value, a.label) for a in AreaClass],
        documents=acceptance_documents(),
    )


@router.get("/accept", response_model=None)
async def counter_form(request: Request, session: Session) -> Response:
    """窗口受理: the empty form."""
    signed = await person_for(request, Role.clerk)
    if not isinstance(signed, tuple):
        return signed
    return await _form(request, session, *signed, {})


@router.post("/accept", response_model=None)
async def accept(
    request: Request,
    session: Session,
    calendar: Calendar,
    config: Config,
    keys: Keys,
    now: Now,
) -> Response:
    signed = await person_for(request, Role.clerk)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    posted = await request.form()
    form = {k: str(v)[:400] for k, v in posted.items() if isinstance(v, str)}

    async def act() -> Response:
        data = ApplicationCreate.model_validate(application_body(form))
        accepted = await flows.accept_application(
            session,
            data,
            clerk=principal,
            now=now,
            clocking=Clocking(calendar, config.at_risk_percent),
            keyring=keys,
        )
        application, code = accepted.application, accepted.query_code
        return render(
            templates,
            request,
            "accepted.html",
            person,
            status_code=201,
            number=application.number,
            query_code=code,
        )

    async def refused(why: Refusal) -> Response:
        await session.rollback()  # accept_application checks everything before it writes
        return await _form(
            request,
            session,
            principal,
            person,
            form,
            status_code=why.status,
            errors=why.errors,
            error=why.message,
        )

    return await submit_form(
        request, person.token, form.get("csrf", ""), act, refused, message=_message
    )


def _message(exc: HuodianError | ValidationError) -> str:
    """A validation's errors stand next to their fields; the message above points to them."""
    return "请按提示更正标出的内容。" if isinstance(exc, ValidationError) else exc.detail
