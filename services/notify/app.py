"""The notify service (消息通知): outage messages and deadline reminders."""

from __future__ import annotations

from dataclasses import replace

import httpx
from fastapi import FastAPI

from services.notify.delivery.channels import Channels
from services.notify.delivery.metrics import notify_figures
from services.notify.delivery.routes import router as delivery_router
from services.notify.delivery.windows import DeliveryHours
from services.notify.delivery.worker import DeliveryWorker
from services.notify.events.routes import router as events_router
from services.notify.messages.routes import router as messages_router
from services.notify.outages.routes import router as outages_router
from services.notify.reliability.routes import router as reliability_router
from services.notify.reminders.routes import router as reminders_router
from services.notify.scheduler.jobs import JobRuntime
from services.notify.scheduler.routes import router as scheduler_router
from services.notify.scheduler.service import NotifyScheduler
from services.notify.settings import NotifySettings
from services.notify.subscribers import importing
from services.notify.subscribers.importing import fail_interrupted
from services.notify.subscribers.routes import router as subscribers_router
from services.notify.templates.routes import router as templates_router
from services.notify.web.admin import router as web_admin_router
from services.notify.web.outages import router as web_outages_router
from services.notify.web.reliability import router as web_reliability_router
from shared.app import create_service_app
from shared.calendar import WorkingCalendar
from shared.calendar_sync import CalendarSync
from shared.db import create_sync_engine, database_target
from shared.leader import AdvisoryLock, FileLock, LeaderLock
from shared.limits import upload_limit
from shared.outbound import outbound_client
from shared.settings import Settings


def _scheduler(app: FastAPI, config: NotifySettings) -> NotifyScheduler:
    settings: Settings = app.state.settings
    target = database_target(settings, "notify")
    lock: LeaderLock = (
        FileLock(settings.var_dir / "notify-scheduler.lock")
        if target.is_sqlite
        else AdvisoryLock(app.state.engine, config.scheduler_lock_id)
    )
    app.state.scheduler_engine = create_sync_engine(target)
    runtime = JobRuntime(
        engine=app.state.engine,
        client=app.state.client,
        calendar=app.state.calendar,
        hours=app.state.delivery_hours,
        settings=config,
        clock=app.state.clock,
    )
    return NotifyScheduler(runtime, lock, app.state.scheduler_engine)


def create_app(
    settings: Settings | None = None, notify_settings: NotifySettings | None = None
) -> FastAPI:
    config = notify_settings or NotifySettings()
    calendar_sync = CalendarSync(config.calendar_sync_seconds)

    async def start_delivery(app: FastAPI) -> None:
        await fail_interrupted(app.state.engine, now=app.state.clock.now())
        app.state.delivery_hours = DeliveryHours.from_settings(config, app.state.calendar)
        timeout = httpx.Timeout(config.http_timeout_seconds, connect=3.0)
        app.state.channel_client = httpx.AsyncClient(timeout=timeout)
        app.state.outbound_client = outbound_client(app.state.outbound, timeout)
        app.state.channels = Channels.build(
            config, app.state.channel_client, app.state.clock, outbound=app.state.outbound_client
        )
        # Records sent messages from a worker thread (no pre-ping: nothing between the
        # server's acceptance and the commit but the UPDATE itself).
        target = database_target(app.state.settings, "notify")
        app.state.delivery_engine = create_sync_engine(target, pre_ping=False)
        app.state.worker = DeliveryWorker(
            app.state.engine,
            app.state.delivery_engine,
            app.state.channels,
            config,
            app.state.delivery_hours,
            app.state.clock,
        )
        if config.worker_enabled:
            app.state.worker.start()

        app.state.scheduler = None
        if config.scheduler_enabled:
            app.state.scheduler = _scheduler(app, config)
            app.state.scheduler.start()

    def use_calendar(app: FastAPI, calendar: WorkingCalendar) -> None:
        hours = replace(app.state.delivery_hours, calendar=calendar)
        app.state.delivery_hours = hours
        app.state.worker.use_hours(hours)
        if app.state.scheduler is not None:
            app.state.scheduler.runtime.calendar = calendar
            app.state.scheduler.runtime.hours = hours

    async def listen_for_calendar(app: FastAPI) -> None:
        app.state.calendar_listeners.append(lambda calendar: use_calendar(app, calendar))

    async def stop_delivery(app: FastAPI) -> None:
        if app.state.scheduler is not None:
            await app.state.scheduler.stop()
            app.state.scheduler_engine.dispose()
        await app.state.worker.stop()
        app.state.delivery_engine.dispose()
        await app.state.channel_client.aclose()
        await app.state.outbound_client.aclose()

    app = create_service_app(
        "notify",
        title="Huodian notify (获电·消息通知)",
        description=(
            "Outage messages to affected customers and deadline reminders by email, SMS, "
            "WeCom and DingTalk.\n\n停电信息推送、任务到期提醒。"
        ),
        routers=[
            delivery_router,
            events_router,
            messages_router,
            outages_router,
            reliability_router,
            reminders_router,
            scheduler_router,
            subscribers_router,
            templates_router,
            web_outages_router,
            web_reliability_router,
            web_admin_router,
        ],
        metrics=notify_figures,
        settings=settings,
        on_startup=[start_delivery, listen_for_calendar, calendar_sync.start],
        on_shutdown=[calendar_sync.stop, stop_delivery],
        body_limits={"/subscribers/imports": upload_limit(importing.MAX_IMPORT_BYTES)},
    )
    app.state.notify_settings = config
    return app
