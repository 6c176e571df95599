"""Telling the subscribers of an outage's change (通知客户): the record of the change, its text,
its delivery window, the fan-out to everyone in scope and the unsent messages it replaces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, update
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import DeliveryWindow, Message, MessageState
from services.notify.outages.fanout import fan_out
from services.notify.outages.models import (
    KIND_LABELS,
    Outage,
    OutageChange,
    OutageKind,
    OutageState,
    OutageUpdate,
    number_of,
)
from services.notify.outages.scope import scope_of
from shared.timeutil import format_beijing


def _scope_text(feeders: Sequence[str], areas: Sequence[str]) -> str:
    def listed(names: Sequence[str], unit: str) -> str:
        shown = "、".join(names[:3])
        return f"{shown}等{len(names)}{unit}" if len(names) > 3 else shown

    parts = []
    if feeders:
        parts.append(listed(feeders, "条线路"))
    if areas:
        parts.append("台区 " + listed(areas, "个台区"))
    return "；".join(parts)


# A change replaces the messages of these earlier changes that have not gone out yet (to the
# same subscriber and channel): its own text says what they said, and more recently.
REPLACES: dict[OutageChange, tuple[OutageChange, ...]] = {
    OutageChange.announced: (),
    OutageChange.started: (OutageChange.announced, OutageChange.etr_changed),
    OutageChange.etr_changed: (OutageChange.etr_changed,),
    OutageChange.progress: (OutageChange.progress,),
    OutageChange.restored: (
        OutageChange.announced,
        OutageChange.started,
        OutageChange.etr_changed,
        OutageChange.progress,
    ),
    OutageChange.cancelled: (OutageChange.announced, OutageChange.etr_changed),
}
_UNSENT = (MessageState.queued, MessageState.failed, MessageState.sending)


def _window(outage: Outage, hours: DeliveryHours, now: datetime) -> DeliveryWindow:
    """Faults, outages under way and outages that start before the quiet hours (免打扰) now in
    force or next to come are over go at any hour (held up by nothing, not even a channel that
    comes back at night); other notices, and news of a restoration, wait for waking hours."""
    if outage.kind is OutageKind.fault or outage.state is OutageState.started:
        return DeliveryWindow.anytime
    if outage.state is OutageState.restored:
        return DeliveryWindow.waking_hours
    if outage.planned_start <= hours.quiet_end_after(now):
        return DeliveryWindow.anytime
    return DeliveryWindow.waking_hours


async def _supersede(
    session: AsyncSession, outage_id: int, change: OutageChange, new_prefix: str
) -> None:
    """Mark the unsent messages this change replaces ``superseded`` (they are never sent).

    A cancellation replaces them for everybody; other changes only where the new message goes
    (the same subscriber and channel). A message a worker is sending right now is marked too:
    if its send succeeds it is recorded ``sent`` all the same (what happened), if it fails it
    is not retried."""
    kinds = [f"outage.{c.value}" for c in REPLACES[change]]
    if not kinds:
        return
    new = aliased(Message)
    statement = (
        update(Message)
        .where(
            col(Message.outage_id) == outage_id,
            col(Message.kind).in_(kinds),
            col(Message.state).in_(_UNSENT),
            ~col(Message.dedup_key).startswith(new_prefix),
        )
        .values(state=MessageState.superseded)
        .execution_options(synchronize_session=False)
    )
    if change is not OutageChange.cancelled:
        statement = statement.where(
            exists().where(
                col(new.outage_id) == outage_id,
                col(new.dedup_key).startswith(new_prefix),
                col(new.subscriber_id) == col(Message.subscriber_id),
                col(new.channel) == col(Message.channel),
            )
        )
    await session.exec(statement)


def _template_data(
    outage: Outage, feeders: Sequence[str], areas: Sequence[str], **extra: Any
) -> dict[str, Any]:
    return {
        "outage": {
            "number": number_of(outage),
            "kind": outage.kind.value,
            "kind_label": KIND_LABELS[outage.kind],
            "cause": outage.cause,
            "scope": _scope_text(feeders, areas),
            "start": format_beijing(outage.actual_start or outage.planned_start),
            "etr": format_beijing(outage.etr),
            "restored_at": format_beijing(outage.actual_end),
        },
        "customer_name": "",
        "note": None,
        "previous_etr": None,
        **extra,
    }


async def tell(
    session: AsyncSession,
    outage: Outage,
    change: OutageChange,
    *,
    by: str,
    now: datetime,
    hours: DeliveryHours,
    at: datetime | None = None,
    note: str | None = None,
    previous_etr: datetime | None = None,
) -> OutageUpdate:
    """Record a change (``at``: when it happened, now if not given) and queue it to every
    affected subscriber, once per change, replacing what it supersedes (:data:`REPLACES`).
    A cancellation goes only to those who may have heard of the outage (a message of it sent or
    being sent on that channel): nobody is told of an outage cancelled before they heard of it."""
    assert outage.id is not None
    record = OutageUpdate(
        outage_id=outage.id,
        change=change,
        note=note,
        etr=outage.etr,
        at=at or now,
        by=by,
    )
    session.add(record)
    await session.flush()
    feeders, areas = await scope_of(session, outage.id)
    window = _window(outage, hours, now)
    prefix = f"outage:{outage.id}:u{record.id}:"
    record.messages_queued = await fan_out(
        session,
        kind=f"outage.{change.value}",
        data=_template_data(
            outage,
            feeders,
            areas,
            note=note,
            previous_etr=format_beijing(previous_etr) if previous_etr else None,
        ),
        feeders=feeders,
        areas=areas,
        dedup_prefix=prefix,
        window=window,
        due=hours.earliest(window, now),
        now=now,
        outage_id=outage.id,
        only_told=change is OutageChange.cancelled,
    )
    await _supersede(session, outage.id, change, prefix)
    session.add(record)
    await session.flush()
    return record
