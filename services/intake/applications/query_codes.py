"""The applicant's query code (查询码) cannot be guessed: tries are limited per application
number and per client address, counted across processes (``shared.ratelimit``).

A wrong code or an unknown number is the same ``404 application_not_found``; the tenth wrong
try on one number in 15 minutes locks that number for the rest of the window, and one address
may make at most 60 wrong tries a minute, whatever the numbers (``429 rate_limited`` with
``Retry-After``). Only wrong tries are written: a right query costs one indexed read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from fastapi import Request

from services.intake.schema import rate_limits
from shared.errors import NotFound
from shared.ratelimit import Limit, client_address, hit, reached, refuse

PER_NUMBER = Limit("query-code-number", 10, timedelta(minutes=15))
PER_ADDRESS = Limit("query-code-address", 60, timedelta(minutes=1))

T = TypeVar("T")


async def with_query_code(
    request: Request, number: str, now: datetime, answer: Callable[[], Awaitable[T]]
) -> T:
    """``answer()`` if the limits allow another try; a wrong code counts against the number
    and the address."""
    engine = request.app.state.engine
    checks = ((PER_ADDRESS, client_address(request)), (PER_NUMBER, number))
    used_up = await reached(engine, rate_limits, now, *checks)
    if used_up is not None:
        raise refuse(used_up, now, "too many wrong query codes; wait before trying again")
    try:
        return await answer()
    except NotFound as exc:
        if exc.code == "application_not_found":
            await hit(engine, rate_limits, now, *checks)
        raise
