"""Benchmark of intake's watch lists on PostgreSQL: ``python bench/bench_intake.py``.

Builds the intake schema with its migrations in a schema of its own, inserts N applications
with one ``INSERT … SELECT generate_series`` (default 1,000,000: 90 % open, dues spread over
±30 days around today, 60 units, 7 customer types), runs ANALYZE, then times the at-risk and
overdue lists (count + first page, and a deep page) through the service function the API uses,
unfiltered and filtered by unit, customer type and stage, as a clerk of two units and as a
supervisor. The schema is dropped at the end unless ``--keep``.

    HUODIAN_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/bench_intake.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.harness import Case
from services.intake.monitoring.escalations import EscalationFilter, list_escalations
from services.intake.monitoring.models import EscalationState, WatchLevel
from services.intake.monitoring.scan import scan
from services.intake.monitoring.watch import WatchFilter, list_watch
from services.intake.policies.models import Stage
from services.intake.settings import IntakeSettings
from shared.auth import Principal, Role
from shared.calendar import BEIJING, WorkingCalendar
from shared.clock import SYSTEM_CLOCK
from shared.clock import today as beijing_today_of
from shared.db import create_service_engine, database_target, session_scope
from shared.migrations import upgrade
from shared.pagination import PageParams
from shared.settings import Settings
from shared.vocab import CustomerType

UNITS = 60
SUPERVISORS = 5
ROWS = 1_000_000
NAMES = (
    "intake: overdue count + first 50 vs raw SQL",
    "intake: at-risk count + first 50 vs raw SQL",
    "intake: open escalations of a supervisor, count + first 50 vs raw SQL",
)
# One escalation per overdue open application, a third each open / acknowledged / resolved,
# opened over the last 30 days.
ESCALATE = """
INSERT INTO escalations (application_id, stage_seq, stage, unit, supervising_unit,
    customer_type, clerk, due_date, opened_at, state)
SELECT id, current_seq, current_stage, unit, supervising_unit, customer_type, clerk, due_date,
    now() - (id % 2592000) * interval '1 second',
    (ARRAY['open', 'acknowledged', 'resolved'])[1 + id % 3]
FROM applications WHERE status = 'open' AND due_date < :today
"""
SUPERVISING = "督办单位3"
ESCALATIONS_SQL = {
    "count": "SELECT count(*) FROM escalations WHERE supervising_unit = :s AND state = 'open'",
    "first page": "SELECT e.*, a.number FROM escalations e "
    "JOIN applications a ON a.id = e.application_id "
    "WHERE e.supervising_unit = :s AND e.state = 'open' "
    "ORDER BY e.opened_at DESC, e.id DESC LIMIT 50",
}
# The raw indexed SQL of each watch list (what list_watch's query should cost), as the baseline.
WHERE = {
    WatchLevel.overdue: "status = 'open' AND due_date < :t",
    WatchLevel.at_risk: "status = 'open' AND at_risk_from <= :t AND due_date >= :t",
}
PAGE_COLUMNS = (
    "number, unit, supervising_unit, clerk, customer_type, current_stage, staged, "
    "at_risk_from, due_date, due_provisional"
)

INSERT = """
INSERT INTO applications (
    number, query_code_hash, jurisdiction, policy_code, customer_type, has_works, channel,
    unit, supervising_unit, clerk, applicant_name, id_kind, id_number, mobile, site_address,
    area_class, capacity_kw, accepted_at, accepted_day, status, current_stage, current_seq,
    staged, total_limit_days, paused_days, due_date, at_risk_from, due_provisional,
    warned_level, log_length, log_head
)
SELECT
    'BZ' || lpad(i::text, 12, '0'),
    md5(i::text) || md5((i + 1)::text),
    'dongying', 'dongying-2020',
    (ARRAY['residential','low_voltage_three_zero','low_voltage','hv10_single','hv10_dual',
           'hv35_single','hv35_dual'])[1 + i % 7],
    true,
    (ARRAY['portal','online','counter'])[1 + i % 3],
    '供电单位' || lpad((i % :units)::text, 2, '0'),
    '督办单位' || (i % :supervisors)::text,
    'clerk' || (i % 500)::text,
    '用户' || i::text, 'credit_code', '91370500MA3C12345X', '13800138000', '东营区',
    'urban', 100,
    now() - ((i % 40) || ' days')::interval,
    (:today)::date - (i % 40),
    CASE WHEN i % 20 = 0 THEN 'paused' WHEN i % 20 = 1 THEN 'connected' ELSE 'open' END,
    CASE WHEN i % 20 = 1 THEN NULL ELSE
        (ARRAY['acceptance','supply_plan','design_review','midway_inspection',
               'completion_inspection','connection'])[1 + (i / 7) % 6] END,
    0, true, 15, 0,
    CASE WHEN i % 20 IN (0, 1) THEN NULL
         ELSE (:today)::date + ((i::bigint * 7919) % 61 - 30)::int END,
    CASE WHEN i % 20 IN (0, 1) THEN NULL
         ELSE (:today)::date + ((i::bigint * 7919) % 61 - 30)::int - (i % 5) END,
    false, 0, 1, md5(i::text) || md5(i::text)
FROM generate_series(1, :rows) AS i
"""


def build(settings: Settings, rows: int) -> float:
    upgrade("intake", settings)
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE applications RESTART IDENTITY CASCADE"))
        conn.execute(
            text(INSERT),
            {
                "rows": rows,
                "units": UNITS,
                "supervisors": SUPERVISORS,
                "today": beijing_today_of(SYSTEM_CLOCK).isoformat(),
            },
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE applications"))
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def escalate(settings: Settings, today: date) -> None:
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    with engine.begin() as conn:
        conn.execute(text(ESCALATE), {"today": today})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE escalations"))
    engine.dispose()


def drop(settings: Settings) -> None:
    engine = create_engine(database_target(settings, "intake").sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.db_schema_prefix}intake" CASCADE'))
    engine.dispose()


async def timed(
    settings: Settings,
    name: str,
    principal: Principal,
    level: WatchLevel,
    flt: WatchFilter,
    offset: int = 0,
    repeat: int = 7,
) -> None:
    engine = create_service_engine(database_target(settings, "intake"))
    calendar = WorkingCalendar.build(last_year=2028)
    today = beijing_today_of(SYSTEM_CLOCK)
    times = []
    total = 0
    try:
        for _ in range(repeat):
            async with session_scope(engine) as session:
                t0 = time.perf_counter()
                page = await list_watch(
                    session,
                    principal,
                    level,
                    flt,
                    calendar,
                    today,
                    PageParams(limit=50, offset=offset),
                )
                times.append(time.perf_counter() - t0)
                total = page.total
    finally:
        await engine.dispose()
    times.sort()
    print(
        f"| {name} | {level.value} | {total:,} | {statistics.median(times) * 1e3:.1f} ms "
        f"| {times[-1] * 1e3:.1f} ms |"
    )


async def timed_scan(settings: Settings) -> None:
    """The watch's claim of new overdue stages, when every overdue one was escalated before."""
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    today = beijing_today_of(SYSTEM_CLOCK)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE applications SET warned_level = 2 WHERE status = 'open' AND due_date < :t"
            ),
            {"t": today},
        )
        conn.execute(
            text(
                "UPDATE applications SET warned_level = 1 WHERE status = 'open' "
                "AND at_risk_from <= :t AND due_date >= :t"
            ),
            {"t": today},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE applications"))
    engine.dispose()
    calendar = WorkingCalendar.build(last_year=2028)
    async_engine = create_service_engine(target)
    config = IntakeSettings(office_opens=dt_time(0, 0), office_closes=dt_time(23, 59))
    times = []
    try:
        for _ in range(5):
            async with session_scope(async_engine) as session:
                # A working day in office hours, so the scan runs; nothing new to claim.
                now = datetime.combine(calendar.next_workday(today), dt_time(10, 0), tzinfo=BEIJING)
                t0 = time.perf_counter()
                result = await scan(session, now=now, calendar=calendar, settings=config)
                times.append(time.perf_counter() - t0)
                await session.rollback()
    finally:
        await async_engine.dispose()
    print(
        f"| scan, nothing new (all warned) | – | {result.overdue + result.at_risk} "
        f"| {statistics.median(times) * 1e3:.1f} ms | {max(times) * 1e3:.1f} ms |"
    )


@asynccontextmanager
async def cases(quick: bool, url: str | None) -> AsyncIterator[list[Case]]:
    """The watch lists through ``list_watch`` against their raw SQL, in one session."""
    assert url is not None
    rows = ROWS // 100 if quick else ROWS
    settings = Settings(
        database_url=url,
        db_schema_prefix=f"bench{os.getpid()}_",
        secret_key="bench-secret-key-0123456789",
    )
    build(settings, rows)
    today = beijing_today_of(SYSTEM_CLOCK)
    escalate(settings, today)
    engine = create_service_engine(database_target(settings, "intake"))
    calendar = WorkingCalendar.build(last_year=2028)
    admin = Principal(subject="admin", role=Role.admin)
    supervisor = Principal(subject="sup", role=Role.supervisor, units=(SUPERVISING,))
    try:
        async with session_scope(engine) as session:

            def subject(level: WatchLevel) -> Callable[[], Awaitable[object]]:
                async def run() -> object:
                    return await list_watch(
                        session, admin, level, WatchFilter(), calendar, today, PageParams(limit=50)
                    )

                return run

            plans = {}
            for level in (WatchLevel.overdue, WatchLevel.at_risk):
                for title, sql in raw_sql(level).items():
                    found = await session.execute(
                        text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), {"t": today}
                    )
                    plans[f"{level.value}, {title}"] = [line for (line,) in found]
            for title, sql in ESCALATIONS_SQL.items():
                found = await session.execute(
                    text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), {"s": SUPERVISING}
                )
                plans[f"escalations, {title}"] = [line for (line,) in found]

            async def escalations() -> object:
                return await list_escalations(
                    session, supervisor, EscalationFilter(state=EscalationState.open)
                )

            async def raw_escalations() -> tuple[int, list[object]]:
                count = await session.execute(text(ESCALATIONS_SQL["count"]), {"s": SUPERVISING})
                page = await session.execute(
                    text(ESCALATIONS_SQL["first page"]), {"s": SUPERVISING}
                )
                return count.scalar_one(), list(page.all())

            def raw(level: WatchLevel) -> Callable[[], Awaitable[object]]:
                return lambda: raw_watch(session, level, today)

            yield [
                Case(
                    name,
                    subject(level),
                    rows,
                    baseline=raw(level),
                    max_ratio=1.5,
                    max_seconds=0.1,
                    rounds=7,
                    plans={k: v for k, v in plans.items() if k.startswith(level.value)},
                )
                for name, level in zip(
                    NAMES[:2], (WatchLevel.overdue, WatchLevel.at_risk), strict=True
                )
            ] + [
                Case(
                    NAMES[2],
                    escalations,
                    rows,
                    baseline=raw_escalations,
                    max_ratio=1.5,
                    max_seconds=0.1,
                    rounds=7,
                    plans={k: v for k, v in plans.items() if k.startswith("escalations")},
                )
            ]
    finally:
        await engine.dispose()
        drop(settings)


def raw_sql(level: WatchLevel) -> dict[str, str]:
    """The count and the first page of 50 as plain SQL, the shape list_watch builds."""
    where = WHERE[level]
    return {
        "count": f"SELECT count(*) FROM applications WHERE {where}",
        "first page": (
            f"SELECT {PAGE_COLUMNS} FROM applications WHERE {where} ORDER BY due_date, id LIMIT 50"
        ),
    }


async def raw_watch(
    session: AsyncSession, level: WatchLevel, today: date
) -> tuple[int, list[object]]:
    sql = raw_sql(level)
    count = await session.execute(text(sql["count"]), {"t": today})
    page = await session.execute(text(sql["first page"]), {"t": today})
    return count.scalar_one(), list(page.all())


def explain(settings: Settings) -> None:
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    today = beijing_today_of(SYSTEM_CLOCK)
    with engine.connect() as conn:
        for title, sql in (
            (
                "overdue, unit filter, first page",
                "SELECT number FROM applications WHERE status = 'open' AND due_date < :t "
                "AND unit = '供电单位07' ORDER BY due_date, id LIMIT 50",
            ),
            (
                "at risk, count",
                "SELECT count(*) FROM applications WHERE status = 'open' "
                "AND at_risk_from <= :t AND due_date >= :t",
            ),
        ):
            plan = conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}"), {"t": today})
            print(f"\n-- {title}")
            for (line,) in plan:
                print(line)
    engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench schema")
    args = parser.parse_args()
    url = os.environ.get("HUODIAN_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    settings = Settings(
        database_url=url, db_schema_prefix="bench_", secret_key="bench-secret-key-0123456789"
    )
    print(f"inserting {args.rows:,} applications …", flush=True)
    print(f"insert + VACUUM ANALYZE: {build(settings, args.rows):.1f} s")
    admin = Principal(subject="admin", role=Role.admin)
    clerk = Principal(subject="clerk", role=Role.clerk, units=("供电单位07", "供电单位08"))
    supervisor = Principal(subject="sup", role=Role.supervisor, units=("督办单位3",))
    print("\n| query | state | total | median | max |\n|---|---|---|---|---|")
    try:
        for level in (WatchLevel.overdue, WatchLevel.at_risk):
            await timed(settings, "all, first page", admin, level, WatchFilter())
            await timed(
                settings, "all, page at offset 10,000", admin, level, WatchFilter(), offset=10_000
            )
            await timed(settings, "by unit", admin, level, WatchFilter(unit="供电单位07"))
            await timed(
                settings,
                "by customer type",
                admin,
                level,
                WatchFilter(customer_type=CustomerType.hv10_dual),
            )
            await timed(settings, "by stage", admin, level, WatchFilter(stage=Stage.supply_plan))
            await timed(settings, "clerk of 2 units", clerk, level, WatchFilter())
            await timed(settings, "supervisor of 1/5", supervisor, level, WatchFilter())
        await timed_scan(settings)
        explain(settings)
    finally:
        if not args.keep:
            drop(settings)
    day = beijing_today_of(SYSTEM_CLOCK)
    print(f"\n(today {day}, rows {args.rows:,}; schema dropped: {not args.keep})")


if __name__ == "__main__":
    asyncio.run(main())
