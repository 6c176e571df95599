"""The stage log (环节记录): append-only and tamper-evident.

Each event's hash covers its content and the previous event's hash, and the application row
keeps the last hash and the length, so an edited, removed or reordered event — or a cut-off
tail — shows when the chain is re-hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ChainCheck,
    EventKind,
)
from services.intake.policies.models import Stage
from services.intake.portal.webhooks import queue_status_callback

GENESIS = "0" * 64


def event_hash(
    number: str,
    seq: int,
    kind: str,
    stage: str | None,
    occurred_at: datetime,
    actor: str,
    reason: str | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "application": number,
        "seq": seq,
        "kind": kind,
        "stage": stage,
        "occurred_at": occurred_at.isoformat(),
        "actor": actor,
        "reason": reason,
        "payload": payload,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def append_event(
    session: AsyncSession,
    application: Application,
    kind: EventKind,
    *,
    now: datetime,
    actor: str,
    stage: Stage | None = None,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> ApplicationEvent:
    """Add the next event of ``application``'s log (flushed with the caller's transaction)."""
    assert application.id is not None
    seq = application.log_length + 1
    prev = application.log_head or GENESIS
    body = payload or {}
    # Store exactly what was hashed: JSON round-trips must not change the payload.
    body = json.loads(json.dumps(body, ensure_ascii=False))
    digest = event_hash(
        application.number,
        seq,
        kind.value,
        stage.value if stage else None,
        now,
        actor,
        reason,
        body,
        prev,
    )
    event = ApplicationEvent(
        application_id=application.id,
        seq=seq,
        kind=kind,
        stage=stage,
        occurred_at=now,
        actor=actor,
        reason=reason,
        payload=body,
        prev_hash=prev,
        hash=digest,
    )
    session.add(event)
    application.log_length = seq
    application.log_head = digest
    queue_status_callback(session, application, event)
    return event


def verify(application: Application, events: Sequence[ApplicationEvent]) -> ChainCheck:
    """Re-hash the log in order and compare it with what is stored."""

    def broken(seq: int | None, problem: str) -> ChainCheck:
        return ChainCheck(
            number=application.number,
            valid=False,
            length=len(events),
            head=application.log_head,
            first_bad_seq=seq,
            problem=problem,
        )

    prev = GENESIS
    for position, event in enumerate(events, start=1):
        if event.seq != position:
            return broken(position, f"event {position} is missing or out of order")
        if event.prev_hash != prev:
            return broken(event.seq, "the link to the previous event does not match")
        digest = event_hash(
            application.number,
            event.seq,
            event.kind.value,
            event.stage.value if event.stage else None,
            event.occurred_at,
            event.actor,
            event.reason,
            event.payload,
            prev,
        )
        if digest != event.hash:
            return broken(event.seq, "the event's content does not match its hash")
        prev = digest
    if len(events) != application.log_length or prev != (application.log_head or GENESIS):
        return broken(None, "the log is shorter or longer than the application records")
    return ChainCheck(
        number=application.number, valid=True, length=len(events), head=application.log_head
    )
