"""Outages over HTTP (停电管理), for dispatchers (调度人员) and administrators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
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
    Outage,
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
from shared.auth import Principal
from shared.clock import Now
from shared.masking import masked_unless
from shared.pagination import Paging
from shared.validation import Id

router = APIRouter(tags=["outages"])


@dataclass
class Dispatch:
    """What a dispatcher's change needs (who, the transaction, the delivery hours, the time),
    and its answer: the outage as the dispatcher sees it, the worker woken after the commit."""

    staff: Principal
    session: AsyncSession
    hours: DeliveryHours
    now: datetime
    request: Request
    background: BackgroundTasks

    async def answer(self, outage: Outage) -> OutagePublic:
        # After the response, so after the commit: the worker sees the new messages at once.
        self.background.add_task(self.request.app.state.worker.wake)
        return await listing.to_public(self.session, outage, viewer=self.staff)


async def _dispatch(
    staff: CurrentDispatcher,
    session: Session,
    hours: Hours,
    request: Request,
    background: BackgroundTasks,
    now: Now,
) -> Dispatch:
    return Dispatch(staff, session, hours, now, request, background)


DispatchDep = Annotated[Dispatch, Depends(_dispatch)]


@dataclass
class OutageChange:
    """A dispatcher's change to one outage of theirs (404 for another unit's)."""

    dispatch: Dispatch
    outage: Outage


async def _outage_change(outage_id: Id, dispatch: DispatchDep) -> OutageChange:
    return OutageChange(dispatch, await outage_for(dispatch.session, outage_id, dispatch.staff))


Change = Annotated[OutageChange, Depends(_outage_change)]


@router.post("/outages", status_code=status.HTTP_201_CREATED, summary="Record an outage (登记停电)")
async def create_outage(body: OutageCreate, d: DispatchDep) -> OutagePublic:
    unit = unit_for_new_outage(d.staff, body.unit)
    outage = await service.create(
        d.session, body, unit=unit, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(outage)


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
async def announce(body: Announcement, c: Change, config: Config) -> OutagePublic:
    d = c.dispatch
    await service.announce(
        d.session, c.outage, body, by=d.staff.subject, now=d.now, settings=config, hours=d.hours
    )
    return await d.answer(c.outage)


@router.post("/outages/{outage_id}/start", summary="Power is off (开始停电)")
async def start(body: Moment, c: Change) -> OutagePublic:
    d = c.dispatch
    await service.start(
        d.session, c.outage, at=body.at or d.now, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(c.outage)


@router.post("/outages/{outage_id}/etr", summary="Change the expected restoration (调整复电时间)")
async def change_etr(body: EtrChange, c: Change) -> OutagePublic:
    d = c.dispatch
    await service.change_etr(
        d.session, c.outage, body.etr, body.note, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(c.outage)


@router.post("/outages/{outage_id}/progress", summary="Repair progress (抢修进度)")
async def progress(body: ProgressNote, c: Change) -> OutagePublic:
    d = c.dispatch
    await service.add_progress(
        d.session, c.outage, body.note, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(c.outage)


@router.post("/outages/{outage_id}/restore", summary="Power is back (恢复送电)")
async def restore(body: Moment, c: Change) -> OutagePublic:
    d = c.dispatch
    await service.restore(
        d.session, c.outage, at=body.at or d.now, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(c.outage)


@router.post("/outages/{outage_id}/cancel", summary="Cancel a draft or announced outage (取消)")
async def cancel(body: Cancellation, c: Change) -> OutagePublic:
    d = c.dispatch
    await service.cancel(
        d.session, c.outage, body.reason, by=d.staff.subject, now=d.now, hours=d.hours
    )
    return await d.answer(c.outage)


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
