"""Checkpoints of the stage log, kept outside the database (记录锚定).

The keyed chain stops anyone without the key from forging entries, but not from putting an
application's log back to an earlier genuine state (a restored backup, a deleted tail with
``log_head`` set back) or deleting an application outright. So at intervals, and on demand,
intake writes a *checkpoint*: the head and length of every log that changed since the previous
one, a root over all of them, the counts, an HMAC (keyring purpose ``checkpoint``) and an
Ed25519 signature over the same bytes (``signature``: checkable with the public key alone). It is
appended to a file outside the database (``HUODIAN_INTAKE_CHECKPOINT_FILE``), each line linked
to the one before by its digest, and a copy of its summary goes to notify through the outbox
(``intake.log.checkpoint``), which records it in its own database.

Verifying against the checkpoints: every line's MAC and link, and for every application ever
anchored, that its log still holds the anchored head at the anchored length.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationEvent, Finding
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.settings import IntakeSettings
from shared.compact_json import compact_json, compact_json_bytes
from shared.db import fetch_all, session_scope
from shared.keyring import Keyring, PublicKeys, Signature
from shared.settings import Settings

PURPOSE: Final = "checkpoint"
FORMAT: Final = 1
GENESIS: Final = "0" * 64
_BATCH: Final = 500

Heads = dict[str, tuple[int, str]]
"""Application number → (log length, head hash)."""


def checkpoint_path(settings: Settings, intake_settings: IntakeSettings) -> Path:
    return intake_settings.checkpoint_file or settings.var_dir / "intake-checkpoints.jsonl"


def _canonical(body: Mapping[str, Any]) -> bytes:
    return compact_json_bytes(body, sort_keys=True)


def root_of(heads: Mapping[str, tuple[int, str]]) -> str:
    """One digest over every anchored head, in number order."""
    digest = hashlib.sha256()
    for number in sorted(heads):
        length, head = heads[number]
        digest.update(f"{number}:{length}:{head}\n".encode())
    return digest.hexdigest()


def line_digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


@dataclass
class CheckpointFile:
    """What a checkpoint file says, once its lines are checked."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    heads: Heads = field(default_factory=dict)
    last_digest: str = GENESIS
    problems: list[str] = field(default_factory=list)
    torn_at: int | None = None
    """Byte offset of a last line cut off mid-write (a process killed while appending)."""

    @property
    def last(self) -> dict[str, Any] | None:
        return self.lines[-1] if self.lines else None

    def covering(self, number: str) -> dict[str, Any] | None:
        """The latest checkpoint that names ``number``'s head."""
        return next((c for c in reversed(self.lines) if number in c["heads"]), None)


_SIGNATURES: Final = ("mac", "signature")


def signed_bytes(entry: Mapping[str, Any]) -> bytes:
    """What a checkpoint's MAC and its Ed25519 signature are made over."""
    return _canonical({k: v for k, v in entry.items() if k not in _SIGNATURES})


def check_line(keyring: Keyring, entry: Mapping[str, Any]) -> bool:
    signature = Signature(str(entry.get("key_id", "")), str(entry.get("mac", "")))
    return keyring.verify(PURPOSE, signed_bytes(entry), signature)


def check_line_public(public_keys: PublicKeys, entry: Mapping[str, Any]) -> bool:
    """The checkpoint's Ed25519 signature, with the public key alone (False: none, or bad)."""
    signature = entry.get("signature")
    if not isinstance(signature, str):
        return False
    return public_keys.verify(signed_bytes(entry), Signature(str(entry.get("key_id")), signature))


def read_checkpoints(path: Path, keyring: Keyring) -> CheckpointFile:
    """Every line checked: its MAC, its link to the line before, its number, its root."""
    state = CheckpointFile()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return state
    raws = text.split("\n")
    tail = raws.pop()  # "" after a complete last line
    if tail:
        try:
            json.loads(tail)
        except ValueError:
            # A write cut off by a crash: not a checkpoint; the next writer drops it.
            state.torn_at = len(text.encode()) - len(tail.encode())
        else:
            raws.append(tail)
    for number, raw in enumerate(raws, start=1):
        try:
            entry = json.loads(raw)
        except ValueError:
            state.problems.append(f"checkpoint line {number} is not JSON")
            break
        if not check_line(keyring, entry):
            state.problems.append(f"checkpoint line {number} does not verify with its key")
            break
        if entry.get("seq") != number or entry.get("prev") != state.last_digest:
            state.problems.append(f"checkpoint line {number} is out of order or a line is missing")
            break
        for app_number, (length, head) in entry["heads"].items():
            state.heads[app_number] = (int(length), str(head))
        if root_of(state.heads) != entry.get("root"):
            state.problems.append(f"checkpoint line {number}'s root does not match its heads")
            break
        state.lines.append(entry)
        state.last_digest = line_digest(raw)
    return state


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time across processes (two intake processes may checkpoint at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def current_heads(session: AsyncSession) -> Heads:
    rows = await fetch_all(
        session,
        select(Application.number, Application.log_length, Application.log_head).order_by(
            col(Application.id)
        ),
    )
    return {number: (length, head) for number, length, head in rows}


async def event_count(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(ApplicationEvent))).one())


async def against_checkpoints(session: AsyncSession, anchored: Heads) -> list[Finding]:
    """Applications whose log no longer holds what a checkpoint anchored: cut back, rewritten
    before that point, or gone."""
    findings: list[Finding] = []
    numbers = sorted(anchored)
    for start in range(0, len(numbers), _BATCH):
        batch = numbers[start : start + _BATCH]
        rows = await fetch_all(
            session,
            select(Application.id, Application.number, Application.log_length).where(
                col(Application.number).in_(batch)
            ),
        )
        found = {number: (app_id, length) for app_id, number, length in rows}
        pairs = [(found[n][0], anchored[n][0]) for n in batch if n in found]
        hashes: dict[tuple[int, int], str] = {}
        if pairs:
            events = await fetch_all(
                session,
                select(
                    ApplicationEvent.application_id, ApplicationEvent.seq, ApplicationEvent.hash
                ).where(
                    tuple_(col(ApplicationEvent.application_id), col(ApplicationEvent.seq)).in_(
                        pairs
                    )
                ),
            )
            hashes = {(a, s): h for a, s, h in events}
        for number in batch:
            length, head = anchored[number]
            if number not in found:
                findings.append(
                    Finding(
                        application=number,
                        table="applications",
                        problem=f"application {number}, anchored with {length} events, is gone",
                    )
                )
                continue
            app_id, stored_length = found[number]
            if stored_length < length or hashes.get((app_id, length)) != head:
                findings.append(
                    Finding(
                        application=number,
                        table="application_events",
                        seq=length,
                        problem=f"application {number}: its log no longer holds the head "
                        f"anchored at event {length} (now {stored_length} events): it was "
                        "rewritten or cut back",
                    )
                )
    return findings


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    at: datetime
    applications: int
    events: int
    changed: int
    root: str
    key_id: str
    digest: str
    refused: list[str]


async def write_checkpoint(
    engine: AsyncEngine, path: Path, keyring: Keyring, *, now: datetime
) -> Checkpoint:
    """Anchor the heads of every log that changed since the last checkpoint (on demand or
    from the job). A log that no longer extends its anchored head is not re-anchored: it is
    reported in ``refused`` (and by verify), so a rewrite cannot be laundered by a checkpoint.
    """
    with _locked(path):
        state = read_checkpoints(path, keyring)
        if state.problems:
            raise CheckpointFileBroken("; ".join(state.problems))
        async with session_scope(engine) as session:
            heads = await current_heads(session)
            found = await against_checkpoints(session, state.heads)
            refused = {f.application for f in found if f.application}
            changed = {
                n: v for n, v in heads.items() if state.heads.get(n) != v and n not in refused
            }
            merged = {**state.heads, **changed}
            body: dict[str, Any] = {
                "format": FORMAT,
                "service": "intake",
                "seq": len(state.lines) + 1,
                "at": now.isoformat(),
                "prev": state.last_digest,
                "applications": len(heads),
                "events": await event_count(session),
                "heads": {n: [length, head] for n, (length, head) in sorted(changed.items())},
                "root": root_of(merged),
            }
            signed = _canonical({**body, "key_id": keyring.current_id})
            signature = keyring.sign(PURPOSE, signed)
            public = keyring.sign_public(signed, signature.key_id)
            entry = {
                **body,
                "key_id": signature.key_id,
                "mac": signature.digest,
                "signature": public.digest,
            }
            line = compact_json(entry, sort_keys=True)
            if state.torn_at is not None:
                os.truncate(path, state.torn_at)
            with open(path, "a") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            digest = line_digest(line)
            enqueue(
                session,
                EventType.log_checkpoint,
                subject=f"checkpoint {body['seq']}",
                data={
                    "seq": body["seq"],
                    "at": body["at"],
                    "applications": body["applications"],
                    "events": body["events"],
                    "root": body["root"],
                    "digest": digest,
                    "key_id": signature.key_id,
                    "mac": signature.digest,
                    "signature": public.digest,
                },
                now=now,
            )
    return Checkpoint(
        seq=body["seq"],
        at=now,
        applications=body["applications"],
        events=body["events"],
        changed=len(changed),
        root=body["root"],
        key_id=signature.key_id,
        digest=digest,
        refused=sorted(refused),
    )


class CheckpointFileBroken(Exception):
    """The checkpoint file does not verify: no checkpoint is appended to it."""
