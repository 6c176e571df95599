"""Fixtures of the integrity tests: a connected application, tampering, the keyring restored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from shared.keyring import save_keyring
from shared.settings import Settings
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import ServerClock, create


async def tamper(intake: FastAPI, sql: str, **params: object) -> None:
    """What someone with write access to the database does, outside the application."""
    async with intake.state.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def connected_application(clerk: httpx.AsyncClient, clock: ServerClock) -> str:
    """An application through every stage, with a pause on the way (Oct 2025)."""
    clock.set("2025-09-30 10:00")
    number = str((await create(clerk))["application"]["number"])
    clock.set("2025-10-09 15:00")
    assert (await complete(clerk, number, "acceptance")).status_code == 200
    clock.set("2025-10-10 09:00")
    paused = await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
    assert paused.status_code == 200, paused.text
    clock.set("2025-10-14 09:00")
    assert (await clerk.post(f"/applications/{number}/resume", json={})).status_code == 200
    clock.set("2025-10-15 11:00")
    assert (await complete(clerk, number, "supply_plan")).status_code == 200
    clock.set("2025-10-17 09:00")
    assert (await complete(clerk, number, "completion_inspection")).status_code == 200
    clock.set("2025-10-17 16:00")
    done = await complete(clerk, number, "connection", **CONNECTION_POINT)
    assert done.json()["status"] == "connected", done.text
    return number


@pytest.fixture
def restore_keyring(settings: Settings) -> Iterator[None]:
    """Tests that rotate the keyring put the session's one back afterwards."""
    original = settings.keyring()
    yield
    save_keyring(settings.keyring_path(), original)


@pytest.fixture
async def number(clerk: httpx.AsyncClient, clock: ServerClock) -> str:
    return await connected_application(clerk, clock)
