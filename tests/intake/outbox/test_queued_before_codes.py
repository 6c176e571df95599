"""Migration 0021: events queued while they still carried labels (``area_class: 中心区`` +
``area_class_code``, ``customer_type`` labels) are rewritten to the codes, and notify takes them."""

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
STAGE_QUEUED_BEFORE = {
    "application_number": "DY2025090001",
    "stage": "供电方案答复",
    "stage_code": "supply_plan",
    "unit": "东营供电公司",
    "customer_type": "10千伏单电源用户",
    "customer_type_code": "hv10_single",
    "due_date": "2025-10-09",
    "clerk": "clerk-wang",
    "supervising_unit": "东营市发展和改革委员会",
}
QUEUED = [
    (EventType.application_connected, QUEUED_BEFORE),
    (EventType.stage_at_risk, STAGE_QUEUED_BEFORE),
    # due_changed carried the label alone
    (EventType.due_changed, {"application_number": "DY2025090001", "customer_type": "居民用户"}),
]


@pytest.fixture
async def notify_admin(apps):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


def _migrated(settings: Settings, queued: list[tuple[EventType, dict]]) -> list[dict]:
    """The ``data`` of events queued at revision 0020, as it reads after upgrading to 0021."""
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
                outbox.insert(),
                [
                    {
                        "event_id": uuid.uuid4(),
                        "type": event_type.value,
                        "subject": data["application_number"],
                        "occurred_at": AT,
                        "data": data,
                        "state": "pending",
                        "attempts": 3,
                        "next_attempt_at": AT,
                    }
                    for event_type, data in queued
                ],
            )
        upgrade("intake", fresh, "0021")
        with engine.connect() as conn:
            rewritten = (
                conn.execute(sa.select(outbox.c.data).order_by(outbox.c.type)).scalars().all()
            )
        downgrade("intake", fresh, "0020")
        with engine.connect() as conn:
            back = conn.execute(sa.select(outbox.c.data).order_by(outbox.c.type)).scalars().all()
            assert back == [data for _, data in sorted(queued, key=lambda q: q[0].value)]
    finally:
        engine.dispose()
        downgrade("intake", fresh, "base")
    return list(rewritten)


async def test_queued_labelled_events_are_rewritten_and_delivered(
    settings, intake, clock, notify_admin
):
    connected, due_changed, at_risk = _migrated(settings, QUEUED)  # ordered by type
    assert due_changed["customer_type"] == "residential"
    assert connected == {
        **{k: v for k, v in QUEUED_BEFORE.items() if k != "area_class_code"},
        "area_class": "central",
    }
    assert at_risk == {
        **{k: v for k, v in STAGE_QUEUED_BEFORE.items() if k != "customer_type_code"},
        "customer_type": "hv10_single",
    }
    async with session_scope(intake.state.engine) as session:
        for event_type, data in (
            (EventType.application_connected, connected),
            (EventType.stage_at_risk, at_risk),
        ):
            enqueue(
                session,
                event_type,
                subject=str(data["application_number"]),
                data=data,
                now=clock.now(),
            )
    run = await run_delivery(intake)
    assert (run.delivered, run.failed) == (2, 0)
    (subscriber,) = (await notify_admin.get("/subscribers")).json()["items"]
    assert (subscriber["area_class"], subscriber["area_class_label"]) == ("central", "中心区")
