"""The portal is told when a calendar change moves its application's deadline (节假日调整):
one signed status callback, ``application.due_changed``, with the old and the new date."""

import pytest

from services.intake.portal.jobs import run_webhook_delivery
from tests.intake.due_changes.test_due_changes_api import amended_2026, load
from tests.intake.portal.conftest import portal_application_body, post
from tests.intake.portal.test_webhooks import registered, sink  # noqa: F401 (fixtures)


@pytest.mark.usefixtures("elicense")
class TestPortalCallback:
    async def test_the_portal_is_told_once(
        self,
        intake,
        intake_admin,
        portal,
        clock,
        registered,  # noqa: F811
    ):
        clock.set("2026-10-08 09:30")
        response = await post(portal, "/portal/applications", portal_application_body())
        assert response.status_code == 201, response.text
        number = response.json()["number"]
        assert response.json()["due_date"] == "2026-10-09"
        await run_webhook_delivery(intake)
        received = len(registered.received)

        await load(intake_admin, 2026, await amended_2026(intake_admin))
        assert (await run_webhook_delivery(intake)).delivered == 1
        callback = registered.received[-1]
        assert len(registered.received) == received + 1
        assert (callback["application_number"], callback["type"]) == (
            number,
            "application.due_changed",
        )
        assert callback["due_date"] == "2026-10-12"
        assert callback["due_provisional"] is False
        assert callback["details"]["previous_due_date"] == "2026-10-09"
        assert callback["details"]["due_date"] == "2026-10-12"
        assert callback["details"]["calendar_year"] == 2026

        await load(intake_admin, 2026, await amended_2026(intake_admin))
        assert (await run_webhook_delivery(intake)).delivered == 0
