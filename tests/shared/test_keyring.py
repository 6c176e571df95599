"""The keyring kept outside the database: sealing, signing, rotation, the file."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from services.cli import main as cli
from shared.keyring import Keyring, KeyringError, Signature, load_keyring, save_keyring
from shared.settings import Settings


class TestSeal:
    def test_a_sealed_value_opens_for_its_purpose_only(self) -> None:
        keyring = Keyring.generate()
        sealed = keyring.seal("portal-secret", "s3cret-value")
        assert "s3cret" not in sealed
        assert sealed.startswith("hk1.k1.")
        assert keyring.open("portal-secret", sealed) == "s3cret-value"
        with pytest.raises(KeyringError):
            keyring.open("idempotency", sealed)

    def test_two_seals_of_one_value_differ(self) -> None:
        keyring = Keyring.generate()
        assert keyring.seal("p", "x") != keyring.seal("p", "x")

    @pytest.mark.parametrize("tampered", ["hk1.k1.AAAA", "hk1.k9.AAAA", "plain", "hk1.k1."])
    def test_a_tampered_or_foreign_value_does_not_open(self, tampered: str) -> None:
        with pytest.raises(KeyringError):
            Keyring.generate().open("p", tampered)

    def test_another_keyring_cannot_open_it(self) -> None:
        sealed = Keyring.generate().seal("p", "x")
        with pytest.raises(KeyringError):
            Keyring.generate().open("p", sealed)


class TestSign:
    def test_a_signature_names_its_key_and_verifies(self) -> None:
        keyring = Keyring.generate()
        signature = keyring.sign("stage-log", b"entry")
        assert signature.key_id == "k1"
        assert keyring.verify("stage-log", b"entry", signature)
        assert not keyring.verify("stage-log", b"entry!", signature)
        assert not keyring.verify("other-use", b"entry", signature)

    def test_an_unknown_key_id_does_not_verify(self) -> None:
        keyring = Keyring.generate()
        digest = keyring.sign("p", b"x").digest
        assert not keyring.verify("p", b"x", Signature("k7", digest))


class TestRotation:
    def test_old_values_still_open_and_new_ones_use_the_new_key(self) -> None:
        old = Keyring.generate()
        sealed = old.seal("p", "x")
        signature = old.sign("p", b"x")
        new = old.rotated()
        assert new.current_id == "k2"
        assert new.open("p", sealed) == "x"
        assert new.verify("p", b"x", signature)
        assert new.seal("p", "y").startswith("hk1.k2.")
        assert new.sign("p", b"y").key_id == "k2"


class TestFile:
    def test_made_on_first_use_private_and_kept(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "keyring.json"
        first = load_keyring(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_keyring(path) == first

    def test_processes_starting_at_once_agree_on_one_keyring(self, tmp_path: Path) -> None:
        path = tmp_path / "keyring.json"
        found: list[Keyring] = []
        threads = [
            threading.Thread(target=lambda: found.append(load_keyring(path))) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(k == found[0] for k in found)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".secret-")]

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            '{"format": 2, "current": "k1", "keys": {}}',
            '{"format": 1, "current": "k2", "keys": {"k1": "AAAA"}}',
            '{"format": 1, "current": "k1", "keys": {"k1": "short"}}',
            "[]",
        ],
    )
    def test_a_malformed_file_is_a_clear_error(self, tmp_path: Path, text: str) -> None:
        path = tmp_path / "keyring.json"
        path.write_text(text)
        with pytest.raises(KeyringError):
            load_keyring(path)

    def test_settings_read_the_rotated_file(self, tmp_path: Path) -> None:
        settings = Settings(var_dir=tmp_path)
        sealed = settings.keyring().seal("p", "x")
        save_keyring(settings.keyring_path(), settings.keyring().rotated())
        assert settings.keyring().current_id == "k2"
        assert settings.keyring().open("p", sealed) == "x"


class TestCommandLine:
    def test_rotate_then_show(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from shared.settings import get_settings

        monkeypatch.setenv("HUODIAN_VAR_DIR", str(tmp_path))
        get_settings.cache_clear()
        try:
            assert cli(["keyring", "rotate"]) == 0
            assert cli(["keyring", "show"]) == 0
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr().out
        assert "new current key: k2" in out
        assert "k1\n" in out
        assert "k2  (current)" in out
        assert load_keyring(tmp_path / "keyring.json").current_id == "k2"
