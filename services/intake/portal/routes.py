"""The portal over HTTP.

``portal_router``: what portal clients call, authenticated by their HMAC signature; every POST
needs an ``Idempotency-Key``. ``router``: what staff call with a bearer token — the
pre-applications (超前对接) and, for administrators, the portal keys' webhooks and callbacks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from services.intake.applications.clocking import Clocking
from services.intake.applications.why import ApplicantWhy
from services.intake.deps import Calendar, Config, CurrentAdmin, Keys
from services.intake.portal import pre_applications, service, webhooks
from services.intake.portal.applications import portal_application_why, submit_application
from services.intake.portal.auth import ApplicationsCaller, PortalCaller, ProjectsCaller
from services.intake.portal.deps import Areas, ELicense
from services.intake.portal.idempotency import IdempotencyKey, run_once
from services.intake.portal.jobs import run_webhook_delivery
from services.intake.portal.models import (
    DeliveryState,
    PortalApplicationCreated,
    PortalApplicationIn,
    PortalClientPublic,
    PortalKeyIssued,
    PortalMe,
    PortalScope,
    PreApplicationPage,
    PreApplicationPublic,
    PreApplicationStatus,
    ProjectPush,
    WebhookDeliveryPage,
    WebhookRun,
    WebhookSetting,
)
from services.intake.portal.pre_applications import PreApplicationFilter
from shared.app import Outbound, Session
from shared.auth import CurrentPrincipal
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import Problem
from shared.pagination import DEFAULT_LIMIT, Limit
from shared.validation import Offset

portal_router = APIRouter(tags=["portal"])
router = APIRouter(tags=["portal"])

SIGNED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Signature refused (验签失败)"},
    403: {"model": Problem, "description": "The key lacks this route's scope (scope_required)"},
}

# ---- portal clients --------------------------------------------------------------------------


@portal_router.get(
    "/portal/me", summary="Check the signature: who am I (接入联调)", responses=SIGNED
)
async def me(caller: PortalCaller, session: Session) -> PortalMe:
    client = await service.get_portal_client(session, caller.key_id)
    return PortalMe(
        key_id=client.key_id,
        name=client.name,
        webhook_url=client.webhook_url,
        scopes=[PortalScope(s) for s in client.scopes],
    )


@portal_router.post(
    "/portal/projects",
    summary="Push a construction project (推送工程建设项目, 超前对接)",
    status_code=status.HTTP_201_CREATED,
    response_model=PreApplicationPublic,
    responses={**SIGNED, 200: {"model": PreApplicationPublic, "description": "Updated"}},
)
async def push_project(
    body: ProjectPush,
    caller: ProjectsCaller,
    key: IdempotencyKey,
    session: Session,
    areas: Areas,
    keys: Keys,
    now: Now,
) -> JSONResponse:
    async def effect() -> tuple[int, PreApplicationPublic]:
        pre, created = await pre_applications.push_project(
            session, body, caller=caller, areas=areas, now=now
        )
        return (status.HTTP_201_CREATED if created else status.HTTP_200_OK), pre

    return await run_once(session, caller, key, effect, now=now, keyring=keys)


@portal_router.post(
    "/portal/applications",
    summary="Submit an application for the customer (政务服务平台报装)",
    status_code=status.HTTP_201_CREATED,
    response_model=PortalApplicationCreated,
    responses={**SIGNED, 502: {"model": Problem, "description": "E-license service down"}},
)
async def submit(
    body: PortalApplicationIn,
    caller: ApplicationsCaller,
    key: IdempotencyKey,
    session: Session,
    areas: Areas,
    elicense: ELicense,
    calendar: Calendar,
    config: Config,
    keys: Keys,
    now: Now,
) -> JSONResponse:
    async def effect() -> tuple[int, PortalApplicationCreated]:
        created = await submit_application(
            session,
            body,
            caller=caller,
            areas=areas,
            elicense=elicense,
            now=now,
            clocking=Clocking(calendar, config.at_risk_percent),
            keyring=keys,
        )
        return status.HTTP_201_CREATED, created

    return await run_once(session, caller, key, effect, now=now, keyring=keys)


@portal_router.get(
    "/portal/applications/{number}/why",
    summary="Why each due date and time spent (期限说明) of an application this portal submitted",
    responses={**SIGNED, 404: {"model": Problem, "description": "Not submitted by this portal"}},
)
async def application_why(
    number: str, caller: ApplicationsCaller, session: Session, calendar: Calendar, now: Now
) -> ApplicantWhy:
    return await portal_application_why(session, number, caller, calendar, beijing_date(now))


# ---- staff -----------------------------------------------------------------------------------


@router.get("/pre-applications", summary="Projects pushed before application (超前对接项目)")
async def list_pre_applications(
    principal: CurrentPrincipal,
    session: Session,
    areas: Areas,
    unit: str | None = None,
    status_: Annotated[PreApplicationStatus | None, Query(alias="status")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PreApplicationPage:
    return await pre_applications.list_pre_applications(
        session,
        principal,
        PreApplicationFilter(unit=unit, status=status_),
        areas,
        limit=limit,
        offset=offset,
    )


@router.get("/pre-applications/{project_code}", summary="One pushed project (超前对接项目详情)")
async def get_pre_application(
    project_code: str, principal: CurrentPrincipal, session: Session, areas: Areas
) -> PreApplicationPublic:
    return await pre_applications.read_pre_application(session, project_code, principal, areas)


@router.get("/portal/clients", summary="Portal keys (政务服务平台接入方)")
async def list_clients(_admin: CurrentAdmin, session: Session) -> list[PortalClientPublic]:
    return [service.to_public(c) for c in await service.list_portal_clients(session)]


@router.put(
    "/portal/clients/{key_id}/webhook", summary="Set a portal's callback URL (状态回调地址)"
)
async def set_webhook(
    key_id: str, body: WebhookSetting, _admin: CurrentAdmin, session: Session, outbound: Outbound
) -> PortalClientPublic:
    url = str(body.url) if body.url else None
    return await service.set_webhook(session, key_id, url, outbound=outbound)


@router.post(
    "/portal/clients/{key_id}/revoke",
    summary="Revoke a portal key at once (吊销接入密钥)",
    responses={404: {"model": Problem, "description": "portal_client_not_found"}},
)
async def revoke_client(key_id: str, _admin: CurrentAdmin, session: Session) -> PortalClientPublic:
    return await service.revoke_portal_client(session, key_id)


@router.post(
    "/portal/clients/{key_id}/rotate",
    summary="Issue a new secret for a key; the old one stops at once (轮换密钥)",
    responses={409: {"model": Problem, "description": "portal_client_revoked"}},
)
async def rotate_client(
    key_id: str, _admin: CurrentAdmin, session: Session, keys: Keys
) -> PortalKeyIssued:
    client, secret = await service.rotate_portal_client(session, key_id, keyring=keys)
    return PortalKeyIssued(**service.to_public(client).model_dump(), secret=secret)


@router.get(
    "/portal/clients/{key_id}/deliveries", summary="A portal's status callbacks (回调投递记录)"
)
async def list_deliveries(
    key_id: str,
    _admin: CurrentAdmin,
    session: Session,
    state: DeliveryState | None = None,
    application: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> WebhookDeliveryPage:
    return await webhooks.list_deliveries(
        session, key_id, state=state, application_number=application, limit=limit, offset=offset
    )


@router.post("/portal/deliveries/run", summary="Send due status callbacks now (立即回调)")
async def deliver(_admin: CurrentAdmin, request: Request) -> WebhookRun:
    return await run_webhook_delivery(request.app)
