"""The evidence bundle of one application (证据包): what an evaluator or a court is handed.

One JSON file: the application's whole stage log, the checkpoint (from the file outside the
database) that anchors it, the ids of the keys its entries name, and its documents with their
digests, the whole sealed with an HMAC (keyring purpose ``evidence-bundle``).
:func:`verify_bundle` checks it with the keyring alone, without the database: every entry's
HMAC and link, the anchored head at the anchored length, the checkpoint's own MAC, that the log
replays into a possible process, and that each document's digest is the one its log entry
recorded. Events after the covering checkpoint are reported as not yet anchored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications import record
from services.intake.applications.log import GENESIS
from services.intake.applications.log import PURPOSE as LOG_PURPOSE
from services.intake.applications.log import canonical as entry_canonical
from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    EventKind,
)
from services.intake.applications.service import events as log_of
from services.intake.documents.models import ApplicationDocument
from services.intake.integrity.checkpoints import CheckpointFile, check_line
from services.intake.policies.models import Stage
from shared.keyring import Keyring, KeyringError, Signature

FORMAT: Final = "huodian-evidence/1"
PURPOSE: Final = "evidence-bundle"


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _event(event: ApplicationEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "kind": event.kind.value,
        "stage": event.stage.value if event.stage else None,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "reason": event.reason,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "key_id": event.key_id,
    }


def _document(document: ApplicationDocument) -> dict[str, Any]:
    row = {
        "id": document.id,
        "stage": document.stage.value,
        "kind": document.kind,
        "valid_until": document.valid_until.isoformat() if document.valid_until else None,
        "received_at": document.received_at.isoformat(),
        "received_by": document.received_by,
        "reference_sha256": hashlib.sha256(document.reference.encode()).hexdigest(),
    }
    return {**row, "record_sha256": hashlib.sha256(_canonical(row)).hexdigest()}


async def build_bundle(
    session: AsyncSession,
    application: Application,
    keyring: Keyring,
    checkpoints: CheckpointFile,
    *,
    now: datetime,
) -> dict[str, Any]:
    events = await log_of(session, application)
    documents = (
        await session.exec(
            select(ApplicationDocument)
            .where(col(ApplicationDocument.application_id) == application.id)
            .order_by(col(ApplicationDocument.id))
        )
    ).all()
    body: dict[str, Any] = {
        "format": FORMAT,
        "application": application.number,
        "made_at": now.isoformat(),
        "head": {"length": application.log_length, "hash": application.log_head},
        "events": [_event(e) for e in events],
        "key_ids": sorted({e.key_id for e in events if e.key_id}),
        "checkpoint": checkpoints.covering(application.number),
        "documents": [_document(d) for d in documents],
    }
    signature = keyring.sign(PURPOSE, _canonical(body))
    return {**body, "seal": {"key_id": signature.key_id, "mac": signature.digest}}


@dataclass
class BundleCheck:
    valid: bool = True
    lines: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.valid = False
        self.lines.append(f"FAIL {line}")

    def ok(self, line: str) -> None:
        self.lines.append(f"ok   {line}")


def _stored(raw: dict[str, Any], application_id: int = 0) -> ApplicationEvent:
    return ApplicationEvent(
        application_id=application_id,
        seq=raw["seq"],
        kind=EventKind(raw["kind"]),
        stage=Stage(raw["stage"]) if raw["stage"] else None,
        occurred_at=datetime.fromisoformat(raw["occurred_at"]),
        actor=raw["actor"],
        reason=raw["reason"],
        payload=raw["payload"],
        prev_hash=raw["prev_hash"],
        hash=raw["hash"],
        key_id=raw["key_id"],
    )


def verify_bundle(bundle: dict[str, Any], keyring: Keyring) -> BundleCheck:
    """Everything in the bundle checked with the keyring alone (no database)."""
    result = BundleCheck()
    if bundle.get("format") != FORMAT:
        result.fail(f"not an evidence bundle ({bundle.get('format')!r})")
        return result
    number = str(bundle["application"])
    body = {k: v for k, v in bundle.items() if k != "seal"}
    seal = bundle.get("seal") or {}
    if keyring.verify(
        PURPOSE, _canonical(body), Signature(str(seal.get("key_id")), str(seal.get("mac")))
    ):
        result.ok(f"the bundle of {number} is sealed with key {seal.get('key_id')}")
    else:
        result.fail("the bundle's seal does not verify: it was altered after it was made")
    events = bundle["events"]
    prev = GENESIS
    chain_ok = True
    for position, raw in enumerate(events, start=1):
        message = (
            prev
            + "\n"
            + entry_canonical(
                number,
                raw["seq"],
                raw["kind"],
                raw["stage"],
                datetime.fromisoformat(raw["occurred_at"]),
                raw["actor"],
                raw["reason"],
                raw["payload"],
            )
        ).encode()
        signature = Signature(str(raw.get("key_id") or ""), str(raw["hash"]))
        if raw["seq"] != position or raw["prev_hash"] != prev:
            result.fail(f"event {position} is missing, out of order or unlinked")
            chain_ok = False
            break
        if not keyring.verify(LOG_PURPOSE, message, signature):
            result.fail(f"event {position} does not verify with key {raw.get('key_id')!r}")
            chain_ok = False
            break
        prev = raw["hash"]
    head = bundle["head"]
    if chain_ok and (len(events) != head["length"] or prev != (head["hash"] or GENESIS)):
        result.fail("the log is shorter or longer than the head the bundle names")
        chain_ok = False
    if chain_ok:
        result.ok(f"log: {len(events)} events, keyed chain intact (keys {bundle['key_ids']})")
        try:
            facts = record.replay([_stored(e) for e in events])
        except (record.ReplayError, ValueError, KeyError) as exc:
            result.fail(f"the log does not describe a possible process: {exc}")
        else:
            result.ok(f"the log replays: status {facts.status.value}")
    checkpoint = bundle.get("checkpoint")
    if checkpoint is None:
        result.fail("no checkpoint covers this application yet (huodian checkpoint)")
    elif not _checkpoint_ok(keyring, checkpoint):
        result.fail(f"checkpoint {checkpoint.get('seq')} does not verify with its key")
    else:
        length, anchored = checkpoint["heads"][number]
        if length > len(events) or events[length - 1]["hash"] != anchored:
            result.fail(
                f"checkpoint {checkpoint['seq']} anchors event {length} with another hash: "
                "the log was rewritten after it was anchored"
            )
        else:
            result.ok(
                f"checkpoint {checkpoint['seq']} of {checkpoint['at']} anchors events "
                f"1–{length}"
                + (
                    f"; {len(events) - length} later ones not yet anchored"
                    if length < len(events)
                    else ""
                )
            )
    recorded = {
        e["payload"].get("document_id"): e["payload"].get("reference_sha256")
        for e in events
        if e["kind"] == EventKind.document_received.value
    }
    for document in bundle["documents"]:
        row = {k: v for k, v in document.items() if k != "record_sha256"}
        if hashlib.sha256(_canonical(row)).hexdigest() != document["record_sha256"]:
            result.fail(f"document {document['id']}'s record does not match its digest")
        elif recorded.get(document["id"]) != document["reference_sha256"]:
            result.fail(f"document {document['id']}'s reference is not the one its log entry holds")
        else:
            result.ok(f"document {document['id']} ({document['kind']}) matches the log")
    return result


def _checkpoint_ok(keyring: Keyring, checkpoint: dict[str, Any]) -> bool:
    try:
        return check_line(keyring, checkpoint)
    except KeyringError:
        return False


def verify_bundle_file(path: Path, keyring: Keyring) -> BundleCheck:
    try:
        bundle = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        result = BundleCheck()
        result.fail(f"cannot read {path}: {exc}")
        return result
    if not isinstance(bundle, dict):
        result = BundleCheck()
        result.fail(f"{path} is not an evidence bundle")
        return result
    try:
        return verify_bundle(bundle, keyring)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        result = BundleCheck()
        result.fail(f"the bundle is malformed: {exc!r}")
        return result
