"""The token signing key from a mounted file (deploy/: a Kubernetes or compose secret)."""

from pathlib import Path

import pytest

from shared.settings import Settings


def test_the_signing_key_is_read_from_its_file(tmp_path: Path) -> None:
    key_file = tmp_path / "signing_key"
    key_file.write_text("k" * 48 + "\n")
    settings = Settings(secret_key_file=key_file, var_dir=tmp_path / "var")
    assert settings.signing_key() == "k" * 48
    assert not (tmp_path / "var" / "secret.key").exists()  # nothing generated beside it


def test_a_named_key_file_that_is_missing_or_empty_stops_the_process(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Settings(secret_key_file=tmp_path / "absent", var_dir=tmp_path).signing_key()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        Settings(secret_key_file=empty, var_dir=tmp_path).signing_key()


def test_an_explicit_key_wins_over_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "signing_key"
    key_file.write_text("from-file")
    assert Settings(secret_key="explicit", secret_key_file=key_file).signing_key() == "explicit"
