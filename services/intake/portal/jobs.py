"""The portal's share of the intake process: its HTTP client and its background work.

:func:`open_portal` builds, in lifespan, the ``httpx.AsyncClient`` that reaches the e-license
service and the e-license adapter on it, and the guarded client (:mod:`shared.outbound`) that
posts to the portals' webhooks, URLs from outside that must not lead inside.
:func:`start_portal_jobs` runs one :class:`shared.periodic.Periodic` task that delivers the
status callbacks and forgets expired nonces and idempotency answers; both are plain functions
tests call directly.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import FastAPI

from services.intake.portal.auth import forget_expired_nonces
from services.intake.portal.idempotency import forget_old_answers
from services.intake.portal.models import WebhookRun
from services.intake.portal.webhooks import deliver_pending
from services.intake.settings import IntakeSettings
from services.intake.standins.elicense import ELicenseClient
from shared.db import session_scope
from shared.outbound import outbound_client
from shared.periodic import Periodic

log = logging.getLogger("huodian.intake.portal")
HOUSEKEEPING_SECONDS = 300.0
RETRY_CAP_SECONDS = 60.0


async def open_portal(app: FastAPI) -> None:
    settings: IntakeSettings = app.state.intake_settings
    timeout = httpx.Timeout(settings.portal_timeout_seconds, connect=3.0)
    app.state.portal_http = httpx.AsyncClient(timeout=timeout)
    app.state.webhook_http = outbound_client(app.state.outbound, timeout)
    app.state.elicense = ELicenseClient(
        settings.elicense_url, app.state.portal_http, api_key=settings.elicense_api_key
    )


async def close_portal(app: FastAPI) -> None:
    await app.state.portal_http.aclose()
    await app.state.webhook_http.aclose()


async def run_webhook_delivery(app: FastAPI) -> WebhookRun:
    return await deliver_pending(
        app.state.engine,
        app.state.webhook_http,
        app.state.intake_settings,
        now=app.state.clock.now(),
        keyring=app.state.settings.keyring(),
    )


async def run_housekeeping(app: FastAPI) -> tuple[int, int]:
    """Forget expired nonces and old idempotency answers; returns how many of each."""
    settings: IntakeSettings = app.state.intake_settings
    now = app.state.clock.now()
    async with session_scope(app.state.engine) as session:
        nonces = await forget_expired_nonces(session, now)
        answers = await forget_old_answers(session, now, settings.idempotency_retention_hours)
    return nonces, answers


class _Pass:
    """One pass (a :class:`shared.periodic.Periodic` tick): the status callbacks every pass,
    the housekeeping every ``HOUSEKEEPING_SECONDS``."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._next_housekeeping = asyncio.get_running_loop().time()

    async def __call__(self) -> None:
        await run_webhook_delivery(self._app)
        clock = asyncio.get_running_loop().time
        if clock() >= self._next_housekeeping:
            await run_housekeeping(self._app)
            self._next_housekeeping = clock() + HOUSEKEEPING_SECONDS


async def start_portal_jobs(app: FastAPI) -> None:
    settings: IntakeSettings = app.state.intake_settings
    app.state.portal_jobs = None
    if settings.background_jobs:
        app.state.portal_jobs = Periodic(
            "portal background pass",
            _Pass(app),
            interval=settings.webhook_interval_seconds,
            retry_cap=RETRY_CAP_SECONDS,
        )
        app.state.portal_jobs.start()


async def stop_portal_jobs(app: FastAPI) -> None:
    jobs: Periodic | None = getattr(app.state, "portal_jobs", None)
    if jobs is None:
        return
    await jobs.stop()  # a pass under way finishes first
    app.state.portal_jobs = None
