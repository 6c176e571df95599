"""The one clock (时钟): every service reads "now" here, and nowhere else.

Routes take ``Now`` (the moment the request is served, the same for the whole request) or
``Today`` (its Beijing date); services, workers and jobs take ``now`` or a :class:`Clock` as an
argument. The app's clock is ``app.state.clock``, a :class:`SystemClock` unless one is given to
``create_service_app``. Tests freeze time with ``time-machine`` (which the system clock obeys)
or hand a :class:`FixedClock` to the code under test.

A test in ``tests/shared/test_clock.py`` fails on any other read of the wall clock in
``shared/`` and ``services/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request

from shared.calendar import beijing_date

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "FixedClock",
    "Now",
    "SystemClock",
    "Today",
    "clock_of",
    "epoch_seconds",
]


class Clock(Protocol):
    """Where "now" comes from: an aware UTC moment."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock: the only place that reads it."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


@dataclass
class FixedClock:
    """A clock that stands still until moved: for tests, replays and benchmarks."""

    moment: datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("a clock keeps aware moments; give the time zone")
        self.moment = self.moment.astimezone(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> datetime:
        self.moment += delta
        return self.moment


def today(clock: Clock) -> date:
    """The Beijing date (北京时间日期) of the clock's now."""
    return beijing_date(clock.now())


def epoch_seconds(clock: Clock) -> int:
    """Whole seconds since the Unix epoch, for signatures and protocol timestamps."""
    return int(clock.now().timestamp())


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def _request_now(request: Request) -> datetime:
    # FastAPI caches a dependency per request, so every part of one request sees one moment.
    return clock_of(request).now()


async def _request_today(now: Annotated[datetime, Depends(_request_now)]) -> date:
    return beijing_date(now)


Now = Annotated[datetime, Depends(_request_now)]
Today = Annotated[date, Depends(_request_today)]
