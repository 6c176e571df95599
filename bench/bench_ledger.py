"""Benchmark of a large ledger's export and report, for ``bench/run.py`` (issue 14: each < 2 s).

Creates a 5,000-item ledger (Dongying's 68 items repeated, so the responsibilities and due
texts are real ones) through ``create_ledger``, then times what ``GET /ledgers/{code}/export.xlsx``
and ``GET /ledgers/{code}/reports/half_year?format=xlsx`` do: the service functions behind the
routes and the workbook writers. On PostgreSQL when it answers, else on SQLite.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

# Runnable from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from bench.harness import Case
from services.ledger.ledgers.items import ItemFilter, list_items
from services.ledger.ledgers.service import create_ledger
from services.ledger.ledgers.spreadsheet import write_ledger_xlsx
from services.ledger.reference.seed import PLAN_FILES, load_plan
from services.ledger.reports.models import ReportKind
from services.ledger.reports.service import build_report
from services.ledger.reports.xlsx import report_xlsx
from shared.calendar import BEIJING
from shared.db import create_service_engine, database_target, session_scope
from shared.migrations import upgrade
from shared.pagination import ALL_ROWS
from shared.settings import Settings

ITEMS = 5_000
CODE = "bench-5000"
NAMES = ("ledger: export .xlsx", "ledger: half-year report .xlsx")
# A fixed day inside the half-year, so the report's "as of" does not depend on the run's date.
TODAY = date(2025, 6, 20)
NOW = datetime.combine(TODAY, time(10, 0), tzinfo=BEIJING)


@asynccontextmanager
async def cases(quick: bool, url: str | None) -> AsyncIterator[list[Case]]:
    items = ITEMS // 100 if quick else ITEMS
    with tempfile.TemporaryDirectory() as var_dir:
        settings = Settings(
            database_url=url,
            db_schema_prefix="bench_",
            var_dir=Path(var_dir),
            secret_key="bench-secret-key-bench-secret-key-bench",
        )
        target = database_target(settings, "ledger")
        _drop(target.sync_url, target.schema)
        upgrade("ledger", settings)
        engine = create_service_engine(target)
        plan = load_plan(PLAN_FILES[0])
        rows = [replace(plan.items[i % len(plan.items)], seq=i + 1) for i in range(items)]
        try:
            async with session_scope(engine) as session:
                await create_ledger(session, code=CODE, name="基准台账", rows=rows, now=NOW)

            async def export() -> bytes:
                async with session_scope(engine) as session:
                    page = await list_items(
                        session, ItemFilter(ledger_code=CODE), as_of=TODAY, paging=ALL_ROWS
                    )
                    assert page.total == items, page.total
                    return write_ledger_xlsx("基准台账", page.items)

            async def report() -> bytes:
                async with session_scope(engine) as session:
                    built = await build_report(
                        session, CODE, ReportKind.half_year, TODAY.year, today=TODAY, now=NOW
                    )
                    assert len(built.items) == items
                    return report_xlsx(built)

            backend = "PostgreSQL" if target.schema else "SQLite"
            yield [
                Case(NAMES[0], export, items, max_seconds=2.0, rounds=3, note=backend),
                Case(NAMES[1], report, items, max_seconds=2.0, rounds=3, note=backend),
            ]
        finally:
            await engine.dispose()
            _drop(target.sync_url, target.schema)


def _drop(sync_url: str, schema: str | None) -> None:
    if schema is None:
        return  # the SQLite file goes with the temporary directory
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
