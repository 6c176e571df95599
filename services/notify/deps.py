"""Request dependencies of the notify service: its settings, delivery hours and who may call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.delivery.windows import DeliveryHours
from services.notify.settings import NotifySettings
from shared.auth import CurrentPrincipal, Principal, Role
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


async def current_admin(principal: CurrentPrincipal) -> Principal:
    """An administrator (管理员)."""
    if principal.role is not Role.admin:
        raise Forbidden("this action is for administrators (管理员)", code="admin_required")
    return principal


async def current_dispatcher(principal: CurrentPrincipal) -> Principal:
    """A dispatcher (调度人员) or administrator: announces outages and reads their logs."""
    if principal.role not in (Role.dispatcher, Role.admin):
        raise Forbidden(
            "this action is for dispatchers (调度人员) or administrators",
            code="dispatcher_required",
        )
    return principal


NotifyConfig = Annotated[NotifySettings, Depends(get_notify_settings)]
Hours = Annotated[DeliveryHours, Depends(get_hours)]
Operator = Annotated[Principal, Depends(current_operator)]
Admin = Annotated[Principal, Depends(current_admin)]
Dispatcher = Annotated[Principal, Depends(current_dispatcher)]
