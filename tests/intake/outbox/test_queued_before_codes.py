"""Migration 0021: a connected event queued while events still carried the area-class label
(``area_class: 中心区`` + ``area_class_code``) is rewritten to the code, and notify takes it."""

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.intake.jobs import run_delivery
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from shared.auth import Role
from shared.db import create_sync_engine, database_target, session_scope
from shared.migrations import downgrade, upgrade
from shared.settings import Settings
from tests.conftest import add_user, client_for, sign_in

AT = datetime(2025, 9, 30, 2, tzinfo=UTC)
QUEUED_BEFORE = {
    "application_number": "DY2025090001",
    "name": "东营市某某化工有限公司",
    "mobile": "13800138000",
    "email": None,
    "feeder": "10kV 府前线",
    "transformer_area": "府前1号台区",
    "area_class": "中心区",
    "area_class_code": "central",
}


@pytest.fixture
async def notify_admin(apps):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


def _migrated(settings: Settings, data: dict[str, object]) -> dict[str, object]:
    """``data`` queued at revision 0020, as it reads after upgrading to 0021."""
    fresh = settings.model_copy(
        update={
            "db_schema_prefix": f"{settings.db_schema_prefix}codes_",
            "var_dir": settings.var_dir / "codes",
        }
    )
    upgrade("intake", fresh, "0020")
    engine = create_sync_engine(database_target(fresh, "intake"))
    outbox = sa.table(
        "outbox_events",
        sa.column("event_id", sa.Uuid),
        sa.column("type", sa.String),
        sa.column("subject", sa.String),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("data", sa.JSON),
        sa.column("state", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    )
    try:
        with engine.begin() as conn:
            conn.execute(
                outbox.insert().values(
                    event_id=uuid.uuid4(),
                    type=EventType.application_connected.value,
                    subject=data["application_number"],
                    occurred_at=AT,
                    data=data,
                    state="pending",
                    attempts=3,
                    next_attempt_at=AT,
                )
            )
        upgrade("intake", fresh, "0021")
        with engine.connect() as conn:
            (rewritten,) = conn.execute(sa.select(outbox.c.data)).scalars().all()
        downgrade("intake", fresh, "0020")
        with engine.connect() as conn:
            assert conn.execute(sa.select(outbox.c.data)).scalars().all() == [data]
    finally:
        engine.dispose()
        downgrade("intake", fresh, "base")
    assert isinstance(rewritten, dict)
    return rewritten


async def test_a_queued_labelled_event_is_rewritten_and_delivered(
    settings, intake, clock, notify_admin
):
    data = _migrated(settings, QUEUED_BEFORE)
    assert data == {
        **{k: v for k, v in QUEUED_BEFORE.items() if k != "area_class_code"},
        "area_class": "central",
    }
    async with session_scope(intake.state.engine) as session:
        enqueue(
            session,
            EventType.application_connected,
            subject=QUEUED_BEFORE["application_number"],
            data=data,
            now=clock.now(),
        )
    run = await run_delivery(intake)
    assert (run.delivered, run.failed) == (1, 0)
    (subscriber,) = (await notify_admin.get("/subscribers")).json()["subscribers"]
    assert (subscriber["area_class"], subscriber["area_class_label"]) == ("central", "中心区")
