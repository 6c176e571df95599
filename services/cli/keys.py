"""``huodian key`` and ``keyring``: the government portals' API keys, and the keyring (密钥环)."""

from __future__ import annotations

import argparse

from services.cli.command import run_in_session
from shared.clock import SYSTEM_CLOCK
from shared.settings import Settings


def cmd_key_add(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.models import PortalScope
    from services.intake.portal.service import add_portal_client

    known = [s.value for s in PortalScope]
    unknown = [s for s in args.scope or [] if s not in known]
    if unknown:
        raise SystemExit(f"unknown scope {', '.join(unknown)}; choose from {', '.join(known)}")
    scopes = [PortalScope(s) for s in args.scope or [PortalScope.applications.value]]
    client, secret = run_in_session(
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

    for c in run_in_session(settings, "intake", list_portal_clients):
        state = "active" if c.is_active else "revoked"
        print(f"{c.key_id}\t{state}\t{' '.join(c.scopes)}\t{c.name}")
    return 0


def cmd_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.service import revoke_portal_client

    run_in_session(settings, "intake", lambda s: revoke_portal_client(s, args.key_id))
    print(f"key {args.key_id} revoked; its requests are refused from now on")
    return 0


def cmd_key_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from services.intake.portal.service import rotate_portal_client

    client, secret = run_in_session(
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
