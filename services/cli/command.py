"""What the commands share: their one-line error, and a session on a migrated database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import create_service_engine, database_target, session_scope
from shared.migrations import current_revision, head_revision, known_revisions
from shared.settings import ServiceName, Settings

T = TypeVar("T")


class CommandError(Exception):
    """A command that cannot do what was asked: one line on stderr, exit 2, no traceback."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _where(settings: Settings, service: ServiceName) -> str:
    target = database_target(settings, service)
    if target.is_sqlite:
        return target.sync_url.removeprefix("sqlite:///")
    shown = make_url(target.sync_url).render_as_string(hide_password=True)
    return f"{shown} (schema {target.schema})"


async def require_migrated(engine: AsyncEngine, settings: Settings, service: ServiceName) -> None:
    """A command run against an empty, older or foreign database says so in one line."""
    current = await current_revision(engine)
    if current == head_revision(service):
        return
    where = _where(settings, service)
    if current is None:
        raise CommandError(
            "database_not_migrated",
            f"the {service} database at {where} has no Huodian tables: run 'huodian migrate' "
            "(or check HUODIAN_DATABASE_URL / HUODIAN_VAR_DIR)",
        )
    if current in known_revisions(service):
        raise CommandError(
            "database_behind",
            f"the {service} database at {where} is at {current}, this release expects "
            f"{head_revision(service)}: run 'huodian migrate'",
        )
    raise CommandError(
        "database_unknown",
        f"the {service} database at {where} is at revision {current}, which this release does "
        "not know: a different database, or one migrated by a newer release",
    )


def run_in_session(
    settings: Settings, service: ServiceName, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    async def main() -> T:
        engine = create_service_engine(database_target(settings, service))
        try:
            await require_migrated(engine, settings, service)
            async with session_scope(engine) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())
