"""The stage record against the real processes (SQLite, or PostgreSQL with
HUODIAN_TEST_DATABASE_URL): intake killed with SIGKILL in the middle of stage transitions, and
the database edited behind intake's back. What each test injects and proves is in
docs/reliability.md (## The stage record (intake)).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.intake.rules.identity import credit_code_check_character
from shared.db import create_sync_engine, database_target
from shared.settings import Settings
from tests.conftest import PG_URL
from tests.e2e.support import drop_schemas, free_port, run_cli, service_env, wait_ready

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-record-admin-password"
STAGES = ("acceptance", "supply_plan", "external_works", "inspection_connection")
"""A Jingyu high-voltage application's stages (its plan's item 8: the merged four)."""
CONNECTION_POINT = {"feeder": "10kV 园区线", "transformer_area": "园区2号台区"}


class Stack:
    """ledger and intake as separate processes, so that intake alone can be killed."""

    def __init__(self, var_dir: Path, prefix: str) -> None:
        self.var_dir, self.prefix = var_dir, prefix
        self.ports = {"intake": free_port(), "ledger": free_port(), "notify": free_port()}
        self.env = service_env(
            var_dir,
            prefix,
            HUODIAN_ADMIN_PASSWORD=ADMIN_PASSWORD,
            HUODIAN_SECRET_KEY="e2e-stage-record-secret-key-long-enough-for-hs256",
            HUODIAN_INTAKE_CHECKPOINT_INTERVAL_SECONDS="0.3",
            HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.3",
            **{f"HUODIAN_{n.upper()}_PORT": str(p) for n, p in self.ports.items()},
        )
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.url = {n: f"http://127.0.0.1:{p}" for n, p in self.ports.items()}

    def start(self, service: str) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"services.{service}.app:create_app",
            "--factory",
            "--port",
            str(self.ports[service]),
            "--log-level",
            "warning",
        ]
        self.processes[service] = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_ready(self.processes[service], self.url[service])

    def kill(self, service: str) -> None:
        process = self.processes.pop(service)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.communicate(timeout=30)

    def huodian(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def snapshot(self, application_id: int) -> dict[str, Any]:
        """One application's rows as a backup of the database holds them."""
        tables = ("applications", "application_stages", "application_pauses", "application_events")
        rows: dict[str, Any] = {}
        for table in tables:
            key = "id" if table == "applications" else "application_id"
            rows[table] = [
                dict(r._mapping)
                for r in self.sql(f"SELECT * FROM {table} WHERE {key} = :a", a=application_id)
            ]
        rows["id"] = application_id
        return rows

    def restore(self, backup: dict[str, Any]) -> None:
        """Put the application's rows back as the backup has them."""
        a = backup["id"]
        for table in ("application_events", "application_pauses", "application_stages"):
            self.sql(f"DELETE FROM {table} WHERE application_id = :a", a=a)
        (app,) = backup["applications"]
        columns = [c for c in app if c != "id"]
        self.sql(
            f"UPDATE applications SET {', '.join(f'{c} = :{c}' for c in columns)} WHERE id = :id",
            **app,
        )
        for table in ("application_stages", "application_pauses", "application_events"):
            for stored in backup[table]:
                row = {
                    k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                    for k, v in stored.items()
                }
                names = list(row)
                self.sql(
                    f"INSERT INTO {table} ({', '.join(names)}) "
                    f"VALUES ({', '.join(':' + n for n in names)})",
                    **row,
                )

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """What someone with write access to intake's database does, outside intake."""
        settings = Settings(database_url=PG_URL, var_dir=self.var_dir, db_schema_prefix=self.prefix)
        engine = create_sync_engine(database_target(settings, "intake"))
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the module (its start-up is most of the cost): the kill test runs first
    and leaves every application valid; the tampering test then works on its own ones."""
    prefix = f"e2er{os.getpid()}_"
    running = Stack(tmp_path_factory.mktemp("e2e-record") / "var", prefix)
    run_cli(running.env, "migrate")
    run_cli(running.env, "seed")
    running.start("ledger")
    running.start("intake")
    try:
        yield running
    finally:
        running.stop()
        drop_schemas(prefix)


def sign_in(ledger: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{ledger}/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def a_clerk(stack: Stack) -> dict[str, str]:
    ledger = stack.url["ledger"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    httpx.post(
        f"{ledger}/users",
        headers=admin,
        json={
            "username": "clerk-record",
            "display_name": "受理员",
            "role": "clerk",
            "email": "clerk-record@example.cn",
            "password": "clerk-record-password-1",
            "units": ["供电分公司"],
        },
    )  # 201, or 409 when the module's first test made it
    return sign_in(ledger, "clerk-record", "clerk-record-password-1")


def new_application(intake: str, clerk: dict[str, str], n: int) -> str:
    credit_code = f"91220622MA{n:07d}"
    created = httpx.post(
        f"{intake}/applications",
        headers=clerk,
        json={
            "jurisdiction": "jingyu",
            "unit": "供电分公司",
            "channel": "counter",
            "customer_type": "hv10_single",
            "applicant": {
                "name": f"靖宇县测试企业{n}",
                "id_kind": "credit_code",
                "id_number": credit_code + credit_code_check_character(credit_code),
                "mobile": "13943900000",
            },
            "site": {"address": "靖宇县工业园区", "area_class": "town"},
            "capacity_kw": "630",
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    number = str(created.json()["application"]["number"])
    for kind in needed_documents(intake, clerk, number):  # 业务受理 completes with its documents
        taken = httpx.post(
            f"{intake}/applications/{number}/documents", headers=clerk, json={"kind": kind}
        )
        assert taken.status_code == 201, taken.text
    return number


def needed_documents(intake: str, clerk: dict[str, str], number: str) -> list[str]:
    """What the current stage still needs before it can complete."""
    view = httpx.get(f"{intake}/applications/{number}/documents", headers=clerk, timeout=30)
    return [r["code"] for r in view.json()["required"] if r["state"] == "needed"]


def post(intake: str, clerk: dict[str, str], path: str, body: dict[str, Any]) -> int | None:
    """One transition; None when intake died before answering."""
    try:
        return httpx.post(f"{intake}{path}", headers=clerk, json=body, timeout=30).status_code
    except httpx.HTTPError:
        return None


def transition(intake: str, clerk: dict[str, str], number: str, stage: str) -> int | None:
    body = CONNECTION_POINT if stage == STAGES[-1] else {"note": "按时办结"}
    return post(intake, clerk, f"/applications/{number}/stages/{stage}/complete", body)


def log_length(intake: str, clerk: dict[str, str], number: str) -> int:
    return len(httpx.get(f"{intake}/applications/{number}/log", headers=clerk).json())


def verified(intake: str, clerk: dict[str, str], number: str) -> dict[str, Any]:
    response = httpx.get(f"{intake}/applications/{number}/log/verify", headers=clerk, timeout=120)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


STAGE_DOCUMENTS = {"inspection_connection": ("completion_report",)}
"""What a 10 kV application's later stages require (rules/documents.json)."""


class Worker:
    """Moves one application on, one transition at a time, until intake dies: the next
    stage when the clock runs, else a pause for the customer and its resume (暂停/恢复计时)."""

    def __init__(self, intake: str, clerk: dict[str, str], number: str) -> None:
        self.intake, self.clerk, self.number = intake, clerk, number
        self.answered_length = log_length(intake, clerk, number)
        self.answered = 0
        self.cut_off = False

    def run(self, stop_after: float) -> None:
        # The state is tracked here, not read back, so that a request is almost always in
        # flight when intake is killed.
        application = httpx.get(
            f"{self.intake}/applications/{self.number}", headers=self.clerk, timeout=30
        ).json()
        paused = application["status"] == "paused"
        stage = application["current_stage"]
        needed = needed_documents(self.intake, self.clerk, self.number)
        deadline = time.monotonic() + stop_after
        while time.monotonic() < deadline:
            completing = taking = False
            if paused:
                path, body = f"/applications/{self.number}/resume", {}
            elif stage not in (None, STAGES[-1]) and self.answered % 3 == 2 and needed:
                path, body = f"/applications/{self.number}/documents", {"kind": needed[0]}
                taking = True
            elif stage not in (None, STAGES[-1]) and self.answered % 3 == 2:
                path = f"/applications/{self.number}/stages/{stage}/complete"
                body, completing = {"note": "按时办结"}, True
            else:
                path, body = f"/applications/{self.number}/pause", {"reason": "customer_works"}
            status = post(self.intake, self.clerk, path, body)
            if status is None:
                self.cut_off = True
                return
            assert status == (201 if taking else 200), (path, status)
            self.answered += 1
            self.answered_length += 1
            if taking:
                needed.pop(0)
            elif completing:
                stage = STAGES[STAGES.index(stage) + 1]
                needed = list(STAGE_DOCUMENTS.get(stage, ()))
            elif path.endswith(("/pause", "/resume")):
                paused = not paused


def test_kill_9_during_stage_transitions_leaves_old_or_new_and_verify_passes(stack):
    intake = stack.url["intake"]
    clerk = a_clerk(stack)
    numbers = [new_application(intake, clerk, n) for n in range(8)]
    rng = random.Random(20261202)
    outcomes = {"rounds": 0, "answered": 0, "cut_off": 0, "kept": 0, "lost": 0}
    for _ in range(3):
        workers = [Worker(intake, clerk, n) for n in numbers]
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            running = [pool.submit(w.run, 120) for w in workers]
            # SIGKILL once transitions are flowing, at a different moment each round.
            while sum(w.answered for w in workers) < 6:
                time.sleep(0.05)
            time.sleep(rng.random() * 0.3)
            stack.kill("intake")
            for future in running:
                future.result()
        stack.start("intake")
        outcomes["rounds"] += 1
        for worker in workers:
            check = verified(intake, clerk, worker.number)
            assert check["valid"] is True, (worker.number, check)
            after = log_length(intake, clerk, worker.number)
            outcomes["answered"] += worker.answered
            # Every answered transition is kept; the one in flight is there whole or not at all.
            assert after in (worker.answered_length, worker.answered_length + 1), worker.number
            if worker.cut_off:
                outcomes["cut_off"] += 1
                outcomes["kept" if after > worker.answered_length else "lost"] += 1
            state = httpx.get(f"{intake}/applications/{worker.number}", headers=clerk).json()
            log = httpx.get(f"{intake}/applications/{worker.number}/log", headers=clerk).json()
            completed = sum(e["kind"] == "stage_completed" for e in log)
            assert [s["state"] for s in state["stages"]].count("done") == completed
            assert (state["status"] == "paused") == (log[-1]["kind"] == "paused")
    # The kills must have cut transitions off, or the test proved nothing.
    assert outcomes["cut_off"] > 0, outcomes
    assert outcomes["answered"] > 0, outcomes
    result = stack.huodian("verify", "--no-copy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: all valid" in result.stdout
    print("kill -9 outcomes:", json.dumps(outcomes))


def test_direct_edits_and_rewrites_are_detected_and_named(stack):
    from services.intake.applications.log import seal
    from services.intake.applications.models import ApplicationEvent, EventKind
    from services.intake.policies.models import Stage
    from shared.keyring import Keyring

    intake = stack.url["intake"]
    clerk = a_clerk(stack)
    edited_event, edited_stage, rewritten, cut_back = (
        new_application(intake, clerk, n) for n in range(100, 104)
    )

    def app_id(number: str) -> int:
        return int(stack.sql("SELECT id FROM applications WHERE number = :n", n=number)[0][0])

    for number in (edited_event, edited_stage, rewritten, cut_back):
        assert transition(intake, clerk, number, STAGES[0]) == 200
    backup = stack.snapshot(app_id(cut_back))  # a backup taken between two genuine steps
    for number in (edited_event, edited_stage, rewritten, cut_back):
        assert transition(intake, clerk, number, STAGES[1]) == 200
    assert stack.huodian("checkpoint").returncode == 0
    clean = stack.huodian("verify", "--no-copy")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # 1. An event edited: the supply plan's completion backdated in the log itself.
    stack.sql(
        "UPDATE application_events SET occurred_at = :t WHERE application_id = :a AND seq = 3",
        t="2020-01-02 01:00:00",
        a=app_id(edited_event),
    )
    # 2. A stage row edited (后补流程): the application shows the new time, the log is intact.
    (stage_row,) = stack.sql(
        "SELECT id FROM application_stages WHERE application_id = :a AND seq = 1",
        a=app_id(edited_stage),
    )
    stack.sql(
        "UPDATE application_stages SET completed_at = :t WHERE id = :i",
        t="2020-01-02 01:00:00",
        i=stage_row[0],
    )
    # 3. The whole chain rewritten with the project's own code, under a key of one's own.
    own_key = Keyring.generate()
    rows = stack.sql(
        "SELECT seq, kind, stage, occurred_at, actor, reason, payload FROM application_events "
        "WHERE application_id = :a ORDER BY seq",
        a=app_id(rewritten),
    )
    prev = "0" * 64
    for seq, kind, stage, occurred_at, _actor, reason, payload in rows:
        moment = (
            occurred_at
            if isinstance(occurred_at, datetime)
            else datetime.fromisoformat(str(occurred_at))
        )
        event = ApplicationEvent(
            application_id=0,
            seq=seq,
            kind=EventKind(kind),
            stage=Stage(stage) if stage else None,
            occurred_at=moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment,
            actor="someone-else",
            reason=reason,
            payload=payload if isinstance(payload, dict) else json.loads(payload),
            prev_hash=prev,
            hash="",
        )
        forged = seal(own_key, rewritten, event, prev)
        stack.sql(
            "UPDATE application_events SET actor = 'someone-else', prev_hash = :p, hash = :h "
            "WHERE application_id = :a AND seq = :s",
            p=prev,
            h=forged.digest,
            a=app_id(rewritten),
            s=seq,
        )
        prev = forged.digest
    stack.sql("UPDATE applications SET log_head = :h WHERE id = :a", h=prev, a=app_id(rewritten))
    # 4. A log put back to an earlier genuine state (the backup restored): every entry left is
    # genuine and agrees with the rows; only the checkpoint outside the database can tell.
    stack.restore(backup)

    # intake's own answer names the row ...
    check = verified(intake, clerk, edited_stage)
    assert check["valid"] is False
    assert (check["findings"][0]["table"], check["findings"][0]["row"]) == (
        "application_stages",
        stage_row[0],
    )
    assert verified(intake, clerk, cut_back)["valid"] is True  # the log alone cannot tell
    # ... and `huodian verify` finds all four, each by application.
    result = stack.huodian("verify", "--no-copy")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"FAIL {edited_event}: the event's content does not match its hash" in out
    assert f"FAIL {edited_stage}: application_stages row {stage_row[0]}" in out
    assert f"FAIL {rewritten}: the event's content does not match its hash" in out
    assert f"FAIL {cut_back}: application {cut_back}: its log no longer holds the head" in out
    assert "finding(s) in 4 application(s)" in out
