"""Accounts: creating users, signing in, and who may update which item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.models import (
    RevokedSession,
    User,
    UserCreate,
    UserPublic,
    UserUnit,
    UserUpdate,
)
from services.ledger.ledgers.models import ItemUnit, Unit, UnitPublic
from shared import units
from shared.auth import Principal, Role, hash_password, issue_user_token
from shared.db import insert_ignore
from shared.errors import Conflict, NotFound, Unauthorized, Unprocessable
from shared.revocation import TokenVersion, TokenVersionList
from shared.settings import Settings


async def get_user_by_name(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(col(User.username) == username))).first()


async def _units_of(session: AsyncSession, user_id: int) -> list[Unit]:
    rows = await session.exec(
        select(Unit)
        .join(UserUnit, col(UserUnit.unit_id) == col(Unit.id))
        .where(col(UserUnit.user_id) == user_id)
        .order_by(col(Unit.name))
    )
    return list(rows.all())


async def unit_ids_of(session: AsyncSession, user_id: int) -> set[int]:
    """The units the user answers for: those bound to them and every unit below those."""
    covered = units.covered(u.name for u in await _units_of(session, user_id))
    rows = await session.exec(select(Unit.id).where(col(Unit.name).in_(covered)))
    return {i for i in rows.all() if i is not None}


async def users_public(session: AsyncSession, users: Sequence[User]) -> list[UserPublic]:
    """Users as the API shows them, with their units read in one query for all of them."""
    ids = [u.id for u in users if u.id is not None]
    units: dict[int, list[UnitPublic]] = {i: [] for i in ids}
    if ids:
        rows = await session.exec(
            select(UserUnit.user_id, Unit)
            .join(Unit, col(Unit.id) == col(UserUnit.unit_id))
            .where(col(UserUnit.user_id).in_(ids))
            .order_by(col(Unit.name))
        )
        for user_id, unit in rows:
            if unit.id is not None:
                units[user_id].append(UnitPublic(id=unit.id, name=unit.name))
    return [
        UserPublic(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            email=u.email,
            role=u.role,
            is_active=u.is_active,
            units=units[u.id],
        )
        for u in users
        if u.id is not None
    ]


async def to_public(session: AsyncSession, user: User) -> UserPublic:
    (public,) = await users_public(session, [user])
    return public


async def create_user(
    session: AsyncSession, data: UserCreate, *, now: datetime, password_hash: str | None = None
) -> User:
    """Create a user; a department head must be bound to at least one existing unit.

    ``password_hash`` lets a caller that already hashed ``data.password`` skip hashing again.
    """
    if await get_user_by_name(session, data.username) is not None:
        raise Conflict(f"user '{data.username}' already exists", code="user_exists")
    _check_units(data.role, data.units)
    units = await _units_named(session, data.units)
    if password_hash is None:
        password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=str(data.email) if data.email else None,
        role=data.role,
        password_hash=password_hash,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    for unit in units:
        assert unit.id is not None
        session.add(UserUnit(user_id=user.id, unit_id=unit.id))
    await session.flush()
    return user


# Roles that act for units: a department head must have one; clerks, supervisors and
# dispatchers may (their applications, escalations or outages are then their units').
_UNIT_ROLES = (Role.dept_head, Role.clerk, Role.supervisor, Role.dispatcher)


def _check_units(role: Role, units: Sequence[str]) -> None:
    if role is Role.dept_head and not units:
        raise Unprocessable(
            "a department head must be bound to at least one unit", code="units_required"
        )
    if role not in _UNIT_ROLES and units:
        raise Unprocessable(f"a {role.value} is not bound to units", code="units_not_allowed")


async def update_user(session: AsyncSession, username: str, data: UserUpdate) -> User:
    user = await get_user_by_name(session, username)
    if user is None:
        raise NotFound(f"user '{username}' does not exist", code="user_not_found")
    assert user.id is not None
    if data.display_name is not None:
        user.display_name = data.display_name
    if "email" in data.model_fields_set:
        user.email = str(data.email) if data.email else None
    if data.is_active is not None:
        user.is_active = data.is_active
    if data.units is not None:
        _check_units(user.role, data.units)
        units = await _units_named(session, data.units)
        await session.exec(delete(UserUnit).where(col(UserUnit.user_id) == user.id))
        session.add_all([UserUnit(user_id=user.id, unit_id=u.id) for u in units if u.id])
        # Tokens carry the unit names: make the holder sign in again to pick up the change.
        user.token_version += 1
    session.add(user)
    await session.flush()
    return user


async def token_for(session: AsyncSession, settings: Settings, user: User, *, now: datetime) -> str:
    """A bearer token for ``user``, naming the units they answer for."""
    assert user.id is not None
    units = tuple(u.name for u in await _units_of(session, user.id))
    return issue_user_token(
        settings,
        user_id=user.id,
        username=user.username,
        role=user.role,
        token_version=user.token_version,
        now=now,
        units=units,
        display_name=user.display_name,
    )


async def _units_named(session: AsyncSession, names: Sequence[str]) -> list[Unit]:
    """The units a user is bound to: units a ledger names, or units of the hierarchy
    (``shared/units.json``, stored on first use); any other name is ``422 unknown_unit``."""
    wanted = list(dict.fromkeys(units.canonical(n) or n for n in names))
    found = {u.name: u for u in await session.exec(select(Unit).where(col(Unit.name).in_(wanted)))}
    missing = [n for n in wanted if n not in found and units.canonical(n) is None]
    if missing:
        raise Unprocessable(
            f"unknown unit(s): {', '.join(missing)}; name a unit of a loaded ledger "
            "or of the unit hierarchy (shared/units.json)",
            code="unknown_unit",
        )
    for name in wanted:
        if name not in found:
            found[name] = Unit(name=name)
            session.add(found[name])
    await session.flush()
    return [found[n] for n in wanted]


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.exec(select(User).order_by(col(User.username)))).all())


async def set_password(session: AsyncSession, username: str, password: str) -> User:
    if len(password) < 8:
        raise Unprocessable("a password has at least 8 characters", code="password_too_short")
    user = await get_user_by_name(session, username)
    if user is None:
        raise NotFound(f"user '{username}' does not exist", code="user_not_found")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.token_version += 1
    session.add(user)
    await session.flush()
    return user


async def sign_out(session: AsyncSession, principal: Principal, *, now: datetime) -> None:
    """End the sign-in a person signs out with (退出登录), here at once and at intake and notify
    within ``token_versions_max_age_seconds`` (shared.revocation): its session id (``jti``) is
    kept as revoked until the token expires; the account's other sign-ins go on. A token from
    before sign-ins had ids can only be ended with all of them (:func:`sign_out_everywhere`)."""
    user = await user_of(session, principal)
    if principal.session_id is None or principal.expires_at is None:
        await sign_out_everywhere(session, principal)
        return
    assert user.id is not None
    # The revoked sign-ins past their expiry are refused by it alone: no need to keep them.
    await session.exec(delete(RevokedSession).where(col(RevokedSession.expires_at) <= now))
    # Skipped when it is there already: a double click on 退出 sends two sign-outs at once.
    await session.exec(
        insert_ignore(RevokedSession, session.get_bind().dialect, conflict=["session_id"]).values(
            session_id=principal.session_id, user_id=user.id, expires_at=principal.expires_at
        )
    )


async def sign_out_everywhere(session: AsyncSession, principal: Principal) -> None:
    """End every sign-in of the account (退出所有设备): its token version moves on, as on a
    password change, so every token issued before is refused."""
    user = await user_of(session, principal)
    user.token_version += 1
    session.add(user)
    await session.flush()


async def user_of(session: AsyncSession, principal: Principal) -> User:
    """The stored user behind a token; tokens of disabled users, old passwords or sign-ins
    ended are refused."""
    if principal.user_id is None:
        raise Unauthorized("this endpoint needs a signed-in user", code="user_required")
    user = await session.get(User, principal.user_id)
    if (
        user is None
        or not user.is_active
        or user.token_version != principal.token_version
        or (
            principal.session_id is not None
            and await session.get(RevokedSession, principal.session_id) is not None
        )
    ):
        raise Unauthorized("the token is no longer valid; sign in again", code="token_revoked")
    return user


async def responsible_unit_for(session: AsyncSession, user: User, item_id: int) -> int | None:
    """The unit through which ``user`` answers for the item, if any (lead units first): one
    bound to them, or below one (a head of 各供电企业 answers for 国网东营供电公司's items)."""
    assert user.id is not None
    answered = await unit_ids_of(session, user.id)
    rows = await session.exec(
        select(ItemUnit.unit_id)
        .where(col(ItemUnit.item_id) == item_id, col(ItemUnit.unit_id).in_(answered))
        .order_by(col(ItemUnit.role), col(ItemUnit.position))
    )
    return rows.first()


async def directory(
    session: AsyncSession, *, unit: str | None = None, role: Role | None = None
) -> list[UserPublic]:
    """Active users, optionally only those of a unit and a role: whom other services address."""
    query = select(User).where(col(User.is_active))
    if role is not None:
        query = query.where(col(User.role) == role)
    if unit is not None:
        query = query.where(
            col(User.id).in_(
                select(UserUnit.user_id)
                .join(Unit, col(Unit.id) == col(UserUnit.unit_id))
                .where(col(Unit.name) == unit)
            )
        )
    users = (await session.exec(query.order_by(col(User.username)))).all()
    return await users_public(session, users)


async def reachable_people(
    session: AsyncSession, names: set[str], roles: Sequence[Role]
) -> dict[tuple[str, Role], list[User]]:
    """Whom a message for ``names`` may reach: the active users of ``roles`` with an email bound
    to those units or to any unit above them (a unit with nobody goes up, :func:`units.nearest`),
    by (unit, role), each list by username."""
    looked_up = {up for name in names for up in units.lineage(name)}
    people: dict[tuple[str, Role], list[User]] = {}
    if not looked_up or not roles:
        return people
    found = await session.exec(
        select(Unit.name, User)
        .join(UserUnit, col(UserUnit.unit_id) == col(Unit.id))
        .join(User, col(User.id) == col(UserUnit.user_id))
        .where(
            col(Unit.name).in_(looked_up),
            col(User.is_active),
            col(User.role).in_([r.value for r in roles]),
            col(User.email).is_not(None),
        )
        .order_by(col(User.username))
    )
    for name, user in found:
        people.setdefault((name, user.role), []).append(user)
    return people


async def token_versions(session: AsyncSession, *, now: datetime) -> TokenVersionList:
    """The token version of every active user and the sign-ins ended that have not expired at
    ``now``: what intake and notify check tokens against."""
    rows = await session.exec(
        select(User.id, User.token_version).where(col(User.is_active)).order_by(col(User.id))
    )
    ended = await session.exec(
        select(RevokedSession.session_id)
        .where(col(RevokedSession.expires_at) > now)
        .order_by(col(RevokedSession.session_id))
    )
    return TokenVersionList(
        users=[TokenVersion(id=i, version=v) for i, v in rows.all() if i],
        revoked_sessions=list(ended.all()),
    )
