"""The ``huodian`` command line: run the services, migrate, seed, and manage users and keys."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Role
from shared.clock import SYSTEM_CLOCK
from shared.db import create_service_engine, database_target, session_scope
from shared.logs import logging_config
from shared.migrations import current_revision, head_revision, known_revisions, upgrade
from shared.settings import SERVICES, ServiceName, Settings, get_settings
from shared.web.navigation import ui_base

T = TypeVar("T")


class CommandError(Exception):
    """A command that cannot do what was asked: one line on stderr, exit 2, no traceback."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _where(settings: Settings, service: ServiceName) -> str:
    target = database_target(settings, service)
    if target.is_sqlite:
        return target.sync_url.removeprefix("sqlite:///")
    shown = make_url(target.sync_url).render_as_string(hide_password=True)
    return f"{shown} (schema {target.schema})"


async def _require_migrated(engine: AsyncEngine, settings: Settings, service: ServiceName) -> None:
    """A command run against an empty, older or foreign database says so in one line."""
    current = await current_revision(engine)
    if current == head_revision(service):
        return
    where = _where(settings, service)
    if current is None:
        raise CommandError(
            "database_not_migrated",
            f"the {service} database at {where} has no Huodian tables: run 'huodian migrate' "
            "(or check HUODIAN_DATABASE_URL / HUODIAN_VAR_DIR)",
        )
    if current in known_revisions(service):
        raise CommandError(
            "database_behind",
            f"the {service} database at {where} is at {current}, this release expects "
            f"{head_revision(service)}: run 'huodian migrate'",
        )
    raise CommandError(
        "database_unknown",
        f"the {service} database at {where} is at revision {current}, which this release does "
        "not know: a different database, or one migrated by a newer release",
    )


def _run_in_session(
    settings: Settings, service: ServiceName, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    async def main() -> T:
        engine = create_service_engine(database_target(settings, service))
        try:
            await _require_migrated(engine, settings, service)
            async with session_scope(engine) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


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


def _progress_bar(done: int, total: int) -> None:
    """A progress bar on standard error (redrawn in place on a terminal)."""
    width = 30
    filled = width * done // total if total else width
    bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} applications"
    if sys.stderr.isatty():
        print(f"\r{bar}", end="" if done < total else "\n", file=sys.stderr, flush=True)
    elif done >= total:
        print(bar, file=sys.stderr)


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Verify the whole stage record, or one evidence bundle offline (``--bundle``)."""
    if args.public_key and not args.bundle:
        print("--public-key goes with --bundle FILE", file=sys.stderr)
        return 2
    if args.bundle:
        return _verify_bundle(settings, args.bundle, args.public_key)
    from services.intake.integrity.service import verify_everything
    from services.intake.settings import IntakeSettings
    from shared.http import ServiceClient

    async def main() -> int:
        engine = create_service_engine(database_target(settings, "intake"))
        client = None if args.no_copy else ServiceClient(settings, "intake")
        try:
            report = await verify_everything(
                engine,
                settings,
                IntakeSettings(),
                client,
                now=SYSTEM_CLOCK.now(),
                progress=_progress_bar,
            )
        finally:
            if client:
                await client.aclose()
            await engine.dispose()
        print(f"applications: {report.applications}  events: {report.events}")
        last = report.checkpoint
        print(
            f"checkpoints: the last is {last['seq']} of {last['at']}, "
            f"{report.anchored} application(s) anchored"
            if last
            else "checkpoints: none written yet (huodian checkpoint)"
        )
        if report.copy_note:
            print(f"copy at notify: {report.copy_note}")
        elif last:
            print("copy at notify: agrees with the file")
        findings = report.findings()
        for finding in findings:
            who = f"{finding.application}: " if finding.application else ""
            print(f"FAIL {who}{finding.problem}")
        failed = {f.application for f in findings if f.application}
        print(
            "verify: all valid"
            if report.valid
            else f"verify: {len(findings)} finding(s) in {len(failed)} application(s)"
        )
        return 0 if report.valid else 1

    return asyncio.run(main())


def cmd_checkpoint(settings: Settings, _args: argparse.Namespace) -> int:
    """Write a checkpoint of the stage log now (on demand)."""
    from services.intake.integrity.service import checkpoint_now
    from services.intake.settings import IntakeSettings

    async def main() -> int:
        engine = create_service_engine(database_target(settings, "intake"))
        try:
            written = await checkpoint_now(
                engine, settings, IntakeSettings(), now=SYSTEM_CLOCK.now()
            )
        finally:
            await engine.dispose()
        print(
            f"checkpoint {written.seq}: {written.applications} application(s), "
            f"{written.events} event(s), {written.changed} head(s) anchored, key {written.key_id}"
        )
        for number in written.refused:
            print(f"not re-anchored (no longer extends its checkpoint): {number}")
        return 1 if written.refused else 0

    return asyncio.run(main())


def _verify_bundle(settings: Settings, path: str, public_key: str | None) -> int:
    """With ``public_key`` only that file is read: the secret keyring is never opened."""
    from pathlib import Path

    from services.intake.integrity.bundle import Verifier, verify_bundle_file
    from shared.keyring import KeyringError, PublicKeys

    verifier: Verifier
    if public_key:
        try:
            verifier = PublicKeys.from_json(Path(public_key).read_text())
        except (OSError, KeyringError) as exc:
            print(f"FAIL cannot read the public key file {public_key}: {exc}")
            print("bundle: NOT valid")
            return 1
    else:
        verifier = settings.keyring()
    result = verify_bundle_file(Path(path), verifier)
    for line in result.lines:
        print(line)
    print("bundle: valid" if result.valid else "bundle: NOT valid")
    return 0 if result.valid else 1


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

    created, password = _run_in_session(settings, "ledger", seed)
    print(f"ledger: loaded {', '.join(created)}" if created else "ledger: reference data present")
    if password:
        print(f"ledger: created user 'admin' with password: {password}")
    return 0


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
    user = _run_in_session(
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

    for line in _run_in_session(settings, "ledger", listing):
        print(line)
    return 0


def cmd_user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from services.ledger.accounts.service import set_password

    password = _read_password(args)
    _run_in_session(settings, "ledger", lambda s: set_password(s, args.username, password))
    print(f"password of '{args.username}' changed; earlier tokens no longer work")
    return 0


def cmd_key_add(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.models import PortalScope
    from services.intake.portal.service import add_portal_client

    known = [s.value for s in PortalScope]
    unknown = [s for s in args.scope or [] if s not in known]
    if unknown:
        raise SystemExit(f"unknown scope {', '.join(unknown)}; choose from {', '.join(known)}")
    scopes = [PortalScope(s) for s in args.scope or [PortalScope.applications.value]]
    client, secret = _run_in_session(
        settings,
        "intake",
        lambda s: add_portal_client(
            s, args.name, scopes, now=SYSTEM_CLOCK.now(), keyring=settings.keyring()
        ),
    )
    print(
        f"key id: {client.key_id}\nsecret: {secret}\nscopes: {' '.join(client.scopes)}\n"
        "(the secret is shown only now)"
    )
    return 0


def cmd_key_list(settings: Settings, _args: argparse.Namespace) -> int:
    from services.intake.portal.service import list_portal_clients

    for c in _run_in_session(settings, "intake", list_portal_clients):
        state = "active" if c.is_active else "revoked"
        print(f"{c.key_id}\t{state}\t{' '.join(c.scopes)}\t{c.name}")
    return 0


def cmd_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.service import revoke_portal_client

    _run_in_session(settings, "intake", lambda s: revoke_portal_client(s, args.key_id))
    print(f"key {args.key_id} revoked; its requests are refused from now on")
    return 0


def cmd_key_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.service import rotate_portal_client

    client, secret = _run_in_session(
        settings,
        "intake",
        lambda s: rotate_portal_client(s, args.key_id, keyring=settings.keyring()),
    )
    print(f"key id: {client.key_id}\nsecret: {secret}\n(the old secret no longer works)")
    return 0


def cmd_keyring_show(settings: Settings, _args: argparse.Namespace) -> int:
    keyring = settings.keyring()
    print(f"keyring: {settings.keyring_path()}")
    for key_id in sorted(keyring.keys):
        print(f"{key_id}{'  (current)' if key_id == keyring.current_id else ''}")
    return 0


def cmd_keyring_public_keys(settings: Settings, _args: argparse.Namespace) -> int:
    """The Ed25519 public keys, as the file ``huodian verify --public-key`` reads."""
    print(settings.keyring().public_keys().to_json())
    return 0


def cmd_keyring_rotate(settings: Settings, _args: argparse.Namespace) -> int:
    from shared.keyring import save_keyring

    rotated = settings.keyring().rotated()
    save_keyring(settings.keyring_path(), rotated)
    print(f"new current key: {rotated.current_id} (older keys kept to open and verify old data)")
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


def _elicense_standin(
    settings: Settings, args: argparse.Namespace, env: dict[str, str]
) -> subprocess.Popen[bytes] | None:
    """Start the stand-in e-license service (电子证照替身) and point intake at it, unless
    HUODIAN_INTAKE_ELICENSE_URL names a real one."""
    configured = os.environ.get("HUODIAN_INTAKE_ELICENSE_URL")
    if configured:
        print(f"elicense: {configured}  (HUODIAN_INTAKE_ELICENSE_URL)")
        return None
    port = os.environ.get("HUODIAN_ELICENSE_PORT", "8104")
    url = f"http://{settings.host}:{port}"
    env["HUODIAN_INTAKE_ELICENSE_URL"] = url
    command = [
        sys.executable,
        "-m",
        "services.intake.standins.elicense",
        "--host",
        settings.host,
        "--port",
        port,
        "--log-level",
        args.log_level,
    ]
    process = subprocess.Popen(command, env=env)
    print(f"elicense: {url}  (stand-in with fictitious licences, 电子证照替身)")
    return process


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, seed, then run the three services (and the e-license stand-in) until Ctrl-C
    or SIGTERM."""
    settings.signing_key()  # create the shared key before three processes race for it
    cmd_migrate(settings, argparse.Namespace(service=None, revision="head"))
    cmd_seed(settings, args)
    env = {
        **os.environ,
        "HUODIAN_SECRET_KEY": settings.signing_key(),
        "HUODIAN_VAR_DIR": str(settings.var_dir.resolve()),
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    standin = _elicense_standin(settings, args, env)
    # JSON lines with request ids (shared.logs), one access line per request: uvicorn's own
    # access log is off.
    log_config = settings.var_dir / "logging.json"
    log_config.parent.mkdir(parents=True, exist_ok=True)
    log_config.write_text(json.dumps(logging_config(args.log_level), indent=2) + "\n")
    for service in SERVICES:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"services.{service}.app:create_app",
            "--factory",
            "--host",
            settings.host,
            "--port",
            str(settings.port_of(service)),
            "--log-level",
            args.log_level,
            "--log-config",
            str(log_config.resolve()),
            "--no-access-log",
        ]
        children[service] = subprocess.Popen(command, env=env)
        print(f"{service:>6}: http://{settings.host}:{settings.port_of(service)}  (docs: /docs)")
    print(f"start page (工作台): {ui_base(settings, 'ledger')}/start", flush=True)

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        if standin is not None and standin.poll() is not None:
            # Only portal applications need it: say so, and keep the services running.
            print(
                f"elicense stand-in exited with {standin.returncode} (is its port taken? "
                "set HUODIAN_ELICENSE_PORT); portal applications get 502 until one runs",
                file=sys.stderr,
            )
            standin = None
        for name, child in children.items():
            if child.poll() is not None:
                print(
                    f"{name} exited with {child.returncode}; stopping the others",
                    file=sys.stderr,
                )
                exit_code, stopping = 1, True
        time.sleep(0.2)
    if standin is not None:
        children["elicense"] = standin
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    print("all services stopped")
    return exit_code


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


if __name__ == "__main__":
    sys.exit(main())
