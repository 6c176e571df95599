"""A revoked user is out of every service within seconds (shared.revocation).

Ledger publishes the token version of every active user; intake and notify check each user
token against that list, fetched again when it is older than ``token_versions_max_age_seconds``
(5 s). Time is frozen in these tests, so "5 seconds later" is ``frozen.shift``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import Principal, Role, issue_user_token
from shared.clock import FixedClock
from shared.errors import UpstreamUnavailable
from shared.revocation import TOKEN_VERSIONS_PATH, TokenVersions
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in

LATER = timedelta(seconds=6)  # past the 5 s the list is trusted for


@pytest.fixture
async def ledger_admin(apps):
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.ledger, await sign_in(apps, "admin")) as client:
        yield client


async def clerk_token(apps) -> str:
    await add_user(apps, "clerk1", Role.clerk, ["各供电企业"])
    return await sign_in(apps, "clerk1")


async def dispatcher_token(apps) -> str:
    await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
    return await sign_in(apps, "diaodu")


async def intake_answer(apps, token: str) -> Any:
    async with client_for(apps.intake, token) as client:
        return await client.get("/applications")


OUTAGE = {
    "kind": "fault",
    "cause": "10kV 东城线故障",
    "transformer_areas": ["东城1号台区"],
    "planned_start": FROZEN_AT.isoformat(),
}


@pytest.mark.usefixtures("seeded")
class TestRevokedEverywhere:
    async def test_a_deactivated_clerk_is_out_of_intake(self, apps, ledger_admin, frozen):
        token = await clerk_token(apps)
        assert (await intake_answer(apps, token)).status_code == 200
        off = await ledger_admin.patch("/users/clerk1", json={"is_active": False})
        assert off.status_code == 200, off.text
        frozen.shift(LATER)
        refused = await intake_answer(apps, token)
        assert refused.status_code == 401
        assert refused.json()["code"] == "token_revoked"

    async def test_a_deactivated_dispatcher_cannot_record_an_outage(
        self, apps, ledger_admin, frozen
    ):
        token = await dispatcher_token(apps)
        async with client_for(apps.notify, token) as dispatcher:
            assert (await dispatcher.get("/outages")).status_code == 200
            await ledger_admin.patch("/users/diaodu", json={"is_active": False})
            frozen.shift(LATER)
            refused = await dispatcher.post("/outages", json=OUTAGE)
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")

    async def test_a_password_change_revokes_earlier_tokens(self, apps, ledger_admin, frozen):
        token = await clerk_token(apps)
        assert (await intake_answer(apps, token)).status_code == 200
        changed = await ledger_admin.put(
            "/users/clerk1/password", json={"password": "another-password-2"}
        )
        assert changed.status_code == 200, changed.text
        frozen.shift(LATER)
        assert (await intake_answer(apps, token)).json()["code"] == "token_revoked"
        # ... and the new sign-in works at once, before the list would be fetched again.
        fresh = await sign_in(apps, "clerk1")
        assert (await intake_answer(apps, fresh)).status_code == 200

    async def test_a_unit_change_revokes_earlier_tokens(self, apps, ledger_admin, frozen):
        token = await clerk_token(apps)
        assert (await intake_answer(apps, token)).status_code == 200
        await ledger_admin.patch("/users/clerk1", json={"units": ["各电力主管部门"]})
        frozen.shift(LATER)
        assert (await intake_answer(apps, token)).json()["code"] == "token_revoked"

    async def test_a_token_for_a_user_that_does_not_exist_is_refused(self, apps, settings):
        token = issue_user_token(
            settings,
            user_id=424242,
            username="ghost",
            role=Role.admin,
            token_version=0,
            now=FROZEN_AT,
        )
        for app in (apps.intake, apps.notify):
            async with client_for(app, token) as client:
                response = await client.get("/outages" if app is apps.notify else "/applications")
            assert (response.status_code, response.json()["code"]) == (401, "token_revoked")

    async def test_a_new_user_is_in_at_once(self, apps):
        # The list was fetched before the user existed; the newer token makes intake look again.
        first = await clerk_token(apps)
        assert (await intake_answer(apps, first)).status_code == 200
        await add_user(apps, "clerk2", Role.clerk, ["各供电企业"])
        assert (await intake_answer(apps, await sign_in(apps, "clerk2"))).status_code == 200

    async def test_only_services_read_the_list(self, apps):
        token = await clerk_token(apps)
        async with client_for(apps.ledger, token) as client:
            response = await client.get(TOKEN_VERSIONS_PATH)
        assert (response.status_code, response.json()["code"]) == (403, "service_only")


class FakeLedger:
    """A ServiceClient stand-in that serves a version list and counts the fetches."""

    def __init__(self, users: dict[int, int], sessions: tuple[str, ...] = ()) -> None:
        self.users = users
        self.sessions = sessions
        self.fetches = 0
        self.down = False

    async def get_json(self, target: str, path: str, **_: Any) -> Any:
        assert (target, path) == ("ledger", TOKEN_VERSIONS_PATH)
        self.fetches += 1
        if self.down:
            raise UpstreamUnavailable("ledger could not be reached")
        return {
            "users": [{"id": i, "version": v} for i, v in self.users.items()],
            "revoked_sessions": list(self.sessions),
        }


def user(uid: int, version: int, issued: datetime, session_id: str | None = None) -> Principal:
    return Principal(
        subject=f"u{uid}",
        role=Role.clerk,
        user_id=uid,
        token_version=version,
        issued_at=issued,
        session_id=session_id,
    )


class TestTheList:
    START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

    def make(self, ledger: FakeLedger) -> tuple[TokenVersions, FixedClock]:
        clock = FixedClock(self.START)
        return TokenVersions(lambda: ledger, clock, max_age=5, stale_after=60), clock  # type: ignore[arg-type, return-value]

    async def test_fetched_once_then_again_when_older_than_max_age(self):
        ledger = FakeLedger({1: 0})
        versions, clock = self.make(ledger)
        for _ in range(10):
            await versions.check(user(1, 0, self.START - timedelta(hours=1)))
        assert ledger.fetches == 1
        clock.advance(timedelta(seconds=6))
        await versions.check(user(1, 0, self.START - timedelta(hours=1)))
        assert ledger.fetches == 2

    async def test_a_sign_in_ended_is_refused_and_the_others_of_the_account_are_not(self):
        ledger = FakeLedger({1: 0}, sessions=("ended",))
        versions, _ = self.make(ledger)
        earlier = self.START - timedelta(hours=1)
        with pytest.raises(Exception, match="no longer valid"):
            await versions.check(user(1, 0, earlier, session_id="ended"))
        await versions.check(user(1, 0, earlier, session_id="other"))
        await versions.check(user(1, 0, earlier))  # a token from before sign-ins had ids

    async def test_an_old_revoked_token_cannot_force_a_fetch_per_request(self):
        ledger = FakeLedger({1: 3})
        versions, _ = self.make(ledger)
        old = user(1, 2, self.START - timedelta(hours=1))
        for _ in range(5):
            with pytest.raises(Exception, match="no longer valid"):
                await versions.check(old)
        assert ledger.fetches == 1
        ghost = user(99, 0, self.START - timedelta(hours=1))
        with pytest.raises(Exception, match="no longer valid"):
            await versions.check(ghost)
        assert ledger.fetches == 1

    async def test_ledger_down_uses_the_list_for_a_while_then_fails_closed(self):
        ledger = FakeLedger({1: 0})
        versions, clock = self.make(ledger)
        await versions.check(user(1, 0, self.START))
        ledger.down = True
        clock.advance(timedelta(seconds=30))
        await versions.check(user(1, 0, self.START))  # the 30 s old list still serves
        clock.advance(timedelta(seconds=31))
        with pytest.raises(Exception, match="could not be read from ledger") as caught:
            await versions.check(user(1, 0, self.START))
        assert caught.value.status == 503  # type: ignore[attr-defined]
        assert caught.value.code == "revocation_list_unavailable"  # type: ignore[attr-defined]
        service = Principal(subject="service:intake", service="intake")
        await versions.check(service)  # service tokens do not depend on the list
