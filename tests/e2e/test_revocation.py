"""A user an admin deactivates is out of intake and notify within seconds, across the real
processes (ledger publishes the token versions; the others fetch them every few seconds)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.support import add_user, sign_in, stack_fixture, wait_for

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-revocation-admin-password"


stack = stack_fixture("e2erv", ADMIN_PASSWORD)


def refused_within(url: str, headers: dict[str, str], seconds: float) -> tuple[float, str]:
    """Seconds until ``url`` answers 401, and the problem code it gives."""

    def refusal() -> httpx.Response | None:
        response = httpx.get(url, headers=headers)
        assert response.status_code in (200, 401), response.text
        return response if response.status_code == 401 else None

    started = time.monotonic()
    refused = wait_for(refusal, seconds)
    assert refused is not None, f"{url} still serves a revoked token"
    return time.monotonic() - started, refused.json()["code"]


def test_a_deactivated_user_is_out_of_every_service_within_seconds(stack):
    intake, ledger, notify = stack["intake"], stack["ledger"], stack["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, "clerk-rev", "clerk", "供电分公司")
    add_user(ledger, admin, "dispatch-rev", "dispatcher", "供电分公司")
    clerk = sign_in(ledger, "clerk-rev", "clerk-rev-password-1")
    dispatcher = sign_in(ledger, "dispatch-rev", "dispatch-rev-password-1")
    # A fresh sign-in works at once in both services.
    assert httpx.get(f"{intake}/applications", headers=clerk).status_code == 200
    assert httpx.get(f"{notify}/outages", headers=dispatcher).status_code == 200

    for username in ("clerk-rev", "dispatch-rev"):
        off = httpx.patch(f"{ledger}/users/{username}", headers=admin, json={"is_active": False})
        assert off.status_code == 200, off.text
    assert httpx.get(f"{ledger}/users/me", headers=clerk).json()["code"] == "token_revoked"

    took, code = refused_within(f"{intake}/applications", clerk, seconds=10)
    assert code == "token_revoked"
    assert took < 10
    took, code = refused_within(f"{notify}/outages", dispatcher, seconds=10)
    assert code == "token_revoked"
    assert took < 10
