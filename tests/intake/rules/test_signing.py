"""Portal request signatures (HMAC-SHA256) and webhook signatures."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request

from services.intake.rules.signing import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PortalAuth,
    body_digest,
    canonical_request,
    new_nonce,
    request_target,
    sign_request,
    sign_webhook,
    verify_request,
    verify_webhook,
    webhook_headers,
)
from shared.clock import SYSTEM_CLOCK, FixedClock, epoch_seconds
from shared.errors import Unauthorized, install_error_handlers

KEY, SECRET = "pk_0123456789abcdef", "s3cret-portal-secret"
NOW = datetime(2025, 10, 9, 1, 30, tzinfo=UTC)
TS = int(NOW.timestamp())
NONCE = "n0nce-0000000000001"
BODY = json.dumps({"project_code": "2025-370502-44-03-000001"}, ensure_ascii=False).encode()
TARGET = "/portal/v1/projects?source=tzxm"


class NonceStore:
    """What the core backs with a table: (key, nonce) pairs with their expiry."""

    def __init__(self):
        self.seen: dict[tuple[str, str], datetime] = {}

    async def remember(self, key_id, nonce, expires_at):
        if (key_id, nonce) in self.seen:
            return False
        self.seen[(key_id, nonce)] = expires_at
        return True


async def lookup(key_id):
    return {KEY: SECRET}.get(key_id)


def signed(**overrides):
    values = {
        "key_id": KEY,
        "secret": SECRET,
        "method": "POST",
        "target": TARGET,
        "body": BODY,
        "timestamp": TS,
        "nonce": NONCE,
    }
    values.update(overrides)
    return sign_request(**values)


async def verify(headers, *, store=None, method="POST", target=TARGET, body=BODY, now=NOW, **kw):
    return await verify_request(
        method=method,
        target=target,
        body=body,
        headers=headers,
        lookup_secret=lookup,
        remember_nonce=(store or NonceStore()).remember,
        now=now,
        **kw,
    )


async def refused(headers, **kwargs):
    with pytest.raises(Unauthorized) as caught:
        await verify(headers, **kwargs)
    assert caught.value.status == 401
    return caught.value.code


class TestSignRequest:
    def test_canonical_string(self):
        assert canonical_request("post", "/a?b=1", 1700000000, "nonce", b"") == (
            "POST\n/a?b=1\n1700000000\nnonce\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )

    def test_signature_computed_independently(self):
        canonical = "\n".join(
            ["POST", TARGET, str(TS), NONCE, hashlib.sha256(BODY).hexdigest()]
        ).encode()
        expected = base64.b64encode(hmac.new(SECRET.encode(), canonical, "sha256").digest())
        headers = signed()
        assert headers == {
            HEADER_KEY: KEY,
            HEADER_TIMESTAMP: str(TS),
            HEADER_NONCE: NONCE,
            HEADER_SIGNATURE: expected.decode(),
        }

    def test_each_request_gets_a_fresh_nonce(self):
        first = sign_request(key_id=KEY, secret=SECRET, method="GET", target="/x", timestamp=TS)
        second = sign_request(key_id=KEY, secret=SECRET, method="GET", target="/x", timestamp=TS)
        assert first[HEADER_NONCE] != second[HEADER_NONCE]
        assert first[HEADER_TIMESTAMP] == str(TS)

    def test_portal_auth_signs_at_its_clock(self):
        auth = PortalAuth(KEY, SECRET, clock=FixedClock(datetime.fromtimestamp(TS, UTC)))
        request = httpx.Request("GET", "http://intake.test/x")
        signed_request = next(auth.auth_flow(request))
        assert signed_request.headers[HEADER_TIMESTAMP] == str(TS)

    def test_new_nonce_is_valid_for_verification(self):
        assert 16 <= len(new_nonce()) <= 64


class TestVerifyRequest:
    async def test_good_request(self):
        verified = await verify(signed())
        assert (verified.key_id, verified.timestamp, verified.nonce) == (KEY, TS, NONCE)

    async def test_header_names_are_case_insensitive(self):
        headers = {k.lower(): v for k, v in signed().items()}
        assert (await verify(headers)).key_id == KEY

    async def test_nonce_is_remembered_until_the_window_closes(self):
        store = NonceStore()
        await verify(signed(), store=store)
        assert store.seen == {(KEY, NONCE): NOW + timedelta(seconds=300)}

    async def test_replay_is_refused(self):
        store = NonceStore()
        await verify(signed(), store=store)
        assert await refused(signed(), store=store) == "nonce_reused"

    async def test_same_nonce_for_another_key_is_separate(self):
        store = NonceStore()
        await store.remember("pk_other", NONCE, NOW)
        assert (await verify(signed(), store=store)).nonce == NONCE

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("method", "PUT"),
            ("target", "/portal/v1/projects?source=other"),
            ("target", "/portal/v1/projects"),
            ("body", BODY + b" "),
            ("nonce", "n0nce-0000000000002"),
            ("timestamp", TS + 1),
        ],
    )
    async def test_tampering_is_refused(self, field, value):
        # The client signed the original; the request as received differs in one part.
        headers = signed()
        if field in ("nonce", "timestamp"):
            headers = {
                **headers,
                {"nonce": HEADER_NONCE, "timestamp": HEADER_TIMESTAMP}[field]: str(value),
            }
            assert await refused(headers) == "bad_signature"
        else:
            assert await refused(headers, **{field: value}) == "bad_signature"

    async def test_wrong_secret(self):
        assert await refused(signed(secret="another-secret")) == "bad_signature"

    async def test_bad_signature_does_not_burn_the_nonce(self):
        store = NonceStore()
        assert await refused(signed(secret="wrong"), store=store) == "bad_signature"
        assert store.seen == {}
        assert (await verify(signed(), store=store)).nonce == NONCE

    async def test_unknown_key(self):
        assert await refused(signed(key_id="pk_unknown")) == "unknown_key"

    @pytest.mark.parametrize("offset", [301, -301, 3600])
    async def test_stale_or_future_timestamp(self, offset):
        headers = signed(timestamp=TS - offset)
        assert await refused(headers) == "stale_timestamp"

    @pytest.mark.parametrize("offset", [300, -300, 0])
    async def test_edges_of_the_window(self, offset):
        assert (await verify(signed(timestamp=TS - offset))).timestamp == TS - offset

    async def test_window_is_configurable(self):
        headers = signed(timestamp=TS - 100)
        assert await refused(headers, window_seconds=60) == "stale_timestamp"

    @pytest.mark.parametrize(
        "missing", [HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE]
    )
    async def test_missing_header(self, missing):
        headers = {k: v for k, v in signed().items() if k != missing}
        assert await refused(headers) == "missing_signature"

    @pytest.mark.parametrize(
        ("header", "value"),
        [
            (HEADER_TIMESTAMP, "2025-10-09T01:30:00Z"),
            (HEADER_TIMESTAMP, "-5"),
            (HEADER_NONCE, "short"),
            (HEADER_NONCE, "has spaces in it, 0123456"),
            (HEADER_KEY, "pk with space"),
        ],
    )
    async def test_malformed_header(self, header, value):
        headers = {**signed(), header: value}
        assert await refused(headers) == "malformed_signature"


def portal_app(store):
    """A minimal route authenticated the way the core's portal routes are meant to be."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/portal/v1/{rest:path}")
    async def echo(request: Request):
        verified = await verify_request(
            method=request.method,
            target=request_target(request.scope),
            body=await request.body(),
            headers=request.headers,
            lookup_secret=lookup,
            remember_nonce=store.remember,
            now=SYSTEM_CLOCK.now(),
        )
        return {"key": verified.key_id, "target": request_target(request.scope)}

    return app


class TestOverHttp:
    async def test_portal_auth_signs_what_the_server_sees(self):
        store = NonceStore()
        transport = httpx.ASGITransport(app=portal_app(store))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake.test", auth=PortalAuth(KEY, SECRET)
        ) as client:
            response = await client.post(
                "/portal/v1/项目/推送", params={"code": "A B", "n": "1"}, json={"名称": "变电站"}
            )
            assert response.status_code == 200, response.text
            assert response.json() == {
                "key": KEY,
                "target": "/portal/v1/%E9%A1%B9%E7%9B%AE/%E6%8E%A8%E9%80%81?code=A+B&n=1",
            }
            again = await client.post("/portal/v1/x", content=b"")
            assert again.status_code == 200
        assert len(store.seen) == 2

    async def test_replayed_request_is_a_401_problem(self):
        store = NonceStore()
        transport = httpx.ASGITransport(app=portal_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            headers = sign_request(
                key_id=KEY,
                secret=SECRET,
                method="POST",
                target="/portal/v1/p",
                body=b"{}",
                timestamp=epoch_seconds(SYSTEM_CLOCK),
            )
            first = await client.post("/portal/v1/p", content=b"{}", headers=headers)
            second = await client.post("/portal/v1/p", content=b"{}", headers=headers)
        assert first.status_code == 200
        assert second.status_code == 401
        assert second.headers["content-type"] == "application/problem+json"
        assert second.json()["code"] == "nonce_reused"


class TestWebhooks:
    def test_signature_computed_independently(self):
        message = f"{TS}\n{hashlib.sha256(BODY).hexdigest()}".encode()
        expected = base64.b64encode(hmac.new(SECRET.encode(), message, "sha256").digest())
        assert sign_webhook(SECRET, BODY, TS) == expected.decode()
        assert body_digest(BODY) == hashlib.sha256(BODY).hexdigest()

    def test_headers_round_trip(self):
        headers = webhook_headers(SECRET, BODY, TS, key_id=KEY)
        assert headers[HEADER_KEY] == KEY
        assert verify_webhook(SECRET, BODY, headers, now=NOW) == TS

    def test_headers_without_key(self):
        assert HEADER_KEY not in webhook_headers(SECRET, BODY, TS)

    def test_tampered_body(self):
        headers = webhook_headers(SECRET, BODY, TS)
        with pytest.raises(Unauthorized) as caught:
            verify_webhook(SECRET, BODY + b"x", headers, now=NOW)
        assert caught.value.code == "bad_signature"

    def test_wrong_secret(self):
        headers = webhook_headers("other", BODY, TS)
        with pytest.raises(Unauthorized) as caught:
            verify_webhook(SECRET, BODY, headers, now=NOW)
        assert caught.value.code == "bad_signature"

    def test_stale(self):
        headers = webhook_headers(SECRET, BODY, TS - 301)
        with pytest.raises(Unauthorized) as caught:
            verify_webhook(SECRET, BODY, headers, now=NOW)
        assert caught.value.code == "stale_timestamp"

    def test_missing_signature(self):
        with pytest.raises(Unauthorized) as caught:
            verify_webhook(SECRET, BODY, {HEADER_TIMESTAMP: str(TS)}, now=NOW)
        assert caught.value.code == "missing_signature"
