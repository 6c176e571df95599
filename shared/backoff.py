"""Exponential backoff (指数退避): how long to wait before trying again after failures.

One rule for every retry loop in the services (intake's outbox and partner webhooks, notify's
delivery and channel probes): ``base × 2^(attempt − 1)``, capped at ``cap``.

>>> backoff(1, base=30, cap=3600)
datetime.timedelta(seconds=30)
>>> backoff(4, base=30, cap=3600)
datetime.timedelta(seconds=240)
>>> backoff(20, base=30, cap=3600)
datetime.timedelta(seconds=3600)

It is deterministic unless ``jitter`` is given, so tests can assert exact times. With
``jitter=0.2`` the wait is spread uniformly over ±20 % of the capped value (never above ``cap``),
so many clients that failed together do not all retry in the same second.
"""

from __future__ import annotations

import random
from datetime import timedelta

__all__ = ["backoff"]

_MAX_DOUBLINGS = 62
"""Beyond this many doublings any realistic base is past any realistic cap (and floats overflow)."""


def backoff(
    attempt: int,
    base: float,
    cap: float,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait after ``attempt`` failed tries (``attempt`` ≤ 1 waits ``base``), in seconds.

    ``jitter`` is a fraction in [0, 1]; ``rng`` (default: the module's random source) draws it.
    """
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter is a fraction between 0 and 1")
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    seconds = min(base * 2**doublings, cap)
    if jitter:
        draw = (rng or random).uniform(-jitter, jitter)
        seconds = min(seconds * (1 + draw), cap)
    return timedelta(seconds=seconds)
