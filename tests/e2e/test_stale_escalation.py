"""Stale-update escalation (更新超期督办) over the real processes, at a set time: the ledgers are
seeded on Monday 2026-03-02, and ``huodian up`` runs on Tuesday 2026-03-17, eleven working days
later, when every item never updated is past its N = 10 working days. Notify's run asks ledger's
feed, the head (部门负责人) of 各供电企业 gets the mail at a real SMTP server (aiosmtpd), and the
ledger records the step on the item; a second run that day sends nothing again.

The shared clock has no offset setting of its own (``shared/clock.py`` reads the system clock and
nothing else), so the time is set for the subprocesses with libfaketime, as ``.ci/shifted-clocks``
does: ``LD_PRELOAD`` and a relative ``FAKETIME`` offset, the same for every process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.clock import SYSTEM_CLOCK
from tests.e2e.support import (
    add_user,
    require_debian_binary,
    run_cli,
    running_stack,
    service_env,
    sign_in,
    wait_for,
)
from tests.notify.sinks import SmtpSink

pytestmark = pytest.mark.e2e
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
ADMIN_PASSWORD = "e2e-stale-escalation-admin-password"
SEEDED_AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing
STALE_AT = datetime(2026, 3, 17, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Beijing
HEAD = "head-stale"
UNIT = "各供电企业"


def faked_at(moment: datetime) -> dict[str, str]:
    """The environment that puts a subprocess's clock at ``moment`` (and lets it run on).

    libfaketime's offset counts from the real clock; when this test itself runs under a shifted
    clock (``.ci/shifted-clocks`` sets a relative ``FAKETIME``), that shift is added back."""
    inherited = re.fullmatch(r"([+-]\d+)s", os.environ.get("FAKETIME", ""))
    shift = int((moment - SYSTEM_CLOCK.now()).total_seconds())
    shift += int(inherited.group(1)) if inherited else 0
    return {
        "LD_PRELOAD": str(require_debian_binary(LIBFAKETIME, "libfaketime")),
        "FAKETIME": f"{shift:+d}s",
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink) -> Iterator[dict[str, str]]:
    var_dir: Path = tmp_path_factory.mktemp("e2e-stale")
    prefix = f"e2es{os.getpid()}_"
    seeding = service_env(
        var_dir, prefix, HUODIAN_ADMIN_PASSWORD=ADMIN_PASSWORD, **faked_at(SEEDED_AT)
    )
    run_cli(seeding, "migrate")
    assert "ledger: loaded dongying-2021" in run_cli(seeding, "seed")
    with running_stack(
        var_dir,
        prefix,
        ADMIN_PASSWORD,
        HUODIAN_NOTIFY_SMTP_HOST="127.0.0.1",
        HUODIAN_NOTIFY_SMTP_PORT=str(smtp.port),
        HUODIAN_NOTIFY_WORKER_POLL_SECONDS="0.2",
        HUODIAN_NOTIFY_STAFF_WINDOW="anytime",
        **faked_at(STALE_AT),
    ) as urls:
        yield urls


def test_a_silent_item_reaches_its_head_and_is_recorded(
    stack: dict[str, str], smtp: SmtpSink
) -> None:
    ledger, notify = stack["ledger"], stack["notify"]
    admin = sign_in(ledger, "admin", ADMIN_PASSWORD)
    add_user(ledger, admin, HEAD, "dept_head", UNIT)

    # No as_of: the run's day is notify's own (faked) today.
    ran = httpx.post(f"{notify}/reminders/stale-items/run", headers=admin, timeout=120)
    assert ran.status_code == 200, ran.text
    run: dict[str, Any] = ran.json()
    assert (run["as_of"], run["working_day"]) == ("2026-03-17", True)
    assert run["steps"] == run["recorded"] == run["acknowledged"] > 0

    # Recorded on the item: the head's step, fired today for the stale period since loading.
    page = httpx.get(
        f"{ledger}/items", headers=admin, params={"ledger": "dongying-2021", "limit": 100}
    ).json()
    assert page["total"] == len(page["items"])
    told: list[dict[str, Any]] = []
    for item in page["items"]:
        detail = httpx.get(f"{ledger}/items/{item['id']}", headers=admin).json()
        told += [
            step
            for step in detail["escalations"]
            if HEAD in {t.get("username") for t in step["targets"]}
        ]
    assert told
    assert {(s["level"], s["fired_on"], s["period_start"]) for s in told} == {
        ("unit_head", "2026-03-17", "2026-03-02")
    }

    # One mail per step reached the head at the SMTP server.
    def mails_to_head() -> list[Any]:
        return [mail for to, mail in smtp.mails() if to == [f"{HEAD}@example.cn"]]

    assert wait_for(lambda: len(mails_to_head()) >= len(told))
    mails = mails_to_head()
    assert len(mails) == len(told)
    assert all(str(m["Subject"]).startswith("【更新超期】dongying-2021 第") for m in mails)
    assert all("个工作日未更新进展" in str(m["Subject"]) for m in mails)

    # The same day again: recorded once, nothing sent twice.
    again = httpx.post(f"{notify}/reminders/stale-items/run", headers=admin, timeout=120).json()
    assert (again["steps"], again["recorded"]) == (0, 0)
