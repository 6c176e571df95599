"""The evidence bundle of one application (证据包): what an evaluator or a court is handed.

One JSON file: the application's whole stage log, the checkpoint (from the file outside the
database) that anchors it, the ids of the keys its entries name, and its documents with their
digests, the whole sealed with an HMAC (keyring purpose ``evidence-bundle``) and signed with
Ed25519 (``signature``; the public keys ride along in ``public_keys``, for information only).
:func:`verify_bundle` checks it without the database, either with the keyring (every entry's
HMAC and link, the checkpoint's MAC, the seal) or with the public key alone (the bundle's and
the checkpoint's Ed25519 signatures, every link; the entries' HMACs need the secret key, so the
result intake found when it made the bundle, ``keyed_chain``, is reported instead). Both check
the anchored head at the anchored length, that the log replays into a possible process, and
that each document's digest is the one its log entry recorded. Events after the covering
checkpoint are reported as not yet anchored.
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
from services.intake.applications.reading import events as log_of
from services.intake.documents.models import ApplicationDocument
from services.intake.integrity.checkpoints import CheckpointFile, check_line, check_line_public
from services.intake.policies.models import Stage
from shared.compact_json import compact_json_bytes
from shared.keyring import Keyring, KeyringError, PublicKeys, Signature

FORMAT: Final = "huodian-evidence/1"
PURPOSE: Final = "evidence-bundle"
_SIGNATURES: Final = ("seal", "signature")
INTACT: Final = "intact"

Verifier = Keyring | PublicKeys
"""The secret keyring (checks everything), or the public keys alone (what an evaluator holds)."""


def _canonical(body: Any) -> bytes:
    return compact_json_bytes(body, sort_keys=True)


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
        "public_keys": keyring.public_keys().encoded(),
    }
    broken = _keyed_chain(application.number, body["events"], keyring)
    body["keyed_chain"] = broken or INTACT
    signed = _canonical(body)
    seal = keyring.sign(PURPOSE, signed)
    public = keyring.sign_public(signed, seal.key_id)
    return {
        **body,
        "seal": {"key_id": seal.key_id, "mac": seal.digest},
        "signature": {"key_id": public.key_id, "ed25519": public.digest},
    }


def _entry_message(number: str, prev: str, raw: dict[str, Any]) -> bytes:
    return (
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


def _links(events: list[dict[str, Any]]) -> str | None:
    """Why the entries do not form one unbroken chain from the start, or None."""
    prev = GENESIS
    for position, raw in enumerate(events, start=1):
        if raw["seq"] != position or raw["prev_hash"] != prev:
            return f"event {position} is missing, out of order or unlinked"
        prev = raw["hash"]
    return None


def _keyed_chain(number: str, events: list[dict[str, Any]], keyring: Keyring) -> str | None:
    """Why the entries' links or HMACs do not verify with the keyring, or None."""
    broken = _links(events)
    if broken:
        return broken
    prev = GENESIS
    for position, raw in enumerate(events, start=1):
        signature = Signature(str(raw.get("key_id") or ""), str(raw["hash"]))
        if not keyring.verify(LOG_PURPOSE, _entry_message(number, prev, raw), signature):
            return f"event {position} does not verify with key {raw.get('key_id')!r}"
        prev = raw["hash"]
    return None


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


def verify_bundle(bundle: dict[str, Any], verifier: Verifier) -> BundleCheck:
    """Everything in the bundle checked with the keyring, or with the public keys alone (no
    database either way)."""
    result = BundleCheck()
    if bundle.get("format") != FORMAT:
        result.fail(f"not an evidence bundle ({bundle.get('format')!r})")
        return result
    number = str(bundle["application"])
    signed = _canonical({k: v for k, v in bundle.items() if k not in _SIGNATURES})
    events = bundle["events"]
    if isinstance(verifier, Keyring):
        seal = bundle.get("seal") or {}
        if verifier.verify(
            PURPOSE, signed, Signature(str(seal.get("key_id")), str(seal.get("mac")))
        ):
            result.ok(f"the bundle of {number} is sealed with key {seal.get('key_id')}")
        else:
            result.fail("the bundle's seal does not verify: it was altered after it was made")
        if "signature" in bundle:
            _check_signature(result, bundle, signed, verifier.public_keys())
        broken = _keyed_chain(number, events, verifier)
    else:
        _check_signature(result, bundle, signed, verifier)
        broken = _links(events)
        if broken is None and bundle.get("keyed_chain") != INTACT:
            broken = (
                "intake found the log's HMACs broken when it made the bundle: "
                f"{bundle.get('keyed_chain')}"
            )
    chain_ok = broken is None
    if broken:
        result.fail(broken)
    prev = events[-1]["hash"] if events else GENESIS
    head = bundle["head"]
    if chain_ok and (len(events) != head["length"] or prev != (head["hash"] or GENESIS)):
        result.fail("the log is shorter or longer than the head the bundle names")
        chain_ok = False
    if chain_ok:
        how = (
            "keyed chain intact"
            if isinstance(verifier, Keyring)
            else "linked; its HMACs were intact when intake made the bundle (they need the "
            "secret key)"
        )
        result.ok(f"log: {len(events)} events, {how} (keys {bundle['key_ids']})")
        try:
            facts = record.replay([_stored(e) for e in events])
        except (record.ReplayError, ValueError, KeyError) as exc:
            result.fail(f"the log does not describe a possible process: {exc}")
        else:
            result.ok(f"the log replays: status {facts.status.value}")
    checkpoint = bundle.get("checkpoint")
    if checkpoint is None:
        result.fail("no checkpoint covers this application yet (huodian checkpoint)")
    elif isinstance(verifier, PublicKeys) and "signature" not in checkpoint:
        result.fail(
            f"checkpoint {checkpoint.get('seq')} carries no Ed25519 signature (written before "
            "checkpoints were signed): verify the bundle with the keyring"
        )
    elif not _checkpoint_ok(verifier, checkpoint):
        how = "its key" if isinstance(verifier, Keyring) else "the public key (Ed25519)"
        result.fail(f"checkpoint {checkpoint.get('seq')} does not verify with {how}")
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


def _check_signature(
    result: BundleCheck, bundle: dict[str, Any], signed: bytes, public_keys: PublicKeys
) -> None:
    signature = bundle.get("signature")
    if not isinstance(signature, dict):
        result.fail("the bundle carries no Ed25519 signature: verify it with the keyring")
        return
    key_id = str(signature.get("key_id"))
    if key_id not in public_keys.keys:
        result.fail(f"the bundle is signed with key {key_id!r}, which the public keys lack")
    elif public_keys.verify(signed, Signature(key_id, str(signature.get("ed25519")))):
        result.ok(f"the bundle of {bundle['application']} is signed (Ed25519) with key {key_id}")
    else:
        result.fail(
            f"the bundle's Ed25519 signature (key {key_id}) does not verify: it was altered "
            "after it was made"
        )


def _checkpoint_ok(verifier: Verifier, checkpoint: dict[str, Any]) -> bool:
    if isinstance(verifier, PublicKeys):
        return check_line_public(verifier, checkpoint)
    try:
        return check_line(verifier, checkpoint)
    except KeyringError:
        return False


def verify_bundle_file(path: Path, keyring: Verifier) -> BundleCheck:
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
