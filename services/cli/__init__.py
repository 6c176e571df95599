"""The ``huodian`` command line: run the services, migrate, seed, and manage users and keys.

One module per group of commands; this one holds the parser and :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from services.cli.command import CommandError
from services.cli.databases import cmd_backup, cmd_migrate, cmd_restore, cmd_seed
from services.cli.integrity import cmd_checkpoint, cmd_verify
from services.cli.keys import (
    cmd_key_add,
    cmd_key_list,
    cmd_key_revoke,
    cmd_key_rotate,
    cmd_keyring_public_keys,
    cmd_keyring_rotate,
    cmd_keyring_show,
)
from services.cli.up import cmd_up
from services.cli.users import cmd_user_add, cmd_user_list, cmd_user_set_password
from shared.auth import Role
from shared.settings import SERVICES, get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huodian", description="Huodian (获电): intake, ledger and notify services."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="migrate, seed and run all three services")
    up.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    up.set_defaults(handler=cmd_up)

    migrate = commands.add_parser("migrate", help="upgrade each service's database")
    migrate.add_argument("--service", action="append", choices=SERVICES)
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=cmd_migrate)

    commands.add_parser(
        "seed", help="load the reference ledgers and create the first admin"
    ).set_defaults(handler=cmd_seed)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--display-name")
    add.add_argument("--email")
    add.add_argument("--unit", action="append", help="unit name (repeat); for dept_head")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_user_add)
    user.add_parser("list", help="list users").set_defaults(handler=cmd_user_list)
    setpw = user.add_parser("set-password", help="set a user's password")
    setpw.add_argument("username")
    setpw.add_argument("--password-stdin", action="store_true")
    setpw.set_defaults(handler=cmd_user_set_password)

    key = commands.add_parser("key", help="portal API keys").add_subparsers(
        dest="key_command", required=True
    )
    key_add = key.add_parser("add", help="issue a key for a government portal")
    key_add.add_argument("--name", required=True, help="the portal's name")
    key_add.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="what the key may post, repeatable: applications (政务服务平台报装, the default), "
        "projects (项目推送), approvals (审批结果)",
    )
    key_add.set_defaults(handler=cmd_key_add)
    key.add_parser("list", help="list the portal keys").set_defaults(handler=cmd_key_list)
    key_revoke = key.add_parser("revoke", help="stop a key at once")
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(handler=cmd_key_revoke)
    key_rotate = key.add_parser("rotate", help="issue a new secret; the old one stops at once")
    key_rotate.add_argument("key_id")
    key_rotate.set_defaults(handler=cmd_key_rotate)

    verify = commands.add_parser(
        "verify",
        help="verify the stage record: every application, the checkpoints and their copy "
        "(记录校验); exit 1 on any finding",
    )
    verify.add_argument(
        "--bundle", metavar="FILE", help="verify one evidence bundle offline instead"
    )
    verify.add_argument(
        "--public-key",
        metavar="FILE",
        help="with --bundle: verify with these public keys alone (GET /integrity/public-keys, "
        "huodian keyring public-keys), without the secret keyring",
    )
    verify.add_argument(
        "--no-copy", action="store_true", help="do not ask notify for the checkpoint copy"
    )
    verify.set_defaults(handler=cmd_verify)
    commands.add_parser(
        "checkpoint", help="write a signed checkpoint of the stage log now (记录锚定)"
    ).set_defaults(handler=cmd_checkpoint)

    keyring = commands.add_parser(
        "keyring", help="the keys that seal secrets and key the stage log (密钥环)"
    ).add_subparsers(dest="keyring_command", required=True)
    keyring.add_parser("show", help="key ids and the current one").set_defaults(
        handler=cmd_keyring_show
    )
    keyring.add_parser(
        "public-keys", help="the public keys that verify checkpoints and bundles (公钥), as JSON"
    ).set_defaults(handler=cmd_keyring_public_keys)
    keyring.add_parser("rotate", help="add a new current key; old ones stay").set_defaults(
        handler=cmd_keyring_rotate
    )

    backup = commands.add_parser(
        "backup", help="copy the SQLite databases into a new folder (备份; PostgreSQL: pg_dump)"
    )
    backup.add_argument("into", nargs="?", default="backups", help="where the folder is made")
    backup.set_defaults(handler=cmd_backup)
    restore = commands.add_parser(
        "restore", help="replace the SQLite databases with a backup's, after checking it (恢复)"
    )
    restore.add_argument("folder", help="a folder made by 'huodian backup'")
    restore.add_argument("--yes", action="store_true", help="the services are stopped: go ahead")
    restore.set_defaults(handler=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    from shared.errors import HuodianError

    args = build_parser().parse_args(argv)
    settings = get_settings()
    from services.backup import BackupError

    try:
        code: int = args.handler(settings, args)
    except (HuodianError, CommandError, BackupError) as exc:
        print(f"error ({exc.code}): {exc.detail}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        # Whatever the database said, in one line: never a page of traceback.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(
            f"error (database_error): {reason}; is the database reachable and migrated "
            "('huodian migrate')? HUODIAN_DATABASE_URL / HUODIAN_VAR_DIR say which one",
            file=sys.stderr,
        )
        return 2
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            print(f"error (validation_failed): {field}: {error['msg']}", file=sys.stderr)
        return 2
    return code
