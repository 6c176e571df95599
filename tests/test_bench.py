"""``make bench QUICK=1`` runs: every case is measured (or skipped for want of PostgreSQL) and
``results.json`` describes the run. Timings are never asserted here (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import (
    bench_calendar,
    bench_http,
    bench_intake,
    bench_ledger,
    bench_notify,
    bench_recompute,
)

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("HUODIAN_TEST_DATABASE_URL")


def test_quick_bench_runs_every_case(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUODIAN_")}
    args = [sys.executable, str(ROOT / "bench" / "run.py"), "--output", str(output)]
    if PG_URL:
        env["HUODIAN_BENCH_DATABASE_URL"] = PG_URL
    else:
        args.append("--no-postgres")
    done = subprocess.run(
        args, env=env | {"QUICK": "1"}, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["quick"] is True
    assert report["command"] == "make bench QUICK=1"
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert (report["machine"]["postgresql"] is not None) == bool(PG_URL)
    cases = {c["name"]: c for c in report["cases"]}
    postgres = (*bench_intake.NAMES, *bench_recompute.NAMES, *bench_notify.NAMES)
    assert list(cases) == [
        *bench_calendar.NAMES,
        *bench_ledger.NAMES,
        *postgres,
        *bench_http.NAMES,
    ]
    for name, case in cases.items():
        if name in postgres and not PG_URL:
            assert case["verdict"] == "skipped: no PostgreSQL"
            continue
        assert case["verdict"] in ("pass", "FAIL"), case
        assert case["rows"] > 0
        assert case["subject_s"] > 0
        assert len(case["subject_runs"]) == case["rounds"]
        assert case["target"]
        if case["max_ratio"] is not None:
            assert case["ratio"] == case["subject_s"] / case["baseline_s"]
        assert f"| {name} |" in done.stdout
