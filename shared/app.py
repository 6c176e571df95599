"""What every service app has: settings and engine in lifespan, errors, health and readiness."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.calendar import WorkingCalendar
from shared.clock import SYSTEM_CLOCK, Clock, today
from shared.db import create_service_engine, database_target, session_scope
from shared.errors import (
    ERROR_RESPONSES,
    PROBLEM_JSON,
    Problem,
    document_route_errors,
    install_error_handlers,
    problem_response,
)
from shared.http import ServiceClient
from shared.keyring import Keyring
from shared.limits import BodyLimit
from shared.logs import RequestIdMiddleware, set_service_name
from shared.masking import install_log_masking
from shared.metrics import FigureSource, install_metrics
from shared.migrations import current_revision, head_revision
from shared.outbound import OutboundPolicy
from shared.revocation import TokenVersions
from shared.settings import ServiceName, Settings, get_settings
from shared.validation import refuse_nul_characters
from shared.web.pages import install_pages

LifespanHook = Callable[[FastAPI], Awaitable[None]]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed before the response is sent, else rolled back."""
    async with session_scope(request.app.state.engine) as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_client(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.client
    return client


Client = Annotated[ServiceClient, Depends(get_client)]


async def get_outbound(request: Request) -> OutboundPolicy:
    policy: OutboundPolicy = request.app.state.outbound
    return policy


Outbound = Annotated[OutboundPolicy, Depends(get_outbound)]


async def app_settings(request: Request) -> Settings:
    """The settings common to every service, set on ``app.state`` by :func:`create_service_app`
    (a service's own settings sit beside them, set in its ``create_app``)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


async def get_keyring(request: Request) -> Keyring:
    """The deployment's keyring (shared.keyring, kept outside the database, the same file for
    every service), re-read after a rotation."""
    settings: Settings = request.app.state.settings
    return settings.keyring()


Keys = Annotated[Keyring, Depends(get_keyring)]


def _health_router(service: ServiceName) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness (存活检查)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Readiness: database reachable, migrations at head (就绪检查)",
        responses={503: {"model": Problem}},
        response_model=None,
    )
    async def readyz(request: Request) -> object:
        engine: AsyncEngine = request.app.state.engine
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await current_revision(engine)
        except Exception as exc:  # the probe's job is to report any failure, not raise it
            return problem_response(
                Problem(
                    title="Not ready", status=503, code="database_unreachable", detail=repr(exc)
                )
            )
        head = head_revision(service)
        if current != head:
            return problem_response(
                Problem(
                    title="Not ready",
                    status=503,
                    code="migrations_pending",
                    detail=f"database at {current}, code expects {head}; run 'huodian migrate'",
                )
            )
        return {"status": "ready", "service": service, "revision": current or ""}

    return router


def create_service_app(
    service: ServiceName,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    settings: Settings | None = None,
    on_startup: Sequence[LifespanHook] = (),
    on_shutdown: Sequence[LifespanHook] = (),
    clock: Clock = SYSTEM_CLOCK,
    body_limits: Mapping[str, int] | None = None,
    metrics: FigureSource | None = None,
) -> FastAPI:
    """The service's app. ``body_limits`` lets upload routes (by path template) take bodies
    larger than ``settings.max_body_bytes``; ``metrics`` adds the service's own figures to
    ``/metrics``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # ID numbers and mobiles never reach a log (日志脱敏), whatever logged them: the access
        # log's query strings (?q=13943901234) included.
        for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "huodian.access"):
            install_log_masking(logging.getLogger(name))
        app.state.engine = create_service_engine(database_target(settings, service))
        app.state.client = ServiceClient(settings, service, clock=app.state.clock)
        app.state.calendar = WorkingCalendar.build(today=today(app.state.clock))
        app.state.calendar_listeners = []
        if service != "ledger":  # ledger checks its own users' tokens against its tables
            app.state.token_versions = TokenVersions(
                lambda: app.state.client,
                app.state.clock,
                max_age=settings.token_versions_max_age_seconds,
                stale_after=settings.token_versions_stale_seconds,
            )
        for hook in on_startup:
            await hook(app)
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook(app)
            await app.state.client.aclose()
            await app.state.engine.dispose()

    # /docs and /redoc from the Swagger UI and ReDoc files fastapi-offline ships, under the
    # app's root path (behind nginx: /intake/docs loads /intake/static-offline-docs/...), so
    # the docs work on a network with no way out.
    app = FastAPIOffline(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        dependencies=[Depends(refuse_nul_characters)],
    )
    app.state.settings = settings
    app.state.service = service
    app.state.clock = clock
    app.state.outbound = OutboundPolicy.from_settings(settings)
    # The body limit inside the error middleware that install_error_handlers adds last (the
    # outermost), so that whatever goes wrong in it still ends as a problem+json answer.
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, routes=body_limits or {})
    install_metrics(app, service, metrics)  # inside the error middleware: 4xx/5xx counted
    install_error_handlers(app)
    # Outermost: the request id is known to everything inside, error answers included, and the
    # access line sees the status that went out (日志与请求号, shared.logs).
    app.add_middleware(RequestIdMiddleware, service=service)
    set_service_name(service)
    app.include_router(_health_router(service))
    install_pages(app)  # `/` to the start page, the pages' stylesheet (shared.web)
    for router in routers:
        document_route_errors(router)
        app.include_router(router)
    if service != "ledger":
        _document_revocation_check(app)
    return app


def _document_revocation_check(app: FastAPI) -> None:
    """Intake and notify check every user token against ledger's list of valid sign-ins
    (shared.revocation), so every operation that takes a bearer token may answer ``503
    revocation_list_unavailable``; OpenAPI says so, once the schema is built."""
    build = app.openapi
    unavailable = {
        "description": "Ledger's list of valid sign-ins unreachable (吊销列表不可用)",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in build().get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("security"):
                        operation["responses"].setdefault("503", unavailable)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
