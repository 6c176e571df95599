"""Alembic, once for all services: every service has its own history under ``migrations/``."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import DatabaseTarget, create_sync_engine, database_target, ensure_schema
from shared.settings import ServiceName, Settings

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: ServiceName, settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.attributes["target"] = database_target(settings, service)
    # Migrations that seal or key what is stored (shared.keyring) read the keyring here.
    config.attributes["keyring"] = settings.keyring()
    return config


def upgrade(service: ServiceName, settings: Settings, revision: str = "head") -> None:
    config = alembic_config(service, settings)
    ensure_schema(config.attributes["target"])
    command.upgrade(config, revision)


def downgrade(service: ServiceName, settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(service, settings), revision)


def head_revision(service: ServiceName) -> str | None:
    script = ScriptDirectory(str(SERVICES_DIR / service / "migrations"))
    return script.get_current_head()


def known_revisions(service: ServiceName) -> set[str]:
    """Every revision of the service's history: a database at one of them is only behind."""
    script = ScriptDirectory(str(SERVICES_DIR / service / "migrations"))
    return {revision.revision for revision in script.walk_revisions()}


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``env.py``: online migrations on the service's own target."""
    config = context.config
    target: DatabaseTarget = config.attributes["target"]
    engine = create_sync_engine(target)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=target.is_sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
