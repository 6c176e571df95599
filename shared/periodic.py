"""A periodic background task (周期任务): the one loop every service's background work runs in.

``Periodic(name, tick, interval=…)`` runs ``tick`` after ``first_run`` seconds, then every
``interval`` seconds, started and stopped with the app's lifespan hooks:

* a tick that raises is logged (with its traceback) and tried again after
  :func:`shared.backoff.backoff` (``retry_base × 2^(n−1)``, capped at ``retry_cap``, both
  ``interval`` unless given); a tick that raises :class:`Retry` has logged why itself (an
  upstream not up yet) and is retried the same way without a traceback. The loop outlives
  every ``Exception``;
* a tick may return how many seconds to wait before the next one (``0``: at once, there is
  more to do); ``None`` waits ``interval``;
* :meth:`Periodic.wake` starts the next tick now; :meth:`Periodic.stop` ends a wait at once
  and waits for a tick under way to finish (so its outcome is recorded), cancelling it only
  after ``grace`` seconds.

Waits go through ``sleep`` (``asyncio.sleep`` unless a test passes its own), so tests step the
loop without real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.backoff import backoff

__all__ = ["Periodic", "Retry", "Sleep", "Tick"]

log = logging.getLogger("huodian.periodic")

Tick = Callable[[], Awaitable[float | None]]
Sleep = Callable[[float], Awaitable[None]]


class Retry(Exception):
    """Raised by a tick that did not succeed and has logged why: retried with backoff."""


class Periodic:
    """``tick`` every ``interval`` seconds in a background task of its own (see the module)."""

    def __init__(
        self,
        name: str,
        tick: Tick,
        *,
        interval: float,
        first_run: float = 0.0,
        retry_base: float | None = None,
        retry_cap: float | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if interval < 0 or first_run < 0:
            raise ValueError("interval and first_run must not be negative")
        self.name = name
        self._tick = tick
        self._interval = interval
        self._first_run = first_run
        self._retry_base = interval if retry_base is None else retry_base
        self._retry_cap = max(interval, self._retry_base) if retry_cap is None else retry_cap
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (no-op if it runs)."""
        if not self.running:
            self._stopping = False
            self._wake.clear()
            self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the next tick now instead of at the end of the current wait."""
        self._wake.set()

    async def stop(self, grace: float | None = 30.0) -> None:
        """End the loop: a wait ends at once, a tick under way may finish within ``grace``
        seconds (None: however long it takes), then it is cancelled."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("%s: the tick under way did not finish in %ss; cancelled", self.name, grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._task = None

    async def _run(self) -> None:
        wait = self._first_run
        failures = 0
        while True:
            await self._pause(wait)
            if self._stopping:
                return
            try:
                requested = await self._tick()
            except Retry:
                failures += 1
            except Exception:
                failures += 1
                log.exception("%s failed; trying again", self.name)
            else:
                failures = 0
                wait = self._interval if requested is None else requested
            if failures:
                wait = backoff(failures, self._retry_base, self._retry_cap).total_seconds()
            if self._stopping:
                return

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until woken (or stopped)."""
        if self._wake.is_set() or seconds <= 0:
            self._wake.clear()
            await asyncio.sleep(0)  # let other tasks run between back-to-back ticks
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (sleeper, waker):
                waiting.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        self._wake.clear()
