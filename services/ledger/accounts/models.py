"""User accounts (账户) for every Huodian service, and the units a department head answers for."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, StringConstraints
from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from services.ledger.db import LedgerTable
from services.ledger.ledgers.models import UnitPublic
from shared.auth import Role
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime


class User(LedgerTable, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254)
    role: Role = Field(sa_column=enum_column(Role))
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    # Bumped on a password change so that tokens issued before it stop working.
    token_version: int = 0
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))


class RevokedSession(LedgerTable, table=True):
    """A sign-in (会话) ended by signing out (退出登录): its token's ``jti``, kept until the token
    would have expired anyway, and published to intake and notify (shared.revocation)."""

    __tablename__ = "revoked_sessions"
    session_id: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(foreign_key="users.id", index=True)
    expires_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class UserUnit(LedgerTable, table=True):
    """A department head (部门负责人) answers for these units."""

    __tablename__ = "user_units"
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    unit_id: int = Field(foreign_key="units.id", primary_key=True, index=True)


class UserCreate(SQLModel):
    username: Annotated[
        str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    ]
    display_name: str = Field(min_length=1, max_length=100)
    email: EmailStr | None = None
    role: Role
    password: str = Field(min_length=8, max_length=128)
    units: list[str] = Field(default=[], description="Unit names (责任单位) for a department head")


class UserUpdate(SQLModel):
    """Fields left out stay as they are; ``units`` replaces the whole list."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = None
    is_active: bool | None = None
    units: list[str] | None = None


class UserPublic(SQLModel):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    is_active: bool
    units: list[UnitPublic]


class PasswordChange(SQLModel):
    password: str = Field(min_length=8, max_length=128)


class TokenRequest(SQLModel):
    username: str
    password: str


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
