"""Outages over HTTP (停电管理), for dispatchers (调度人员) and administrators."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, status

from services.notify.deps import Config, CurrentAdmin, CurrentDispatcher, Hours
from services.notify.messages.models import Channel, MessageFilter, MessagePage, MessageState
from services.notify.messages.service import list_messages
from services.notify.outages import listing, repeats, service
from services.notify.outages.access import (
    outage_for,
    sees_notes_whole,
    unit_for_new_outage,
    visible_units,
)
from services.notify.outages.models import (
    Announcement,
    Cancellation,
    EtrChange,
    Moment,
    OutageCreate,
    OutageKind,
    OutagePage,
    OutagePublic,
    OutageState,
    ProgressNote,
    RepeatWarning,
    UnitAssignment,
)
from shared.app import Session
from shared.clock import Now
from shared.masking import masked_unless
from shared.pagination import Paging
from shared.validation import Id

router = APIRouter(tags=["outages"])


def _wake_worker(request: Request, background: BackgroundTasks) -> None:
    # After the response, so after the commit: the worker sees the new messages at once.
    background.add_task(request.app.state.worker.wake)


@router.post("/outages", status_code=status.HTTP_201_CREATED, summary="Record an outage (登记停电)")
async def create_outage(
    body: OutageCreate,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    unit = unit_for_new_outage(staff, body.unit)
    outage = await service.create(session, body, unit=unit, by=staff.subject, now=now, hours=hours)
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.get("/outages", summary="Outages, newest first (停电列表)")
async def list_outages(
    staff: CurrentDispatcher,
    session: Session,
    paging: Paging,
    state: OutageState | None = None,
    kind: OutageKind | None = None,
) -> OutagePage:
    return await listing.list_outages(
        session,
        units=visible_units(staff),
        state=state,
        kind=kind,
        viewer=staff,
        paging=paging,
    )


@router.get("/outages/{outage_id}", summary="An outage with its changes and deliveries")
async def get_outage(staff: CurrentDispatcher, session: Session, outage_id: Id) -> OutagePublic:
    return await listing.to_public(
        session, await outage_for(session, outage_id, staff), viewer=staff
    )


@router.put(
    "/outages/{outage_id}/unit",
    summary="Hand an outage to a unit (指定所属单位; administrators)",
)
async def assign_unit(
    outage_id: Id, body: UnitAssignment, admin: CurrentAdmin, session: Session
) -> OutagePublic:
    outage = await service.assign_unit(session, outage_id, body.unit)
    return await listing.to_public(session, outage, viewer=admin)


@router.get(
    "/outages/{outage_id}/repeat-warning",
    summary="Customers also cut by other outages nearby in time (一停多用 预警)",
)
async def repeat_warning(
    staff: CurrentDispatcher, session: Session, config: Config, outage_id: Id
) -> RepeatWarning:
    outage = await outage_for(session, outage_id, staff)
    return await repeats.repeat_warning(session, outage, config.repeat_window_days)


@router.post("/outages/{outage_id}/announce", summary="Announce to the customers (发布停电通知)")
async def announce(
    outage_id: Id,
    body: Announcement,
    staff: CurrentDispatcher,
    session: Session,
    config: Config,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.announce(
        session, outage, body, by=staff.subject, now=now, settings=config, hours=hours
    )
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.post("/outages/{outage_id}/start", summary="Power is off (开始停电)")
async def start(
    outage_id: Id,
    body: Moment,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.start(session, outage, at=body.at or now, by=staff.subject, now=now, hours=hours)
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.post("/outages/{outage_id}/etr", summary="Change the expected restoration (调整复电时间)")
async def change_etr(
    outage_id: Id,
    body: EtrChange,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.change_etr(
        session, outage, body.etr, body.note, by=staff.subject, now=now, hours=hours
    )
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.post("/outages/{outage_id}/progress", summary="Repair progress (抢修进度)")
async def progress(
    outage_id: Id,
    body: ProgressNote,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.add_progress(session, outage, body.note, by=staff.subject, now=now, hours=hours)
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.post("/outages/{outage_id}/restore", summary="Power is back (恢复送电)")
async def restore(
    outage_id: Id,
    body: Moment,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.restore(
        session, outage, at=body.at or now, by=staff.subject, now=now, hours=hours
    )
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.post("/outages/{outage_id}/cancel", summary="Cancel a draft or announced outage (取消)")
async def cancel(
    outage_id: Id,
    body: Cancellation,
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> OutagePublic:
    outage = await outage_for(session, outage_id, staff)
    await service.cancel(session, outage, body.reason, by=staff.subject, now=now, hours=hours)
    _wake_worker(request, background)
    return await listing.to_public(session, outage, viewer=staff)


@router.get("/outages/{outage_id}/messages", summary="Delivery log of an outage (投递记录)")
async def outage_messages(
    staff: CurrentDispatcher,
    session: Session,
    outage_id: Id,
    paging: Paging,
    state: MessageState | None = None,
    channel: Channel | None = None,
    subscriber_id: Id | None = None,
) -> MessagePage:
    await outage_for(session, outage_id, staff)
    where = MessageFilter(
        outage_id=outage_id, state=state, channel=channel, subscriber_id=subscriber_id
    )
    page = await list_messages(session, where, paging)
    return masked_unless(page, sees_notes_whole(staff))
