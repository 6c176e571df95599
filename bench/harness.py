"""The benchmark harness: each case runs against its own baseline in the same process and run.

A :class:`Case` pairs a *subject* (the code under test) with a *baseline* (the plain or raw way
to do the same work, e.g. a ``bisect`` loop, or the indexed SQL run directly). The harness runs
them interleaved — baseline, subject, baseline, subject … for ``rounds`` rounds — so that a
noisy neighbour on a shared machine slows both alike, takes the median of each, and compares
the ratio subject/baseline with the case's target (and the subject's median with an absolute
bound, where the case has one). Callables may be coroutine functions; they are awaited inside
the timing; one that returns :class:`Measured` reports its own figure. Timings are reported,
never asserted by the test suite.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Body = Callable[[], Any | Awaitable[Any]]


@dataclass(frozen=True)
class Measured:
    """What a body returns when its figure is not its own wall time (an HTTP load run reports
    seconds per request, or its p99 latency): the harness takes ``seconds`` instead."""

    seconds: float


@dataclass(frozen=True)
class Case:
    """One benchmark: ``subject`` against ``baseline`` over ``rows`` rows.

    ``max_ratio``: the subject's median must be at most this × the baseline's; ``max_seconds``:
    the subject's median must be below this. A case without a baseline has only the bound.
    ``reset`` runs untimed before every call (e.g. to roll back what the previous call wrote).
    """

    name: str
    subject: Body
    rows: int
    baseline: Body | None = None
    max_ratio: float | None = None
    max_seconds: float | None = None
    rounds: int = 5
    reset: Body | None = None
    note: str = ""
    # Query plans worth keeping with the figures (EXPLAIN ANALYZE output), by title.
    plans: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_ratio is None and self.max_seconds is None:
            raise ValueError(f"case {self.name!r} has neither a ratio target nor a bound")
        if self.max_ratio is not None and self.baseline is None:
            raise ValueError(f"case {self.name!r} has a ratio target but no baseline")


@dataclass
class Result:
    """What one case measured (seconds) and its verdict: "pass", "FAIL" or "skipped: …"."""

    name: str
    rows: int
    verdict: str
    baseline_s: float | None = None
    subject_s: float | None = None
    ratio: float | None = None
    max_ratio: float | None = None
    max_seconds: float | None = None
    rounds: int = 0
    baseline_runs: list[float] = field(default_factory=list)
    subject_runs: list[float] = field(default_factory=list)
    note: str = ""
    plans: dict[str, list[str]] = field(default_factory=dict)

    @property
    def target(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g}×")
        if self.max_seconds is not None:
            parts.append(f"< {_seconds(self.max_seconds)}")
        return ", ".join(parts)


def skipped(name: str, reason: str) -> Result:
    return Result(name=name, rows=0, verdict=f"skipped: {reason}")


async def _timed(body: Body, reset: Body | None) -> float:
    if reset is not None:
        await _call(reset)
    t0 = time.perf_counter()
    outcome = await _call(body)
    elapsed = time.perf_counter() - t0
    return outcome.seconds if isinstance(outcome, Measured) else elapsed


async def _call(body: Body) -> Any:
    outcome = body()
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return outcome


async def measure(case: Case) -> Result:
    """Run ``case`` interleaved for its rounds and judge the medians."""
    baseline_runs: list[float] = []
    subject_runs: list[float] = []
    for _ in range(case.rounds):
        if case.baseline is not None:
            baseline_runs.append(await _timed(case.baseline, case.reset))
        subject_runs.append(await _timed(case.subject, case.reset))
    subject_s = statistics.median(subject_runs)
    baseline_s = statistics.median(baseline_runs) if baseline_runs else None
    ratio = subject_s / baseline_s if baseline_s else None
    ok = (case.max_ratio is None or (ratio is not None and ratio <= case.max_ratio)) and (
        case.max_seconds is None or subject_s < case.max_seconds
    )
    return Result(
        name=case.name,
        rows=case.rows,
        verdict="pass" if ok else "FAIL",
        baseline_s=baseline_s,
        subject_s=subject_s,
        ratio=ratio,
        max_ratio=case.max_ratio,
        max_seconds=case.max_seconds,
        rounds=case.rounds,
        baseline_runs=baseline_runs,
        subject_runs=subject_runs,
        note=case.note,
        plans=case.plans,
    )


def _seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def table(results: list[Result]) -> str:
    """One Markdown table of every case: case, rows, baseline, subject, ratio, target, verdict."""
    lines = [
        "| case | rows | baseline | subject | ratio | target | verdict |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "–"
        rows = f"{r.rows:,}" if r.rows else "–"
        lines.append(
            f"| {r.name} | {rows} | {_seconds(r.baseline_s)} | {_seconds(r.subject_s)} "
            f"| {ratio} | {r.target} | {r.verdict} |"
        )
    return "\n".join(lines)
