"""Against the real processes: passwords and query codes cannot be guessed (暴力猜测).

Sign-in at ledger is limited per account and per client address, and the counts live in the
database, so a second ledger process on the same database (SQLite file or PostgreSQL schema)
sees them; a known and an unknown username cost the same time; argon2 runs off the event loop,
so ``/healthz`` answers while wrong passwords are being hashed. Intake's applicant route locks a
number after ten wrong query codes, and an address after sixty.

Each test signs in from its own loopback addresses (127.0.0.x, which Linux routes to the
services on 127.0.0.1), so that the per-address limits of one test never reach another.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.intake.applications.query_codes import PER_ADDRESS as CODES_PER_ADDRESS
from services.intake.applications.query_codes import PER_NUMBER
from services.intake.rules.identity import credit_code_check_character
from services.ledger.accounts.login import PER_ACCOUNT, PER_ADDRESS
from shared.clock import SYSTEM_CLOCK
from shared.errors import PROBLEM_JSON
from shared.ratelimit import Limit
from tests.e2e.support import add_user, running_service, running_stack, sign_in

pytestmark = pytest.mark.e2e
# A loaded machine hashes slowly: wait longer than httpx's 5 s.
post = partial(httpx.post, timeout=60)
ADMIN_PASSWORD = "e2e-guessing-admin-password"
PREFIX = f"e2eg{os.getpid()}_"
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with running_stack(tmp_path_factory.mktemp("e2e-guessing"), PREFIX, ADMIN_PASSWORD) as urls:
        yield urls


@pytest.fixture(scope="module")
def second_ledger(stack: dict[str, str]) -> Iterator[str]:
    """Another ledger process on the stack's database: a second worker or replica."""
    with running_service(
        "ledger",
        Path(stack["var_dir"]),
        PREFIX,
        HUODIAN_INTAKE_URL=stack["intake"],
        HUODIAN_LEDGER_URL=stack["ledger"],
        HUODIAN_NOTIFY_URL=stack["notify"],
    ) as url:
        yield url


@pytest.fixture(scope="module")
def admin(stack: dict[str, str]) -> dict[str, str]:
    return sign_in(stack["ledger"], "admin", ADMIN_PASSWORD)


def client_from(address: str) -> httpx.Client:
    """A client whose requests come from ``address`` (a loopback address of its own).

    A new connection for each request: on a loaded machine a kept-alive one can sit idle past
    uvicorn's keep-alive timeout (5 s) and be closed just as the next request goes out.
    """
    return httpx.Client(
        transport=httpx.HTTPTransport(
            local_address=address, limits=httpx.Limits(max_keepalive_connections=0)
        ),
        timeout=60,
    )


def attempt(client: httpx.Client, ledger: str, username: str, password: str) -> httpx.Response:
    return client.post(f"{ledger}/auth/token", json={"username": username, "password": password})


def timed_wrong_attempt(client: httpx.Client, ledger: str, username: str) -> float:
    started = time.monotonic()
    response = attempt(client, ledger, username, "not-the-password")
    took = time.monotonic() - started
    # A refusal by a limit skips the hash and would spoil the measurement.
    assert (response.status_code, response.json()["code"]) == (401, "bad_credentials")
    return took


def in_a_fresh_window(limit: Limit, needed_seconds: float) -> None:
    """Wait for the next window of ``limit`` unless ``needed_seconds`` are left in this one, so
    that a count is not reset half-way by the window's end (the windows are fixed)."""
    left = limit.retry_after(SYSTEM_CLOCK.now())
    if left < needed_seconds:
        time.sleep(left + 0.5)


def in_one_window(limit: Limit, addresses: tuple[str, ...], run: Callable[[str], T]) -> T:
    """``run(address)`` from the first of ``addresses`` for which it ran within one window of
    ``limit``: the windows are fixed, and one that ends half-way starts the count again."""
    for address in addresses:
        start = limit.window_start(SYSTEM_CLOCK.now())
        result = run(address)
        if limit.window_start(SYSTEM_CLOCK.now()) == start:
            return result
    raise AssertionError(f"no run within one window of {limit}")


def assert_rate_limited(response: httpx.Response, limit: Limit) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= limit.window.total_seconds()


class TestSignInLimits:
    def test_five_wrong_passwords_lock_the_account_also_for_the_right_one(self, stack, admin):
        ledger = stack["ledger"]
        add_user(ledger, admin, "lock-e2e", "clerk", "供电分公司")
        in_a_fresh_window(PER_ACCOUNT, 60)
        with client_from("127.0.0.11") as client:
            for _ in range(5):
                wrong = attempt(client, ledger, "lock-e2e", "wrong-password")
                assert (wrong.status_code, wrong.json()["code"]) == (401, "bad_credentials")
            right = attempt(client, ledger, "lock-e2e", "lock-e2e-password-1")
        assert_rate_limited(right, PER_ACCOUNT)

    def test_the_account_count_is_shared_by_two_ledger_processes(self, stack, admin, second_ledger):
        first = stack["ledger"]
        add_user(first, admin, "shared-e2e", "clerk", "供电分公司")
        in_a_fresh_window(PER_ACCOUNT, 60)
        with client_from("127.0.0.12") as client:
            for ledger in (first, first, first, second_ledger, second_ledger):
                assert attempt(client, ledger, "shared-e2e", "wrong").status_code == 401
            assert_rate_limited(
                attempt(client, second_ledger, "shared-e2e", "shared-e2e-password-1"), PER_ACCOUNT
            )
            assert_rate_limited(
                attempt(client, first, "shared-e2e", "shared-e2e-password-1"), PER_ACCOUNT
            )

    def test_thirty_attempts_a_minute_per_address_across_both_processes(
        self, stack, admin, second_ledger
    ):
        """The thirty go to an account locked beforehand, so that they are refused without a
        hash and all fit in one minute however loaded the machine is; they count all the same,
        and the next attempt from that address, for a name never tried, is refused too."""
        first = stack["ledger"]
        add_user(first, admin, "locked-e2e", "clerk", "供电分公司")
        in_a_fresh_window(PER_ACCOUNT, 120)
        with client_from("127.0.0.13") as client:
            for _ in range(PER_ACCOUNT.limit):
                assert attempt(client, first, "locked-e2e", "wrong").status_code == 401

        def thirty_and_one_more(address: str) -> tuple[list[str], list[httpx.Response]]:
            with client_from(address) as client:
                counted = [
                    attempt(client, (first, second_ledger)[i % 2], "locked-e2e", "x").json()
                    for i in range(PER_ADDRESS.limit)
                ]
                more = [attempt(client, url, "never-tried", "x") for url in (first, second_ledger)]
                return [c["detail"] for c in counted], more

        addresses = ("127.0.0.14", "127.0.0.15", "127.0.0.16")
        counted, refused = in_one_window(PER_ADDRESS, addresses, thirty_and_one_more)
        assert set(counted) == {"该账号密码错误次数过多，请稍后再试"}
        for response in refused:
            assert_rate_limited(response, PER_ADDRESS)
            assert response.json()["detail"] == "该地址登录尝试次数过多，请稍后再试"
        with client_from("127.0.0.17") as other:  # another address is not affected
            assert attempt(other, first, "never-tried", "x").status_code == 401


def new_application(intake: str, clerk: dict[str, str], **applicant: str) -> dict[str, Any]:
    """A Jingyu application accepted by ``clerk``; its number and query code."""
    credit_code = "91220622MA7654321"
    body = {
        "jurisdiction": "jingyu",
        "unit": "供电分公司",
        "channel": "online",
        "customer_type": "hv10_single",
        "applicant": {
            "name": "靖宇县某食品有限公司",
            "id_kind": "credit_code",
            "id_number": credit_code + credit_code_check_character(credit_code),
            "mobile": "13943900001",
            **applicant,
        },
        "site": {"address": "靖宇县工业园区", "area_class": "town"},
        "capacity_kw": "400",
    }
    created = post(f"{intake}/applications", headers=clerk, json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


class TestQueryCodeLimits:
    @staticmethod
    def progress(client: httpx.Client, intake: str, number: str, code: str) -> httpx.Response:
        return client.get(
            f"{intake}/public/applications/{number}/progress", headers={"X-Query-Code": code}
        )

    def test_ten_wrong_codes_lock_the_number(self, stack, admin):
        intake = stack["intake"]
        add_user(stack["ledger"], admin, "clerk-guess", "clerk", "供电分公司")
        clerk = sign_in(stack["ledger"], "clerk-guess", "clerk-guess-password-1")
        created = new_application(intake, clerk)
        number, code = created["application"]["number"], created["query_code"]
        in_a_fresh_window(PER_NUMBER, 60)
        with client_from("127.0.0.21") as guesser, client_from("127.0.0.22") as applicant:
            assert self.progress(applicant, intake, number, code).status_code == 200
            for _ in range(PER_NUMBER.limit):
                wrong = self.progress(guesser, intake, number, "AAAAAAAA")
                assert (wrong.status_code, wrong.json()["code"]) == (404, "application_not_found")
            # Locked for everyone, the right code and another address included.
            assert_rate_limited(self.progress(guesser, intake, number, code), PER_NUMBER)
            assert_rate_limited(self.progress(applicant, intake, number, code), PER_NUMBER)

    def test_sixty_wrong_tries_a_minute_lock_the_address(self, stack):
        intake = stack["intake"]

        def sixty_and_one_more(address: str) -> tuple[list[int], httpx.Response]:
            with client_from(address) as client:
                wrong = [
                    self.progress(client, intake, f"BZ2099010100{i:04d}", "AAAAAAAA").status_code
                    for i in range(CODES_PER_ADDRESS.limit)
                ]
                return wrong, self.progress(client, intake, "BZ20990101009999", "AAAAAAAA")

        addresses = ("127.0.0.23", "127.0.0.24", "127.0.0.26")
        wrong, refused = in_one_window(CODES_PER_ADDRESS, addresses, sixty_and_one_more)
        assert wrong == [404] * CODES_PER_ADDRESS.limit
        assert_rate_limited(refused, CODES_PER_ADDRESS)
        with client_from("127.0.0.25") as other:
            assert self.progress(other, intake, "BZ20990101009999", "AAAAAAAA").status_code == 404


class TestTiming:
    def test_a_known_and_an_unknown_username_take_the_same_time(self, stack, admin):
        """Medians over 16 tries each, interleaved, from two addresses and over four accounts
        (four wrong tries each, under both limits). Before, a known name took 50 times as long
        as an unknown one; the bound only says both cost one argon2 verification."""
        ledger = stack["ledger"]
        users = [f"timing-{i}" for i in range(4)]
        for username in users:
            add_user(ledger, admin, username, "clerk", "供电分公司")
        known: list[float] = []
        unknown: list[float] = []
        with client_from("127.0.0.31") as a, client_from("127.0.0.32") as b:
            timed_wrong_attempt(b, ledger, "nobody-warm-up")  # the dummy hash is made once
            for round_ in range(4):
                for i, username in enumerate(users):
                    tries = [(known, a, username), (unknown, b, f"nobody-{round_}-{i}")]
                    if (round_ + i) % 2:
                        tries.reverse()
                    for samples, client, name in tries:
                        samples.append(timed_wrong_attempt(client, ledger, name))
        ratio = statistics.median(known) / statistics.median(unknown)
        assert 0.5 < ratio < 2.0, (known, unknown)

    def test_healthz_answers_while_wrong_passwords_are_hashed(self, stack):
        """Eight wrong sign-ins at once; ``/healthz`` meanwhile answers in well under one sign-in's
        time. With argon2 on the event loop it waited for the hashes ahead of it (0.5–0.9 s)."""
        ledger = stack["ledger"]
        with client_from("127.0.0.41") as client:
            timed_wrong_attempt(client, ledger, "solo-warm-up")
            one_sign_in = statistics.median(
                timed_wrong_attempt(client, ledger, f"solo-{i}") for i in range(3)
            )
        answers: list[httpx.Response] = []

        def wrong_sign_in(i: int) -> None:
            with client_from(f"127.0.0.{50 + i}") as client:
                answers.append(attempt(client, ledger, f"burst-{i}", "wrong"))

        burst = [threading.Thread(target=wrong_sign_in, args=(i,)) for i in range(8)]
        health: list[float] = []
        with httpx.Client(timeout=60) as probe:
            probe.get(f"{ledger}/healthz")  # the probe's connection is open before the burst
            for thread in burst:
                thread.start()
            time.sleep(0.02)
            while any(thread.is_alive() for thread in burst):
                started = time.monotonic()
                assert probe.get(f"{ledger}/healthz").status_code == 200
                health.append(time.monotonic() - started)
                time.sleep(0.01)
        for thread in burst:
            thread.join()
        assert [a.status_code for a in answers] == [401] * 8
        assert len(health) >= 3, health
        assert statistics.median(health) < one_sign_in / 2, (health, one_sign_in)
