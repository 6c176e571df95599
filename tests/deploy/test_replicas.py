"""Huodian as ``deploy/`` describes it, without containers: Debian's nginx (``deploy/nginx``)
in front of two processes of each service, one intake worker for the watch and the integrity
jobs, all on one PostgreSQL database. A bounded mixed load runs through nginx — portal
submissions with retries, counter applications and their stages, ledger status updates, an
outage over 10 000 subscribers, the scheduled reminders — while one replica of each service is
killed (SIGKILL) and restarted. Afterwards nothing is lost or doubled, every hash chain
verifies, and each scheduled job ran exactly once.

A write whose answer was lost with its replica (nginx answers 502) may or may not have
committed: the caller cannot know. Portal submissions are retried with their Idempotency-Key;
counter applications and ledger updates carry a unique marker, and the checks allow each such
write at most once, each acknowledged write exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.intake.rules.identity import resident_id_check_character
from services.intake.rules.signing import PortalAuth
from shared.calendar import BEIJING
from shared.clock import SYSTEM_CLOCK
from shared.settings import Settings
from tests.conftest import PG_URL
from tests.e2e.support import (
    add_user,
    drop_schemas,
    free_port,
    require_debian_binary,
    run_cli,
    service_env,
    sign_in,
    wait_ready,
)
from tests.notify.sinks import HttpSink, SmsGateway

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not PG_URL, reason="replicas share one PostgreSQL database: the PostgreSQL pass runs this"
    ),
]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = Path("/usr/sbin/nginx")
ADMIN_PASSWORD = "replicas-admin-password"
UNIT = "供电分公司"  # Jingyu's branch: region 220622
LOAD_SECONDS = float(os.environ.get("HUODIAN_REPLICA_LOAD_SECONDS", "50"))
SUBSCRIBERS = 10_000
SMS_SECRET = "replicas-sms-secret"
JOBS = ("ledger-reminders", "report-reminders", "stale-escalations")


@dataclass
class Replica:
    """One uvicorn process of a service, as deploy/systemd runs it, that the test can kill."""

    service: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.service}-{self.port}-{self.starts}.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"services.{self.service}.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--root-path",
                f"/{self.service}",
                "--log-level",
                "warning",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log.close()

    def wait(self) -> None:
        assert self.process is not None
        wait_ready(self.process, self.url)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def nginx_config(folder: Path, port: int, upstreams: dict[str, list[int]]) -> Path:
    """deploy/nginx/huodian.conf as shipped, its upstreams pointing at the replicas, inside a
    main configuration that runs as this user in ``folder``."""
    lines = [
        f"upstream huodian_{name} {{ "
        + " ".join(f"server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;" for p in ports)
        + " keepalive 32; }"
        for name, ports in upstreams.items()
    ]
    (folder / "upstreams.conf").write_text("\n".join(lines) + "\n")
    site = (DEPLOY / "nginx" / "huodian.conf").read_text()
    assert "include /etc/nginx/huodian-upstreams.conf;" in site
    assert "listen 80;" in site
    site = site.replace(
        "include /etc/nginx/huodian-upstreams.conf;", f"include {folder}/upstreams.conf;"
    ).replace("listen 80;", f"listen 127.0.0.1:{port};")
    (folder / "huodian.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {folder}/access.log;\n{temp}\n"
        f"    uwsgi_temp_path {folder}/uwsgi;\n    scgi_temp_path {folder}/scgi;\n"
        f"    include {folder}/huodian.conf;\n}}\n"
    )
    return main


@dataclass
class Tally:
    """What the load did: acknowledged writes, and writes whose answer was lost."""

    portal: dict[str, str] = field(default_factory=dict)  # idempotency key → number
    portal_unanswered: list[str] = field(default_factory=list)
    counter: dict[str, str] = field(default_factory=dict)  # marker → number
    counter_unknown: set[str] = field(default_factory=set)
    stages: dict[str, list[str]] = field(default_factory=dict)  # number → stages completed
    updates: set[str] = field(default_factory=set)  # narratives acknowledged
    updates_unknown: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # answers that are neither
    lock: threading.Lock = field(default_factory=threading.Lock)

    def unexpected(self, what: str, response: httpx.Response) -> None:
        with self.lock:
            self.errors.append(f"{what}: {response.status_code} {response.text[:300]}")


LOST = (httpx.TransportError,)  # the connection or the answer was lost


def lost_answer(response: httpx.Response) -> bool:
    """nginx's answer for a replica that died under the request (or was down)."""
    return response.status_code in (502, 503, 504)


def resident(seq: int) -> str:
    """A resident id of Jingyu (220622), unique per seq: the birth date counts the seq."""
    born = date(1950, 1, 1) + timedelta(days=seq)
    first17 = f"220622{born:%Y%m%d}001"
    return first17 + resident_id_check_character(first17)


def applicant_name(seq: int) -> str:
    return f"压测用户{seq}"


def residential(seq: int) -> dict[str, Any]:
    return {
        "customer_type": "residential",
        "applicant": {
            "name": applicant_name(seq),
            "id_kind": "resident_id",
            "id_number": resident(seq),
            "mobile": f"139{seq:08d}",
        },
        "site": {"address": f"靖宇县测试大街{seq}号", "area_class": "town"},
        "capacity_kw": "8",
    }


class Load:
    def __init__(
        self, base: str, clerk: dict[str, str], head: dict[str, str], portal: PortalAuth
    ) -> None:
        self.base = base
        self.clerk = clerk
        self.head = head
        self.portal = portal
        self.tally = Tally()
        self.stop = threading.Event()
        self.seq = iter(range(1, 10**6))
        self.seq_lock = threading.Lock()

    def next_seq(self) -> int:
        with self.seq_lock:
            return next(self.seq)

    def portal_submissions(self) -> None:
        with httpx.Client(base_url=f"{self.base}/intake", auth=self.portal, timeout=30) as client:
            while not self.stop.is_set():
                seq = self.next_seq()
                key = applicant_name(seq)
                body = {"region_code": "220622", **residential(seq)}
                for _attempt in range(20):  # the portal retries with the same key
                    try:
                        answer = client.post(
                            "/portal/applications",
                            json=body,
                            headers={"Idempotency-Key": f"replicas-{seq}"},
                        )
                    except LOST:
                        time.sleep(0.3)
                        continue
                    if lost_answer(answer):
                        time.sleep(0.3)
                        continue
                    if answer.status_code == 201:
                        self.tally.portal[key] = answer.json()["number"]
                    else:
                        self.tally.unexpected(f"portal {key}", answer)
                    break
                else:
                    self.tally.portal_unanswered.append(key)

    def counter_applications(self) -> None:
        with httpx.Client(base_url=f"{self.base}/intake", headers=self.clerk, timeout=30) as client:
            while not self.stop.is_set():
                seq = self.next_seq()
                marker = applicant_name(seq)
                body = {"jurisdiction": "jingyu", "unit": UNIT, "channel": "counter"}
                body |= residential(seq)
                try:
                    answer = client.post("/applications", json=body)
                except LOST:
                    self.tally.counter_unknown.add(marker)
                    continue
                if lost_answer(answer):
                    self.tally.counter_unknown.add(marker)
                elif answer.status_code == 201:
                    number = answer.json()["application"]["number"]
                    self.tally.counter[marker] = number
                    self.complete_first_stage(client, number, answer.json()["application"])
                else:
                    self.tally.unexpected(f"counter {marker}", answer)

    def complete_first_stage(
        self, client: httpx.Client, number: str, application: dict[str, Any]
    ) -> None:
        """The clerk takes the documents the stage needs at the counter, then completes it.
        Each step is safe to repeat: a second one answers 409."""
        stage = application["current_stage"]
        for _attempt in range(20):
            try:
                view = client.get(f"/applications/{number}/documents")
                if lost_answer(view):
                    raise httpx.TransportError("lost")
                for needed in view.json()["required"]:
                    if needed["state"] == "needed":
                        taken = client.post(
                            f"/applications/{number}/documents", json={"kind": needed["code"]}
                        )
                        if lost_answer(taken):
                            raise httpx.TransportError("lost")
            except LOST:
                time.sleep(0.3)
                continue
            break
        for _attempt in range(20):
            try:
                done = client.post(
                    f"/applications/{number}/stages/{stage}/complete", json={"note": "办结"}
                )
            except LOST:
                time.sleep(0.3)
                continue
            if lost_answer(done):
                time.sleep(0.3)
                continue
            if done.status_code == 200 or (
                done.status_code == 409 and done.json().get("code") == "stage_already_completed"
            ):
                self.tally.stages.setdefault(number, []).append(stage)
            else:
                self.tally.unexpected(f"acceptance {number}", done)
            return

    def ledger_updates(self, items: list[int]) -> None:
        with httpx.Client(base_url=f"{self.base}/ledger", headers=self.head, timeout=30) as client:
            while not self.stop.is_set():
                narrative = f"进展 {uuid.uuid4().hex[:12]}"
                item = random.choice(items)
                data = {"status": "in_progress", "progress": "50", "narrative": narrative}
                try:
                    answer = client.post(f"/items/{item}/updates", data=data)
                except LOST:
                    self.tally.updates_unknown.add(narrative)
                    continue
                if lost_answer(answer):
                    self.tally.updates_unknown.add(narrative)
                elif answer.status_code == 201:
                    self.tally.updates.add(narrative)
                else:
                    self.tally.unexpected(f"update {item}", answer)
                time.sleep(0.05)


def wait_until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def sms() -> Iterator[tuple[HttpSink, SmsGateway]]:
    gateway = SmsGateway(SMS_SECRET)
    sink = HttpSink(gateway)
    try:
        yield sink, gateway
    finally:
        sink.close()


@pytest.fixture(scope="module")
def city(
    tmp_path_factory: pytest.TempPathFactory, sms: tuple[HttpSink, SmsGateway]
) -> Iterator[dict[str, Any]]:
    nginx = require_debian_binary(NGINX, "nginx")
    var_dir = tmp_path_factory.mktemp("replicas")
    prefix = f"rep{os.getpid()}_"
    nginx_port, elicense_port = free_port(), free_port()
    base = f"http://127.0.0.1:{nginx_port}"
    # The scheduled jobs fire a minute or two into the load (Beijing time, to the minute). A
    # scheduler that first registers its jobs after that minute plans them for tomorrow, so the
    # margin covers starting seven processes on a busy machine.
    fire_at = (SYSTEM_CLOCK.now() + timedelta(seconds=LOAD_SECONDS / 2 + 120)).astimezone(BEIJING)
    sink, _ = sms
    env = service_env(
        var_dir,
        prefix,
        HUODIAN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        HUODIAN_INTAKE_URL=f"{base}/intake",
        HUODIAN_LEDGER_URL=f"{base}/ledger",
        HUODIAN_NOTIFY_URL=f"{base}/notify",
        HUODIAN_INTAKE_ELICENSE_URL=f"http://127.0.0.1:{elicense_port}",
        HUODIAN_INTAKE_BACKGROUND_JOBS="false",
        HUODIAN_INTAKE_OUTBOX_INTERVAL_SECONDS="0.5",
        HUODIAN_NOTIFY_WORKER_POLL_SECONDS="0.2",
        HUODIAN_NOTIFY_QUIET_START="00:00",
        HUODIAN_NOTIFY_QUIET_END="00:00",
        HUODIAN_NOTIFY_STAFF_WINDOW="anytime",
        HUODIAN_NOTIFY_RATE_PER_MINUTE='{"sms": 1000000, "email": 1000000}',
        HUODIAN_NOTIFY_SMS_GATEWAY_URL=sink.url,
        HUODIAN_NOTIFY_SMS_SECRET=SMS_SECRET,
        HUODIAN_NOTIFY_REMINDER_TIME=fire_at.strftime("%H:%M"),
        HUODIAN_NOTIFY_SCHEDULER_STANDBY_SECONDS="1",
        HUODIAN_OUTBOUND_ALLOW="127.0.0.1",
    )
    Settings(var_dir=var_dir, db_schema_prefix=prefix, database_url=PG_URL).signing_key()
    run_cli(env, "migrate")
    run_cli(env, "seed")
    logs = var_dir / "logs"
    logs.mkdir()
    replicas = {
        f"{service}-{n}": Replica(service, env, logs)
        for service in ("intake", "ledger", "notify")
        for n in (1, 2)
    }
    worker = Replica("intake", {**env, "HUODIAN_INTAKE_BACKGROUND_JOBS": "true"}, logs)
    # The e-license stand-in knows every applicant the load will invent (fictitious cards).
    records = var_dir / "licences.json"
    records.write_text(
        json.dumps(
            {
                "note": "虚构的压测证照",
                "records": [
                    {
                        "type": "id_card",
                        "number": resident(seq),
                        "holder": applicant_name(seq),
                        "issued_on": "2015-01-01",
                        "expires_on": None,
                        "issuer": "靖宇县公安局",
                        "status": "active",
                        "address": f"靖宇县测试大街{seq}号",
                    }
                    for seq in range(1, 20_000)
                ],
            },
            ensure_ascii=False,
        )
    )
    with (logs / "elicense.log").open("w") as elicense_log:
        elicense = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.intake.standins.elicense",
                "--port",
                str(elicense_port),
                "--records",
                str(records),
            ],
            env=env,
            stdout=elicense_log,
            stderr=subprocess.STDOUT,
        )
    nginx_dir = var_dir / "nginx"
    nginx_dir.mkdir()
    upstreams = {
        s: [r.port for r in replicas.values() if r.service == s]
        for s in ("intake", "ledger", "notify")
    }
    config = nginx_config(nginx_dir, nginx_port, upstreams)
    checked = subprocess.run(
        [str(nginx), "-t", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen([str(nginx), "-c", str(config)], stderr=subprocess.DEVNULL)
    everything = [*replicas.values(), worker]
    try:
        for replica in everything:
            replica.start()
        for replica in everything:
            replica.wait()
        yield {
            "base": base,
            "env": env,
            "replicas": replicas,
            "worker": worker,
            "prefix": prefix,
            "logs": logs,
        }
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        for replica in everything:
            replica.stop()
        elicense.terminate()
        elicense.wait(timeout=30)
        drop_schemas(prefix)
    for log in logs.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def schema_engine(prefix: str, service: str) -> Any:
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, connect_args={"options": f"-csearch_path={prefix}{service}"})


def test_a_city_survives_a_replica_of_each_service_dying_under_load(
    city: dict[str, Any], sms: tuple[HttpSink, SmsGateway]
) -> None:
    base, env, replicas = city["base"], city["env"], city["replicas"]
    admin = sign_in(f"{base}/ledger", "admin", ADMIN_PASSWORD)
    for name, role, unit in (
        ("clerk-rep", "clerk", UNIT),
        ("dispatch-rep", "dispatcher", UNIT),
        ("head-rep", "dept_head", "各供电企业"),
    ):
        add_user(f"{base}/ledger", admin, name, role, unit)
    clerk = sign_in(f"{base}/ledger", "clerk-rep", "clerk-rep-password-1")
    dispatcher = sign_in(f"{base}/ledger", "dispatch-rep", "dispatch-rep-password-1")
    head = sign_in(f"{base}/ledger", "head-rep", "head-rep-password-1")
    issued = run_cli(env, "key", "add", "--name", "白山市政务服务平台", "--scope", "applications")
    keys = dict(line.split(": ", 1) for line in issued.splitlines() if ": " in line)
    portal = PortalAuth(keys["key id"], keys["secret"])

    # 10 000 subscribers on one feeder, imported through nginx before the load.
    rows = "\n".join(
        f"R{n:06d},压测户{n},139{n:08d},10kV 压测线,压测{n % 50}号台区,城镇"
        for n in range(SUBSCRIBERS)
    )
    csv = f"account_number,name,mobile,feeder,transformer_area,area_class\n{rows}\n".encode()
    started = httpx.post(
        f"{base}/notify/subscribers/imports",
        headers=dispatcher,
        files={"file": ("subscribers.csv", csv, "text/csv")},
        timeout=60,
    )
    assert started.status_code == 202, started.text

    def imported() -> bool:
        job = httpx.get(
            f"{base}/notify/subscribers/imports/{started.json()['id']}", headers=dispatcher
        ).json()
        return job["state"] == "done"

    wait_until(imported, 120, "the subscriber import")

    every = httpx.get(f"{base}/ledger/items", headers=head, params={"limit": 500}).json()
    items = [i for i in every["items"] if "各供电企业" in {u["name"] for u in i["units"]}]
    assert items, "the seeded ledger gives 各供电企业 items"

    load = Load(base, clerk, head, portal)
    workers = [
        threading.Thread(target=load.portal_submissions, name="portal-1"),
        threading.Thread(target=load.portal_submissions, name="portal-2"),
        threading.Thread(target=load.counter_applications, name="counter"),
        threading.Thread(target=load.ledger_updates, args=([i["id"] for i in items],)),
    ]
    for thread in workers:
        thread.start()

    # The outage: 10 000 SMS queued by one announcement, delivered while replicas die.
    soon = SYSTEM_CLOCK.now() + timedelta(days=8)
    outage = httpx.post(
        f"{base}/notify/outages",
        headers=dispatcher,
        json={
            "kind": "planned",
            "cause": "10kV 压测线检修",
            "feeders": ["10kV 压测线"],
            "planned_start": soon.isoformat(),
            "etr": (soon + timedelta(hours=6)).isoformat(),
        },
    )
    assert outage.status_code == 201, outage.text
    outage_id = outage.json()["id"]
    announced = httpx.post(
        f"{base}/notify/outages/{outage_id}/announce", headers=dispatcher, json={}, timeout=60
    )
    assert announced.status_code == 200, announced.text

    # One replica of each service dies and comes back, one after the other.
    leader = next(
        r
        for name, r in replicas.items()
        if name.startswith("notify")
        and httpx.get(f"{r.url}/scheduler", headers=admin).json()["active_here"]
    )
    victims = [replicas["intake-1"], replicas["ledger-2"], leader]
    pause = LOAD_SECONDS / (len(victims) + 1)
    for victim in victims:
        time.sleep(pause)
        victim.kill()
        time.sleep(2)
        victim.start()
        victim.wait()
    time.sleep(pause)
    load.stop.set()
    for thread in workers:
        thread.join(timeout=120)
    tally = load.tally
    assert not tally.errors, "\n".join(tally.errors[:5])
    assert not tally.portal_unanswered
    assert len(tally.portal) > 20
    assert len(tally.counter) > 5
    assert len(tally.updates) > 20

    intake_db = schema_engine(city["prefix"], "intake")
    notify_db = schema_engine(city["prefix"], "notify")
    ledger_db = schema_engine(city["prefix"], "ledger")
    with intake_db.connect() as db:
        applications = db.execute(text("SELECT number, applicant_name FROM applications")).all()
    # Applications: every acknowledged one once, each retried portal key once, nothing else.
    numbers = Counter(number for number, _ in applications)
    assert max(numbers.values()) == 1
    by_marker = Counter(name for _, name in applications)
    assert max(by_marker.values()) == 1, by_marker.most_common(3)
    for key, number in tally.portal.items():
        assert by_marker[key] == 1, key
        assert numbers[number] == 1, key
    for marker, number in tally.counter.items():
        assert by_marker[marker] == 1, marker
        assert numbers[number] == 1, marker
    known = set(tally.portal) | set(tally.counter) | tally.counter_unknown
    assert set(by_marker) <= known

    # Stage events: one creation per application, one completion per completed stage.
    with intake_db.connect() as db:
        events = Counter(
            (number, stage, kind)
            for number, stage, kind in db.execute(
                text(
                    "SELECT a.number, e.stage, e.kind FROM application_events e "
                    "JOIN applications a ON a.id = e.application_id "
                    "WHERE e.kind IN ('created', 'stage_completed')"
                )
            )
        )
    assert events
    assert max(events.values()) == 1, events.most_common(3)
    for number, (stage,) in tally.stages.items():
        assert events[number, stage, "stage_completed"] == 1, number

    # Ledger updates: acknowledged ones once, unknown ones at most once, no others.
    with ledger_db.connect() as db:
        narratives = Counter(n for (n,) in db.execute(text("SELECT narrative FROM status_updates")))
    ours = {n: c for n, c in narratives.items() if n.startswith("进展 ")}
    assert max(ours.values()) == 1
    assert tally.updates <= set(ours) <= tally.updates | tally.updates_unknown

    # The outage: one SMS per subscriber, each delivered; a recipient the gateway saw twice is
    # one whose message was flagged as a possible duplicate (a kill cut off its attempt).
    def delivered() -> bool:
        with notify_db.connect() as db:
            waiting = db.execute(
                text(
                    "SELECT count(*) FROM messages WHERE kind LIKE 'outage%' "
                    "AND state NOT IN ('sent', 'dead')"
                )
            ).scalar_one()
        return waiting == 0

    wait_until(delivered, 240, "the outage messages")
    with notify_db.connect() as db:
        outage_messages = db.execute(
            text(
                "SELECT recipient, state, possible_duplicate, dedup_key FROM messages "
                "WHERE kind LIKE 'outage%' AND channel = 'sms'"
            )
        ).all()
    assert len(outage_messages) == SUBSCRIBERS
    assert Counter(state for _, state, _, _ in outage_messages) == {"sent": SUBSCRIBERS}
    _, gateway = sms
    # The gateway also takes the applicants' receipts (受理回执), some to a subscriber's number:
    # only the outage's messages (by their message_id, the dedup key) are counted here.
    outage_keys = {key for _, _, _, key in outage_messages}
    received = Counter(
        body["mobile"] for body in gateway.taken if body["message_id"] in outage_keys
    )
    flagged = {recipient for recipient, _, dup, _ in outage_messages if dup}
    assert {m for m, c in received.items() if c > 1} <= flagged
    assert {r for r, _, _, _ in outage_messages} <= set(received)

    # The receipts: one SMS per accepted application (portal or counter, acknowledged or not),
    # to its applicant, whatever replica accepted it or died after.
    with intake_db.connect() as db:
        mobiles = Counter(m for (m,) in db.execute(text("SELECT mobile FROM applications")))
    assert max(mobiles.values()) == 1

    def receipts() -> list[Any]:
        with notify_db.connect() as db:
            return db.execute(
                text("SELECT recipient, channel FROM messages WHERE kind = 'intake.received'")
            ).all()

    texted = wait_until(
        lambda: len(receipts()) >= len(applications) and receipts(), 180, "the receipts"
    )
    assert Counter(channel for _, channel in texted) == {"sms": len(applications)}
    assert Counter(recipient for recipient, _ in texted) == mobiles

    # Each scheduled job ran once today, whichever notify replica led when it fired.
    def ran() -> list[Any]:
        with notify_db.connect() as db:
            return db.execute(
                text(
                    "SELECT job_id, attempts, finished_at FROM scheduled_job_runs "
                    "WHERE finished_at IS NOT NULL"
                )
            ).all()

    runs = wait_until(lambda: len(ran()) == len(JOBS) and ran(), 180, "the scheduled jobs")
    assert sorted((job, attempts) for job, attempts, _ in runs) == [(j, 1) for j in JOBS]

    # Every hash chain verifies, after all of it.
    verified = subprocess.run(
        [sys.executable, "-m", "services.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for engine in (intake_db, notify_db, ledger_db):
        engine.dispose()
