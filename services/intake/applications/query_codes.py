"""The applicant's query code (查询码): stored so that a database reader cannot recover it, and
not to be guessed: tries are limited per application number and per client address, counted
across processes (``shared.ratelimit``).

*At rest.* A code is 8 characters of a 31-letter alphabet (about 2^40): a plain hash of it
would fall to an offline search in minutes. What is stored is an HMAC-SHA256, keyed from the
keyring outside the database (``shared.keyring``, use ``query-code``), of the SHA-256 of
number and code, with the id of the key: ``k1.<hex>``. The inner SHA-256 is the form codes
were stored in before, so the migration that keyed them (``0012``) wrapped the stored hashes
and every code given out earlier still works. A rotated keyring keeps old keys: stored values
name theirs.

*Guessing.* A wrong code or an unknown number is the same ``404 application_not_found``; the
tenth wrong try on one number in 15 minutes locks that number for the rest of the window, and
one address may make at most 60 wrong tries a minute, whatever the numbers (``429
rate_limited`` with ``Retry-After``). Every try is counted before the code is checked (one
upsert that returns the new count, so parallel tries cannot slip past the limit) and a right
one is given back before the request writes anything.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from fastapi import Request
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application
from services.intake.schema import rate_limits
from shared.errors import NotFound
from shared.keyring import Keyring, Signature
from shared.ratelimit import Limit, claim, client_address, refuse, release

PER_NUMBER = Limit("query-code-number", 10, timedelta(minutes=15))
PER_ADDRESS = Limit("query-code-address", 60, timedelta(minutes=1))
PURPOSE = "query-code"


def legacy_hash(number: str, code: str) -> str:
    """SHA-256 of number and code: how codes were stored before they were keyed."""
    return hashlib.sha256(f"{number}:{code}".encode()).hexdigest()


def keyed(keyring: Keyring, legacy: str) -> str:
    """The stored form of a code whose :func:`legacy_hash` is ``legacy``: ``<key id>.<hmac>``."""
    signature = keyring.sign(PURPOSE, legacy.encode())
    return f"{signature.key_id}.{signature.digest}"


def query_code_digest(keyring: Keyring, number: str, code: str) -> str:
    """What is stored for the query code ``code`` of application ``number``."""
    return keyed(keyring, legacy_hash(number, code))


def query_code_matches(keyring: Keyring, stored: str, number: str, code: str) -> bool:
    key_id, _, digest = stored.partition(".")
    return keyring.verify(
        PURPOSE, legacy_hash(number, code.strip().upper()).encode(), Signature(key_id, digest)
    )


async def _matching(session: AsyncSession, keyring: Keyring, number: str, code: str) -> Application:
    application = (
        await session.exec(select(Application).where(col(Application.number) == number))
    ).first()
    # An unknown number costs the same HMAC as a known one.
    stored = application.query_code_hash if application else query_code_digest(keyring, "", "")
    if not query_code_matches(keyring, stored, number, code) or application is None:
        raise NotFound(
            "no application matches this number and query code", code="application_not_found"
        )
    return application


async def applicant_application(
    request: Request, session: AsyncSession, number: str, code: str, now: datetime
) -> Application:
    """The application if ``code`` is its query code and the limits allow another try; a wrong
    code counts against the number and the address (the same 404 as an unknown number)."""
    engine = request.app.state.engine
    keyring = request.app.state.settings.keyring()
    checks = ((PER_ADDRESS, client_address(request)), (PER_NUMBER, number))
    used_up = await claim(engine, rate_limits, now, *checks)
    if used_up is not None:
        raise refuse(used_up, now, "too many wrong query codes; wait before trying again")
    application = await _matching(session, keyring, number, code)
    # Given back before the request writes anything (on SQLite the request's own write lock
    # would otherwise stand in the way).
    await release(engine, rate_limits, now, *checks)
    return application
