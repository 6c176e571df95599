"""Benchmark of notify's outage fan-out and subscriber import on PostgreSQL:
``python bench/bench_notify.py [subscribers]`` (default 100 000).

Uses ``HUODIAN_BENCH_DATABASE_URL`` (else ``HUODIAN_TEST_DATABASE_URL``, else the local ``test``
database) in a throw-away schema. Seeds the subscribers (every one with a mobile, every third with
an email too) on 20 feeders, then times, through the service functions the API calls:
announcing an outage over all the feeders (one INSERT … SELECT queues every message), starting
it (impact count + fan-out), restoring it, and importing the same number of rows from a CSV file.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.harness import Case
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Message
from services.notify.outages import service as outages
from services.notify.outages.models import Announcement, OutageCreate, OutageKind
from services.notify.settings import NotifySettings
from services.notify.subscribers import importing
from services.notify.subscribers.models import SubscriberImport
from shared.calendar import WorkingCalendar
from shared.clock import SYSTEM_CLOCK
from shared.db import create_service_engine, database_target, session_scope
from shared.migrations import upgrade
from shared.outbound import OutboundPolicy
from shared.settings import Settings

FEEDERS = 20
SUBSCRIBERS = 100_000
NAMES = ("notify: outage fan-out vs raw executemany",)
# The columns the fan-out writes; the baseline inserts the same rows with an executemany.
MESSAGE_COLUMNS = (
    "dedup_key",
    "kind",
    "channel",
    "recipient",
    "subject",
    "body",
    "state",
    "window",
    "attempts",
    "subscriber_id",
    "outage_id",
    "created_at",
    "next_attempt_at",
)


@asynccontextmanager
async def cases(quick: bool, url: str | None) -> AsyncIterator[list[Case]]:
    """Announcing a planned outage over every feeder (one INSERT … SELECT through the service
    function) against an executemany of the very rows it queues; each call rolled back."""
    assert url is not None
    n = SUBSCRIBERS // 100 if quick else SUBSCRIBERS
    with tempfile.TemporaryDirectory() as var_dir:
        settings = Settings(
            database_url=url,
            db_schema_prefix=f"bench{os.getpid()}_",
            var_dir=Path(var_dir),
            secret_key="bench-secret-key-bench-secret-key-bench",
        )
        upgrade("notify", settings)
        target = database_target(settings, "notify")
        assert target.schema is not None
        engine = create_service_engine(target)
        try:
            _seed(target.sync_url, target.schema, n)
            config = NotifySettings(planned_notice_days=0)
            hours = DeliveryHours.from_settings(config, WorkingCalendar.build(last_year=2028))
            now = SYSTEM_CLOCK.now()
            start = now + timedelta(days=10)
            body = OutageCreate(
                kind=OutageKind.planned,
                cause="基准测试",
                feeders=[f"10kV线{i}" for i in range(FEEDERS)],
                planned_start=start,
                etr=start + timedelta(hours=8),
            )
            async with session_scope(engine) as session:
                outage = await outages.create(
                    session, body, unit="bench", by="bench", now=now, hours=hours
                )
            outage_id = outage.id
            assert outage_id is not None

            async def announce(session: AsyncSession) -> None:
                found = await outages.get(session, outage_id)
                await outages.announce(
                    session,
                    found,
                    Announcement(),
                    by="bench",
                    now=now,
                    settings=config,
                    hours=hours,
                )

            async with AsyncSession(engine) as session:
                await announce(session)
                listed = ", ".join(f'"{c}"' for c in MESSAGE_COLUMNS)
                found = await session.execute(
                    text(f"SELECT {listed} FROM messages WHERE outage_id = :o"), {"o": outage_id}
                )
                rows = [dict(r._mapping) for r in found]
                await session.rollback()
            # Fresh keys, so that the copies are new rows like the fan-out's.
            for r in rows:
                r["dedup_key"] = f"bench:{r['dedup_key']}"
            insert = Message.__table__.insert()  # type: ignore[attr-defined]

            async def subject() -> None:
                async with AsyncSession(engine) as session:
                    await announce(session)
                    await session.rollback()

            async def baseline() -> None:
                async with AsyncSession(engine) as session:
                    await session.execute(insert, rows)
                    await session.rollback()

            yield [
                Case(
                    NAMES[0],
                    subject,
                    len(rows),
                    baseline=baseline,
                    max_ratio=1.0,
                    rounds=3 if quick else 5,
                    note=f"{n:,} subscribers on {FEEDERS} feeders",
                )
            ]
        finally:
            await engine.dispose()
            sync = create_engine(target.sync_url)
            with sync.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
            sync.dispose()


def _seed(sync_url: str, schema: str, n: int) -> None:
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'SET search_path TO "{schema}"'))
        conn.execute(
            text(
                """
                INSERT INTO subscribers (account_number, name, mobile, email, feeder,
                    transformer_area, area_class, source, served_since, created_at, updated_at)
                SELECT 'B' || lpad(g::text, 8, '0'), '客户' || g,
                       '138' || lpad(g::text, 8, '0'),
                       CASE WHEN g % 3 = 0 THEN 'c' || g || '@example.cn' END,
                       '10kV线' || (g % :feeders), '台区' || (g % 2000),
                       (ARRAY['central','urban','town','rural'])[1 + g % 4], 'import', current_date,
                       now(), now()
                FROM generate_series(1, :n) AS g
                """
            ),
            {"n": n, "feeders": FEEDERS},
        )
        conn.execute(text("ANALYZE subscribers"))
    engine.dispose()


def _csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("户号,户名,手机,线路,台区,区域类别\n")
        for g in range(n):
            out.write(f"I{g:08d},客户{g},139{g:08d},10kV线{g % FEEDERS},台区{g % 2000},城镇\n")


async def _run(settings: Settings, n: int) -> None:
    config = NotifySettings(planned_notice_days=0)
    hours = DeliveryHours.from_settings(config, WorkingCalendar.build(last_year=2028))
    engine = create_service_engine(database_target(settings, "notify"))
    now = SYSTEM_CLOCK.now()
    start = now + timedelta(days=10)
    body = OutageCreate(
        kind=OutageKind.planned,
        cause="基准测试",
        feeders=[f"10kV线{i}" for i in range(FEEDERS)],
        planned_start=start,
        etr=start + timedelta(hours=8),
    )
    try:
        async with session_scope(engine) as session:
            outage = await outages.create(
                session, body, unit="bench", by="bench", now=now, hours=hours
            )
        assert outage.id is not None
        outage_id = outage.id

        async def announce(s: AsyncSession) -> object:
            found = await outages.get(s, outage_id)
            return await outages.announce(
                s, found, Announcement(), by="bench", now=now, settings=config, hours=hours
            )

        async def begin(s: AsyncSession) -> object:
            found = await outages.get(s, outage_id)
            return await outages.start(s, found, at=start, by="bench", now=now, hours=hours)

        async def restore(s: AsyncSession) -> object:
            found = await outages.get(s, outage_id)
            return await outages.restore(
                s, found, at=start + timedelta(hours=6), by="bench", now=now, hours=hours
            )

        steps = [
            ("announce (fan-out)", announce),
            ("start (impact count + fan-out)", begin),
            ("restore (fan-out)", restore),
        ]
        for name, step in steps:
            t0 = time.perf_counter()
            async with session_scope(engine) as session:
                await step(session)
            elapsed = time.perf_counter() - t0
            async with session_scope(engine) as session:
                queued = (
                    await session.exec(
                        text("SELECT messages_queued FROM outage_updates ORDER BY id DESC LIMIT 1")  # type: ignore[call-overload]
                    )
                ).scalar_one()
            print(f"{name:<34} {queued:>8} messages  {elapsed:6.2f} s  ({queued / elapsed:,.0f}/s)")

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "subscribers.csv"
            _csv(path, n)
            async with session_scope(engine) as session:
                job = SubscriberImport(
                    filename=path.name, created_by="bench", created_at=now, progressed_at=now
                )
                session.add(job)
                await session.flush()
                job_id = job.id
            assert job_id is not None
            t0 = time.perf_counter()
            await importing.run_import(
                engine, job_id, path, SYSTEM_CLOCK, OutboundPolicy.from_settings(settings)
            )
            elapsed = time.perf_counter() - t0
            async with session_scope(engine) as session:
                done = await session.get(SubscriberImport, job_id)
                assert done is not None
                assert done.rows_imported == n, done
            label = "CSV import (streamed, upsert)"
            print(f"{label:<34} {n:>8} rows      {elapsed:6.2f} s  ({n / elapsed:,.0f}/s)")
    finally:
        await engine.dispose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = os.environ.get("HUODIAN_BENCH_DATABASE_URL") or os.environ.get(
        "HUODIAN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    with tempfile.TemporaryDirectory() as var_dir:
        settings = Settings(
            database_url=url,
            db_schema_prefix=f"bench{os.getpid()}_",
            var_dir=Path(var_dir),
            secret_key="bench-secret-key-bench-secret-key-bench",
        )
        upgrade("notify", settings)
        target = database_target(settings, "notify")
        assert target.schema is not None
        try:
            t0 = time.perf_counter()
            _seed(target.sync_url, target.schema, n)
            print(
                f"seeded {n:,} subscribers on {FEEDERS} feeders in {time.perf_counter() - t0:.2f} s"
            )
            asyncio.run(_run(settings, n))
        finally:
            engine = create_engine(target.sync_url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()
