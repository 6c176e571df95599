"""Fan-out (群发): one outage change queued to every affected subscriber in ONE statement.

``INSERT INTO messages … SELECT`` over the subscribers in the outage's scope (its feeders or
transformer areas), one row per contact point (mobile → SMS, email, WeCom or DingTalk robot,
app webhook), leaving out those who opted out of the message type. The text is rendered once per
channel, so 100 000 customers cost one query, not 100 000 renders and round trips. The dedup key
names the change and the subscriber, so a change is queued once per subscriber and channel
however often the fan-out runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    exists,
    literal,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.fallbacks import preferred_over, rules_of
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.outages.scope import in_scope
from services.notify.subscribers.models import Subscriber, SubscriberOptOut
from services.notify.templates.models import Rendered
from services.notify.templates.service import templates
from shared.db import UTCDateTime, insert_ignore

# Contact point column → channel.
CONTACTS = (
    (Subscriber.mobile, Channel.sms),
    (Subscriber.email, Channel.email),
    (Subscriber.wecom_webhook, Channel.wecom),
    (Subscriber.dingtalk_webhook, Channel.dingtalk),
    (Subscriber.app_webhook, Channel.webhook),
)
_COLUMN = {channel: column for column, channel in CONTACTS}


async def fan_out(
    session: AsyncSession,
    *,
    kind: str,
    data: dict[str, Any],
    feeders: Sequence[str],
    areas: Sequence[str],
    dedup_prefix: str,
    window: DeliveryWindow,
    due: datetime,
    now: datetime,
    outage_id: int | None = None,
    only_told: bool = False,
) -> int:
    """Queue ``kind`` to every subscriber in scope who has not opted out; returns rows queued.

    ``only_told``: only on the channels where a message of ``outage_id`` was sent (or is being
    sent) to the subscriber, i.e. to those who may have heard of the outage.

    With fallbacks set for ``kind`` (备用渠道), a channel of its chain is queued only to a
    subscriber with no address on a channel preferred to it: the preferred channel alone goes
    out, and the next one is queued by the worker when that message is dead
    (``delivery/fallbacks.py``). Channels outside the chain are queued as before. A
    cancellation (``only_told``) goes where the outage was heard, whichever channel that was."""
    preferred = {} if only_told else preferred_over(await rules_of(session, kind))
    texts: dict[Channel, Rendered] = {
        channel: templates().render(kind, channel, data) for _, channel in CONTACTS
    }
    scope = in_scope(feeders, areas)
    contacts = union_all(
        *(
            sa_select(
                col(Subscriber.id).label("subscriber_id"),
                literal(channel.value, String(32)).label("channel"),
                col(column).label("recipient"),
            ).where(
                scope,
                col(column).is_not(None),
                *(col(_COLUMN[p]).is_(None) for p in sorted(preferred.get(channel, ()))),
            )
            for column, channel in CONTACTS
        )
    ).subquery("contacts")
    channel_col, sid = contacts.c.channel, contacts.c.subscriber_id

    def by_channel(part: str) -> ColumnElement[str]:
        return case(
            *((channel_col == c.value, literal(getattr(t, part))) for c, t in texts.items()),
            else_=literal(""),
        )

    opted_out = exists().where(
        col(SubscriberOptOut.subscriber_id) == sid, col(SubscriberOptOut.kind) == kind
    )
    told = aliased(Message)
    heard = exists().where(
        col(told.outage_id) == outage_id,
        col(told.subscriber_id) == sid,
        col(told.channel) == channel_col,
        col(told.state).in_([MessageState.sent, MessageState.sending]),
    )
    rows = sa_select(
        (literal(dedup_prefix) + cast(sid, String) + literal(":") + channel_col).label("k"),
        literal(kind),
        channel_col,
        contacts.c.recipient,
        by_channel("subject"),
        by_channel("body"),
        literal(json.dumps(data, ensure_ascii=False, sort_keys=True)),
        literal(MessageState.queued.value),
        literal(window.value),
        literal(0),
        sid,
        literal(outage_id),
        literal(now, UTCDateTime),
        literal(due, UTCDateTime),
    ).where(~opted_out)
    if only_told:
        rows = rows.where(heard)
    statement = insert_ignore(
        Message, session.get_bind().dialect, conflict=["dedup_key"]
    ).from_select(
        [
            "dedup_key",
            "kind",
            "channel",
            "recipient",
            "subject",
            "body",
            "template_data",
            "state",
            "window",
            "attempts",
            "subscriber_id",
            "outage_id",
            "created_at",
            "next_attempt_at",
        ],
        rows,
    )
    result = await session.exec(statement.execution_options(preserve_rowcount=True))
    queued: int = result.rowcount
    return queued
