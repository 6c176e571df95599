"""Posting and reading status updates (进展更新) and their evidence files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from services.ledger.deps import CurrentUser, Reader
from services.ledger.updates import service
from services.ledger.updates.models import StatusUpdatePublic, TaskStatus
from services.ledger.updates.service import EvidenceUpload, StatusUpdateCreate
from shared.app import Session
from shared.clock import Now
from shared.downloads import attachment
from shared.validation import Id

router = APIRouter(tags=["updates"])


@router.post(
    "/items/{item_id}/updates",
    status_code=status.HTTP_201_CREATED,
    summary="Post a status update, with evidence files (填报进展)",
)
async def post_update(
    item_id: Id,
    user: CurrentUser,
    session: Session,
    now: Now,
    status_: Annotated[TaskStatus, Form(alias="status")],
    progress: Annotated[int, Form(ge=0, le=100, description="进度 %")],
    narrative: Annotated[str, Form(min_length=1, max_length=5000, description="进展说明")],
    files: Annotated[list[UploadFile], File(description="佐证材料")] = [],  # noqa: B006
) -> StatusUpdatePublic:
    uploads = [
        EvidenceUpload(
            filename=f.filename or "",
            content_type=f.content_type or "",
            content=await f.read(service.MAX_EVIDENCE_BYTES + 1),
        )
        for f in files
    ]
    update = await service.post_update(
        session,
        user,
        item_id,
        StatusUpdateCreate(status=status_, progress=progress, narrative=narrative),
        uploads,
        now=now,
    )
    return next(u for u in await service.history(session, item_id) if u.id == update.id)


@router.get("/items/{item_id}/updates", summary="An item's updates, oldest first (进展记录)")
async def list_updates(item_id: Id, _reader: Reader, session: Session) -> list[StatusUpdatePublic]:
    return await service.history(session, item_id)


@router.get(
    "/items/{item_id}/evidence/{evidence_id}",
    summary="Download evidence (下载佐证材料)",
    response_class=Response,
)
async def download_evidence(
    item_id: Id, evidence_id: Id, _reader: Reader, session: Session
) -> Response:
    evidence = await service.get_evidence(session, item_id, evidence_id)
    return attachment(evidence.content, evidence.content_type, evidence.filename)
