"""Free text typed by staff (pause notes, reasons, corrections, escalation notes) shows ID numbers
and phones in full only to the application's own clerks; viewers, supervisors and admins get
them masked, as they get the structured ID and mobile fields (shared.masking.masked_unless)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel

from shared.auth import Role
from shared.masking import FREE_TEXT, FreeText, masked_unless
from tests.intake.conftest import _client, create, valid_resident_id
from tests.intake.monitoring.test_watch_api import scan

ID = valid_resident_id("37050219850203123")
MOBILE = "13912345678"
LANDLINE = "0546-8381073"
TYPED = f"客户身份证{ID}，手机{MOBILE}，座机{LANDLINE}"


def shows_in_full(text: str) -> bool:
    return ID in text and MOBILE in text and LANDLINE in text


def masked(text: str) -> bool:
    return (
        ID not in text
        and MOBILE not in text
        and LANDLINE not in text
        and f"{ID[:6]}********{ID[-4:]}" in text
        and "139****5678" in text
        and "0546-***1073" in text
    )


@pytest.fixture
async def viewer(intake, apps) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(intake, apps, "viewer-sun", Role.viewer, ()):
        yield client


@pytest.fixture
def readers(clerk, supervisor, intake_admin, viewer):
    """Who reads, and whether they may see personal data unmasked."""
    return [(clerk, True), (supervisor, False), (intake_admin, False), (viewer, False)]


class Inner(BaseModel):
    note: FreeText
    name: str


class Shape(BaseModel):
    note: FreeText
    name: str
    items: list[Inner]
    payload: Annotated[dict[str, object], FREE_TEXT]


class TestTheFunction:
    def test_only_marked_fields_nested_or_not_are_masked(self):
        shape = Shape(
            note=TYPED,
            name=MOBILE,
            items=[Inner(note=TYPED, name=MOBILE)],
            payload={"old": MOBILE, "deep": [{"x": ID}], "n": 3},
        )
        assert masked_unless(shape, True) is shape
        shown = masked_unless(shape, False)
        assert masked(shown.note)
        assert shown.name == MOBILE  # not free text: its own rule applies (mask_mobile)
        assert masked(shown.items[0].note)
        assert shown.items[0].name == MOBILE
        masked_id = ID[:6] + "*" * 8 + ID[-4:]
        assert shown.payload == {"old": "139****5678", "deep": [{"x": masked_id}], "n": 3}
        assert shape.note == TYPED  # the original is left alone


class TestPauseNotes:
    async def test_each_role(self, clerk, readers, clock):
        number = (await create(clerk))["application"]["number"]
        paused = await clerk.post(
            f"/applications/{number}/pause", json={"reason": "missing_material", "note": TYPED}
        )
        assert paused.status_code == 200, paused.text
        for reader, unmasked in readers:
            detail = (await reader.get(f"/applications/{number}")).json()
            note = detail["pauses"][0]["note"]
            assert shows_in_full(note) if unmasked else masked(note), (reader, note)


class TestTheLog:
    async def test_reasons_and_payloads_of_every_kind(self, clerk, readers, clock):
        number = (await create(clerk))["application"]["number"]
        await clerk.post(
            f"/applications/{number}/pause", json={"reason": "missing_material", "note": TYPED}
        )
        await clerk.post(f"/applications/{number}/resume", json={"note": TYPED})
        corrected = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "applicant_name", "value": "王五", "reason": TYPED},
        )
        assert corrected.status_code == 200, corrected.text
        closed = await clerk.post(f"/applications/{number}/close", json={"reason": TYPED})
        assert closed.status_code == 200, closed.text
        for reader, unmasked in readers:
            log = (await reader.get(f"/applications/{number}/log")).json()
            texts = [e["reason"] or "" for e in log] + [str(e["payload"]) for e in log]
            typed = [t for t in texts if MOBILE in t or "139****5678" in t]
            assert len(typed) >= 4, log
            for text in typed:
                assert shows_in_full(text) if unmasked else masked(text), (reader, text)

    async def test_a_corrected_mobile_is_logged_masked_for_everyone(self, clerk, supervisor, clock):
        # The log keeps corrected ID numbers and mobiles masked when written (the application
        # row has the value); the free-text rule is for what staff type.
        number = (await create(clerk))["application"]["number"]
        await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "mobile", "value": MOBILE, "reason": "客户更换号码"},
        )
        mine = (await clerk.get(f"/applications/{number}/log")).json()[-1]
        theirs = (await supervisor.get(f"/applications/{number}/log")).json()[-1]
        assert mine["payload"] == theirs["payload"]
        assert MOBILE not in str(theirs["payload"])
        assert "139****5678" in str(theirs["payload"])
        # The chain is kept and checked on the server, over the stored text.
        assert (await supervisor.get(f"/applications/{number}/log/verify")).json()["valid"]


class TestEscalationNotes:
    async def test_each_role(self, intake_admin, clerk, supervisor, viewer, clock):
        clock.set("2025-09-30 10:00")
        await create(clerk)
        clock.set("2025-10-10 09:00")
        await scan(intake_admin)
        escalation = (await intake_admin.get("/escalations")).json()["items"][0]["id"]
        clock.set("2025-10-10 10:00")
        acknowledged = await supervisor.post(
            f"/escalations/{escalation}/acknowledge", json={"note": TYPED}
        )
        assert masked(acknowledged.json()["acknowledgement"])
        resolved = await supervisor.post(
            f"/escalations/{escalation}/resolve", json={"resolution": TYPED}
        )
        assert resolved.status_code == 200, resolved.text
        for reader, unmasked in [(clerk, True), (supervisor, False), (intake_admin, False)]:
            one = (await reader.get(f"/escalations/{escalation}")).json()
            listed = (await reader.get("/escalations")).json()["items"][0]
            for shown in (one, listed):
                for text in (shown["acknowledgement"], shown["resolution"]):
                    assert shows_in_full(text) if unmasked else masked(text), (reader, text)
