"""The intake service (用电报装): connection applications and the portal integration."""

from fastapi import FastAPI

from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "intake",
        title="Huodian intake (获电·用电报装)",
        description=(
            "Electricity connection applications from the government portal, online and the "
            "counter, timed in Chinese working days.\n\n用电报装受理、环节时限、预警督办。"
        ),
        routers=[],
        settings=settings,
    )
