"""``huodian user``: staff accounts, kept by ledger."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlmodel.ext.asyncio.session import AsyncSession

from services.cli.command import CommandError, run_in_session
from shared.auth import Role
from shared.clock import SYSTEM_CLOCK
from shared.settings import Settings


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    from services.ledger.accounts.models import UserCreate
    from services.ledger.accounts.service import create_user

    password = _read_password(args)
    data = UserCreate(
        username=args.username,
        display_name=args.display_name or args.username,
        email=args.email,
        role=Role(args.role),
        password=password,
        units=args.unit or [],
    )
    user = run_in_session(
        settings, "ledger", lambda s: create_user(s, data, now=SYSTEM_CLOCK.now())
    )
    print(f"created {user.role.value} '{user.username}' (id {user.id})")
    return 0


def cmd_user_list(settings: Settings, _args: argparse.Namespace) -> int:
    from services.ledger.accounts.service import list_users, users_public

    async def listing(session: AsyncSession) -> list[str]:
        users = await users_public(session, await list_users(session))
        return [
            f"{u.username}\t{u.role.value}\t{u.email or ''}\t{'、'.join(x.name for x in u.units)}"
            for u in users
        ]

    for line in run_in_session(settings, "ledger", listing):
        print(line)
    return 0


def cmd_user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from services.ledger.accounts.service import set_password

    password = _read_password(args)
    run_in_session(settings, "ledger", lambda s: set_password(s, args.username, password))
    print(f"password of '{args.username}' changed; earlier tokens no longer work")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("password_missing", "no password on stdin")
        return password
    if not sys.stdin.isatty():
        raise CommandError(
            "no_terminal",
            "no terminal to ask for the password: pass --password-stdin and write the password "
            'to stdin (echo "$PW" | huodian user add … --password-stdin)',
        )
    try:
        first = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat: ")
    except EOFError:
        raise CommandError("password_missing", "no password given") from None
    if repeated != first:
        raise CommandError("passwords_differ", "the two passwords differ")
    return first
