"""Posting status updates (进展更新) and reading an item's history. Updates are append-only:
a correction is a new update, and the server stamps author, unit and time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.models import User
from services.ledger.accounts.service import responsible_unit_for
from services.ledger.ledgers.archiving import ensure_in_use
from services.ledger.ledgers.models import Item, Unit
from services.ledger.updates.models import (
    STATUS_LABELS,
    Evidence,
    EvidencePublic,
    StatusUpdate,
    StatusUpdateCreate,
    StatusUpdatePublic,
    TaskStatus,
)
from shared.auth import Role
from shared.db import fetch_all
from shared.errors import Forbidden, NotFound, PayloadTooLarge, Unprocessable

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
MAX_EVIDENCE_FILES = 10


@dataclass(frozen=True)
class EvidenceUpload:
    filename: str
    content_type: str
    content: bytes


def _check(data: StatusUpdateCreate, files: list[EvidenceUpload]) -> None:
    if not 0 <= data.progress <= 100:
        raise Unprocessable("progress is a percentage from 0 to 100", code="progress_out_of_range")
    if not data.narrative.strip():
        raise Unprocessable("narrative must describe the progress", code="narrative_required")
    if data.status is TaskStatus.done and data.progress != 100:
        raise Unprocessable("a done item has progress 100", code="done_needs_full_progress")
    if len(files) > MAX_EVIDENCE_FILES:
        raise Unprocessable(
            f"at most {MAX_EVIDENCE_FILES} evidence files per update", code="too_many_files"
        )
    for f in files:
        if not f.filename:
            raise Unprocessable("every evidence file needs a name", code="evidence_unnamed")
        if len(f.content) > MAX_EVIDENCE_BYTES:
            raise PayloadTooLarge(
                f"'{f.filename}' is larger than 10 MiB", code="evidence_too_large"
            )
        if not f.content:
            raise Unprocessable(f"'{f.filename}' is empty", code="evidence_empty")


async def post_update(
    session: AsyncSession,
    user: User,
    item_id: int,
    data: StatusUpdateCreate,
    files: list[EvidenceUpload],
    *,
    now: datetime,
) -> StatusUpdate:
    """Append an update; only a department head of a unit responsible for the item may."""
    if await session.get(Item, item_id) is None:
        raise NotFound(f"item {item_id} does not exist", code="item_not_found")
    if user.role is not Role.dept_head:
        raise Forbidden("only department heads post status updates", code="role_required")
    unit_id = await responsible_unit_for(session, user, item_id)
    if unit_id is None:
        raise Forbidden("none of your units is responsible for this item", code="not_responsible")
    await ensure_in_use(session, item_id)
    _check(data, files)
    assert user.id is not None
    update = StatusUpdate(
        item_id=item_id,
        status=data.status,
        progress=data.progress,
        narrative=data.narrative.strip(),
        author_id=user.id,
        unit_id=unit_id,
        created_at=now,
    )
    session.add(update)
    await session.flush()
    assert update.id is not None
    for f in files:
        session.add(
            Evidence(
                update_id=update.id,
                filename=f.filename[:255],
                content_type=f.content_type or "application/octet-stream",
                size=len(f.content),
                sha256=hashlib.sha256(f.content).hexdigest(),
                content=f.content,
            )
        )
    await session.flush()
    return update


async def history(session: AsyncSession, item_id: int) -> list[StatusUpdatePublic]:
    """Every update of an item, oldest first, with evidence metadata."""
    rows = (
        await session.exec(
            select(StatusUpdate, User.display_name, Unit.name)
            .join(User, col(User.id) == col(StatusUpdate.author_id))
            .join(Unit, col(Unit.id) == col(StatusUpdate.unit_id))
            .where(col(StatusUpdate.item_id) == item_id)
            .order_by(col(StatusUpdate.id))
        )
    ).all()
    ids = [u.id for u, _, _ in rows]
    files: dict[int, list[EvidencePublic]] = {i: [] for i in ids if i is not None}
    if ids:
        found = await fetch_all(
            session,
            sa_select(
                col(Evidence.id),
                col(Evidence.update_id),
                col(Evidence.filename),
                col(Evidence.content_type),
                col(Evidence.size),
                col(Evidence.sha256),
            )
            .where(col(Evidence.update_id).in_(ids))
            .order_by(col(Evidence.id)),
        )
        for eid, uid, name, ctype, size, digest in found:
            files[uid].append(
                EvidencePublic(id=eid, filename=name, content_type=ctype, size=size, sha256=digest)
            )
    return [
        StatusUpdatePublic(
            id=u.id,
            item_id=u.item_id,
            status=u.status,
            status_label=STATUS_LABELS[u.status],
            progress=u.progress,
            narrative=u.narrative,
            author=author,
            unit=unit,
            created_at=u.created_at,
            evidence=files[u.id],
        )
        for u, author, unit in rows
        if u.id is not None
    ]


async def get_evidence(session: AsyncSession, item_id: int, evidence_id: int) -> Evidence:
    evidence = (
        await session.exec(
            select(Evidence)
            .join(StatusUpdate, col(StatusUpdate.id) == col(Evidence.update_id))
            .where(col(Evidence.id) == evidence_id, col(StatusUpdate.item_id) == item_id)
        )
    ).first()
    if evidence is None:
        raise NotFound(
            f"evidence {evidence_id} of item {item_id} does not exist", code="evidence_not_found"
        )
    return evidence
