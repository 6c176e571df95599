"""Portal clients authenticate every call with their key and an HMAC signature: stale
timestamps, reused nonces, unknown or inactive keys and tampered requests are refused (401)."""

from datetime import timedelta

import httpx
from sqlmodel import col, select

from services.intake.portal.jobs import run_housekeeping
from services.intake.portal.models import PortalClient, PortalNonce
from services.intake.rules.signing import sign_request
from shared.db import session_scope
from tests.intake.portal.conftest import post, project_body


def headers_for(key, clock, method="GET", target="/portal/me", body=b"", **overrides):
    values = {
        "key_id": key.key_id,
        "secret": key.secret,
        "method": method,
        "target": target,
        "body": body,
        "timestamp": int(clock.now().timestamp()),
    }
    values.update(overrides)
    return sign_request(**values)


def refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


class TestSignedCalls:
    async def test_a_signed_call_names_the_portal(self, portal, portal_key):
        response = await portal.get("/portal/me")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "key_id": portal_key.key_id,
            "name": "东营市政务服务平台",
            "webhook_url": None,
            "scopes": ["applications", "projects", "approvals"],
        }

    async def test_unsigned_and_bearer_calls_are_refused(self, anonymous, intake_admin):
        refused(await anonymous.get("/portal/me"), "missing_signature")
        refused(await intake_admin.get("/portal/me"), "missing_signature")

    async def test_the_body_and_the_query_are_signed(self, anonymous, portal_key, clock):
        body = b'{"project_code": "2025-370502-44-03-012345"}'
        headers = headers_for(portal_key, clock, "POST", "/portal/projects", body)
        tampered = await anonymous.post(
            "/portal/projects",
            content=body.replace(b"012345", b"099999"),
            headers={**headers, "Idempotency-Key": "k1", "Content-Type": "application/json"},
        )
        refused(tampered, "bad_signature")
        other_query = await anonymous.get(
            "/portal/me?as=admin", headers=headers_for(portal_key, clock)
        )
        refused(other_query, "bad_signature")

    async def test_a_wrong_secret_is_refused(self, anonymous, portal_key, clock):
        response = await anonymous.get(
            "/portal/me", headers=headers_for(portal_key, clock, secret="not-the-secret")
        )
        refused(response, "bad_signature")


class TestReplays:
    async def test_a_stale_timestamp_is_refused(self, anonymous, portal_key, clock):
        old = int((clock.now() - timedelta(seconds=301)).timestamp())
        refused(
            await anonymous.get(
                "/portal/me", headers=headers_for(portal_key, clock, timestamp=old)
            ),
            "stale_timestamp",
        )
        recent = int((clock.now() - timedelta(seconds=299)).timestamp())
        fine = await anonymous.get(
            "/portal/me", headers=headers_for(portal_key, clock, timestamp=recent)
        )
        assert fine.status_code == 200, fine.text

    async def test_a_nonce_is_used_once(self, anonymous, portal_key, clock):
        headers = headers_for(portal_key, clock)
        assert (await anonymous.get("/portal/me", headers=headers)).status_code == 200
        refused(await anonymous.get("/portal/me", headers=headers), "nonce_reused")

    async def test_a_refused_request_has_used_its_nonce(self, anonymous, portal_key, clock):
        body = b"{}"
        headers = {
            **headers_for(portal_key, clock, "POST", "/portal/projects", body),
            "Content-Type": "application/json",
        }
        first = await anonymous.post("/portal/projects", content=body, headers=headers)
        assert first.status_code == 400  # no Idempotency-Key
        refused(
            await anonymous.post("/portal/projects", content=body, headers=headers),
            "nonce_reused",
        )

    async def test_expired_nonces_are_forgotten(self, intake, portal, clock):
        assert (await portal.get("/portal/me")).status_code == 200
        assert await run_housekeeping(intake) == (0, 0)
        clock.moment += timedelta(seconds=301)
        assert await run_housekeeping(intake) == (1, 0)
        async with session_scope(intake.state.engine) as session:
            assert (await session.exec(select(PortalNonce))).all() == []


class TestKeys:
    async def test_unknown_and_inactive_keys_are_refused(
        self, intake, anonymous, portal, portal_key, clock
    ):
        stranger = headers_for(portal_key, clock, key_id="pk_unknown")
        refused(await anonymous.get("/portal/me", headers=stranger), "unknown_key")
        async with session_scope(intake.state.engine) as session:
            client = (
                await session.exec(
                    select(PortalClient).where(col(PortalClient.key_id) == portal_key.key_id)
                )
            ).one()
            client.is_active = False
            session.add(client)
        refused(await portal.get("/portal/me"), "unknown_key")
        refused(await post(portal, "/portal/projects", project_body()), "unknown_key")


class TestRevokeAndRotate:
    async def test_a_revoked_key_is_refused_at_once(
        self, anonymous, intake_admin, portal_key, clock
    ):
        ok = await anonymous.get("/portal/me", headers=headers_for(portal_key, clock))
        assert ok.status_code == 200
        revoked = await intake_admin.post(f"/portal/clients/{portal_key.key_id}/revoke")
        assert (revoked.status_code, revoked.json()["is_active"]) == (200, False)
        refused(
            await anonymous.get("/portal/me", headers=headers_for(portal_key, clock)),
            "unknown_key",
        )
        again = await intake_admin.post(f"/portal/clients/{portal_key.key_id}/rotate")
        assert (again.status_code, again.json()["code"]) == (409, "portal_client_revoked")

    async def test_a_rotated_key_signs_with_the_new_secret_only(
        self, anonymous, intake_admin, portal_key, clock
    ):
        rotated = await intake_admin.post(f"/portal/clients/{portal_key.key_id}/rotate")
        assert rotated.status_code == 200, rotated.text
        secret = rotated.json()["secret"]
        assert secret != portal_key.secret
        refused(
            await anonymous.get("/portal/me", headers=headers_for(portal_key, clock)),
            "bad_signature",
        )
        new = headers_for(portal_key, clock, secret=secret)
        assert (await anonymous.get("/portal/me", headers=new)).status_code == 200
        listed = (await intake_admin.get("/portal/clients")).json()
        assert all("secret" not in c for c in listed)  # shown once, never listed

    async def test_only_admins_manage_keys(self, clerk, portal_key):
        for action in ("revoke", "rotate"):
            response = await clerk.post(f"/portal/clients/{portal_key.key_id}/{action}")
            assert response.status_code == 403
        missing = await clerk.post("/portal/clients/pk_nope/revoke")
        assert missing.status_code == 403
