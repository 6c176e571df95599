"""The notify service (消息通知): outage messages and deadline reminders."""

from fastapi import FastAPI

from services.notify.routes import router
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "notify",
        title="Huodian notify (获电·消息通知)",
        description=(
            "Outage messages to affected customers and deadline reminders by email, SMS and "
            "WeCom.\n\n停电信息推送、任务到期提醒。"
        ),
        routers=[router],
        settings=settings,
    )
