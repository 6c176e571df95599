"""Request dependencies of the ledger service: who is calling, as stored users."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from services.ledger.accounts.models import User
from services.ledger.accounts.service import user_of
from shared import auth
from shared.app import Session
from shared.auth import CurrentOperator as CurrentOperator  # re-exported
from shared.auth import CurrentPrincipal, Principal
from shared.clock import Today
from shared.validation import Day


async def current_user(principal: CurrentPrincipal, session: Session) -> User:
    return await user_of(session, principal)


async def current_admin(
    user: Annotated[User, Depends(current_user)], _admin: auth.CurrentAdmin
) -> User:
    """An administrator, as the stored user: the token is checked against the directory first
    (401), then its role (403 ``admin_required``, :data:`shared.auth.CurrentAdmin`). A token's
    role is the user's: a valid token's version is the stored one."""
    return user


async def current_reader(principal: CurrentPrincipal, session: Session) -> Principal:
    """Any signed-in user (checked against the directory) or another Huodian service."""
    if not principal.is_service:
        await user_of(session, principal)
    return principal


async def as_of_day(
    as_of: Annotated[
        Day | None, Query(description="Judge state as of this Beijing date (默认今天)")
    ] = None,
    *,
    today: Today,
) -> date:
    return as_of or today


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
CurrentReader = Annotated[Principal, Depends(current_reader)]
AsOf = Annotated[date, Depends(as_of_day)]
