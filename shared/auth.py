"""Authentication shared by the services: password hashing and signed bearer tokens.

Users sign in at the ledger service, which holds the account directory (账户); the token it
issues is an HS256 JWT signed with the common secret, so every service checks it locally. Services
call each other with short-lived service tokens signed with the same secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any
from uuid import uuid4

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.clock import clock_of
from shared.errors import Forbidden, Unauthorized
from shared.settings import ServiceName, Settings

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
SERVICE_TOKEN_TTL = timedelta(minutes=5)


class Role(StrEnum):
    """What a user may do.

    管理员 admin; 部门负责人 dept_head (updates the ledger items of their units); 查看者 viewer;
    受理人员 clerk (handles connection applications); 监管督办人员 supervisor (handles
    escalations, 督办); 调度人员 dispatcher (announces outages).
    """

    admin = "admin"
    dept_head = "dept_head"
    viewer = "viewer"
    clerk = "clerk"
    supervisor = "supervisor"
    dispatcher = "dispatcher"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a signed-in user or another Huodian service."""

    subject: str
    role: Role | None = None
    user_id: int | None = None
    token_version: int = 0
    # Names of the units the user is bound to, as of sign-in.
    units: tuple[str, ...] = ()
    service: ServiceName | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # When the token was issued (its ``iat``), as an aware UTC moment.
    issued_at: datetime | None = None
    # The name a person is shown by (姓名), as of sign-in; pages fall back to ``subject``.
    display_name: str = ""
    # The sign-in (会话) the token belongs to (its ``jti``): signing out revokes this one alone.
    # None for tokens issued before sign-ins had ids, and for service tokens.
    session_id: str | None = None
    # When the token expires (its ``exp``): a revoked sign-in need not be kept past it.
    expires_at: datetime | None = None

    @property
    def is_service(self) -> bool:
        return self.service is not None


def issue_user_token(
    settings: Settings,
    *,
    user_id: int,
    username: str,
    role: Role,
    token_version: int,
    now: datetime,
    units: tuple[str, ...] = (),
    display_name: str = "",
) -> str:
    claims: dict[str, Any] = {
        "sub": username,
        "name": display_name,
        "uid": user_id,
        "role": role.value,
        "ver": token_version,
        "units": list(units),
        "iat": now,
        "exp": now + timedelta(hours=settings.token_ttl_hours),
        "kind": "user",
        "jti": uuid4().hex,
    }
    return jwt.encode(claims, settings.signing_key(), algorithm=_ALGORITHM)


def issue_service_token(settings: Settings, service: ServiceName, now: datetime) -> str:
    claims = {
        "sub": f"service:{service}",
        "svc": service,
        "kind": "service",
        "iat": now,
        "exp": now + SERVICE_TOKEN_TTL,
    }
    return jwt.encode(claims, settings.signing_key(), algorithm=_ALGORITHM)


def decode_token(settings: Settings, token: str, now: datetime) -> Principal:
    """The principal a token names, if its signature holds and it has not expired at ``now``.

    Expiry is checked against the service's clock, not by PyJWT against the wall clock, and on
    every call; the signature of a token is checked once per process (:func:`_signed_principal`).
    """
    principal, expires = _signed_principal(settings.signing_key(), token)
    if expires <= now.timestamp():
        raise Unauthorized("The token has expired; sign in again.", code="token_expired")
    return principal


@lru_cache(maxsize=4096)
def _signed_principal(key: str, token: str) -> tuple[Principal, float]:
    """The principal of a token whose signature ``key`` verifies, and its expiry.

    A client sends the same token with every request, and PyJWT's decode was ~10 % of a
    request's CPU: the answer for a (key, token) pair never changes, so it is kept (bounded,
    least recently used first out; a new signing key is a new pair). A token that does not
    verify raises and is not kept. Revocation is not decided here: the token-version check
    runs on every request.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "sub", "kind"], "verify_exp": False, "verify_iat": False},
        )
        expires = float(claims["exp"])
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise Unauthorized("The bearer token is not valid.", code="invalid_token") from exc
    if claims["kind"] == "service":
        return Principal(subject=claims["sub"], service=claims["svc"]), expires
    try:
        principal = Principal(
            subject=str(claims["sub"]),
            role=Role(claims["role"]),
            user_id=int(claims["uid"]),
            token_version=int(claims.get("ver", 0)),
            units=tuple(str(u) for u in claims.get("units", ())),
            display_name=str(claims.get("name", "")),
            issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC)
            if "iat" in claims
            else None,
            session_id=str(claims["jti"]) if "jti" in claims else None,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise Unauthorized("The bearer token is not valid.", code="invalid_token") from exc
    return principal, expires


_bearer = HTTPBearer(auto_error=False, description="Bearer token from POST /auth/token")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 if there is no valid bearer token."""
    if credentials is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    return await check_token(request, credentials.credentials)


async def check_token(request: Request, token: str) -> Principal:
    """The principal of a bearer token or a browser's session cookie (shared.web.session): its
    signature and expiry, and at intake and notify, whether ledger still stands behind it
    (shared.revocation). Ledger checks its users against its own tables."""
    settings: Settings = request.app.state.settings
    principal = decode_token(settings, token, clock_of(request).now())
    versions = getattr(request.app.state, "token_versions", None)
    if versions is not None:
        await versions.check(principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def principal_with(
    *roles: Role, code: str, what: str, services: bool = False
) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller if their role is one of ``roles`` (or, with ``services``, if
    they are another Huodian service), else ``403 code`` naming ``what`` the action is for
    (``CurrentClerk = Annotated[Principal, Depends(principal_with(Role.clerk,
    code="clerk_required", what="clerks (受理人员)"))]``)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles and not (services and principal.is_service):
            raise Forbidden(f"this action is for {what}", code=code)
        return principal

    return check


# The one administrator check of every service (intake, notify; ledger loads the stored user
# after it, services.ledger.deps.CurrentAdmin).
CurrentAdmin = Annotated[
    Principal,
    Depends(principal_with(Role.admin, code="admin_required", what="administrators (管理员)")),
]
# An administrator or another Huodian service (the scheduler, intake, ledger): the operators of
# notify's API and the readers of ledger's directory.
CurrentOperator = Annotated[
    Principal,
    Depends(
        principal_with(
            Role.admin,
            services=True,
            code="admin_required",
            what="administrators or Huodian services",
        )
    ),
]


def require_service(principal: Principal, *allowed: ServiceName) -> None:
    if not principal.is_service or (allowed and principal.service not in allowed):
        raise Forbidden("Only a Huodian service may call this endpoint.", code="service_only")


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        names = ", ".join(r.value for r in roles)
        raise Forbidden(f"This action needs one of the roles: {names}.", code="role_required")
