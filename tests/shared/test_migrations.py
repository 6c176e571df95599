"""Each service's models and migrations agree, and every history goes down and up again."""

from importlib import import_module

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from shared.db import create_sync_engine, database_target
from shared.migrations import downgrade, upgrade
from shared.settings import Settings


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
def test_models_match_migrations(settings: Settings, service):
    metadata = import_module(f"services.{service}.schema").metadata
    engine = create_sync_engine(database_target(settings, service))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
def test_upgrade_downgrade_upgrade(settings: Settings, service):
    fresh = settings.model_copy(
        update={
            "db_schema_prefix": f"{settings.db_schema_prefix}ud_",
            "var_dir": settings.var_dir / "updown",
        }
    )
    upgrade(service, fresh)
    downgrade(service, fresh, "base")
    upgrade(service, fresh)
    metadata = import_module(f"services.{service}.schema").metadata
    engine = create_sync_engine(database_target(fresh, service))
    try:
        with engine.connect() as conn:
            tables = set(conn.dialect.get_table_names(conn))
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
