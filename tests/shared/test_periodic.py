"""``shared.periodic.Periodic``: stepped with a fake sleep that returns only when the test lets
it, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.periodic import Periodic, Retry


class FakeSleep:
    """A ``sleep`` that records each wait and returns when the test calls :meth:`release`."""

    def __init__(self) -> None:
        self.waits: asyncio.Queue[float] = asyncio.Queue()
        self._done: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        await self.waits.put(seconds)
        await self._done.get()

    async def next(self) -> float:
        """The next wait the loop starts (within 5 s, or the test fails)."""
        return await asyncio.wait_for(self.waits.get(), 5)

    def release(self) -> None:
        self._done.put_nowait(None)


class Ticks:
    """A tick that counts its calls and does what the test scripts for each."""

    def __init__(self, *script: object) -> None:
        self.calls = 0
        self._script = list(script)

    async def __call__(self) -> float | None:
        self.calls += 1
        step = self._script.pop(0) if self._script else None
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[return-value]


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class TestTicks:
    async def test_first_run_then_every_interval(self) -> None:
        sleep, tick = FakeSleep(), Ticks()
        job = Periodic("job", tick, interval=60, first_run=2, sleep=sleep)
        job.start()
        assert await sleep.next() == 2
        assert tick.calls == 0
        for expected_calls in (1, 2, 3):
            sleep.release()
            assert await sleep.next() == 60
            assert tick.calls == expected_calls
        await job.stop()
        assert not job.running

    async def test_no_first_wait_runs_at_once(self) -> None:
        sleep, tick = FakeSleep(), Ticks()
        job = Periodic("job", tick, interval=5, sleep=sleep)
        job.start()
        assert await sleep.next() == 5
        assert tick.calls == 1
        await job.stop()

    async def test_a_tick_may_ask_for_the_next_wait(self) -> None:
        sleep, tick = FakeSleep(), Ticks(0, 0, 7)  # more to do twice, then a wait of its own
        job = Periodic("job", tick, interval=60, sleep=sleep)
        job.start()
        assert await sleep.next() == 7
        assert tick.calls == 3
        sleep.release()
        assert await sleep.next() == 60
        await job.stop()

    async def test_wake_runs_the_next_tick_now(self) -> None:
        sleep, tick = FakeSleep(), Ticks()
        job = Periodic("job", tick, interval=3600, sleep=sleep)
        job.start()
        assert await sleep.next() == 3600
        job.wake()  # the sleep is never released
        assert await sleep.next() == 3600
        assert tick.calls == 2
        await job.stop()


class TestErrors:
    async def test_an_error_is_logged_and_retried_with_backoff(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        boom = RuntimeError("database down")
        sleep, tick = FakeSleep(), Ticks(boom, boom, boom, boom, None)
        job = Periodic("job", tick, interval=60, retry_base=5, retry_cap=30, sleep=sleep)
        with caplog.at_level(logging.ERROR, logger="huodian.periodic"):
            job.start()
            waits = [await sleep.next()]
            for _ in range(4):
                sleep.release()
                waits.append(await sleep.next())
        assert waits == [5, 10, 20, 30, 60]  # doubling, capped; back to the interval
        assert tick.calls == 5
        failed = [r for r in caplog.records if r.message == "job failed; trying again"]
        assert len(failed) == 4
        assert all(r.exc_info and r.exc_info[1] is boom for r in failed)
        await job.stop()

    async def test_retry_backs_off_without_a_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        sleep, tick = FakeSleep(), Ticks(Retry(), Retry())
        job = Periodic("job", tick, interval=600, retry_base=2, sleep=sleep)
        with caplog.at_level(logging.DEBUG, logger="huodian.periodic"):
            job.start()
            assert await sleep.next() == 2
            sleep.release()
            assert await sleep.next() == 4
            sleep.release()
            assert await sleep.next() == 600
        assert caplog.records == []
        await job.stop()

    async def test_retries_wait_the_interval_unless_told(self) -> None:
        sleep, tick = FakeSleep(), Ticks(ValueError("x"), ValueError("y"))
        job = Periodic("job", tick, interval=9, sleep=sleep)
        job.start()
        assert [await sleep.next(), (sleep.release(), await sleep.next())[1]] == [9, 9]
        await job.stop()


class TestStop:
    async def test_stop_ends_a_wait_at_once(self) -> None:
        sleep = FakeSleep()
        job = Periodic("job", Ticks(), interval=3600, sleep=sleep)
        job.start()
        await sleep.next()
        await asyncio.wait_for(job.stop(), 5)  # the sleep is never released
        assert not job.running

    async def test_stop_with_real_sleep_is_prompt(self) -> None:
        job = Periodic("job", Ticks(), interval=3600)
        job.start()
        await _settle()
        await asyncio.wait_for(job.stop(), 5)
        assert not job.running

    async def test_stop_waits_for_the_tick_under_way(self) -> None:
        started, finish = asyncio.Event(), asyncio.Event()
        finished: list[bool] = []

        async def tick() -> None:
            started.set()
            await finish.wait()
            finished.append(True)

        job = Periodic("job", tick, interval=60, sleep=FakeSleep())
        job.start()
        await asyncio.wait_for(started.wait(), 5)
        stopping = asyncio.create_task(job.stop())
        await _settle()
        assert not stopping.done()  # waiting for the tick, not cancelling it
        finish.set()
        await asyncio.wait_for(stopping, 5)
        assert finished == [True]
        assert not job.running

    async def test_a_tick_past_the_grace_is_cancelled(self) -> None:
        cancelled: list[bool] = []

        async def tick() -> None:
            try:
                await asyncio.Event().wait()  # never ends by itself
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        job = Periodic("job", tick, interval=60, sleep=FakeSleep())
        job.start()
        await _settle()
        await asyncio.wait_for(job.stop(grace=0.01), 5)
        assert cancelled == [True]
        assert not job.running

    async def test_stop_before_start_and_restart(self) -> None:
        sleep, tick = FakeSleep(), Ticks()
        job = Periodic("job", tick, interval=60, sleep=sleep)
        await job.stop()
        job.start()
        await sleep.next()
        await job.stop()
        job.start()
        await sleep.next()
        assert tick.calls == 2
        await job.stop()

    def test_negative_intervals_are_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            Periodic("job", Ticks(), interval=-1)
