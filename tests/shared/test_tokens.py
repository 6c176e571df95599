"""Bearer tokens (shared.auth): a token's signature is checked once per process, its expiry on
every request against the service's clock."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from shared import auth
from shared.auth import Role, decode_token, issue_user_token
from shared.errors import Unauthorized
from shared.settings import Settings
from tests.conftest import FROZEN_AT

KEY = "a-signing-key-for-these-tests-long-enough-for-hs256"


def settings_with(tmp_path, key: str = KEY) -> Settings:
    return Settings(var_dir=tmp_path, secret_key=key)


def token(settings: Settings) -> str:
    return issue_user_token(
        settings, user_id=7, username="clerk7", role=Role.clerk, token_version=1, now=FROZEN_AT
    )


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The tokens PyJWT was asked to verify."""
    seen: list[str] = []
    real = jwt.decode

    def counting(raw, *args, **kwargs):
        seen.append(raw)
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    auth._signed_principal.cache_clear()
    return seen


def test_the_same_token_is_verified_once(tmp_path, decodes):
    settings = settings_with(tmp_path)
    raw = token(settings)
    first = decode_token(settings, raw, FROZEN_AT)
    again = decode_token(settings, raw, FROZEN_AT + timedelta(minutes=5))
    assert first == again
    assert first.subject == "clerk7"
    assert first.role is Role.clerk
    assert decodes == [raw]


def test_a_verified_token_still_expires(tmp_path, decodes):
    settings = settings_with(tmp_path)
    raw = token(settings)
    decode_token(settings, raw, FROZEN_AT)
    later = FROZEN_AT + timedelta(hours=settings.token_ttl_hours, seconds=1)
    with pytest.raises(Unauthorized) as refused:
        decode_token(settings, raw, later)
    assert refused.value.code == "token_expired"


def test_a_token_verified_under_one_key_is_not_taken_under_another(tmp_path, decodes):
    settings = settings_with(tmp_path)
    raw = token(settings)
    decode_token(settings, raw, FROZEN_AT)
    rotated = settings_with(tmp_path, "another-signing-key-after-a-rotation-long-enough")
    with pytest.raises(Unauthorized) as refused:
        decode_token(rotated, raw, FROZEN_AT)
    assert refused.value.code == "invalid_token"


def test_a_forged_token_is_refused_every_time(tmp_path, decodes):
    settings = settings_with(tmp_path)
    raw = token(settings)
    forged = raw[:-2] + ("AA" if raw[-2:] != "AA" else "BB")
    for _ in range(2):
        with pytest.raises(Unauthorized) as refused:
            decode_token(settings, forged, FROZEN_AT)
        assert refused.value.code == "invalid_token"
    assert decodes == [forged, forged]
