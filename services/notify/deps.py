"""Request dependencies of the notify service: its settings, delivery hours and who may call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.delivery.windows import DeliveryHours
from services.notify.settings import NotifySettings
from shared.auth import CurrentPrincipal, Principal, Role, principal_with
from shared.errors import Forbidden


def get_notify_settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.notify_settings
    return settings


def get_hours(request: Request) -> DeliveryHours:
    hours: DeliveryHours = request.app.state.delivery_hours
    return hours


def require_admin_or_service(principal: Principal) -> None:
    if not principal.is_service and principal.role is not Role.admin:
        raise Forbidden(
            "this action is for administrators or Huodian services", code="admin_required"
        )


async def current_operator(principal: CurrentPrincipal) -> Principal:
    """An administrator or another Huodian service."""
    require_admin_or_service(principal)
    return principal


NotifyConfig = Annotated[NotifySettings, Depends(get_notify_settings)]
Hours = Annotated[DeliveryHours, Depends(get_hours)]
Operator = Annotated[Principal, Depends(current_operator)]
Admin = Annotated[
    Principal,
    Depends(principal_with(Role.admin, code="admin_required", what="administrators (管理员)")),
]
# A dispatcher (调度人员) or administrator: announces outages and reads their logs.
Dispatcher = Annotated[
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
