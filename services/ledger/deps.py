"""Request dependencies of the ledger service: who is calling, as stored users."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from services.ledger.accounts.models import User
from services.ledger.accounts.service import user_of
from shared.app import Session
from shared.auth import CurrentPrincipal, Principal, Role
from shared.clock import Today
from shared.errors import Forbidden
from shared.validation import Day


async def current_user(principal: CurrentPrincipal, session: Session) -> User:
    return await user_of(session, principal)


async def current_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role is not Role.admin:
        raise Forbidden("this action is for administrators (管理员)", code="admin_required")
    return user


async def current_reader(principal: CurrentPrincipal, session: Session) -> Principal:
    """Any signed-in user (checked against the directory) or another Huodian service."""
    if not principal.is_service:
        await user_of(session, principal)
    return principal


def as_of_day(
    as_of: Annotated[
        Day | None, Query(description="Judge state as of this Beijing date (默认今天)")
    ] = None,
    *,
    today: Today,
) -> date:
    return as_of or today


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
Reader = Annotated[Principal, Depends(current_reader)]
AsOf = Annotated[date, Depends(as_of_day)]
