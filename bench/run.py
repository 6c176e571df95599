"""Every benchmark against its own baseline, in one run: ``make bench`` (``QUICK=1`` for 1/100).

Prints one table of ratios and writes ``bench/results.json`` (the machine, the commit, every
case). Cases that need PostgreSQL run when ``HUODIAN_BENCH_DATABASE_URL`` (else
``HUODIAN_TEST_DATABASE_URL``, else the local ``test`` database) answers; otherwise they are
listed as "skipped: no PostgreSQL" (so too with ``--no-postgres``). ``--only calendar,ledger``
runs some groups only. The exit status is 0 whatever the verdicts: timings are reported, not
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Runnable as a plain script from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from bench import (
    bench_calendar,
    bench_http,
    bench_intake,
    bench_ledger,
    bench_notify,
    bench_recompute,
)
from bench.harness import Case, Result, measure, skipped, table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Group:
    name: str
    names: tuple[str, ...]
    needs_postgres: bool
    # (quick, PostgreSQL URL or None) -> the group's cases, with their data set up and torn down.
    cases: Callable[[bool, str | None], AbstractAsyncContextManager[list[Case]]]


GROUPS = (
    Group("calendar", bench_calendar.NAMES, False, lambda q, _url: bench_calendar.cases(q)),
    Group("ledger", bench_ledger.NAMES, False, bench_ledger.cases),
    Group("intake", bench_intake.NAMES, True, bench_intake.cases),
    Group("recompute", bench_recompute.NAMES, True, bench_recompute.cases),
    Group("notify", bench_notify.NAMES, True, bench_notify.cases),
    # On PostgreSQL when there is one, else on SQLite files.
    Group("http", bench_http.NAMES, False, bench_http.cases),
)


def postgres_version(url: str) -> str | None:
    """The server's version string, or None if it does not answer."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
    except (SQLAlchemyError, OSError):
        return None
    return str(version)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def machine(pg: str | None) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": pg,
    }


async def run_groups(groups: list[Group], quick: bool, url: str | None) -> list[Result]:
    results: list[Result] = []
    for group in groups:
        if group.needs_postgres and url is None:
            results.extend(skipped(name, "no PostgreSQL") for name in group.names)
            continue
        print(f"… {group.name}", file=sys.stderr, flush=True)
        async with group.cases(quick, url) as cases:
            for case in cases:
                results.append(await measure(case))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")))
    parser.add_argument(
        "--only", help="comma-separated groups: calendar,ledger,intake,recompute,notify,http"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the PostgreSQL cases even if it answers"
    )
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else {g.name for g in GROUPS}
    url = os.environ.get("HUODIAN_BENCH_DATABASE_URL") or os.environ.get(
        "HUODIAN_TEST_DATABASE_URL", DEFAULT_URL
    )
    pg = None if args.no_postgres else postgres_version(url)
    groups = [g for g in GROUPS if g.name in wanted]
    results = asyncio.run(run_groups(groups, args.quick, url if pg else None))
    print(table(results))
    for r in results:
        for title, lines in r.plans.items():
            print(f"\n-- {r.name}: {title}", *lines, sep="\n")
    report = {
        "command": "make bench" + (" QUICK=1" if args.quick else ""),
        "quick": args.quick,
        "commit": commit(),
        "machine": machine(pg),
        "cases": [asdict(r) | {"target": r.target} for r in results],
    }
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
