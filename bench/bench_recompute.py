"""Benchmark of a calendar change over the open deadlines, on PostgreSQL (issue 14, target 4b).

Builds the intake schema with its migrations in a schema of its own and inserts N open
applications (default 1,000,000), each with its current stage started (staged limits of 3..15
working days, accepted over the 40 days up to 2026-12-03), their due dates computed under the
package's calendar. The subject reloads 2026 with one holiday moved (10-07 to 12-11, inside
the open clocks' windows, so about a third of the deadlines move) through
:func:`services.intake.due_changes.service.recompute_and_record`, the load's own path: the
rows recomputed and written, and per moved deadline its change record, stage-log entry and
notice, flushed, then rolled back. There is no baseline: the target is an absolute bound.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.bench_intake import drop
from bench.harness import Case
from services.intake.applications.clocking import Clocking, is_live
from services.intake.applications.log import use_keyring
from services.intake.due_changes.service import LoadOutcome, recompute_and_record
from services.intake.due_changes.setwise import recompute_running
from shared.calendar import BEIJING, WorkingCalendar, YearArrangement
from shared.db import create_service_engine, database_target, session_scope
from shared.migrations import upgrade
from shared.settings import Settings

ROWS = 1_000_000
NAMES = ("intake: calendar change over 1 M open deadlines",)
TODAY = date(2026, 12, 3)
MOVED_FROM, MOVED_TO = date(2026, 10, 7), date(2026, 12, 11)
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=BEIJING)
AT_RISK_PERCENT = 80
SOURCE = "bench: 10-07 moved to 12-11"

INSERT_APPLICATIONS = """
INSERT INTO applications (
    number, query_code_hash, jurisdiction, policy_code, customer_type, has_works, channel,
    unit, supervising_unit, clerk, applicant_name, id_kind, id_number, mobile, site_address,
    area_class, capacity_kw, accepted_at, accepted_day, status, current_stage, current_seq,
    staged, total_limit_days, paused_days, due_provisional, warned_level, log_length, log_head
)
SELECT
    'BZ' || lpad(i::text, 12, '0'), md5(i::text) || md5((i + 1)::text),
    'dongying', 'dongying-2020',
    (ARRAY['residential','low_voltage_three_zero','low_voltage','hv10_single','hv10_dual',
           'hv35_single','hv35_dual'])[1 + i % 7],
    true, (ARRAY['portal','online','counter'])[1 + i % 3],
    '供电单位' || lpad((i % 60)::text, 2, '0'), '督办单位' || (i % 5)::text,
    'clerk' || (i % 500)::text, '用户' || i::text, 'credit_code', '91370500MA3C12345X',
    '13800138000', '东营区', 'urban', 100,
    ((:today)::date - (i % 40))::timestamp AT TIME ZONE 'Asia/Shanghai' + interval '9 hours',
    (:today)::date - (i % 40), 'open',
    (ARRAY['acceptance','supply_plan','design_review','midway_inspection',
           'completion_inspection','connection'])[1 + (i / 7) % 6],
    0, true, 60, 0, false, 0, 0, ''
FROM generate_series(1, :rows) AS i
"""
INSERT_STAGES = """
INSERT INTO application_stages (application_id, seq, stage, limit_days, started_at,
    started_day, paused_days, provisional)
SELECT id, 0, current_stage, 3 + id % 13, accepted_at, accepted_day, 0, false
FROM applications
"""


def build(settings: Settings, rows: int) -> None:
    upgrade("intake", settings)
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE applications RESTART IDENTITY CASCADE"))
        conn.execute(text(INSERT_APPLICATIONS), {"rows": rows, "today": TODAY.isoformat()})
        conn.execute(text(INSERT_STAGES))
    engine.dispose()


def vacuum(settings: Settings) -> None:
    target = database_target(settings, "intake")
    engine = create_engine(
        target.sync_url, connect_args={"options": f"-c search_path={target.schema}"}
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE applications, application_stages"))
    engine.dispose()


def moved_calendar(base: WorkingCalendar) -> WorkingCalendar:
    """``base`` with 2026 reloaded: one day of the National Day block moved to December."""
    days = [
        date.fromordinal(o)
        for o in range(
            TODAY.replace(month=1, day=1).toordinal(), date(2026, 12, 31).toordinal() + 1
        )
    ]
    holidays = {d for d in days if d.weekday() < 5 and not base.is_workday(d)}
    makeups = {d for d in days if d.weekday() >= 5 and base.is_workday(d)}
    return base.with_arrangement(
        YearArrangement(
            2026, frozenset((holidays - {MOVED_FROM}) | {MOVED_TO}), frozenset(makeups), SOURCE
        )
    )


async def settle(engine: AsyncEngine, calendar: WorkingCalendar) -> None:
    """Compute every due date under ``calendar`` and commit (the state before the change)."""
    async with session_scope(engine) as session:
        await recompute_running(session, Clocking(calendar, AT_RISK_PERCENT), is_live())


async def explain(session: AsyncSession) -> dict[str, list[str]]:
    """The plan of one chunk's read (the first 50,000 ids), as the subject runs it."""
    from services.intake.applications.clocking import touches_year
    from services.intake.due_changes.setwise import _chunk_query

    query = _chunk_query(touches_year(2026), 0)
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    found = await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
    return {"one chunk's read (50,000 rows)": [line for (line,) in found]}


@asynccontextmanager
async def cases(quick: bool, url: str | None) -> AsyncIterator[list[Case]]:
    assert url is not None
    rows = ROWS // 100 if quick else ROWS
    keys = tempfile.TemporaryDirectory()
    settings = Settings(
        database_url=url,
        db_schema_prefix=f"bench{os.getpid()}r_",
        secret_key="bench-secret-key-0123456789",
        keyring_file=Path(keys.name) / "keyring.json",
    )
    build(settings, rows)
    engine = create_service_engine(database_target(settings, "intake"))
    use_keyring(engine, settings.keyring, listeners=())
    base = WorkingCalendar.build(last_year=2028)
    changed = moved_calendar(base)
    outcomes: list[LoadOutcome] = []
    try:
        await settle(engine, base)
        vacuum(settings)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            plans = await explain(session)
            await session.rollback()

        async def load() -> None:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                outcome = await recompute_and_record(
                    session,
                    Clocking(changed, AT_RISK_PERCENT),
                    2026,
                    source=SOURCE,
                    actor="bench",
                    now=NOW,
                )
                outcomes.append(outcome)
                await session.rollback()

        yield [
            Case(
                NAMES[0],
                load,
                rows,
                max_seconds=10.0,
                rounds=3,
                plans=plans,
            )
        ]
        if outcomes:
            print(
                f"… recompute: {outcomes[-1].recomputed:,} rows changed, "
                f"{outcomes[-1].moved:,} deadlines moved",
                file=sys.stderr,
            )
    finally:
        await engine.dispose()
        drop(settings)
        keys.cleanup()
