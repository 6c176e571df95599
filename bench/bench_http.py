"""Intake's ``POST /applications`` over real HTTP against a bare FastAPI INSERT (issue 14, 1).

Both apps are served by uvicorn, one worker each, on the same database (PostgreSQL when the
bench has one, else SQLite files), and loaded by an aiohttp client (httpx's pool is CPU-bound
at high concurrency) from this process. Intake gets a signed clerk token, as ledger issues it,
reads the list of valid sign-ins from a stub of ledger and delivers its outbox to a stub of
notify (:mod:`bench.http_apps`). Each run
sends a fixed number of requests at 8 or 64 connections; the figures are seconds per request
(1 / req/s: the ratio is baseline req/s ÷ intake req/s) and the p99 latency. Two read cases
set intake's ``GET /applications/{n}`` (a clerk) and the applicant's progress page (number and
query code, 32 applications, one per connection) against the bare app's SELECT by primary key.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from bench.harness import Case, Measured
from bench.http_apps import BARE_TABLE
from shared.auth import Role, issue_user_token
from shared.clock import SYSTEM_CLOCK
from shared.migrations import upgrade
from shared.settings import Settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = "国网东营供电公司"
NAMES = (
    "http: intake POST /applications, 64 connections, s/request vs bare INSERT",
    "http: intake POST /applications, 64 connections, p99 vs bare INSERT",
    "http: intake POST /applications, 8 connections, p99",
    "http: intake GET /applications/{n}, 64 connections, s/request vs bare SELECT by id",
    "http: applicant progress, 16 connections, s/request vs bare SELECT by id",
)
# Below the 60 tries a minute one client address may have in flight (query_codes.PER_ADDRESS):
# every try is counted until its code is found right; and within intake's pool (10 + 10
# overflow), so that no request waits out the pool's timeout (a 503 database_busy).
PROGRESS_CONNECTIONS = 16
# ≥ 70 % of the baseline's req/s is at most 1/0.7 of its seconds per request.
MIN_SHARE = 0.7
APPLICATION = {
    "jurisdiction": "dongying",
    "unit": UNIT,
    "channel": "counter",
    "customer_type": "hv10_single",
    "applicant": {
        "name": "东营市某某化工有限公司",
        "id_kind": "credit_code",
        "id_number": "91370500MA3C123458",
        "mobile": "13800138000",
        "email": "contact@example.cn",
    },
    "site": {"address": "东营区府前大街 1 号", "area_class": "urban"},
    "capacity_kw": "800",
}
BARE = {
    "applicant_name": "东营市某某化工有限公司",
    "mobile": "13800138000",
    "site_address": "东营区府前大街 1 号",
    "capacity_kw": "800",
}


def _credit_code() -> str:
    from stdnum.cn import uscc

    first17 = "91370500MA3C12345"
    return first17 + uscc.calc_check_digit(first17)


def _serve(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        # The load keeps its connections between runs: an idle one must not be closed under it.
        "--timeout-keep-alive", "600",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT)


async def _wait_up(
    session: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]
) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            async with session.get(url) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@dataclass(frozen=True)
class Call:
    """One request of a load, and the status it must answer with."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    """A JSON body to POST; None for a GET."""
    status: int = 201


async def load(
    session: aiohttp.ClientSession,
    calls: Sequence[Call],
    *,
    connections: int,
    requests: int,
) -> tuple[float, list[float]]:
    """Send ``requests`` requests over ``connections`` at once, connection ``k`` sending
    ``calls[k % len(calls)]`` each time; the wall time and each latency."""
    latencies: list[float] = []
    left = requests

    async def worker(call: Call) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            sent = (
                session.get(call.url, headers=call.headers)
                if call.body is None
                else session.post(call.url, json=call.body, headers=call.headers)
            )
            async with sent as response:
                await response.read()
                if response.status != call.status:
                    raise RuntimeError(f"{call.url}: {response.status} {await response.text()}")
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(calls[k % len(calls)]) for k in range(connections)))
    return time.perf_counter() - t0, latencies


async def accepted(session: aiohttp.ClientSession, call: Call, count: int) -> list[tuple[str, str]]:
    """Accept ``count`` applications one by one; their numbers and query codes."""
    found = []
    for _ in range(count):
        async with session.post(call.url, json=call.body, headers=call.headers) as response:
            answer = await response.json()
            if response.status != call.status:
                raise RuntimeError(f"{call.url}: {response.status} {answer}")
        found.append((answer["application"]["number"], answer["query_code"]))
    return found


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _bare_table(url: str | None, var: Path, schema: str) -> tuple[str, str | None]:
    """Create the baseline's table; its async URL and schema."""
    ddl = (
        f"CREATE TABLE {BARE_TABLE} (id {{serial}} PRIMARY KEY, applicant_name TEXT NOT NULL, "
        "mobile TEXT NOT NULL, site_address TEXT NOT NULL, capacity_kw NUMERIC NOT NULL)"
    )
    if url is None:
        path = var / "bare.db"
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text(ddl.format(serial="INTEGER")))
        engine.dispose()
        return f"sqlite+aiosqlite:///{path}", None
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"SET search_path TO {schema}"))
        conn.execute(text(ddl.format(serial="BIGSERIAL")))
    engine.dispose()
    return url.replace("postgresql://", "postgresql+psycopg://", 1), schema


def _drop_schemas(url: str, prefix: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        found = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": f"{prefix}%"}
        )
        for (schema,) in found.all():
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@asynccontextmanager
async def cases(quick: bool, url: str | None) -> AsyncIterator[list[Case]]:
    """Intake and the bare app served side by side; three cases over them."""
    prefix = f"benchhttp{os.getpid()}_"
    with tempfile.TemporaryDirectory(prefix="huodian-bench-http-") as tmp:
        var = Path(tmp)
        secret = "bench-secret-key-0123456789-abcdef"
        settings = Settings(
            database_url=url, db_schema_prefix=prefix, secret_key=secret, var_dir=var
        )
        upgrade("intake", settings)
        bare_url, bare_schema = _bare_table(url, var, f"{prefix}bare")
        ports = {name: free_port() for name in ("intake", "bare", "peers")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUODIAN_")}
        env |= {
            "HUODIAN_SECRET_KEY": secret,
            "HUODIAN_VAR_DIR": str(var),
            "HUODIAN_DB_SCHEMA_PREFIX": prefix,
            "HUODIAN_LEDGER_URL": f"http://127.0.0.1:{ports['peers']}",
            "HUODIAN_NOTIFY_URL": f"http://127.0.0.1:{ports['peers']}",
            "HUODIAN_DB_POOL_SIZE": "10",
            "HUODIAN_DB_POOL_MAX_OVERFLOW": "10",
            "BENCH_BARE_URL": bare_url,
            **({"HUODIAN_DATABASE_URL": url} if url else {}),
            **({"BENCH_BARE_SCHEMA": bare_schema} if bare_schema else {}),
        }
        processes = [
            _serve("bench.http_apps:peers_stub", ports["peers"], env),
            _serve("bench.http_apps:bare_app", ports["bare"], env),
            _serve("services.intake.app:create_app", ports["intake"], env),
        ]
        token = issue_user_token(
            settings,
            user_id=1,
            username="bench-clerk",
            role=Role.clerk,
            token_version=0,
            now=SYSTEM_CLOCK.now(),
            units=(UNIT,),
        )
        intake_url = f"http://127.0.0.1:{ports['intake']}/applications"
        bare = f"http://127.0.0.1:{ports['bare']}/applications"
        clerk = {"Authorization": f"Bearer {token}"}
        application = APPLICATION | {
            "applicant": APPLICATION["applicant"] | {"id_number": _credit_code()}
        }
        accept = Call(intake_url, clerk, application)
        create_bare = Call(bare, {}, BARE)
        connector = aiohttp.TCPConnector(limit=0)
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                for name, process in zip(("peers", "bare", "intake"), processes, strict=True):
                    await _wait_up(session, f"http://127.0.0.1:{ports[name]}/docs", process)
                # Warm both up (imports, pools, the first token-version fetch); the bare table
                # gets the rows its reads look up by id (1..PROGRESS_CONNECTIONS at least).
                await load(session, [create_bare], connections=8, requests=32)
                await load(session, [accept], connections=8, requests=32)
                # One application per connection of the progress case (tries are counted per
                # number too).
                mine = await accepted(session, accept, PROGRESS_CONNECTIONS)
                base = f"http://127.0.0.1:{ports['intake']}"
                reads = {
                    "create": ([accept], [create_bare]),
                    "detail": (
                        [Call(f"{base}/applications/{mine[0][0]}", clerk, status=200)],
                        [Call(f"{bare}/1", {}, status=200)],
                    ),
                    "progress": (
                        [
                            Call(
                                f"{base}/public/applications/{number}/progress",
                                {"X-Query-Code": code},
                                status=200,
                            )
                            for number, code in mine
                        ],
                        [
                            Call(f"{bare}/{k}", {}, status=200)
                            for k in range(1, PROGRESS_CONNECTIONS + 1)
                        ],
                    ),
                }
                await load(session, reads["detail"][0], connections=8, requests=32)
                await load(session, reads["progress"][0], connections=8, requests=32)
                # SQLite has one writer (the progress page counts each try): fewer at once.
                yield _cases(session, quick, reads, PROGRESS_CONNECTIONS if url else 8)
        finally:
            for process in reversed(processes):  # intake first: its outbox needs the stub
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            if url is not None:
                _drop_schemas(url, prefix)


def _cases(
    session: aiohttp.ClientSession,
    quick: bool,
    calls: dict[str, tuple[list[Call], list[Call]]],
    progress_connections: int,
) -> list[Case]:
    def run(
        what: str,
        connections: int,
        requests: int,
        figure: Callable[[float, list[float]], float],
    ) -> tuple[Callable[[], Awaitable[Measured]], Callable[[], Awaitable[Measured]]]:
        intake, bare = calls[what]

        async def subject() -> Measured:
            wall, latencies = await load(
                session, intake, connections=connections, requests=requests
            )
            return Measured(figure(wall, latencies))

        async def baseline() -> Measured:
            wall, latencies = await load(session, bare, connections=connections, requests=requests)
            return Measured(figure(wall, latencies))

        return subject, baseline

    many = 64 if quick else 1_000
    few = 16 if quick else 300
    rounds = 1 if quick else 3
    share = round(1 / MIN_SHARE, 2)

    def per_request(requests: int) -> Callable[[float, list[float]], float]:
        return lambda wall, _latencies: wall / requests

    rate_subject, rate_baseline = run("create", 64, many, per_request(many))
    p99_subject, p99_baseline = run("create", 64, many, lambda _wall, latencies: p99(latencies))
    slow_subject, slow_baseline = run("create", 8, few, lambda _wall, latencies: p99(latencies))
    read_subject, read_baseline = run("detail", 64, many, per_request(many))
    progress_subject, progress_baseline = run(
        "progress", progress_connections, many, per_request(many)
    )
    note = "ratio = baseline req/s ÷ intake req/s; ≤ 1.43× is ≥ 70 % of the baseline's req/s"
    return [
        Case(
            NAMES[0], rate_subject, many, rate_baseline, max_ratio=share, rounds=rounds,
            note=note,
        ),
        Case(NAMES[1], p99_subject, many, p99_baseline, max_ratio=1.5, rounds=rounds),
        Case(
            NAMES[2], slow_subject, few, slow_baseline, max_seconds=0.05, rounds=rounds,
        ),
        Case(
            NAMES[3], read_subject, many, read_baseline, max_ratio=share, rounds=rounds,
            note=note,
        ),
        Case(
            NAMES[4], progress_subject, many, progress_baseline, max_ratio=share,
            rounds=rounds, note=note,
        ),
    ]  # fmt: skip
