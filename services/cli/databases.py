"""``huodian migrate``, ``seed``, ``backup`` and ``restore``: the databases themselves."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from services.cli.command import CommandError, run_in_session
from shared.auth import Role
from shared.clock import SYSTEM_CLOCK
from shared.db import create_service_engine, database_target
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    for service in args.service or SERVICES:
        upgrade(service, settings, args.revision)
        print(f"{service}: migrated to {args.revision}")
        if service == "intake" and args.revision == "head":
            _reseal_legacy_logs(settings)
    return 0


def _reseal_legacy_logs(settings: Settings) -> None:
    """Key the stage logs written before the chain was keyed (once; a no-op afterwards)."""
    from services.intake.integrity.clock_record import seal_unsealed
    from services.intake.integrity.upgrade import SYSTEM_ACTOR, reseal_legacy

    async def main() -> None:
        engine = create_service_engine(database_target(settings, "intake"))
        try:
            run = await reseal_legacy(engine, settings.keyring(), now=SYSTEM_CLOCK.now())
            sealed = await seal_unsealed(
                engine, settings.keyring(), actor=SYSTEM_ACTOR, now=SYSTEM_CLOCK.now()
            )
        finally:
            await engine.dispose()
        if sealed:
            print(f"intake: sealed {sealed} calendar year(s) loaded before they were sealed")
        if run.resealed:
            print(f"intake: re-sealed the stage log of {run.resealed} application(s)")
        for number in run.left_broken:
            print(f"intake: {number}: its unkeyed log does not verify; left for `huodian verify`")

    asyncio.run(main())


def cmd_seed(settings: Settings, _args: argparse.Namespace) -> int:
    from services.ledger.accounts.models import UserCreate
    from services.ledger.accounts.service import create_user, list_users
    from services.ledger.reference.seed import seed_reference_ledgers

    async def seed(session: AsyncSession) -> tuple[list[str], str | None]:
        created = await seed_reference_ledgers(session, now=SYSTEM_CLOCK.now())
        if any(u.role is Role.admin for u in await list_users(session)):
            return created, None
        password = os.environ.get("HUODIAN_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        await create_user(
            session,
            UserCreate(
                username="admin", display_name="系统管理员", role=Role.admin, password=password
            ),
            now=SYSTEM_CLOCK.now(),
        )
        return created, password

    created, password = run_in_session(settings, "ledger", seed)
    print(f"ledger: loaded {', '.join(created)}" if created else "ledger: reference data present")
    if password:
        print(f"ledger: created user 'admin' with password: {password}")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from services.backup import take_backup

    folder, done = take_backup(settings, Path(args.into), now=SYSTEM_CLOCK.now())
    for item in done:
        print(f"{item.service}: {item.file} (revision {item.revision}, sha256 {item.sha256[:12]}…)")
    print(f"backup in {folder}; keep var/keyring.json and var/secret.key apart from it")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from services.backup import restore_backup

    if not args.yes:
        raise CommandError(
            "confirmation_needed",
            "restore replaces every database in place: stop the services, then run again with "
            "--yes",
        )
    for item in restore_backup(settings, Path(args.folder)):
        print(f"{item.service}: restored from {item.file} (revision {item.revision})")
    print("restored; run 'huodian migrate' if the backup is older, then 'huodian verify'")
    return 0
