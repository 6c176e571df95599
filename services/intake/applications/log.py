"""The stage log (环节记录): append-only, keyed and tamper-evident.

Each event's hash is an HMAC-SHA256, with a key kept outside the database (``shared.keyring``,
purpose ``stage-log``), over its content and the previous event's hash; the entry names the id
of the key it was made with, so entries made before a rotation still verify with the old key.
The application row keeps the last hash and the length. An edited, removed or reordered event,
or a cut-off tail, shows when the chain is re-hashed; a whole chain rewritten by someone
without the key does not verify at all; a chain cut back to an earlier, genuine state is caught
against the last checkpoint written outside the database (:mod:`services.intake.integrity`).

The facts the clock is computed from (stage times, pauses, limits) are derived from the log:
:mod:`services.intake.applications.record` replays it and names every row that disagrees.

Entries made before the log was keyed (``key_id`` empty) are re-sealed once by
:func:`reseal_legacy`, which ``huodian migrate`` runs; verify refuses an unkeyed entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ChainCheck,
    EventKind,
    Finding,
)
from services.intake.policies.models import Stage
from shared.compact_json import compact_json
from shared.keyring import Keyring, Signature

GENESIS: Final = "0" * 64
PURPOSE: Final = "stage-log"
"""The keyring purpose of the chain's HMAC (each purpose derives its own subkey)."""

KeyringSource = Callable[[], Keyring]
EventListener = Callable[[AsyncSession, Application, ApplicationEvent], None]
"""Told of each event as it is appended, in the same transaction: the portal queues its status
callback this way, so the log knows nothing of the domains built on it."""


@dataclass(frozen=True)
class _Writer:
    keyring: KeyringSource
    listeners: tuple[EventListener, ...]


_WRITERS: WeakKeyDictionary[Engine, _Writer] = WeakKeyDictionary()


def use_keyring(
    engine: AsyncEngine, source: KeyringSource, *, listeners: Sequence[EventListener]
) -> None:
    """Make ``source`` the keyring of every log entry written through ``engine``, and
    ``listeners`` the ones told of each entry.

    Every process that writes the log registers once (:mod:`services.intake.flows.stage_log`
    names the listeners), so the dozen places that append to the log need not carry the
    keyring down to here. The listeners are a required argument: no writer forgets them.
    """
    _WRITERS[engine.sync_engine] = _Writer(source, tuple(listeners))


def _writer(session: AsyncSession) -> _Writer:
    writer = _WRITERS.get(session.get_bind())  # type: ignore[arg-type]
    if writer is None:
        raise RuntimeError("no keyring registered for this engine (use_keyring)")
    return writer


def keyring_of(session: AsyncSession) -> Keyring:
    return _writer(session).keyring()


def canonical(
    number: str,
    seq: int,
    kind: str,
    stage: str | None,
    occurred_at: datetime,
    actor: str,
    reason: str | None,
    payload: dict[str, Any],
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
    return compact_json(body, sort_keys=True)


def _message(number: str, event: ApplicationEvent, prev_hash: str) -> bytes:
    text = canonical(
        number,
        event.seq,
        event.kind.value,
        event.stage.value if event.stage else None,
        event.occurred_at,
        event.actor,
        event.reason,
        event.payload,
    )
    return f"{prev_hash}\n{text}".encode()


def entry_key(keyring: Keyring) -> tuple[str, bytes]:
    """The current key id and derived key of the stage log, for :func:`seal_entry`."""
    return keyring.subkey(PURPOSE)


def seal_entry(
    key: tuple[str, bytes],
    number: str,
    seq: int,
    kind: EventKind,
    stage: Stage | None,
    *,
    occurred_at: datetime,
    actor: str,
    reason: str | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> Signature:
    """:func:`seal` of an entry given as plain values, with the key derived once
    (:func:`entry_key`), for bulk writers that insert rows without building an
    :class:`ApplicationEvent` each (a calendar change's moves)."""
    text = canonical(
        number,
        seq,
        kind.value,
        stage.value if stage else None,
        occurred_at,
        actor,
        reason,
        payload,
    )
    key_id, secret = key
    message = f"{prev_hash}\n{text}".encode()
    return Signature(key_id, hmac.new(secret, message, hashlib.sha256).hexdigest())


def legacy_hash(number: str, event: ApplicationEvent, prev_hash: str) -> str:
    """The unkeyed SHA-256 of entries written before the log was keyed (for the re-seal)."""
    return hashlib.sha256(_message(number, event, prev_hash)).hexdigest()


def seal(keyring: Keyring, number: str, event: ApplicationEvent, prev_hash: str) -> Signature:
    return keyring.sign(PURPOSE, _message(number, event, prev_hash))


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
    # Store exactly what was hashed: JSON round-trips must not change the payload.
    body = json.loads(json.dumps(payload or {}, ensure_ascii=False))
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
        hash="",
    )
    writer = _writer(session)
    signature = seal(writer.keyring(), application.number, event, prev)
    event.key_id, event.hash = signature.key_id, signature.digest
    session.add(event)
    application.log_length = seq
    application.log_head = signature.digest
    for listener in writer.listeners:
        listener(session, application, event)
    return event


def check_chain(
    keyring: Keyring, application: Application, events: Sequence[ApplicationEvent]
) -> ChainCheck:
    """Re-compute every entry's HMAC in order and compare it with what is stored."""

    def broken(event: ApplicationEvent | None, seq: int | None, problem: str) -> ChainCheck:
        return ChainCheck(
            number=application.number,
            valid=False,
            length=len(events),
            head=application.log_head,
            first_bad_seq=seq,
            problem=problem,
            findings=[
                Finding(
                    application=application.number,
                    table="application_events" if event else "applications",
                    row=event.id if event else application.id,
                    seq=seq,
                    problem=problem,
                )
            ],
        )

    prev = GENESIS
    key_ids: set[str] = set()
    for position, event in enumerate(events, start=1):
        if event.seq != position:
            return broken(event, position, f"event {position} is missing or out of order")
        if event.prev_hash != prev:
            return broken(event, event.seq, "the link to the previous event does not match")
        if not event.key_id:
            return broken(
                event,
                event.seq,
                "the event is not keyed (written before the log was keyed and never "
                "re-sealed: run `huodian migrate`)",
            )
        signature = Signature(event.key_id, event.hash)
        if not keyring.verify(PURPOSE, _message(application.number, event, prev), signature):
            known = event.key_id in keyring.keys
            return broken(
                event,
                event.seq,
                "the event's content does not match its hash"
                if known
                else f"the event names key {event.key_id!r}, which the keyring does not hold",
            )
        key_ids.add(event.key_id)
        prev = event.hash
    if len(events) != application.log_length or prev != (application.log_head or GENESIS):
        return broken(None, None, "the log is shorter or longer than the application records")
    return ChainCheck(
        number=application.number,
        valid=True,
        length=len(events),
        head=application.log_head,
        key_ids=sorted(key_ids),
    )


def reseal_chain(
    keyring: Keyring, application: Application, events: Sequence[ApplicationEvent]
) -> bool:
    """Key the unkeyed entries of one application's log, if its unkeyed chain is intact.

    Returns whether anything was re-sealed. A legacy chain that does not re-hash is left as it
    is, so that verify keeps reporting it: re-sealing must never launder an altered log.
    """
    if not events or all(e.key_id for e in events):
        return False
    prev = GENESIS
    for position, event in enumerate(events, start=1):
        if event.key_id or event.seq != position or event.prev_hash != prev:
            return False  # mixed or broken: leave it for verify to report
        if legacy_hash(application.number, event, prev) != event.hash:
            return False
        prev = event.hash
    if prev != application.log_head or len(events) != application.log_length:
        return False
    prev = GENESIS
    for event in events:
        signature = seal(keyring, application.number, event, prev)
        event.prev_hash = prev
        event.key_id, event.hash = signature.key_id, signature.digest
        prev = signature.digest
    application.log_head = prev
    return True
