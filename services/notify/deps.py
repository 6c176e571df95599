"""Request dependencies of the notify service: its settings, delivery hours and who may call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.delivery.windows import DeliveryHours
from services.notify.settings import NotifySettings

# Re-exported: notify's routes take their dependencies from here.
from shared.auth import CurrentAdmin as CurrentAdmin
from shared.auth import CurrentOperator as CurrentOperator
from shared.auth import Principal, Role, principal_with


async def get_notify_settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.notify_settings
    return settings


async def get_hours(request: Request) -> DeliveryHours:
    hours: DeliveryHours = request.app.state.delivery_hours
    return hours


Config = Annotated[NotifySettings, Depends(get_notify_settings)]
Hours = Annotated[DeliveryHours, Depends(get_hours)]
# A dispatcher (调度人员) or administrator: announces outages and reads their logs.
CurrentDispatcher = Annotated[
    Principal,
    Depends(
        principal_with(
            Role.dispatcher,
            Role.admin,
            code="dispatcher_required",
            what="dispatchers (调度人员) or administrators",
        )
    ),
]
