"""Helpers for tests that run real service processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from tests.conftest import PG_URL
from tests.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a root, headless, offline Chromium (no background calls to outside hosts).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def service_env(var_dir: Path, schema_prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a real service process: its own var dir, and its own PostgreSQL
    schemas when the suite runs on PostgreSQL."""
    env = {
        **os.environ,
        "HUODIAN_VAR_DIR": str(var_dir),
        "HUODIAN_DB_SCHEMA_PREFIX": schema_prefix,
        **extra,
    }
    env.pop("HUODIAN_SECRET_KEY", None)
    if PG_URL:
        env["HUODIAN_DATABASE_URL"] = PG_URL
    else:
        env.pop("HUODIAN_DATABASE_URL", None)
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_ready(
    process: subprocess.Popen[str], url: str, seconds: float = 180, log: Path | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text() if log else ""
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {seconds} s")


def drop_schemas(prefix: str) -> None:
    if not PG_URL:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        schemas = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"), {"p": prefix}
        ).scalars()
        for schema in list(schemas):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def require_debian_binary(binary: Path, package: str) -> Path:
    """A program from a Debian package: CI must have it (.ci/run installs it), a developer may
    not, and then the test is skipped with the command that installs it."""
    if not binary.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is missing in CI: install Debian's {package} package")
        pytest.skip(f"Debian's {package} is not installed (apt-get install {package})")
    return binary


def require_chromium() -> Path:
    return require_debian_binary(CHROMIUM, "chromium")


@contextmanager
def running_stack(
    var_dir: Path,
    schema_prefix: str,
    admin_password: str,
    *,
    log_level: str = "warning",
    **extra_env: str,
) -> Iterator[dict[str, str]]:
    """``huodian up`` on free ports until the block ends, then SIGTERM: it must stop cleanly.

    Yields the services' base URLs, ``var_dir``, and ``log``: the file that every process's
    output (access and application logs) goes to.
    """
    # The e-license stand-in gets a free port too, so that stacks never collide on 8104.
    extra_env.setdefault("HUODIAN_ELICENSE_PORT", str(free_port()))
    ports = {name: free_port() for name in ("intake", "ledger", "notify")}
    env = service_env(
        var_dir,
        schema_prefix,
        HUODIAN_ADMIN_PASSWORD=admin_password,
        **{f"HUODIAN_{n.upper()}_PORT": str(p) for n, p in ports.items()},
        **extra_env,
    )
    # A file, not a pipe: a pipe nobody reads until the end fills up and stops the services.
    log = var_dir / "huodian-up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--log-level", log_level],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    try:
        for url in urls.values():
            wait_ready(process, url, log=log)
        yield {**urls, "var_dir": str(var_dir), "log": str(log)}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        drop_schemas(schema_prefix)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "all services stopped" in output, output
    assert "Traceback" not in output, output


@contextmanager
def running_service(
    service: str, var_dir: Path, schema_prefix: str, **extra_env: str
) -> Iterator[str]:
    """One more process of ``service`` (uvicorn, as ``huodian up`` runs it) on the database
    and signing key of a running stack (same ``var_dir`` and ``schema_prefix``): a second
    worker or replica. Yields its base URL; its output goes to ``var_dir/<service>-<port>.log``.
    """
    port = free_port()
    log = var_dir / f"{service}-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"services.{service}.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=service_env(var_dir, schema_prefix, **extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, log=log)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


def stack_fixture(
    prefix: str, admin_password: str, *, chromium: bool = False, **extra_env: str
) -> Any:
    """A module's ``stack`` fixture: :func:`running_stack` for the whole module, in its own var
    dir and schemas (``prefix``), with ``admin`` signing in with ``admin_password``.

    ``chromium``: the module drives a browser, so it is skipped (or fails in CI) before the stack
    starts when Debian's chromium is missing.
    """

    @pytest.fixture(scope="module")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
        if chromium:
            require_chromium()
        with running_stack(
            tmp_path_factory.mktemp(f"{prefix}-var"),
            f"{prefix}{os.getpid()}_",
            admin_password,
            **extra_env,
        ) as urls:
            yield urls

    return stack


def sign_in(ledger: str, username: str, password: str) -> dict[str, str]:
    """The bearer header of ``username``, signed in at ledger."""
    # Signing in and adding a user hash with argon2: slow on a loaded machine.
    response = httpx.post(
        f"{ledger}/auth/token", json={"username": username, "password": password}, timeout=60
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_user(ledger: str, admin: dict[str, str], **user: object) -> None:
    """A user created by ``admin`` (its bearer header) through ledger's API."""
    added = httpx.post(f"{ledger}/users", headers=admin, json=user, timeout=60)
    assert added.status_code == 201, added.text


def add_user(ledger: str, admin: dict[str, str], username: str, role: str, unit: str) -> None:
    """A member of ``unit`` whose display name is ``username``, with the password
    ``<username>-password-1`` and the address ``<username>@example.cn``."""
    create_user(
        ledger,
        admin,
        username=username,
        display_name=username,
        role=role,
        email=f"{username}@example.cn",
        password=f"{username}-password-1",
        units=[unit],
    )


def wait_for(check: Any, seconds: float = 30) -> Any:
    """``check()`` once it is truthy, or its last result after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


async def sign_in_page(page: Page, username: str, password: str) -> None:
    """Fill in the sign-in form (登录) the page shows and submit it."""
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
