"""Signing in (登录), guarded against guessing: rate limits per account and per client address,
the same work for known and unknown usernames, and password hashing off the event loop.

- Per client address: at most 30 sign-in attempts a minute.
- Per account: after 5 wrong passwords in 15 minutes the account is locked until the window
  ends, also for the right password. Each try is counted *before* the password is checked
  (one atomic upsert that returns the new count) and given back if the password was right, so
  parallel wrong tries cannot slip past the count (``429 rate_limited``, ``Retry-After``). An
  unknown username is counted and locked the same way, so the answers never tell which
  names exist.
- argon2 runs in a worker thread, and an unknown username is checked against a dummy hash, so
  a known and an unknown name take the same time and the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.models import User
from services.ledger.accounts.service import get_user_by_name
from services.ledger.schema import rate_limits
from shared.auth import hash_password, verify_password
from shared.errors import Unauthorized
from shared.ratelimit import Limit, claim, hit, refuse, release

PER_ADDRESS = Limit("login-address", 30, timedelta(minutes=1))
PER_ACCOUNT = Limit("login-account", 5, timedelta(minutes=15))


@cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so that both cases cost one argon2 verification
    (made on first use: argon2 is slow on purpose, and importing the module should not be)."""
    return hash_password("not a password anybody has")


async def sign_in(
    engine: AsyncEngine,
    session: AsyncSession,
    username: str,
    password: str,
    *,
    address: str,
    now: datetime,
) -> User:
    """The user if the password is right and no limit is reached; 401 or 429 otherwise."""
    (attempts,) = await hit(engine, rate_limits, now, (PER_ADDRESS, address))
    if attempts > PER_ADDRESS.limit:
        raise refuse(PER_ADDRESS, now, "too many sign-in attempts from this address; wait")
    account = username.strip().lower()
    # The try is taken before the password is checked, in one statement that records it and
    # reads the new count: concurrent wrong passwords get exactly PER_ACCOUNT.limit chances.
    if await claim(engine, rate_limits, now, (PER_ACCOUNT, account)):
        raise refuse(PER_ACCOUNT, now, "too many wrong passwords for this account; wait")
    user = await get_user_by_name(session, username)
    stored = user.password_hash if user is not None else _dummy_hash()
    right = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not user.is_active or not right:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    await release(engine, rate_limits, now, (PER_ACCOUNT, account))
    return user
