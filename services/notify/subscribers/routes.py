"""Subscribers over HTTP: CRUD, preferences, bulk import and the delivery log (订阅用户)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Query, Request, Response, UploadFile, status

from services.notify.deps import CurrentDispatcher
from services.notify.messages.models import Channel, MessageFilter, MessagePage, MessageState
from services.notify.messages.service import list_messages
from services.notify.outages.access import sees_notes_whole
from services.notify.subscribers import importing, service
from services.notify.subscribers.models import (
    Preferences,
    SubscriberCreate,
    SubscriberImport,
    SubscriberImportPublic,
    SubscriberPage,
    SubscriberPublic,
    SubscriberUpdate,
)
from shared.app import Outbound, Session, SettingsDep
from shared.clock import Now
from shared.errors import Unprocessable
from shared.masking import masked_unless
from shared.pagination import Paging
from shared.validation import Day, Id
from shared.vocab import AreaClass

router = APIRouter(tags=["subscribers"])


@router.post("/subscribers", status_code=status.HTTP_201_CREATED, summary="Subscribe (新增)")
async def create_subscriber(
    body: SubscriberCreate,
    _staff: CurrentDispatcher,
    session: Session,
    outbound: Outbound,
    now: Now,
) -> SubscriberPublic:
    created = await service.create(session, body, outbound=outbound, now=now)
    return await service.to_public(session, created)


@router.get("/subscribers", summary="Subscribers by supply location (订阅用户列表)")
async def list_subscribers(
    _staff: CurrentDispatcher,
    session: Session,
    paging: Paging,
    feeder: str | None = None,
    transformer_area: str | None = None,
    area_class: AreaClass | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name, account or mobile")] = None,
) -> SubscriberPage:
    return await service.list_subscribers(
        session,
        feeder=feeder,
        transformer_area=transformer_area,
        area_class=area_class,
        q=q,
        paging=paging,
    )


@router.post(
    "/subscribers/imports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import subscribers from CSV/XLSX, in the background (批量导入)",
)
async def import_subscribers(
    staff: CurrentDispatcher,
    session: Session,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
    now: Now,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX")],
) -> SubscriberImportPublic:
    filename = file.filename or "upload"
    suffix = Path(filename).suffix.lower()
    if suffix not in importing.SUFFIXES:
        raise Unprocessable("import a .csv or .xlsx file", code="unsupported_file_type")
    folder = settings.var_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    with path.open("wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, file.file, out, 1 << 20)
    try:
        await asyncio.to_thread(importing.check_header, path)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    job = SubscriberImport(
        filename=filename[:255], created_by=staff.subject, created_at=now, progressed_at=now
    )
    session.add(job)
    await session.flush()
    assert job.id is not None
    # Runs after the response, so after this transaction committed the job row.
    background.add_task(
        importing.run_import,
        request.app.state.engine,
        job.id,
        path,
        request.app.state.clock,
        request.app.state.outbound,
    )
    return importing.to_public(job)


@router.get("/subscribers/imports/{import_id}", summary="An import's progress and row errors")
async def import_progress(
    _staff: CurrentDispatcher, session: Session, import_id: Id
) -> SubscriberImportPublic:
    return importing.to_public(await importing.get_import(session, import_id))


@router.get("/subscribers/{subscriber_id}", summary="One subscriber (订阅用户)")
async def get_subscriber(
    _staff: CurrentDispatcher, session: Session, subscriber_id: Id
) -> SubscriberPublic:
    return await service.to_public(session, await service.get(session, subscriber_id))


@router.patch("/subscribers/{subscriber_id}", summary="Change contact points or location")
async def update_subscriber(
    _staff: CurrentDispatcher,
    session: Session,
    outbound: Outbound,
    subscriber_id: Id,
    body: SubscriberUpdate,
    now: Now,
) -> SubscriberPublic:
    updated = await service.update(session, subscriber_id, body, outbound=outbound, now=now)
    return await service.to_public(session, updated)


@router.put("/subscribers/{subscriber_id}/preferences", summary="Opt-outs per type (退订设置)")
async def set_preferences(
    _staff: CurrentDispatcher, session: Session, subscriber_id: Id, body: Preferences
) -> SubscriberPublic:
    subscriber = await service.set_preferences(session, subscriber_id, body.opt_outs)
    return await service.to_public(session, subscriber)


@router.delete(
    "/subscribers/{subscriber_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe: end the service (注销订阅/销户)",
    description="The subscriber is gone from the API and gets no more messages; the row is kept "
    "with `served_until` so past years' customers served (服务户数) do not change.",
)
async def delete_subscriber(
    _staff: CurrentDispatcher,
    session: Session,
    subscriber_id: Id,
    now: Now,
    ended_on: Annotated[
        Day | None, Query(description="First day no longer served (销户日期); today if left out")
    ] = None,
) -> Response:
    await service.remove(session, subscriber_id, ended_on=ended_on, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/subscribers/{subscriber_id}/messages", summary="Delivery log (投递记录)")
async def subscriber_messages(
    staff: CurrentDispatcher,
    session: Session,
    subscriber_id: Id,
    paging: Paging,
    state: MessageState | None = None,
    channel: Channel | None = None,
) -> MessagePage:
    await service.get(session, subscriber_id)
    where = MessageFilter(subscriber_id=subscriber_id, state=state, channel=channel)
    page = await list_messages(session, where, paging)
    return masked_unless(page, sees_notes_whole(staff))
