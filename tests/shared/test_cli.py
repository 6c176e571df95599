import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import main
from shared.migrations import downgrade
from shared.settings import get_settings

COMMANDS = [
    [],
    ["up"],
    ["migrate"],
    ["seed"],
    ["user"],
    ["user", "add"],
    ["user", "list"],
    ["user", "set-password"],
    ["key"],
    ["key", "add"],
    ["key", "list"],
    ["key", "revoke"],
    ["key", "rotate"],
    ["backup"],
    ["restore"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "huodian")
def test_every_command_has_help(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code == 0
    assert "usage: huodian" in capsys.readouterr().out


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HUODIAN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("HUODIAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUODIAN_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_migrate_seed_users_and_keys(sqlite_env, monkeypatch, capsys):
    assert main(["migrate"]) == 0
    monkeypatch.setenv("HUODIAN_ADMIN_PASSWORD", "first-admin-pw")
    assert main(["seed"]) == 0
    assert "created user 'admin'" in capsys.readouterr().out
    assert main(["seed"]) == 0
    assert "reference data present" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("head-password-1\n"))
    assert (
        main(
            [
                "user",
                "add",
                "zhang",
                "--role",
                "dept_head",
                "--unit",
                "各供电企业",
                "--email",
                "zhang@example.cn",
                "--password-stdin",
            ]
        )
        == 0
    )
    assert main(["user", "list"]) == 0
    assert "zhang\tdept_head\tzhang@example.cn\t各供电企业" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("new-password-22\n"))
    assert main(["user", "set-password", "zhang", "--password-stdin"]) == 0

    assert main(["key", "add", "--name", "东营市政务服务平台"]) == 0
    issued = capsys.readouterr().out
    key_id = issued.split("key id: ")[1].split()[0]
    secret = issued.split("secret: ")[1].split()[0]
    assert main(["key", "rotate", key_id]) == 0
    rotated = capsys.readouterr().out
    assert f"key id: {key_id}" in rotated
    assert secret not in rotated
    assert main(["key", "revoke", key_id]) == 0
    capsys.readouterr()
    assert main(["key", "list"]) == 0
    assert f"{key_id}\trevoked\tapplications\t东营市政务服务平台" in capsys.readouterr().out
    assert main(["key", "rotate", key_id]) == 2  # a revoked key is not rotated


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (
            ["user", "add", "li", "--role", "dept_head", "--unit", "火星供电局"],
            "long-enough-1",
            "error (unknown_unit)",
        ),
        (["user", "add", "li", "--role", "viewer"], "short", "error (validation_failed): password"),
        (["user", "set-password", "nobody"], "long-enough-1", "error (user_not_found)"),
    ],
)
def test_bad_input_is_a_clear_error(sqlite_env, monkeypatch, capsys, args, password, message):
    assert main(["migrate"]) == 0
    assert main(["seed"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert main([*args, "--password-stdin"]) == 2
    assert message in capsys.readouterr().err


def test_duplicate_portal_name(sqlite_env, capsys):
    assert main(["migrate", "--service", "intake"]) == 0
    assert main(["key", "add", "--name", "省政务服务网"]) == 0
    assert main(["key", "add", "--name", "省政务服务网"]) == 2
    assert "portal_client_exists" in capsys.readouterr().err


def _add_user(monkeypatch, name: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pw-1\n"))
    assert main(["user", "add", name, "--role", "viewer", "--password-stdin"]) == 0


class TestNoTerminal:
    def test_user_add_without_a_terminal_asks_for_password_stdin(
        self, sqlite_env, monkeypatch, capsys
    ):
        assert main(["migrate", "--service", "ledger"]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, nothing on it
        assert main(["user", "add", "li", "--role", "viewer"]) == 2
        assert "error (no_terminal)" in capsys.readouterr().err
        assert main(["user", "add", "li", "--role", "viewer", "--password-stdin"]) == 2
        assert "error (password_missing)" in capsys.readouterr().err

    def test_in_a_real_process_there_is_no_traceback(self, sqlite_env):
        env = {**os.environ, "HUODIAN_VAR_DIR": str(sqlite_env)}
        env.pop("HUODIAN_DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "user", "add", "li", "--role", "viewer"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "EOFError" not in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


class TestWrongDatabase:
    def test_an_unmigrated_database_says_so(self, sqlite_env, capsys):
        assert main(["user", "list"]) == 2
        err = capsys.readouterr().err
        assert "error (database_not_migrated)" in err
        assert "huodian migrate" in err
        assert err.count("\n") == 1
        assert main(["key", "list"]) == 2
        assert "the intake database" in capsys.readouterr().err

    def test_an_older_and_a_foreign_database(self, sqlite_env, capsys):
        assert main(["migrate", "--service", "ledger"]) == 0
        ledger_db = sqlite_env / "ledger.db"
        downgrade("ledger", get_settings(), "0001")
        capsys.readouterr()
        assert main(["user", "list"]) == 2
        assert "error (database_behind)" in capsys.readouterr().err
        with sqlite3.connect(ledger_db) as db:
            db.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
        assert main(["user", "list"]) == 2
        err = capsys.readouterr().err
        assert "error (database_unknown)" in err
        assert "f00dfeed" in err


class TestBackup:
    def test_backup_then_restore_brings_back_what_was_there(self, sqlite_env, monkeypatch, capsys):
        assert main(["migrate"]) == 0
        _add_user(monkeypatch, "before")
        assert main(["backup", str(sqlite_env / "backups")]) == 0
        out = capsys.readouterr().out
        folder = Path(out.split("backup in ")[1].split(";")[0])
        assert sorted(p.name for p in folder.iterdir()) == [
            "intake.db",
            "ledger.db",
            "manifest.json",
            "notify.db",
        ]
        _add_user(monkeypatch, "after")

        assert main(["restore", str(folder)]) == 2  # not without --yes
        assert "error (confirmation_needed)" in capsys.readouterr().err
        assert main(["restore", str(folder), "--yes"]) == 0
        capsys.readouterr()
        assert main(["user", "list"]) == 0
        listed = capsys.readouterr().out
        assert "before\tviewer" in listed
        assert "after" not in listed

    def test_a_damaged_backup_restores_nothing(self, sqlite_env, monkeypatch, capsys):
        assert main(["migrate"]) == 0
        assert main(["backup", str(sqlite_env / "backups")]) == 0
        folder = Path(capsys.readouterr().out.split("backup in ")[1].split(";")[0])
        _add_user(monkeypatch, "kept")
        with (folder / "notify.db").open("ab") as file:
            file.write(b"tampered")
        assert main(["restore", str(folder), "--yes"]) == 2
        assert "error (backup_damaged): notify.db" in capsys.readouterr().err
        assert main(["user", "list"]) == 0
        assert "kept\tviewer" in capsys.readouterr().out  # ledger untouched too
        assert main(["restore", str(sqlite_env), "--yes"]) == 2
        assert "error (backup_unreadable)" in capsys.readouterr().err

    def test_postgresql_is_backed_up_with_pg_dump(self, sqlite_env, monkeypatch, capsys):
        monkeypatch.setenv("HUODIAN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
        get_settings.cache_clear()
        assert main(["backup", str(sqlite_env)]) == 2
        assert "error (not_sqlite)" in capsys.readouterr().err
