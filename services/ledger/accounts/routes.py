"""Sign-in and user administration (登录与用户管理)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from services.ledger.accounts import login, service
from services.ledger.accounts.models import (
    PasswordChange,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from services.ledger.deps import CurrentAdmin, CurrentOperator, CurrentReader, CurrentUser
from shared.app import Session, SettingsDep
from shared.auth import CurrentPrincipal, Role, require_service
from shared.clock import Now
from shared.errors import Forbidden, Problem
from shared.ratelimit import client_address
from shared.revocation import TOKEN_VERSIONS_PATH, TokenVersionList

router = APIRouter(tags=["accounts"])


@router.post(
    "/auth/token",
    summary="Sign in for a bearer token (登录获取令牌)",
    responses={429: {"model": Problem, "description": "Too many attempts (尝试过多)"}},
)
async def sign_in(
    body: TokenRequest, session: Session, request: Request, now: Now, settings: SettingsDep
) -> TokenResponse:
    user = await login.sign_in(
        request.app.state.engine,
        session,
        body.username,
        body.password,
        address=client_address(request),
        now=now,
    )
    assert user.id is not None
    token = await service.token_for(session, settings, user, now=now)
    return TokenResponse(access_token=token, expires_in=settings.token_ttl_hours * 3600)


@router.get("/users/me", summary="The signed-in user (当前用户)")
async def me(user: CurrentUser, session: Session) -> UserPublic:
    return await service.to_public(session, user)


@router.get("/users", summary="All users (用户列表)")
async def list_users(_admin: CurrentAdmin, session: Session) -> list[UserPublic]:
    return await service.users_public(session, await service.list_users(session))


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Create a user (新建用户)")
async def create_user(
    body: UserCreate, _admin: CurrentAdmin, session: Session, now: Now
) -> UserPublic:
    return await service.to_public(session, await service.create_user(session, body, now=now))


@router.patch("/users/{username}", summary="Change a user: name, email, units, active (修改用户)")
async def update_user(
    username: str, body: UserUpdate, _admin: CurrentAdmin, session: Session
) -> UserPublic:
    return await service.to_public(session, await service.update_user(session, username, body))


@router.put("/users/{username}/password", summary="Set a password (修改密码)")
async def set_password(
    username: str, body: PasswordChange, user: CurrentUser, session: Session
) -> UserPublic:
    if user.role is not Role.admin and user.username != username:
        raise Forbidden("you may only change your own password", code="not_your_account")
    return await service.to_public(
        session, await service.set_password(session, username, body.password)
    )


@router.get(
    "/directory/contacts",
    summary="Active users by unit and role, for other services (通讯录)",
)
async def contacts(
    _reader: CurrentReader,
    _operator: CurrentOperator,
    session: Session,
    unit: str | None = None,
    role: Role | None = None,
) -> list[UserPublic]:
    """Checked against the directory first (401 for a revoked token), then the role (403)."""
    return await service.directory(session, unit=unit, role=role)


@router.get(
    TOKEN_VERSIONS_PATH,
    summary="The token version of every active user, for other services (有效登录版本)",
)
async def token_versions(
    principal: CurrentPrincipal, session: Session, now: Now
) -> TokenVersionList:
    require_service(principal)
    return await service.token_versions(session, now=now)
