"""Posting and reading status updates (进展更新) and their evidence files."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.responses import JSONResponse

from services.ledger.deps import CurrentReader, CurrentUser
from services.ledger.updates import service
from services.ledger.updates.idempotency import RETENTION_HOURS, IdempotencyRecord
from services.ledger.updates.models import StatusUpdateCreate, StatusUpdatePublic, TaskStatus
from services.ledger.updates.service import EvidenceUpload
from shared import idempotency
from shared.app import Session, SettingsDep
from shared.clock import Now
from shared.downloads import attachment
from shared.errors import Problem
from shared.idempotency import OptionalIdempotencyKey
from shared.validation import Id

router = APIRouter(tags=["updates"])


@router.post(
    "/items/{item_id}/updates",
    status_code=status.HTTP_201_CREATED,
    summary="Post a status update, with evidence files (填报进展)",
    response_model=StatusUpdatePublic,
    responses={
        409: {"model": Problem, "description": "Idempotency-Key reused (idempotency_key_reused)"}
    },
)
async def post_update(
    item_id: Id,
    user: CurrentUser,
    session: Session,
    now: Now,
    key: OptionalIdempotencyKey,
    settings: SettingsDep,
    status_: Annotated[TaskStatus, Form(alias="status")],
    progress: Annotated[int, Form(ge=0, le=100, description="进度 %")],
    narrative: Annotated[str, Form(min_length=1, max_length=5000, description="进展说明")],
    files: Annotated[list[UploadFile], File(description="佐证材料")] = [],  # noqa: B006
) -> StatusUpdatePublic | JSONResponse:
    """With an ``Idempotency-Key`` a retry gets the first answer instead of a second update."""
    uploads = [
        EvidenceUpload(
            filename=f.filename or "",
            content_type=f.content_type or "",
            content=await f.read(service.MAX_EVIDENCE_BYTES + 1),
        )
        for f in files
    ]
    data = StatusUpdateCreate(status=status_, progress=progress, narrative=narrative)

    async def post() -> tuple[int, StatusUpdatePublic]:
        update = await service.post_update(session, user, item_id, data, uploads, now=now)
        shown = next(u for u in await service.history(session, item_id) if u.id == update.id)
        return status.HTTP_201_CREATED, shown

    if key is None:
        return (await post())[1]
    # The parsed form, not the raw body: a client's retry draws a new multipart boundary.
    content = {
        **data.model_dump(mode="json"),
        "files": [
            [u.filename, u.content_type, hashlib.sha256(u.content).hexdigest()] for u in uploads
        ],
    }
    await idempotency.forget_old_answers(session, IdempotencyRecord, now, RETENTION_HOURS)
    return await idempotency.run_once(
        session,
        IdempotencyRecord,
        key_id=f"user:{user.id}",
        key=key,
        request_hash=idempotency.fingerprint("POST", f"/items/{item_id}/updates", content),
        effect=post,
        now=now,
        keyring=settings.keyring(),
    )


@router.get("/items/{item_id}/updates", summary="An item's updates, oldest first (进展记录)")
async def list_updates(
    item_id: Id, _reader: CurrentReader, session: Session
) -> list[StatusUpdatePublic]:
    return await service.history(session, item_id)


@router.get(
    "/items/{item_id}/evidence/{evidence_id}",
    summary="Download evidence (下载佐证材料)",
    response_class=Response,
)
async def download_evidence(
    item_id: Id, evidence_id: Id, _reader: CurrentReader, session: Session
) -> Response:
    evidence = await service.get_evidence(session, item_id, evidence_id)
    return attachment(evidence.content, evidence.content_type, evidence.filename)
