"""``huodian up``: migrate, seed, then run the services until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from services.cli.databases import cmd_migrate, cmd_seed
from shared.logs import logging_config
from shared.settings import SERVICES, Settings
from shared.web.navigation import ui_base


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
