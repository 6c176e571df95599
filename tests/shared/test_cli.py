import io

import pytest

from services.cli import main
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
