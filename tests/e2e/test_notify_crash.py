"""Exactly once across crashes, and a channel that is down holds its messages: the notify
process for real (uvicorn), its real database (SQLite file or PostgreSQL schema) and a real SMTP
server (aiosmtpd).

``docs/reliability.md`` (Delivery) says what these inject and what they proved.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from services.notify.delivery.channels import Outgoing, message_id
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from shared.clock import SYSTEM_CLOCK
from shared.db import create_sync_engine, database_target
from shared.migrations import upgrade
from shared.settings import Settings
from tests.conftest import PG_URL
from tests.e2e.support import drop_schemas, free_port, service_env, wait_ready
from tests.notify.sinks import SmtpSink

pytestmark = pytest.mark.e2e


def wait_for(condition: Callable[[], bool], seconds: float = 60, step: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


class Notify:
    """The notify service alone, as ``huodian up`` runs it, that a test can kill -9."""

    def __init__(self, var_dir: Path, prefix: str, smtp_port: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = service_env(
            var_dir,
            prefix,
            HUODIAN_NOTIFY_PORT=str(self.port),
            HUODIAN_NOTIFY_SMTP_HOST="127.0.0.1",
            HUODIAN_NOTIFY_SMTP_PORT=str(smtp_port),
            HUODIAN_NOTIFY_SCHEDULER_ENABLED="false",
            HUODIAN_NOTIFY_WORKER_POLL_SECONDS="0.2",
            HUODIAN_NOTIFY_QUIET_START="00:00",
            HUODIAN_NOTIFY_QUIET_END="00:00",
            **env,
        )
        self.settings = Settings(
            var_dir=var_dir, db_schema_prefix=prefix, database_url=PG_URL or None
        )
        # Made before the first start, as ``huodian up`` does: a process killed while creating
        # it would leave an empty key behind.
        self.settings.signing_key()
        upgrade("notify", self.settings, "head")
        self.engine = create_sync_engine(database_target(self.settings, "notify"))
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "services.notify.app:create_app",
                "--factory",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_ready(self.process, self.url)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)
        self.process = None

    def stop(self) -> str:
        if self.process is None:
            return ""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        self.process = None
        return output

    def enqueue(self, recipients: list[str]) -> dict[str, str]:
        """One email to each recipient; returns recipient → the Message-ID it must arrive with."""
        now = SYSTEM_CLOCK.now()
        rows = [
            Message(
                dedup_key=f"e2e:{to}",
                kind="test",
                channel=Channel.email,
                recipient=to,
                subject=f"测试 {to}",
                body="正文",
                window=DeliveryWindow.anytime,
                created_at=now,
                next_attempt_at=now,
            )
            for to in recipients
        ]
        with Session(self.engine) as session:
            session.add_all(rows)
            session.commit()
            ids = {m.recipient: m.id for m in rows}
        return {
            to: message_id(Outgoing(i or 0, f"e2e:{to}", "test", Channel.email, to, "", ""))
            for to, i in ids.items()
        }

    def states(self) -> dict[MessageState, int]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(Message.state, func.count()).group_by(col(Message.state))
            ).all()
        return {MessageState(s): n for s, n in rows}

    def recipients(self, *where: Any) -> set[str]:
        with Session(self.engine) as session:
            return set(session.exec(select(Message.recipient).where(*where)).all())

    def in_flight(self) -> set[str]:
        """Recipients of the messages a worker held (``sending``) when it was killed."""
        return self.recipients(col(Message.state) == MessageState.sending)

    def flagged(self) -> set[str]:
        return self.recipients(col(Message.possible_duplicate))

    def attempts(self) -> Counter[int]:
        with Session(self.engine) as session:
            return Counter(session.exec(select(Message.attempts)).all())


@pytest.fixture
def notify_factory(tmp_path: Path) -> Iterator[Callable[..., Notify]]:
    made: list[Notify] = []
    prefix = f"e2ec{os.getpid()}_{uuid4().hex[:6]}_"

    def make(smtp_port: int, **env: str) -> Notify:
        notify = Notify(tmp_path / "var", prefix, smtp_port, **env)
        made.append(notify)
        return notify

    yield make
    outputs = []
    try:
        for notify in made:
            outputs.append(notify.stop())
            notify.engine.dispose()
    finally:
        drop_schemas(prefix)
    for output in outputs:
        assert "Traceback" not in output, output


def per_recipient(smtp: SmtpSink) -> dict[str, list[str]]:
    """Recipient → the Message-IDs of every copy received."""
    got: dict[str, list[str]] = {}
    for to, mail in smtp.mails():
        got.setdefault(to[0], []).append(str(mail["Message-ID"]))
    return got


def test_kill_9_in_the_middle_of_a_batch_sends_each_message_once(notify_factory):
    """A slow SMTP server; notify is killed (SIGKILL) twice while sending 150 messages and
    started again: once just as the server has taken its 24th mail (the worst moment: replies
    to several sends are in flight), once at a random moment. Every recipient gets exactly one
    message as a receiver that honours Message-ID sees it (one Message-ID, the one of its row);
    a copy sent again after a crash carries the same Message-ID."""
    smtp = SmtpSink(delay=0.1)
    smtp.start()
    try:
        notify = notify_factory(
            smtp.port,
            HUODIAN_NOTIFY_LEASE_SECONDS="3",
            HUODIAN_NOTIFY_RATE_PER_MINUTE='{"email": 100000}',
        )
        recipients = [f"r{i:03d}@example.cn" for i in range(150)]
        expected = notify.enqueue(recipients)
        notify.start()
        wait_for(lambda: len(smtp.mails()) >= 24, step=0.002)
        notify.kill()
        first = len(smtp.mails())
        held = notify.in_flight()
        notify.start()
        time.sleep(random.uniform(1.0, 4.0))
        notify.kill()
        second = len(smtp.mails())
        held_second = notify.in_flight()
        notify.start()
        wait_for(lambda: notify.states() == {MessageState.sent: 150}, seconds=120)
        time.sleep(0.5)  # nothing more arrives

        got = per_recipient(smtp)
        copies = sum(len(ids) for ids in got.values())
        duplicates = copies - len(got)
        order = [to[0] for to, _ in smtp.mails()]
        again = [to for to, ids in got.items() if len(ids) > 1]
        after_first = sum(1 for to in again if order.index(to) < first)
        flagged = notify.flagged()
        print(
            f"killed at {first} and {second} mails received; {copies} received, {duplicates} "
            f"duplicates ({after_first} after the first kill, {duplicates - after_first} after "
            f"the second); in flight at the kills {len(held)} and {len(held_second)}; "
            f"{len(flagged)} flagged possible_duplicate"
        )
        assert sorted(got) == recipients
        # Exactly one message per recipient, as a receiver that honours Message-ID sees it.
        assert {to: set(ids) for to, ids in got.items()} == {
            to: {mid} for to, mid in expected.items()
        }
        # A copy is sent again only if a kill fell between the server's 250 and the commit of
        # the outcome: at most one per crash and per message in flight (8 at a time).
        assert duplicates <= 2 * 8
        assert max(len(ids) for ids in got.values()) <= 1 + 2
        # ... and made visible: every recipient that got a second copy has its message flagged,
        # and only messages a killed worker held are flagged.
        assert set(again) <= flagged
        assert flagged <= held | held_second
        # (a message still leased from the first kill is held at the second one too)
        assert len(flagged) <= len(held | held_second) <= 2 * 10
        with Session(notify.engine) as session:
            rows = session.exec(select(Message).where(col(Message.possible_duplicate))).all()
        assert all(m.earlier_attempt_at is not None and m.attempts >= 2 for m in rows)
    finally:
        smtp.stop()


def test_smtp_down_longer_than_the_retry_budget_then_everything_arrives(notify_factory):
    """The SMTP server is down for many times the retry budget (max_attempts=2, a 1 s backoff:
    the old worker gave up after about a second); when it comes back every message is
    delivered with no manual step, and no attempt was used up while it was down."""
    smtp = SmtpSink()
    notify = notify_factory(
        smtp.port,
        HUODIAN_NOTIFY_MAX_ATTEMPTS="2",
        HUODIAN_NOTIFY_BACKOFF_BASE_SECONDS="1",
        HUODIAN_NOTIFY_CHANNEL_PROBE_MAX_SECONDS="1",
    )
    recipients = [f"d{i:02d}@example.cn" for i in range(30)]
    expected = notify.enqueue(recipients)
    notify.start()
    try:
        wait_for(lambda: notify.states().get(MessageState.failed, 0) == 30)
        time.sleep(8)  # eight times the budget; a probe fails every second meanwhile
        # Held, not dead; no attempt used (but by a probe caught in flight).
        assert set(notify.states()) <= {MessageState.failed, MessageState.sending}
        assert notify.attempts()[0] >= 29
        smtp.start()
        wait_for(lambda: notify.states() == {MessageState.sent: 30}, seconds=60)
        got = per_recipient(smtp)
        assert got == {to: [mid] for to, mid in expected.items()}
        assert notify.attempts() == Counter({1: 30})
    finally:
        smtp.stop()
