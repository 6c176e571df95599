"""``huodian verify`` and ``checkpoint``: the stage record (记录校验, 记录锚定)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.clock import SYSTEM_CLOCK
from shared.db import create_service_engine, database_target
from shared.settings import Settings


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
