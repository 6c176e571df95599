"""The one clock: nothing in shared/ or services/ reads the wall clock except shared/clock.py."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.clock import SYSTEM_CLOCK, FixedClock, Now, Today, epoch_seconds, today

ROOT = Path(__file__).resolve().parents[2]
CLOCK_MODULE = ROOT / "shared" / "clock.py"

# module (as imported) -> functions on it that read the wall clock
WALL_CLOCK_READS = {
    "datetime": {"now", "utcnow", "today", "fromtimestamp"},
    "date": {"today"},
    "time": {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime", "strftime"},
}


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, call) of every wall-clock read in ``source``: ``datetime.now()``, ``date.today()``,
    ``time.time()``, ``datetime.datetime.now()``, and ``utcnow()`` under any owner."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "utcnow":
            found.append((node.lineno, "utcnow()"))
        elif isinstance(func, ast.Attribute):
            owner = func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if func.attr == "utcnow" or func.attr in WALL_CLOCK_READS.get(str(name), set()):
                # datetime.fromtimestamp(x) converts a given moment; only the bare call reads.
                if func.attr == "fromtimestamp":
                    continue
                found.append((node.lineno, f"{name}.{func.attr}()"))
    return found


def checked_files() -> list[Path]:
    files = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]
    # Migrations are history: they may keep the stamps they were written with.
    return sorted(f for f in files if f != CLOCK_MODULE and "migrations" not in f.parts)


class TestNoOtherClock:
    def test_only_the_clock_module_reads_the_wall_clock(self):
        offenders = [
            f"{path.relative_to(ROOT)}:{line}: {call}"
            for path in checked_files()
            for line, call in wall_clock_reads(path.read_text(encoding="utf-8"))
        ]
        assert checked_files(), "no files were checked"
        assert offenders == []

    def test_the_clock_module_is_where_it_is_read(self):
        reads = wall_clock_reads(CLOCK_MODULE.read_text(encoding="utf-8"))
        assert [call for _, call in reads] == ["datetime.now()"]

    @pytest.mark.parametrize(
        "call",
        [
            "datetime.now(UTC)",
            "datetime.datetime.now()",
            "datetime.utcnow()",
            "date.today()",
            "time.time()",
            "time.time_ns()",
            "utcnow()",
            "shared.db.utcnow()",
        ],
    )
    def test_a_wall_clock_read_in_a_route_is_caught(self, call):
        route = f"""
@router.post("/outages")
async def create_outage(body: OutageCreate, session: Session) -> OutagePublic:
    return await service.create(session, body, now={call})
"""
        assert [c for _, c in wall_clock_reads(route)] != []

    @pytest.mark.parametrize(
        "call",
        [
            "clock.now()",
            "self._clock.now()",
            "request.app.state.clock.now()",
            "loop.time()",
            "time.monotonic()",
            "datetime.fromtimestamp(ts, UTC)",
        ],
    )
    def test_reading_the_clock_is_not(self, call):
        assert wall_clock_reads(f"x = {call}\n") == []


class TestClocks:
    def test_the_system_clock_is_aware_utc(self):
        now = SYSTEM_CLOCK.now()
        assert now.tzinfo is UTC

    def test_it_obeys_a_frozen_time(self, frozen):
        frozen.move_to(datetime(2027, 10, 1, 2, 0, tzinfo=UTC))
        assert SYSTEM_CLOCK.now() == datetime(2027, 10, 1, 2, 0, tzinfo=UTC)
        assert today(SYSTEM_CLOCK).isoformat() == "2027-10-01"

    def test_a_fixed_clock_stands_still_until_moved(self):
        clock = FixedClock(datetime(2026, 12, 31, 23, 45, tzinfo=UTC))
        assert clock.now() == clock.now()
        assert clock.advance(timedelta(minutes=30)) == datetime(2027, 1, 1, 0, 15, tzinfo=UTC)
        assert epoch_seconds(clock) == int(datetime(2027, 1, 1, 0, 15, tzinfo=UTC).timestamp())

    def test_a_fixed_clock_refuses_naive_moments(self):
        with pytest.raises(ValueError, match="aware"):
            FixedClock(datetime(2026, 1, 1))

    def test_late_evening_in_beijing_is_that_beijing_date(self):
        # 23:30 Beijing on 2026-12-31 is 15:30 UTC the same day; 00:30 Beijing is the day before
        # in UTC. The Beijing date is what counts.
        assert today(FixedClock(datetime(2026, 12, 31, 15, 30, tzinfo=UTC))).isoformat() == (
            "2026-12-31"
        )
        assert today(FixedClock(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))).isoformat() == (
            "2027-01-01"
        )


class TestDependencies:
    async def test_routes_see_the_apps_clock(self):
        app = FastAPI()
        app.state.clock = FixedClock(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))

        @app.get("/t")
        async def moment(now: Now, day: Today) -> dict[str, str]:
            return {"now": now.isoformat(), "day": day.isoformat()}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/t")).json() == {
                "now": "2026-12-31T16:30:00+00:00",
                "day": "2027-01-01",
            }
