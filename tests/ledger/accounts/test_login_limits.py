"""Signing in is guarded against guessing (services/ledger/accounts/login.py): per account and
per address, counted in the database so that every worker and process sees the same counts."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import httpx
import pytest

from services.ledger.accounts import login
from services.ledger.app import create_app
from shared.auth import Role
from tests.conftest import PASSWORD, add_user, client_for


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", json={"username": username, "password": password})


@pytest.fixture
async def anonymous(apps):
    async with client_for(apps.ledger) as client:
        yield client


class TestPerAccount:
    async def test_five_wrong_passwords_lock_the_account_for_the_window(
        self, apps, anonymous, frozen
    ):
        await add_user(apps, "wang", Role.viewer)
        for _ in range(5):
            wrong = await attempt(anonymous, "wang", "wrong-password")
            assert (wrong.status_code, wrong.json()["code"]) == (401, "bad_credentials")
        locked = await attempt(anonymous, "wang", PASSWORD)
        assert (locked.status_code, locked.json()["code"]) == (429, "rate_limited")
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        assert locked.headers["content-type"] == "application/problem+json"
        frozen.shift(timedelta(minutes=15))
        assert (await attempt(anonymous, "wang", PASSWORD)).status_code == 200

    async def test_an_unknown_name_is_answered_exactly_like_a_known_one(self, apps, anonymous):
        await add_user(apps, "wang", Role.viewer)
        known = [(await attempt(anonymous, "wang", "x-wrong")).json() for _ in range(6)]
        unknown = [(await attempt(anonymous, "nobody", "x-wrong")).json() for _ in range(6)]
        assert [a["code"] for a in known] == [b["code"] for b in unknown]
        assert known[-1]["code"] == "rate_limited"
        for a, b in zip(known, unknown, strict=True):
            assert a["detail"] == b["detail"]

    async def test_the_count_holds_across_processes(self, apps, settings, anonymous):
        # A second ledger app on the same database stands for another worker or replica.
        await add_user(apps, "wang", Role.viewer)
        for _ in range(3):
            await attempt(anonymous, "wang", "wrong-password")
        other = create_app(settings)
        async with other.router.lifespan_context(other), client_for(other) as second:
            for _ in range(2):
                await attempt(second, "wang", "wrong-password")
            assert (await attempt(second, "wang", PASSWORD)).status_code == 429
        assert (await attempt(anonymous, "wang", PASSWORD)).status_code == 429

    async def test_parallel_wrong_passwords_get_exactly_five_chances(self, apps, settings):
        # Several clients, and a second app on the same database (another worker), at once:
        # each try is recorded and its count read in one statement, so none slips past.
        await add_user(apps, "wang", Role.viewer)
        other = create_app(settings)
        async with (
            other.router.lifespan_context(other),
            client_for(apps.ledger) as first,
            client_for(other) as second,
        ):
            answers = await asyncio.gather(
                *(attempt((first, second)[i % 2], "wang", "wrong-password") for i in range(14))
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [401] * 5 + [429] * 9
            assert (await attempt(first, "wang", PASSWORD)).status_code == 429

    async def test_a_right_password_does_not_count_as_a_wrong_one(self, apps, anonymous):
        await add_user(apps, "wang", Role.viewer)
        # A try is taken while its password is checked, so at most five may be in flight.
        answers = await asyncio.gather(*(attempt(anonymous, "wang", PASSWORD) for _ in range(5)))
        assert {a.status_code for a in answers} == {200}
        for _ in range(8):
            assert (await attempt(anonymous, "wang", PASSWORD)).status_code == 200
        for _ in range(5):
            assert (await attempt(anonymous, "wang", "wrong-password")).status_code == 401
        assert (await attempt(anonymous, "wang", PASSWORD)).status_code == 429


class TestPerAddress:
    async def test_thirty_attempts_a_minute_from_one_address(self, apps, anonymous, frozen):
        for i in range(30):
            assert (await attempt(anonymous, f"user{i}", "wrong")).status_code == 401
        refused = await attempt(anonymous, "user-last", "wrong")
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        frozen.shift(timedelta(minutes=1))
        assert (await attempt(anonymous, "user-next", "wrong")).status_code == 401


class TestTheSameWork:
    async def test_known_and_unknown_names_each_cost_one_hash_check_off_the_loop(
        self, apps, anonymous, monkeypatch
    ):
        await add_user(apps, "wang", Role.viewer)
        checks: list[tuple[str, bool]] = []
        real = login.verify_password

        def counted(stored: str, password: str) -> bool:
            checks.append((stored[:9], threading.current_thread() is threading.main_thread()))
            return real(stored, password)

        monkeypatch.setattr(login, "verify_password", counted)
        await attempt(anonymous, "wang", "wrong-password")
        await attempt(anonymous, "nobody", "wrong-password")
        assert [prefix for prefix, _ in checks] == ["$argon2id", "$argon2id"]
        assert not any(on_loop for _, on_loop in checks)  # never on the event loop's thread
